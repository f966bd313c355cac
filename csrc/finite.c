/*
 * finite.c - the finiteness check of user data: the index of the first NaN
 * or infinity in a contiguous array, or -1 if there is none.
 *
 * fit, evaluate and predict check every x and y they are given, so on a
 * Fashion-MNIST-sized x (60000 x 784 float32, 188 MB) this is a pure memory
 * stream: each element is read once, nothing is allocated, and a large array
 * is split into one contiguous share per thread.
 *
 * The test works on the bits, not on floating-point values. With the sign bit
 * cleared, an element is NaN or inf exactly when its exponent field is all
 * ones, that is when adding the lowest exponent bit carries into the (now
 * clear) sign bit. OR-ing (bits & ~sign) + exponent_lsb over a block and
 * looking at the top bit therefore says whether the block holds a non-finite
 * element: an AND, an ADD and an OR per element, which gcc vectorises with
 * baseline SSE2 for 32- and 64-bit lanes alike (SSE2 has no 64-bit compare,
 * so the plainer (bits & exponent) == exponent does not vectorise for double),
 * and which raises no floating-point exception flags on NaN or inf.
 *
 * The array is scanned in blocks of 4 KiB: the vector loop runs over a whole
 * block, and only a block that holds a bad element is scanned again, element
 * by element, for the first one. So the check stops within a block of the
 * first bad element, and the fast loop has no early exit of its own.
 *
 * Threads: thread t scans share t (shares are contiguous and in thread
 * order), and the smallest index any thread found is the answer, so the
 * result does not depend on the thread count.
 */
#ifndef FM_T

#include "fastmlp.h"
#include "parallel.h"

#include <stdint.h>
#include <string.h>

/* Parallel from this many bytes (65536 floats, 32768 doubles), where two
 * threads gain ~1.4x. In cache the serial scan reads ~44 GB/s (0.09 ns per
 * float, 0.17 per double); a parallel region costs ~0.8 us on 2 threads.
 * Measured, one thread -> two: float 32768 3.0 -> 2.6 us, 65536 5.8 -> 4.0;
 * double 16384 2.9 -> 2.6 us, 32768 5.4 -> 3.9. */
#define FM_PAR_MIN_FINITE_BYTES (256 * 1024)

/* Bytes per block of the fast loop: small enough that the rescan of a bad
 * block is cheap, large enough that the per-block test is noise. */
#define FM_FINITE_BLOCK_BYTES 4096

#define FM_T float
#define FM_U uint32_t
#define FM_SIGN_BIT 31
#define FM_EXP_LSB ((uint32_t)1 << 23)
#define FM_NAME(f) f##_f32
#include "finite.c"
#undef FM_T
#undef FM_U
#undef FM_SIGN_BIT
#undef FM_EXP_LSB
#undef FM_NAME

#define FM_T double
#define FM_U uint64_t
#define FM_SIGN_BIT 63
#define FM_EXP_LSB ((uint64_t)1 << 52)
#define FM_NAME(f) f##_f64
#include "finite.c"
#undef FM_T
#undef FM_U
#undef FM_SIGN_BIT
#undef FM_EXP_LSB
#undef FM_NAME

#else /* ---- the kernel, for one element type FM_T --------------------------- */

/* Top bit set iff the magnitude bits of the element reach 2^(width-1) -
 * carry, the first non-finite pattern when carry is FM_EXP_LSB (see the top
 * of the file). */
static inline FM_U FM_NAME(nonfinite_bit)(FM_U bits, FM_U carry)
{
    const FM_U magnitude = ~((FM_U)1 << FM_SIGN_BIT);
    return (bits & magnitude) + carry;
}

/* Index of the first element of x[lo, hi) that nonfinite_bit flags with
 * this carry, or -1. */
static ptrdiff_t FM_NAME(first_nonfinite_range)(const FM_T *x, ptrdiff_t lo, ptrdiff_t hi,
                                                FM_U carry)
{
    const ptrdiff_t block = FM_FINITE_BLOCK_BYTES / sizeof(FM_T);
    for (ptrdiff_t b = lo; b < hi; b += block) {
        ptrdiff_t len = hi - b < block ? hi - b : block;
        const FM_T *p = x + b;
        FM_U any = 0;
        for (ptrdiff_t i = 0; i < len; i++) {
            FM_U bits;
            memcpy(&bits, p + i, sizeof bits); /* the bits, without aliasing UB */
            any |= FM_NAME(nonfinite_bit)(bits, carry);
        }
        if (!(any >> FM_SIGN_BIT))
            continue;
        for (ptrdiff_t i = 0; i < len; i++) {
            FM_U bits;
            memcpy(&bits, p + i, sizeof bits);
            if (FM_NAME(nonfinite_bit)(bits, carry) >> FM_SIGN_BIT)
                return b + i;
        }
    }
    return -1;
}

static ptrdiff_t FM_NAME(first_flagged)(const FM_T *x, ptrdiff_t n, FM_U carry)
{
    if (!parallel_pays(n, FM_PAR_MIN_FINITE_BYTES / (ptrdiff_t)sizeof(FM_T)))
        return FM_NAME(first_nonfinite_range)(x, 0, n, carry);
    /* n stands for "none found" in the reduction, as it is above every index */
    ptrdiff_t first = n;
#pragma omp parallel reduction(min : first)
    {
        ptrdiff_t lo, hi;
        thread_share(n, &lo, &hi);
        ptrdiff_t mine = FM_NAME(first_nonfinite_range)(x, lo, hi, carry);
        if (mine >= 0)
            first = mine;
    }
    return first < n ? first : -1;
}

ptrdiff_t FM_NAME(fm_all_finite)(const FM_T *x, ptrdiff_t n)
{
    return FM_NAME(first_flagged)(x, n, FM_EXP_LSB);
}

#if FM_SIGN_BIT == 63
/* The doubles whose float32 cast is not finite: magnitudes from 2^128 -
 * 2^103 (FLT_MAX plus half its ulp, which rounds to even, i.e. to inf) up.
 * As bits that bound is 0x47EFFFFFF0000000, so adding 2^63 minus it to the
 * magnitude carries into the sign bit exactly from there on. */
ptrdiff_t fm_all_finite_as_f32_f64(const double *x, ptrdiff_t n)
{
    return FM_NAME(first_flagged)(x, n, ((uint64_t)1 << 63) - UINT64_C(0x47EFFFFFF0000000));
}
#endif

#endif /* FM_T */
