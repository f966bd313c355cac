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

/* Whether n elements of work, parallel from min elements on, get a parallel
 * region: only when there is also more than one thread to run it. */
static inline int parallel_pays(ptrdiff_t n, ptrdiff_t min)
{
    return n >= min && fm_get_num_threads() > 1;
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
    *lo = n * t / nt;
    *hi = n * (t + 1) / nt;
}

#endif /* FM_PARALLEL_H */
