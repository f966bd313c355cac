/*
 * optim.c - optimizer updates in place over flat parameter buffers.
 *
 * Every kernel is written once, for an element type FM_T, in the second half
 * of this file; the first half includes this file again once per type
 * (<tgmath.h> makes sqrt pick sqrtf for float).
 *
 * The float kernels compute in float: each hyperparameter expression (lr,
 * 1 - rho, Adam's bias-corrected step size, ...) is evaluated once in
 * double and rounded to float, as NumPy does with a float32 array and a
 * Python float (NEP 50), so the NumPy reference is matched closely.
 *
 * Weight decay is coupled L2: the kernels use g + weight_decay * w in place
 * of g, computed on the fly (g itself is not modified).
 *
 * Denormals: once the optimizer state (Adam's v above all: g^2 underflows
 * and v decays by beta2 every step) reaches the subnormal range, every
 * operation on it takes a microcode assist, and a step gets ~25x slower
 * (float Adam, 16384 elements: 0.42 -> 10.7 ns per element). The kernels
 * therefore run with flush-to-zero and denormals-are-zero set in MXCSR
 * (x86; restored on return, in every thread). Only values below FLT_MIN
 * (DBL_MIN) are affected: such a state entry becomes 0, which changes a
 * weight by less than 1e-30 of itself, far below float rounding.
 *
 * Every element is updated independently, so results never depend on the
 * thread count. Each kernel is a range function over [i0, i1) with simple
 * loops that gcc -O3 vectorises; for_ranges gives each thread one
 * contiguous share when the buffer is large enough to pay for a parallel
 * region.
 */
#ifndef FM_T

#include "fastmlp.h"
#include "parallel.h"

#include <math.h>
#include <tgmath.h>

/* Parallel from this many elements: where the serial loop takes ~4 us or
 * more (a parallel region costs ~0.8 us on 2 threads). Serial float cost
 * per element (CPU time): sgd 0.15 ns, momentum 0.2, adagrad, rmsprop and
 * adam 0.4. One thread -> two: sgd 32768 4.5 -> 3.3 us, adam 16384 6.9 ->
 * 4.8 us. */
#define FM_PAR_MIN_CHEAP 32768 /* sgd, momentum */
#define FM_PAR_MIN_SQRT 16384  /* adagrad, rmsprop, adam: a sqrt and a divide */

/* Set flush-to-zero and denormals-are-zero for this thread; returns the
 * old mode, for fp_mode_set to restore. MXCSR is per thread. */
static unsigned denormals_off(void)
{
    unsigned old = fp_mode_get();
#ifdef FM_HAVE_MXCSR
    fp_mode_set(old | 0x8040u); /* FTZ is bit 15, DAZ bit 6 */
#endif
    return old;
}

#define FM_T float
#define FM_NAME(f) f##_f32
#include "optim.c"
#undef FM_T
#undef FM_NAME

#define FM_T double
#define FM_NAME(f) f##_f64
#include "optim.c"
#undef FM_T
#undef FM_NAME

#else /* ---- the kernels, for one element type FM_T ---------------------- */

/* A kernel's buffers and its hyperparameters, already rounded to FM_T. */
typedef struct {
    FM_T *w;
    const FM_T *g;
    FM_T *s1, *s2; /* optimizer state: velocity, accumulator, m and v */
    FM_T wd, k1, k2, k3, k4;
} FM_NAME(optim_args);

typedef void (*FM_NAME(range_fn))(const FM_NAME(optim_args) *a, ptrdiff_t i0, ptrdiff_t i1);

/* Apply f to [0, n), one contiguous share per thread when n >= par_min,
 * with denormals flushed (see the top of the file). */
static void FM_NAME(for_ranges)(FM_NAME(range_fn) f, const FM_NAME(optim_args) *a,
                                ptrdiff_t n, ptrdiff_t par_min)
{
    if (!parallel_pays(n, par_min)) {
        unsigned csr = denormals_off();
        f(a, 0, n);
        fp_mode_set(csr);
        return;
    }
#pragma omp parallel
    {
        ptrdiff_t i0, i1;
        thread_share(n, &i0, &i1);
        unsigned csr = denormals_off();
        f(a, i0, i1);
        fp_mode_set(csr);
    }
}

/* k1 = lr */
static void FM_NAME(sgd_range)(const FM_NAME(optim_args) *a, ptrdiff_t i0, ptrdiff_t i1)
{
    FM_T *restrict w = a->w;
    const FM_T *restrict g = a->g;
    FM_T wd = a->wd, lr = a->k1;
    for (ptrdiff_t i = i0; i < i1; i++)
        w[i] -= lr * (g[i] + wd * w[i]);
}

/* k1 = lr, k2 = momentum; v = momentum v - lr g, w += v */
static void FM_NAME(momentum_range)(const FM_NAME(optim_args) *a, ptrdiff_t i0, ptrdiff_t i1)
{
    FM_T *restrict w = a->w, *restrict v = a->s1;
    const FM_T *restrict g = a->g;
    FM_T wd = a->wd, lr = a->k1, mu = a->k2;
    for (ptrdiff_t i = i0; i < i1; i++) {
        v[i] = mu * v[i] - lr * (g[i] + wd * w[i]);
        w[i] += v[i];
    }
}

/* Nesterov (Keras): v = momentum v - lr g, w += momentum v - lr g */
static void FM_NAME(nesterov_range)(const FM_NAME(optim_args) *a, ptrdiff_t i0, ptrdiff_t i1)
{
    FM_T *restrict w = a->w, *restrict v = a->s1;
    const FM_T *restrict g = a->g;
    FM_T wd = a->wd, lr = a->k1, mu = a->k2;
    for (ptrdiff_t i = i0; i < i1; i++) {
        FM_T step = lr * (g[i] + wd * w[i]);
        v[i] = mu * v[i] - step;
        w[i] += mu * v[i] - step;
    }
}

