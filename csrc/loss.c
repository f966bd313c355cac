/*
 * loss.c - fused losses: the mean loss and its gradient in one pass.
 *
 * Every kernel is written once, for an element type FM_T, in the second half
 * of this file; the first half includes this file again once per type.
 * Float kernels use the inline exp and log1p of elementwise.h (much faster
 * than libm's), double ones libm.
 *
 * Determinism: the items (rows, or elements) are cut into chunks whose size
 * depends only on the shape. Each chunk sums its items' losses in double,
 * in order, into its own slot; the slots are then added in order. Threads
 * take whole chunks, so the result is bit-identical for any thread count.
 *
 * An empty batch (no rows or no elements) has mean loss 0/0 = NaN, as
 * np.mean of an empty array.
 */
#ifndef FM_T

#include "elementwise.h"
#include "fastmlp.h"
#include "loss.h"
#include "parallel.h"

#include <math.h>
#include <string.h>
#include <tgmath.h>

/* About this many elements per chunk, and never more than FM_MAX_CHUNKS
 * chunks, so the partial sums fit in a small array on the stack. Chunks are
 * small enough that two threads share even a 128 x 10 batch evenly. */
#define FM_CHUNK 1024
#define FM_MAX_CHUNKS 1024
/* Parallelise only from this many elements: where the serial loop takes
 * ~4 us or more (a parallel region costs ~0.8 us on 2 threads). Serial
 * float cost per element (CPU time): mse 0.55 ns (16384: 8.5 -> 5.3 us on
 * two threads); mae 1.7, softmax cross-entropy 3-4 (10 classes), BCE 9. */
#define FM_PAR_MIN_SLOW 4096
#define FM_PAR_MIN_CHEAP 16384

/* Items per chunk for `items` items of `width` elements each. */
static ptrdiff_t chunk_items(ptrdiff_t items, ptrdiff_t width)
{
    ptrdiff_t c = FM_CHUNK / (width > 1 ? width : 1);
    ptrdiff_t least = (items + FM_MAX_CHUNKS - 1) / FM_MAX_CHUNKS;
    c = c > least ? c : least;
    return c > 1 ? c : 1;
}

/* part[0] + part[1] + ... in that order. */
static double sum_in_order(const double *part, ptrdiff_t n)
{
    double s = 0.0;
    for (ptrdiff_t i = 0; i < n; i++)
        s += part[i];
    return s;
}

/* How loss `kind` is summed over a rows x cols batch: its items (rows for
 * the softmax losses, else elements) and their width for chunking; the mean
 * is factor * sum / divisor, and the gradient of each item's loss is scaled
 * by grad_num / divisor. */
typedef struct {
    ptrdiff_t items, width;
    double divisor, factor, grad_num;
} loss_shape;

static loss_shape shape_of(int kind, ptrdiff_t rows, ptrdiff_t cols)
{
    loss_shape sh = {rows * cols, 1, (double)(rows * cols), 1.0, 1.0};
    if (kind == FM_LOSS_SOFTMAX_XENT || kind == FM_LOSS_SOFTMAX_XENT_SPARSE) {
        sh.items = rows;
        sh.width = cols;
        sh.divisor = (double)rows;
    } else if (kind == FM_LOSS_MSE) {
        sh.grad_num = 2.0;
    } else if (kind == FM_LOSS_SSE) {
        sh.divisor = (double)rows;
        sh.factor = 0.5;
    }
    return sh;
}

double fm_loss_total(int kind, ptrdiff_t rows, ptrdiff_t cols, const double *item_loss)
{
    loss_shape sh = shape_of(kind, rows, cols);
    ptrdiff_t ck = chunk_items(sh.items, sh.width);
    double s = 0.0;
    for (ptrdiff_t c0 = 0; c0 < sh.items; c0 += ck) {
        double part = 0.0;
        for (ptrdiff_t i = c0; i < sh.items && i < c0 + ck; i++)
            part += item_loss[i];
        s += part;
    }
    return sh.factor * s / sh.divisor;
}

#define FM_T float
#define FM_NAME(f) f##_f32
#define FM_EXP_NONPOS fm_exp_nonpos_f32
#define FM_LOG1P_UNIT fm_log1p_unit_f32
#include "loss.c"
#undef FM_T
#undef FM_NAME
#undef FM_EXP_NONPOS
#undef FM_LOG1P_UNIT

#define FM_T double
#define FM_NAME(f) f##_f64
#define FM_EXP_NONPOS exp
#define FM_LOG1P_UNIT log1p
#include "loss.c"
#undef FM_T
#undef FM_NAME
#undef FM_EXP_NONPOS
#undef FM_LOG1P_UNIT

