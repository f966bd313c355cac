/*
 * elementwise.c - activations forward and backward, the GEMM's bias and
 * activation write-back, and the bias gradient: the threading around the
 * loops of elementwise_loops.h, whose build for the selected SIMD path it
 * picks (the portable build is this file's own).
 *
 * Every kernel is written once, for an element type FM_T, in the second half
 * of this file; the first half includes this file again once per type.
 *
 * Threads: each thread takes one contiguous share of the elements (of whole
 * rows for softmax). Each output depends only on its own row, so results
 * never depend on the thread count. Small work stays serial: below the
 * thresholds a parallel region costs more than it saves (measured on 2
 * threads; see the commit message).
 */
#ifndef FM_T

#include "arch_pick.h"
#include "elementwise.h"
#include "fastmlp.h"
#include "parallel.h"

#define FM_ELEM_TABLE fm_elem_generic
#include "elementwise_loops.h"
#undef FM_ELEM_TABLE

/* Parallelise only from this many elements. A parallel region costs ~0.8 us
 * on 2 threads; these are where the serial loop takes ~4 us or more, so two
 * threads gain >= 1.3x (measured, float, one thread -> two): cheap
 * activations and their backward (relu 65536: 6.3 -> 4.8 us), softmax
 * backward (16384: 12 -> 10 us), and forwards that call exp or tanh
 * (sigmoid 4096: 4.0 -> 2.8 us, tanh 5.7 -> 3.6 us). */
#define FM_PAR_MIN_CHEAP 65536
#define FM_PAR_MIN_SOFTMAX_BACK 16384
#define FM_PAR_MIN_EXP 4096
/* Column sums: parallel from 65536 elements, like the cheap activations. */
#define FM_PAR_MIN_COLSUM 65536

/* The loops of the selected SIMD path. The AVX-512 path runs the AVX2
 * build (every AVX-512 CPU has AVX2): an AVX-512 build of them was not
 * made because the machine they were written on (Zen 3) cannot run it, and
 * no code goes in untested. */
static const fm_elem_arch *selected_loops(void)
{
    return fm_arch_pick(&fm_elem_generic, FM_IF_AVX2(&fm_elem_avx2), FM_IF_AVX2(&fm_elem_avx2));
}

static int uses_exp(int act)
{
    return act == FM_ACT_SIGMOID || act == FM_ACT_TANH || act == FM_ACT_SOFTMAX;
}

#define FM_T float
#define FM_NAME(f) f##_f32
#define FM_LOOPS (&selected_loops()->f32)
#include "elementwise.c"
#undef FM_T
#undef FM_NAME
#undef FM_LOOPS

#define FM_T double
#define FM_NAME(f) f##_f64
#define FM_LOOPS (&selected_loops()->f64)
#include "elementwise.c"
#undef FM_T
#undef FM_NAME
#undef FM_LOOPS

#else /* ---- the kernels, for one element type FM_T ---------------------- */

/* y = act(x) on a contiguous rows x cols block. */
static void FM_NAME(act_block)(int act, FM_T slope, ptrdiff_t rows, ptrdiff_t cols,
                               const FM_T *x, FM_T *y)
{
    const FM_NAME(fm_elem_loops) *loops = FM_LOOPS;
    if (act != FM_ACT_SOFTMAX) { /* one long row: the longest inner loop */
        loops->act_row(act, slope, rows * cols, x, y);
        return;
    }
    for (ptrdiff_t i = 0; i < rows; i++)
        loops->act_row(act, slope, cols, x + i * cols, y + i * cols);
}

void FM_NAME(fm_bias_act)(int act, FM_T slope, ptrdiff_t rows, ptrdiff_t cols, FM_T *c,
                          ptrdiff_t ldc, const FM_T *bias)
{
    const FM_NAME(fm_elem_loops) *loops = FM_LOOPS;
    if (bias == NULL && act == FM_ACT_IDENTITY)
        return;
    if (bias == NULL && ldc == cols) {
        FM_NAME(act_block)(act, slope, rows, cols, c, c);
        return;
    }
    for (ptrdiff_t i = 0; i < rows; i++) {
        FM_T *row = c + i * ldc;
        if (bias == NULL)
            loops->act_row(act, slope, cols, row, row);
        else
            loops->bias_act_row(act, slope, cols, bias, row);
    }
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

/* Backward on a contiguous rows x cols block. */
static void FM_NAME(act_back_block)(int act, FM_T slope, ptrdiff_t rows, ptrdiff_t cols,
                                    const FM_T *g, const FM_T *y, FM_T *dx)
{
    const FM_NAME(fm_elem_loops) *loops = FM_LOOPS;
    if (act != FM_ACT_SOFTMAX) {
        loops->act_back_row(act, slope, rows * cols, g, y, dx);
        return;
    }
    for (ptrdiff_t i = 0; i < rows; i++)
        loops->act_back_row(act, slope, cols, g + i * cols, y + i * cols, dx + i * cols);
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

/* Block b of width w (columns [b*w, b*w + w) clipped to cols). */
static void FM_NAME(column_sum_block)(ptrdiff_t rows, ptrdiff_t cols, const FM_T *x,
                                      ptrdiff_t w, ptrdiff_t b, FM_T *out)
{
    ptrdiff_t j0 = b * w;
    FM_LOOPS->column_sum_span(rows, cols, x, j0, cols - j0 < w ? cols - j0 : w, out);
}

void FM_NAME(fm_column_sum_range)(ptrdiff_t rows, ptrdiff_t cols, const FM_T *x,
                                  ptrdiff_t j0, ptrdiff_t j1, FM_T *out)
{
    if (j1 > j0)
        FM_LOOPS->column_sum_span(rows, cols, x, j0, j1 - j0, out);
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
    ptrdiff_t nb = (cols + w - 1) / w;
    if (nb < 2) { /* one thread, or too few columns to split */
        FM_NAME(fm_column_sum_range)(rows, cols, x, 0, cols, out);
        return;
    }
#pragma omp parallel for schedule(static)
    for (ptrdiff_t b = 0; b < nb; b++)
        FM_NAME(column_sum_block)(rows, cols, x, w, b, out);
}

#endif /* FM_T */