/* k1 = lr, k2 = eps; acc += g^2, w -= lr g / sqrt(acc + eps) */
static void FM_NAME(adagrad_range)(const FM_NAME(optim_args) *a, ptrdiff_t i0, ptrdiff_t i1)
{
    FM_T *restrict w = a->w, *restrict acc = a->s1;
    const FM_T *restrict g = a->g;
    FM_T wd = a->wd, lr = a->k1, eps = a->k2;
    for (ptrdiff_t i = i0; i < i1; i++) {
        FM_T gi = g[i] + wd * w[i];
        acc[i] += gi * gi;
        w[i] -= lr * gi / sqrt(acc[i] + eps);
    }
}

/* k1 = lr, k2 = rho, k3 = 1 - rho, k4 = eps;
 * ms = rho ms + (1 - rho) g^2, w -= lr g / sqrt(ms + eps) */
static void FM_NAME(rmsprop_range)(const FM_NAME(optim_args) *a, ptrdiff_t i0, ptrdiff_t i1)
{
    FM_T *restrict w = a->w, *restrict ms = a->s1;
    const FM_T *restrict g = a->g;
    FM_T wd = a->wd, lr = a->k1, rho = a->k2, one_rho = a->k3, eps = a->k4;
    for (ptrdiff_t i = i0; i < i1; i++) {
        FM_T gi = g[i] + wd * w[i];
        ms[i] = rho * ms[i] + one_rho * (gi * gi);
        w[i] -= lr * gi / sqrt(ms[i] + eps);
    }
}

/* k1 = alpha_t (bias-corrected step size), k2 = 1 - b1, k3 = 1 - b2, k4 = eps;
 * m += (1-b1)(g - m), v += (1-b2)(g^2 - v), w -= alpha_t m / (sqrt(v) + eps) */
static void FM_NAME(adam_range)(const FM_NAME(optim_args) *a, ptrdiff_t i0, ptrdiff_t i1)
{
    FM_T *restrict w = a->w, *restrict m = a->s1, *restrict v = a->s2;
    const FM_T *restrict g = a->g;
    FM_T wd = a->wd, alpha = a->k1, one_b1 = a->k2, one_b2 = a->k3, eps = a->k4;
    for (ptrdiff_t i = i0; i < i1; i++) {
        FM_T gi = g[i] + wd * w[i];
        m[i] += one_b1 * (gi - m[i]);
        v[i] += one_b2 * (gi * gi - v[i]);
        w[i] -= alpha * m[i] / (sqrt(v[i]) + eps);
    }
}

void FM_NAME(fm_sgd)(ptrdiff_t n, FM_T *w, const FM_T *g, double lr, double weight_decay)
{
    FM_NAME(optim_args) a = {w, g, NULL, NULL, (FM_T)weight_decay, (FM_T)lr, 0, 0, 0};
    FM_NAME(for_ranges)(FM_NAME(sgd_range), &a, n, FM_PAR_MIN_CHEAP);
}

void FM_NAME(fm_momentum)(ptrdiff_t n, FM_T *w, const FM_T *g, FM_T *v, double lr,
                          double momentum, int nesterov, double weight_decay)
{
    FM_NAME(optim_args) a = {w, g, v, NULL, (FM_T)weight_decay, (FM_T)lr, (FM_T)momentum,
                             0, 0};
    FM_NAME(range_fn) f = nesterov ? FM_NAME(nesterov_range) : FM_NAME(momentum_range);
    FM_NAME(for_ranges)(f, &a, n, FM_PAR_MIN_CHEAP);
}

void FM_NAME(fm_adagrad)(ptrdiff_t n, FM_T *w, const FM_T *g, FM_T *acc, double lr,
                         double eps, double weight_decay)
{
    FM_NAME(optim_args) a = {w, g, acc, NULL, (FM_T)weight_decay, (FM_T)lr, (FM_T)eps, 0, 0};
    FM_NAME(for_ranges)(FM_NAME(adagrad_range), &a, n, FM_PAR_MIN_SQRT);
}

void FM_NAME(fm_rmsprop)(ptrdiff_t n, FM_T *w, const FM_T *g, FM_T *ms, double lr,
                         double rho, double eps, double weight_decay)
{
    FM_NAME(optim_args) a = {w, g, ms, NULL, (FM_T)weight_decay, (FM_T)lr, (FM_T)rho,
                             (FM_T)(1.0 - rho), (FM_T)eps};
    FM_NAME(for_ranges)(FM_NAME(rmsprop_range), &a, n, FM_PAR_MIN_SQRT);
}

void FM_NAME(fm_adam)(ptrdiff_t n, FM_T *w, const FM_T *g, FM_T *m, FM_T *v, double lr,
                      double beta1, double beta2, double eps, int64_t step,
                      double weight_decay)
{
    double t = (double)step;
    double alpha = lr * sqrt(1.0 - pow(beta2, t)) / (1.0 - pow(beta1, t));
    FM_NAME(optim_args) a = {w, g, m, v, (FM_T)weight_decay, (FM_T)alpha,
                             (FM_T)(1.0 - beta1), (FM_T)(1.0 - beta2), (FM_T)eps};
    FM_NAME(for_ranges)(FM_NAME(adam_range), &a, n, FM_PAR_MIN_SQRT);
}

#endif /* FM_T */