#else /* ---- the kernels, for one element type FM_T ---------------------- */

/* What every chunk kernel sees: the inputs, the gradient (or NULL) and the
 * factor that turns the gradient of a summed loss into that of the mean. */
typedef struct {
    ptrdiff_t cols;
    const FM_T *z;
    const FM_T *t;
    const int64_t *labels;
    FM_T *grad;
    FM_T grad_scale;
    double *item_loss; /* if not NULL: each item's loss, as it is summed */
} FM_NAME(loss_args);

/* Sum of the losses of items [i0, i1), writing their gradients. */
typedef double (*FM_NAME(chunk_fn))(const FM_NAME(loss_args) *a, ptrdiff_t i0, ptrdiff_t i1);

/* Sum of f over `items` items of `width` elements, chunk by chunk (see the
 * top of the file); in parallel when there are at least par_min elements. */
static double FM_NAME(sum_chunks)(FM_NAME(chunk_fn) f, const FM_NAME(loss_args) *a,
                                  ptrdiff_t items, ptrdiff_t width, ptrdiff_t par_min)
{
    ptrdiff_t ck = chunk_items(items, width);
    ptrdiff_t nc = (items + ck - 1) / ck;
    double part[FM_MAX_CHUNKS];
    if (nc < 2 || !parallel_pays(items * width, par_min)) {
        for (ptrdiff_t c = 0; c < nc; c++)
            part[c] = f(a, c * ck, items - c * ck < ck ? items : c * ck + ck);
        return sum_in_order(part, nc);
    }
#pragma omp parallel for schedule(static)
    for (ptrdiff_t c = 0; c < nc; c++)
        part[c] = f(a, c * ck, items - c * ck < ck ? items : c * ck + ck);
    return sum_in_order(part, nc);
}

/* For one row z of n > 0 logits: writes exp(z_j - max) to e (which may be
 * NULL) and returns log-sum-exp(z), in double. Subtracting the max keeps
 * every exp in (0, 1]. */
static double FM_NAME(log_sum_exp)(ptrdiff_t n, const FM_T *z, FM_T *e, double *sum_out)
{
    FM_T mx = z[0];
    for (ptrdiff_t j = 1; j < n; j++)
        mx = z[j] > mx ? z[j] : mx;
    double s = 0.0;
    if (e) {
        for (ptrdiff_t j = 0; j < n; j++) /* apart from the sum, to vectorise */
            e[j] = FM_EXP_NONPOS(z[j] - mx);
        for (ptrdiff_t j = 0; j < n; j++)
            s += e[j];
    } else {
        for (ptrdiff_t j = 0; j < n; j++)
            s += FM_EXP_NONPOS(z[j] - mx);
    }
    *sum_out = s;
    return (double)mx + log(s);
}

/* Rows [i0, i1) of softmax cross-entropy with probability targets t:
 * loss_i = sum_j t_ij * (lse_i - z_ij), and the exact gradient for any
 * targets, d loss_i / d z_ij = softmax_ij * sum_j t_ij - t_ij (which is
 * softmax - t when the targets sum to 1). */
static double FM_NAME(xent_rows)(const FM_NAME(loss_args) *a, ptrdiff_t i0, ptrdiff_t i1)
{
    ptrdiff_t n = a->cols;
    double total = 0.0;
    for (ptrdiff_t i = i0; i < i1 && n > 0; i++) {
        const FM_T *z = a->z + i * n, *t = a->t + i * n;
        FM_T *g = a->grad ? a->grad + i * n : NULL;
        double s, tsum = 0.0, loss = 0.0;
        double lse = FM_NAME(log_sum_exp)(n, z, g, &s);
        for (ptrdiff_t j = 0; j < n; j++) {
            loss += (double)t[j] * (lse - (double)z[j]);
            tsum += t[j];
        }
        total += loss;
        if (a->item_loss)
            a->item_loss[i] = loss;
        if (g) {
            FM_T pscale = (FM_T)(tsum / s) * a->grad_scale;
            for (ptrdiff_t j = 0; j < n; j++)
                g[j] = g[j] * pscale - t[j] * a->grad_scale;
        }
    }
    return total;
}

