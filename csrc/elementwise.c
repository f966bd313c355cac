/*
 * elementwise.c - activations forward and backward, and the bias gradient.
 *
 * Every kernel is written once, for an element type FM_T, in the second half
 * of this file; the first half includes this file again once per type.
 * The float kernels compute in float, like the NumPy float32 reference, with
 * the vectorisable exp and tanh of elementwise.h; the double ones use libm
 * (<tgmath.h> picks the double functions for double arguments).
 *
 * Threads: each thread takes one contiguous share of the elements (of whole
 * rows for softmax). Each output depends only on its own row, so results
 * never depend on the thread count. Small work stays serial: below the
 * thresholds a parallel region costs more than it saves (measured on 2
 * threads; see the commit message).
 */
#ifndef FM_T

#include "elementwise.h"
#include "fastmlp.h"
#include "parallel.h"

#include <string.h>
#include <tgmath.h>

/* Parallelise only from this many elements. A parallel region costs ~0.8 us
 * on 2 threads; these are where the serial loop takes ~4 us or more, so two
 * threads gain >= 1.3x (measured, float, one thread -> two): cheap
 * activations and their backward (relu 65536: 6.3 -> 4.8 us), softmax
 * backward (16384: 12 -> 10 us), and forwards that call exp or tanh
 * (sigmoid 4096: 4.0 -> 2.8 us, tanh 5.7 -> 3.6 us). */
#define FM_PAR_MIN_CHEAP 65536
#define FM_PAR_MIN_SOFTMAX_BACK 16384
#define FM_PAR_MIN_EXP 4096
/* Columns summed together by column_sum: a 2 KiB double accumulator.
 * Parallel from 65536 elements, like the cheap activations. */
#define FM_COLS_MAX 256
#define FM_PAR_MIN_COLSUM 65536

static int uses_exp(int act)
{
    return act == FM_ACT_SIGMOID || act == FM_ACT_TANH || act == FM_ACT_SOFTMAX;
}

#define FM_T float
#define FM_NAME(f) f##_f32
#define FM_EXP_NONPOS fm_exp_nonpos_f32
#define FM_TANH fm_tanh_f32
#include "elementwise.c"
#undef FM_T
#undef FM_NAME
#undef FM_EXP_NONPOS
#undef FM_TANH

#define FM_T double
#define FM_NAME(f) f##_f64
#define FM_EXP_NONPOS exp
#define FM_TANH tanh
#include "elementwise.c"
#undef FM_T
#undef FM_NAME
#undef FM_EXP_NONPOS
#undef FM_TANH

#else /* ---- the kernels, for one element type FM_T ---------------------- */

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

/* y = act(x) over n contiguous elements that form one softmax row. */
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

/* y = act(x) on a contiguous rows x cols block. */
static void FM_NAME(act_block)(int act, FM_T slope, ptrdiff_t rows, ptrdiff_t cols,
                               const FM_T *x, FM_T *y)
{
    if (act != FM_ACT_SOFTMAX) { /* one long row: the longest inner loop */
        FM_NAME(act_row)(act, slope, rows * cols, x, y);
        return;
    }
    for (ptrdiff_t i = 0; i < rows; i++)
        FM_NAME(act_row)(act, slope, cols, x + i * cols, y + i * cols);
}

void FM_NAME(fm_act_inplace)(int act, FM_T slope, ptrdiff_t rows, ptrdiff_t cols,
                             FM_T *c, ptrdiff_t ldc)
{
    if (ldc == cols) {
        FM_NAME(act_block)(act, slope, rows, cols, c, c);
        return;
    }
    for (ptrdiff_t i = 0; i < rows; i++)
        FM_NAME(act_row)(act, slope, cols, c + i * ldc, c + i * ldc);
}

