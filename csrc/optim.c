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
 * The elementwise loops themselves live in optim_ranges.h, built once per
 * SIMD path; this file rounds the hyperparameters, picks the selected
 * path's loop and splits the buffer among threads.
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
 * thread count or the SIMD path. Each kernel is a range function over
 * [i0, i1); for_ranges gives each thread one contiguous share when the
 * buffer is large enough to pay for a parallel region.
 */
#ifndef FM_T

#include "arch_pick.h"
#include "fastmlp.h"
#include "optim.h"
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

/* The portable build of the loops: fm_optim_generic. */
#define FM_OPTIM_TABLE fm_optim_generic
#include "optim_ranges.h"
#undef FM_OPTIM_TABLE

/* The loops of the SIMD path the GEMM uses (cpu.c), so that FASTMLP_ARCH
 * forces both and the tests run every build on one machine. */
static const fm_optim_arch *selected_ranges(void)
{
    return fm_arch_pick(&fm_optim_generic, FM_IF_AVX2(&fm_optim_avx2),
                        FM_IF_AVX512(&fm_optim_avx512));
}

#define FM_T float
#define FM_NAME(f) f##_f32
#define FM_FIELD f32
#include "optim.c"
#undef FM_T
#undef FM_NAME
#undef FM_FIELD

#define FM_T double
#define FM_NAME(f) f##_f64
#define FM_FIELD f64
#include "optim.c"
#undef FM_T
#undef FM_NAME
#undef FM_FIELD

#else /* ---- the kernels, for one element type FM_T ---------------------- */

/* A kernel's buffers and its hyperparameters, already rounded to FM_T, and
 * the range function that applies them: an fm_update (optim.h). */
typedef FM_NAME(fm_update) FM_NAME(optim_args);
typedef FM_NAME(fm_update_range) FM_NAME(range_fn);

/* An optimizer's range function, in the build of the selected SIMD path. */
#define RANGE(name) (selected_ranges()->FM_FIELD.name)

/* On the calling thread, with denormals flushed (see the top of the file). */
void FM_NAME(fm_update_apply)(const FM_NAME(fm_update) *u, ptrdiff_t i0, ptrdiff_t i1)
{
    unsigned csr = denormals_off();
    u->range(u, i0, i1);
    fp_mode_set(csr);
}

/* Apply a to [0, n), one contiguous share per thread when n >= par_min. */
static void FM_NAME(for_ranges)(const FM_NAME(optim_args) *a, ptrdiff_t n, ptrdiff_t par_min)
{
    if (!parallel_pays(n, par_min)) {
        FM_NAME(fm_update_apply)(a, 0, n);
        return;
    }
#pragma omp parallel
    {
        ptrdiff_t i0, i1;
        thread_share(n, &i0, &i1);
        FM_NAME(fm_update_apply)(a, i0, i1);
    }
}

/* ---- building an update, for one optimizer ------------------------------ */

static FM_NAME(optim_args) FM_NAME(args)(FM_NAME(range_fn) f, FM_T *w, const FM_T *g, FM_T *s1,
                                         FM_T *s2, double wd, double k1, double k2,
                                         double k3, double k4)
{
    FM_NAME(optim_args) a = {f, w, g, s1, s2, (FM_T)wd, (FM_T)k1, (FM_T)k2, (FM_T)k3, (FM_T)k4};
    return a;
}

static FM_NAME(optim_args) FM_NAME(momentum_args)(FM_T *w, const FM_T *g, FM_T *v, double lr,
                                                  double momentum, int nesterov, double wd)
{
    FM_NAME(range_fn) f = nesterov ? RANGE(nesterov) : RANGE(momentum);
    return FM_NAME(args)(f, w, g, v, NULL, wd, lr, momentum, 0, 0);
}

static FM_NAME(optim_args) FM_NAME(rmsprop_args)(FM_T *w, const FM_T *g, FM_T *ms, double lr,
                                                 double rho, double eps, double wd)
{
    return FM_NAME(args)(RANGE(rmsprop), w, g, ms, NULL, wd, lr, rho, 1.0 - rho, eps);
}