/* Rows [i0, i1) with integer labels: loss_i = lse_i - z_i,label. */
static double FM_NAME(xent_sparse_rows)(const FM_NAME(loss_args) *a, ptrdiff_t i0,
                                        ptrdiff_t i1)
{
    ptrdiff_t n = a->cols;
    double total = 0.0;
    for (ptrdiff_t i = i0; i < i1 && n > 0; i++) {
        const FM_T *z = a->z + i * n;
        FM_T *g = a->grad ? a->grad + i * n : NULL;
        int64_t label = a->labels[i];
        double s;
        double loss = FM_NAME(log_sum_exp)(n, z, g, &s) - (double)z[label];
        total += loss;
        if (a->item_loss)
            a->item_loss[i] = loss;
        if (g) {
            FM_T pscale = (FM_T)(1.0 / s) * a->grad_scale;
            for (ptrdiff_t j = 0; j < n; j++)
                g[j] *= pscale;
            g[label] -= a->grad_scale;
        }
    }
    return total;
}

/* Elements [i0, i1) of sigmoid + binary cross-entropy on logits:
 * max(z, 0) - z t + log1p(exp(-|z|)), finite for every finite z; gradient
 * sigmoid(z) - t with the sigmoid taken from the same exp(-|z|). Works in
 * pieces of FM_BCE_PIECE: one loop free of the double sum (so it
 * vectorises) computes log1p and the gradient, a second adds in order. */
#define FM_BCE_PIECE 256
static double FM_NAME(bce_elems)(const FM_NAME(loss_args) *a, ptrdiff_t i0, ptrdiff_t i1)
{
    const FM_T *z = a->z, *t = a->t;
    FM_T k = a->grad_scale;
    FM_T l1p[FM_BCE_PIECE], grad[FM_BCE_PIECE];
    double total = 0.0;
    for (ptrdiff_t p = i0; p < i1; p += FM_BCE_PIECE) {
        ptrdiff_t m = i1 - p < FM_BCE_PIECE ? i1 - p : FM_BCE_PIECE;
        for (ptrdiff_t j = 0; j < m; j++) {
            FM_T zj = z[p + j], e = FM_EXP_NONPOS(-fabs(zj));
            FM_T sig = (zj >= 0 ? (FM_T)1 : e) / ((FM_T)1 + e); /* e/(1+e) below 0 */
            l1p[j] = FM_LOG1P_UNIT(e);
            grad[j] = (sig - t[p + j]) * k;
        }
        if (a->grad)
            memcpy(a->grad + p, grad, (size_t)m * sizeof(FM_T));
        for (ptrdiff_t j = 0; j < m; j++) {
            double zj = z[p + j], pos = zj > 0 ? zj : 0;
            double loss = pos - zj * t[p + j] + l1p[j];
            total += loss;
            if (a->item_loss)
                a->item_loss[p + j] = loss;
        }
    }
    return total;
}

/* Elements [i0, i1) of (y - t)^2; gradient 2 (y - t) (scaled). MSE and SSE
 * share it, differing only in the factors applied by their callers. */
static double FM_NAME(sq_elems)(const FM_NAME(loss_args) *a, ptrdiff_t i0, ptrdiff_t i1)
{
    const FM_T *y = a->z, *t = a->t;
    FM_T *g = a->grad;
    double total = 0.0;
    for (ptrdiff_t i = i0; i < i1; i++) {
        FM_T d = y[i] - t[i];
        double loss = (double)d * d;
        total += loss;
        if (a->item_loss)
            a->item_loss[i] = loss;
        if (g)
            g[i] = d * a->grad_scale;
    }
    return total;
}

/* Elements [i0, i1) of |y - t|; gradient sign(y - t) (scaled), 0 where y == t
 * and NaN where y - t is NaN. */
static double FM_NAME(abs_elems)(const FM_NAME(loss_args) *a, ptrdiff_t i0, ptrdiff_t i1)
{
    const FM_T *y = a->z, *t = a->t;
    FM_T *g = a->grad, k = a->grad_scale;
    double total = 0.0;
    for (ptrdiff_t i = i0; i < i1; i++) {
        FM_T d = y[i] - t[i];
        double loss = fabs((double)d);
        total += loss;
        if (a->item_loss)
            a->item_loss[i] = loss;
        /* branch-free sign (random signs would mispredict); d == d is false
         * only for NaN, which then passes through */
        FM_T sign = (FM_T)(d > 0) - (FM_T)(d < 0);
        if (g)
            g[i] = d == d ? sign * k : d;
    }
    return total;
}

/* The chunk function of loss `kind`, and from how many elements it runs in
 * parallel (see FM_PAR_MIN_*). */
