/*
 * elementwise_loops.h - internal to csrc/: the activation and column-sum
 * loops, compiled once per CPU family. elementwise.c (portable) and
 * elementwise_avx2.c each define FM_ELEM_TABLE and include this file, which
 * instantiates the loops for float and double with that file's ISA flags
 * and collects them in that table; elementwise.c picks the table of the
 * selected SIMD path and owns the threading.
 *
 * The loops are plain C that gcc vectorises: with AVX2 eight floats a
 * vector instead of SSE2's four. Wider vectors do not change a value: each
 * element goes through the same IEEE operations in the same order (the
 * exp and tanh of elementwise.h are explicit arithmetic; sums stay in row
 * order), and the build forbids contracting a multiply and an add into an
 * FMA (-ffp-contract=off), which would round once where the portable code
 * rounds twice. Only a NaN may come out with another sign or payload: when
 * both operands are NaN, x86 returns the first, and the vectoriser may swap
 * the operands of an add or a multiply.
 *
 * The float kernels compute in float, like the NumPy float32 reference;
 * the double ones use libm (<tgmath.h> picks the double functions for
 * double arguments), the same functions in every build.
 */
#ifndef FM_T

#include <string.h>
#include <tgmath.h>

#include "elementwise.h"
#include "fastmlp.h"

#define FM_T float
#define FM_NAME(f) f##_f32
#define FM_EXP_NONPOS fm_exp_nonpos_f32
#define FM_TANH fm_tanh_f32
#include "elementwise_loops.h"
#undef FM_T
#undef FM_NAME
#undef FM_EXP_NONPOS
#undef FM_TANH

#define FM_T double
#define FM_NAME(f) f##_f64
#define FM_EXP_NONPOS exp
#define FM_TANH tanh
#include "elementwise_loops.h"
#undef FM_T
#undef FM_NAME
#undef FM_EXP_NONPOS
#undef FM_TANH

#define FM_ELEM_ROW(SFX) {act_row_##SFX, act_back_row_##SFX, bias_act_row_##SFX, \
                          column_sum_span_##SFX}

const fm_elem_arch FM_ELEM_TABLE = {FM_ELEM_ROW(f32), FM_ELEM_ROW(f64)};

#undef FM_ELEM_ROW

#else /* ---- the loops, for one element type FM_T ---------------------- */

/* exp(-|x|) lies in (0, 1], so this cannot overflow for any finite x:
 * sigmoid(x) = 1 / (1 + e) for x >= 0 and e / (1 + e) for x < 0. Selecting
 * the numerator (not the result) keeps the loop free of branches. */
static inline FM_T FM_NAME(sigmoid)(FM_T x)
{
    FM_T e = FM_EXP_NONPOS(-fabs(x));
    FM_T num = x >= 0 ? (FM_T)1 : e;
    return num / ((FM_T)1 + e);
}

/* Stable softmax of one row of n > 0: the row max is subtracted so exp never
 * overflows; the sum is taken in double, in order. y may equal x. */
static void FM_NAME(softmax_row)(ptrdiff_t n, const FM_T *x, FM_T *y)
{
    FM_T mx = x[0];
    for (ptrdiff_t i = 1; i < n; i++)
        mx = x[i] > mx ? x[i] : mx;
    for (ptrdiff_t i = 0; i < n; i++) /* apart from the sum, to vectorise */
        y[i] = FM_EXP_NONPOS(x[i] - mx);
    double sum = 0.0;
    for (ptrdiff_t i = 0; i < n; i++)
        sum += y[i];
    FM_T inv = (FM_T)(1.0 / sum);
    for (ptrdiff_t i = 0; i < n; i++)
        y[i] *= inv;
}

/* y = act(x) over n contiguous elements that form one softmax row. y may
 * equal x. */
static void FM_NAME(act_row)(int act, FM_T slope, ptrdiff_t n, const FM_T *x, FM_T *y)
{
    if (n <= 0)
        return;
    switch (act) {
    case FM_ACT_SIGMOID:
        for (ptrdiff_t i = 0; i < n; i++)
            y[i] = FM_NAME(sigmoid)(x[i]);
        break;
    case FM_ACT_TANH:
        for (ptrdiff_t i = 0; i < n; i++)
            y[i] = FM_TANH(x[i]);
        break;
    case FM_ACT_RELU: /* written so NaN passes through, as np.maximum does */
        for (ptrdiff_t i = 0; i < n; i++) {
            FM_T xi = x[i];
            y[i] = xi < 0 ? (FM_T)0 : xi;
        }
        break;
    case FM_ACT_LEAKY_RELU:
        /* positive part + slope * negative part: exact, NaN passes, and the
         * multiply is unconditional, which gcc needs to vectorise it */
        for (ptrdiff_t i = 0; i < n; i++) {
            FM_T xi = x[i];
            y[i] = (xi < 0 ? (FM_T)0 : xi) + slope * (xi < 0 ? xi : (FM_T)0);
        }
        break;
    case FM_ACT_SOFTMAX:
        FM_NAME(softmax_row)(n, x, y);
        break;
    default: /* identity */
        if (x != y)
            memmove(y, x, (size_t)n * sizeof(FM_T));
        break;
    }
}

/* c = act(c + bias) over one row of n (a whole softmax row): the GEMM's
 * write-back. The cheap activations take the sum and the activation in one
 * pass; the others add first and then call act_row, whose loop the sum's
 * would otherwise keep from vectorising (and softmax needs the whole row). */