void FM_NAME(fm_act_forward)(int act, FM_T slope, ptrdiff_t rows, ptrdiff_t cols,
                             const FM_T *x, FM_T *y)
{
    if (!parallel_pays(rows * cols, uses_exp(act) ? FM_PAR_MIN_EXP : FM_PAR_MIN_CHEAP)) {
        FM_NAME(act_block)(act, slope, rows, cols, x, y);
        return;
    }
    /* threads split whole rows for softmax, single elements otherwise */
    ptrdiff_t width = act == FM_ACT_SOFTMAX ? cols : 1;
    ptrdiff_t items = act == FM_ACT_SOFTMAX ? rows : rows * cols;
#pragma omp parallel
    {
        ptrdiff_t i0, i1;
        thread_share(items, &i0, &i1);
        FM_NAME(act_block)(act, slope, i1 - i0, width, x + i0 * width, y + i0 * width);
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

/* Backward on a contiguous rows x cols block. */
static void FM_NAME(act_back_block)(int act, FM_T slope, ptrdiff_t rows, ptrdiff_t cols,
                                    const FM_T *g, const FM_T *y, FM_T *dx)
{
    if (act != FM_ACT_SOFTMAX) {
        FM_NAME(act_back_row)(act, slope, rows * cols, g, y, dx);
        return;
    }
    for (ptrdiff_t i = 0; i < rows; i++)
        FM_NAME(act_back_row)(act, slope, cols, g + i * cols, y + i * cols, dx + i * cols);
}

void FM_NAME(fm_act_backward)(int act, FM_T slope, ptrdiff_t rows, ptrdiff_t cols,
                              const FM_T *grad, const FM_T *y, FM_T *dx)
{
    ptrdiff_t min = act == FM_ACT_SOFTMAX ? FM_PAR_MIN_SOFTMAX_BACK : FM_PAR_MIN_CHEAP;
    if (!parallel_pays(rows * cols, min)) {
        FM_NAME(act_back_block)(act, slope, rows, cols, grad, y, dx);
        return;
    }
    ptrdiff_t width = act == FM_ACT_SOFTMAX ? cols : 1;
    ptrdiff_t items = act == FM_ACT_SOFTMAX ? rows : rows * cols;
#pragma omp parallel
    {
        ptrdiff_t i0, i1;
        thread_share(items, &i0, &i1);
        ptrdiff_t off = i0 * width;
        FM_NAME(act_back_block)(act, slope, i1 - i0, width, grad + off, y + off, dx + off);
    }
}

/* Column sums of columns [j0, j0 + nj) (nj <= FM_COLS_MAX) of x (rows x
 * cols): one pass down the rows, rows in order, into a small double
 * accumulator. Each column's sum is the same however the columns are cut. */
static void FM_NAME(column_sum_span)(ptrdiff_t rows, ptrdiff_t cols, const FM_T *x,
                                     ptrdiff_t j0, ptrdiff_t nj, FM_T *out)
{
    double acc[FM_COLS_MAX] = {0};
    for (ptrdiff_t i = 0; i < rows; i++) {
        const FM_T *xr = x + i * cols + j0;
        for (ptrdiff_t j = 0; j < nj; j++)
            acc[j] += xr[j];
    }
    for (ptrdiff_t j = 0; j < nj; j++)
        out[j0 + j] = (FM_T)acc[j];
}

/* Block b of width w (columns [b*w, b*w + w) clipped to cols). */
static void FM_NAME(column_sum_block)(ptrdiff_t rows, ptrdiff_t cols, const FM_T *x,
                                      ptrdiff_t w, ptrdiff_t b, FM_T *out)
{
    ptrdiff_t j0 = b * w;
    FM_NAME(column_sum_span)(rows, cols, x, j0, cols - j0 < w ? cols - j0 : w, out);
}

void FM_NAME(fm_column_sum_range)(ptrdiff_t rows, ptrdiff_t cols, const FM_T *x,
                                  ptrdiff_t j0, ptrdiff_t j1, FM_T *out)
{
    for (ptrdiff_t j = j0; j < j1; j += FM_COLS_MAX)
        FM_NAME(column_sum_span)(rows, cols, x, j,
                                 j1 - j < FM_COLS_MAX ? j1 - j : FM_COLS_MAX, out);
}

void FM_NAME(fm_column_sum)(ptrdiff_t rows, ptrdiff_t cols, const FM_T *x, FM_T *out)
{
    if (cols <= 0)
        return;
    /* Column blocks are independent and each sums its rows in order, so the
     * block width (which follows the thread count) never changes a result. */
    int nt = rows * cols >= FM_PAR_MIN_COLSUM ? threads_available() : 1;
    ptrdiff_t w = (cols + nt - 1) / nt;
    w = (w + 15) / 16 * 16;
    w = w < FM_COLS_MAX ? w : FM_COLS_MAX;
    ptrdiff_t nb = (cols + w - 1) / w;
    if (nt == 1 || nb < 2) {
        for (ptrdiff_t b = 0; b < nb; b++)
            FM_NAME(column_sum_block)(rows, cols, x, w, b, out);
        return;
    }
#pragma omp parallel for schedule(static)
    for (ptrdiff_t b = 0; b < nb; b++)
        FM_NAME(column_sum_block)(rows, cols, x, w, b, out);
}

#endif /* FM_T */