static FM_NAME(chunk_fn) FM_NAME(chunk_fn_of)(int kind, ptrdiff_t *par_min)
{
    *par_min = FM_PAR_MIN_SLOW;
    switch (kind) {
    case FM_LOSS_SOFTMAX_XENT:
        return FM_NAME(xent_rows);
    case FM_LOSS_SOFTMAX_XENT_SPARSE:
        return FM_NAME(xent_sparse_rows);
    case FM_LOSS_SIGMOID_BCE:
        return FM_NAME(bce_elems);
    case FM_LOSS_MAE:
        return FM_NAME(abs_elems);
    default: /* MSE, SSE */
        *par_min = FM_PAR_MIN_CHEAP;
        return FM_NAME(sq_elems);
    }
}

/* The arguments of loss `kind` on a rows x cols batch. */
static FM_NAME(loss_args) FM_NAME(args_of)(int kind, ptrdiff_t rows, ptrdiff_t cols,
                                           const FM_T *z, const FM_T *t,
                                           const int64_t *labels, FM_T *grad)
{
    loss_shape sh = shape_of(kind, rows, cols);
    FM_NAME(loss_args) a = {sh.width, z, t, labels, grad,
                            (FM_T)(sh.grad_num / sh.divisor), NULL};
    return a;
}

/* The whole batch, in parallel chunks when it is large enough. */
static double FM_NAME(loss_whole)(int kind, ptrdiff_t rows, ptrdiff_t cols, const FM_T *z,
                                  const FM_T *t, const int64_t *labels, FM_T *grad)
{
    loss_shape sh = shape_of(kind, rows, cols);
    FM_NAME(loss_args) a = FM_NAME(args_of)(kind, rows, cols, z, t, labels, grad);
    ptrdiff_t par_min;
    FM_NAME(chunk_fn) f = FM_NAME(chunk_fn_of)(kind, &par_min);
    return sh.factor * FM_NAME(sum_chunks)(f, &a, sh.items, sh.width, par_min) / sh.divisor;
}

void FM_NAME(fm_loss_rows)(int kind, ptrdiff_t rows, ptrdiff_t cols, const FM_T *z,
                           const FM_T *target, const int64_t *labels, FM_T *grad,
                           ptrdiff_t r0, ptrdiff_t r1, double *item_loss)
{
    loss_shape sh = shape_of(kind, rows, cols);
    FM_NAME(loss_args) a = FM_NAME(args_of)(kind, rows, cols, z, target, labels, grad);
    a.item_loss = item_loss;
    ptrdiff_t per_row = sh.items == rows ? 1 : cols, par_min;
    FM_NAME(chunk_fn_of)(kind, &par_min)(&a, r0 * per_row, r1 * per_row);
}

double FM_NAME(fm_softmax_xent)(ptrdiff_t rows, ptrdiff_t cols, const FM_T *z,
                                const FM_T *target, FM_T *grad)
{
    return FM_NAME(loss_whole)(FM_LOSS_SOFTMAX_XENT, rows, cols, z, target, NULL, grad);
}

double FM_NAME(fm_softmax_xent_sparse)(ptrdiff_t rows, ptrdiff_t cols, const FM_T *z,
                                       const int64_t *labels, FM_T *grad)
{
    return FM_NAME(loss_whole)(FM_LOSS_SOFTMAX_XENT_SPARSE, rows, cols, z, NULL, labels, grad);
}

double FM_NAME(fm_sigmoid_bce)(ptrdiff_t n, const FM_T *z, const FM_T *target, FM_T *grad)
{
    return FM_NAME(loss_whole)(FM_LOSS_SIGMOID_BCE, n, 1, z, target, NULL, grad);
}

double FM_NAME(fm_mse)(ptrdiff_t n, const FM_T *y, const FM_T *target, FM_T *grad)
{
    return FM_NAME(loss_whole)(FM_LOSS_MSE, n, 1, y, target, NULL, grad);
}

double FM_NAME(fm_mae)(ptrdiff_t n, const FM_T *y, const FM_T *target, FM_T *grad)
{
    return FM_NAME(loss_whole)(FM_LOSS_MAE, n, 1, y, target, NULL, grad);
}

/* 1/2 sum_j (y_ij - t_ij)^2 per row, mean over rows; gradient (y - t)/rows. */
double FM_NAME(fm_sse)(ptrdiff_t rows, ptrdiff_t cols, const FM_T *y, const FM_T *target,
                       FM_T *grad)
{
    return FM_NAME(loss_whole)(FM_LOSS_SSE, rows, cols, y, target, NULL, grad);
}

#endif /* FM_T */