static void FM_NAME(bias_act_row)(int act, FM_T slope, ptrdiff_t n, const FM_T *bias,
                                  FM_T *c)
{
    switch (act) {
    case FM_ACT_RELU:
        for (ptrdiff_t j = 0; j < n; j++) {
            FM_T v = c[j] + bias[j];
            c[j] = v < 0 ? (FM_T)0 : v;
        }
        break;
    case FM_ACT_LEAKY_RELU:
        for (ptrdiff_t j = 0; j < n; j++) {
            FM_T v = c[j] + bias[j];
            c[j] = (v < 0 ? (FM_T)0 : v) + slope * (v < 0 ? v : (FM_T)0);
        }
        break;
    default:
        for (ptrdiff_t j = 0; j < n; j++)
            c[j] += bias[j];
        if (act != FM_ACT_IDENTITY)
            FM_NAME(act_row)(act, slope, n, c, c);
        break;
    }
}

/* dx = grad * act'(.) through the forward output y, for one softmax row of
 * n elements. dx may equal grad. The softmax dot product is taken in double. */
static void FM_NAME(act_back_row)(int act, FM_T slope, ptrdiff_t n, const FM_T *g,
                                  const FM_T *y, FM_T *dx)
{
    if (n <= 0)
        return;
    switch (act) {
    case FM_ACT_SIGMOID:
        for (ptrdiff_t i = 0; i < n; i++)
            dx[i] = g[i] * (y[i] * ((FM_T)1 - y[i]));
        break;
    case FM_ACT_TANH:
        for (ptrdiff_t i = 0; i < n; i++)
            dx[i] = g[i] * ((FM_T)1 - y[i] * y[i]);
        break;
    case FM_ACT_RELU: /* loads into locals first, or gcc will not vectorise */
        for (ptrdiff_t i = 0; i < n; i++) {
            FM_T gi = g[i], yi = y[i];
            dx[i] = yi > 0 ? gi : (FM_T)0;
        }
        break;
    case FM_ACT_LEAKY_RELU: /* y > 0 exactly where x > 0, as slope >= 0 */
        for (ptrdiff_t i = 0; i < n; i++) {
            FM_T gi = g[i], yi = y[i];
            dx[i] = (yi > 0 ? gi : (FM_T)0) + slope * (yi > 0 ? (FM_T)0 : gi);
        }
        break;
    case FM_ACT_SOFTMAX: {
        double dot = 0.0;
        for (ptrdiff_t i = 0; i < n; i++)
            dot += (double)g[i] * y[i];
        FM_T s = (FM_T)dot;
        for (ptrdiff_t i = 0; i < n; i++)
            dx[i] = y[i] * (g[i] - s);
        break;
    }
    default: /* identity */
        if (g != dx)
            memmove(dx, g, (size_t)n * sizeof(FM_T));
        break;
    }
}

/* Columns summed together in registers: 16 double accumulators, four AVX2
 * vectors, kept while the loop walks down the rows. */
#define FM_SUM_COLS 16
/* Up to this many bytes in the columns being summed (a thread's share),
 * column blocks of FM_SUM_COLS walk down all the rows: fine while they are
 * in cache (the training loop's bias gradients). Larger shares are read row
 * by row instead, FM_SUM_SPAN columns at a time into
 * an accumulator array: walking 64 bytes down each row of a large x fetched
 * it line by line from memory (2048 x 4096 floats took 6.9-7.9 ms against
 * 4.2-4.7 ms row by row). */
#define FM_SUM_IN_CACHE_BYTES (256 * 1024)
#define FM_SUM_SPAN 256

/* Sums of columns [j0, j0 + nj) into out, by way of acc (nj doubles).
 * Inlined: called with nj = FM_SUM_COLS, a constant, gcc unrolls the inner
 * loop and keeps acc in registers. */
static inline void FM_NAME(sum_columns)(ptrdiff_t rows, ptrdiff_t cols, const FM_T *x,
                                        ptrdiff_t j0, ptrdiff_t nj, double *acc, FM_T *out)
{
    for (ptrdiff_t q = 0; q < nj; q++)
        acc[q] = 0.0;
    for (ptrdiff_t i = 0; i < rows; i++) {
        const FM_T *xr = x + i * cols + j0;
        for (ptrdiff_t q = 0; q < nj; q++)
            acc[q] += xr[q];
    }
    for (ptrdiff_t q = 0; q < nj; q++)
        out[j0 + q] = (FM_T)acc[q];
}

/* Column sums of columns [j0, j0 + nj) of x (rows x cols): each column's
 * sum runs down the rows in order, in double, so it is the same however
 * the columns are cut, in blocks of either width, and in every build. */
static void FM_NAME(column_sum_span)(ptrdiff_t rows, ptrdiff_t cols, const FM_T *x,
                                     ptrdiff_t j0, ptrdiff_t nj, FM_T *out)
{
    int in_cache = (size_t)rows * (size_t)nj * sizeof(FM_T) <= FM_SUM_IN_CACHE_BYTES;
    ptrdiff_t step = in_cache ? FM_SUM_COLS : FM_SUM_SPAN;
    for (ptrdiff_t j = j0; j < j0 + nj; j += step) {
        ptrdiff_t w = j0 + nj - j < step ? j0 + nj - j : step;
        if (w == FM_SUM_COLS) {
            double acc[FM_SUM_COLS];
            FM_NAME(sum_columns)(rows, cols, x, j, FM_SUM_COLS, acc, out);
        } else {
            double acc[FM_SUM_SPAN];
            FM_NAME(sum_columns)(rows, cols, x, j, w, acc, out);
        }
    }
}

#undef FM_SUM_COLS
#undef FM_SUM_IN_CACHE_BYTES
#undef FM_SUM_SPAN

#endif /* FM_T */