/* Adam's bias-corrected step size alpha_t, in double, rounded once. */
static FM_NAME(optim_args) FM_NAME(adam_args)(FM_T *w, const FM_T *g, FM_T *m, FM_T *v,
                                              double lr, double beta1, double beta2, double eps,
                                              int64_t step, double wd)
{
    double t = (double)step;
    double alpha = lr * sqrt(1.0 - pow(beta2, t)) / (1.0 - pow(beta1, t));
    return FM_NAME(args)(RANGE(adam), w, g, m, v, wd, alpha, 1.0 - beta1, 1.0 - beta2,
                         eps);
}

void FM_NAME(fm_update_init)(FM_NAME(fm_update) *u, const fm_mlp *net, FM_T *w, const FM_T *g,
                             FM_T *s1, FM_T *s2, int64_t step)
{
    switch (net->optimizer) {
    case FM_OPT_SGD:
        *u = FM_NAME(args)(RANGE(sgd), w, g, NULL, NULL, net->weight_decay, net->lr, 0,
                           0, 0);
        break;
    case FM_OPT_MOMENTUM:
        *u = FM_NAME(momentum_args)(w, g, s1, net->lr, net->momentum, net->nesterov,
                                    net->weight_decay);
        break;
    case FM_OPT_ADAGRAD:
        *u = FM_NAME(args)(RANGE(adagrad), w, g, s1, NULL, net->weight_decay, net->lr,
                           net->epsilon, 0, 0);
        break;
    case FM_OPT_RMSPROP:
        *u = FM_NAME(rmsprop_args)(w, g, s1, net->lr, net->rho, net->epsilon, net->weight_decay);
        break;
    default:
        *u = FM_NAME(adam_args)(w, g, s1, s2, net->lr, net->beta_1, net->beta_2, net->epsilon,
                                step, net->weight_decay);
        break;
    }
}

/* ---- the public kernels ------------------------------------------------- */

void FM_NAME(fm_sgd)(ptrdiff_t n, FM_T *w, const FM_T *g, double lr, double weight_decay)
{
    FM_NAME(optim_args) a = FM_NAME(args)(RANGE(sgd), w, g, NULL, NULL, weight_decay,
                                          lr, 0, 0, 0);
    FM_NAME(for_ranges)(&a, n, FM_PAR_MIN_CHEAP);
}

void FM_NAME(fm_momentum)(ptrdiff_t n, FM_T *w, const FM_T *g, FM_T *v, double lr,
                          double momentum, int nesterov, double weight_decay)
{
    FM_NAME(optim_args) a = FM_NAME(momentum_args)(w, g, v, lr, momentum, nesterov, weight_decay);
    FM_NAME(for_ranges)(&a, n, FM_PAR_MIN_CHEAP);
}

void FM_NAME(fm_adagrad)(ptrdiff_t n, FM_T *w, const FM_T *g, FM_T *acc, double lr,
                         double eps, double weight_decay)
{
    FM_NAME(optim_args) a = FM_NAME(args)(RANGE(adagrad), w, g, acc, NULL,
                                          weight_decay, lr, eps, 0, 0);
    FM_NAME(for_ranges)(&a, n, FM_PAR_MIN_SQRT);
}

void FM_NAME(fm_rmsprop)(ptrdiff_t n, FM_T *w, const FM_T *g, FM_T *ms, double lr,
                         double rho, double eps, double weight_decay)
{
    FM_NAME(optim_args) a = FM_NAME(rmsprop_args)(w, g, ms, lr, rho, eps, weight_decay);
    FM_NAME(for_ranges)(&a, n, FM_PAR_MIN_SQRT);
}

void FM_NAME(fm_adam)(ptrdiff_t n, FM_T *w, const FM_T *g, FM_T *m, FM_T *v, double lr,
                      double beta1, double beta2, double eps, int64_t step,
                      double weight_decay)
{
    FM_NAME(optim_args) a = FM_NAME(adam_args)(w, g, m, v, lr, beta1, beta2, eps, step,
                                               weight_decay);
    FM_NAME(for_ranges)(&a, n, FM_PAR_MIN_SQRT);
}

#undef RANGE

#endif /* FM_T */
