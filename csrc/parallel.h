/*
 * parallel.h - internal to csrc/: the two threading helpers the elementwise,
 * loss and optimizer kernels share: whether work is large enough for a
 * parallel region, and each thread's contiguous share of it.
 *
 * static inline, so every file that includes this has its own copy. Only
 * files compiled without ISA flags may include it (see STYLE.md: a shared
 * inline helper can otherwise end up as the AVX-512 copy everywhere).
 */
#ifndef FM_PARALLEL_H
#define FM_PARALLEL_H

#include <stddef.h>

#include "fastmlp.h"

#ifdef _OPENMP
#include <omp.h>
#endif
#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>
#define FM_HAVE_MXCSR 1
#endif

/* Threads a kernel may start: none beyond the caller when it already runs
 * inside a team (the training loop's threads each call kernels on their
 * own share; a nested region would only add its cost). */
static inline int threads_available(void)
{
#ifdef _OPENMP
    if (omp_in_parallel())
        return 1;
#endif
    return fm_get_num_threads();
}

/* Whether n elements of work, parallel from min elements on, get a parallel
 * region: only when there is also more than one thread to run it. */
static inline int parallel_pays(ptrdiff_t n, ptrdiff_t min)
{
    return n >= min && threads_available() > 1;
}

/* [*lo, *hi): the part-th of `parts` near-equal contiguous shares of n
 * items. */
static inline void share_of(ptrdiff_t n, int parts, int part, ptrdiff_t *lo, ptrdiff_t *hi)
{
    *lo = n * part / parts;
    *hi = n * (part + 1) / parts;
}

/* The calling thread's share [*lo, *hi) of n items: contiguous, in thread
 * order, all threads of the team together covering [0, n). */
static inline void thread_share(ptrdiff_t n, ptrdiff_t *lo, ptrdiff_t *hi)
{
#ifdef _OPENMP
    ptrdiff_t t = omp_get_thread_num(), nt = omp_get_num_threads();
#else
    ptrdiff_t t = 0, nt = 1;
#endif
    share_of(n, (int)nt, (int)t, lo, hi);
}

/*
 * The calling thread's floating-point mode (flush-to-zero, denormals-are-
 * zero, rounding: MXCSR on x86), which is per thread. A team's threads take
 * on the caller's mode for the call, so a caller that flushes denormals
 * gets the same bits with one thread or many.
 */
static inline unsigned fp_mode_get(void)
{
#ifdef FM_HAVE_MXCSR
    return _mm_getcsr();
#else
    return 0;
#endif
}

static inline void fp_mode_set(unsigned mode)
{
#ifdef FM_HAVE_MXCSR
    _mm_setcsr(mode);
#else
    (void)mode;
#endif
}

#endif /* FM_PARALLEL_H */
