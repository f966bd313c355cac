/*
 * elementwise.h - internal to csrc/: the activation loops of each SIMD
 * path (elementwise_loops.h), the write-back the GEMM shares with
 * fm_act_forward_*, and the vectorisable exp, tanh and log1p that the
 * activations and the losses use.
 */
#ifndef FM_ELEMENTWISE_H
#define FM_ELEMENTWISE_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/*
 * c = act(c + bias) on the rows x cols block at c, whose rows are ldc
 * elements apart; bias (cols long) may be NULL. slope is the leaky_relu
 * negative slope. Serial: the caller owns the threading (the GEMM calls this
 * per tile from inside its own OpenMP region). Softmax is row-wise over the
 * cols given, so for softmax a tile must span whole rows.
 */
void fm_bias_act_f32(int act, float slope, ptrdiff_t rows, ptrdiff_t cols, float *c,
                     ptrdiff_t ldc, const float *bias);
void fm_bias_act_f64(int act, double slope, ptrdiff_t rows, ptrdiff_t cols, double *c,
                     ptrdiff_t ldc, const double *bias);

/* Column sums of columns [j0, j1) of x (rows x cols) into out[j0 .. j1),
 * on the calling thread: for a caller that splits the columns among its own
 * threads. Bit-identical to those columns of fm_column_sum. */
void fm_column_sum_range_f32(ptrdiff_t rows, ptrdiff_t cols, const float *x, ptrdiff_t j0,
                             ptrdiff_t j1, float *out);
void fm_column_sum_range_f64(ptrdiff_t rows, ptrdiff_t cols, const double *x, ptrdiff_t j0,
                             ptrdiff_t j1, double *out);

/* One CPU family's build of the loops (elementwise_loops.h), per element
 * type: y = act(x) on one row; dx = grad * act'(.) through the output y;
 * c = act(c + bias) on one row; sums of columns [j0, j0 + nj). */
#define FM_DEFINE_ELEM_LOOPS(T, SFX)                                                     \
    typedef struct {                                                                    \
        void (*act_row)(int act, T slope, ptrdiff_t n, const T *x, T *y);              \
        void (*act_back_row)(int act, T slope, ptrdiff_t n, const T *g, const T *y,    \
                             T *dx);                                                    \
        void (*bias_act_row)(int act, T slope, ptrdiff_t n, const T *bias, T *c);      \
        void (*column_sum_span)(ptrdiff_t rows, ptrdiff_t cols, const T *x, ptrdiff_t j0, \
                                ptrdiff_t nj, T *out);                                  \
    } fm_elem_loops_##SFX;
FM_DEFINE_ELEM_LOOPS(float, f32)
FM_DEFINE_ELEM_LOOPS(double, f64)
#undef FM_DEFINE_ELEM_LOOPS

typedef struct {
    fm_elem_loops_f32 f32;
    fm_elem_loops_f64 f64;
} fm_elem_arch;

/* Defined by elementwise.c (portable) and elementwise_avx2.c; the AVX2 one
 * exists only when the build compiled it (FM_HAVE_AVX2). */
extern const fm_elem_arch fm_elem_generic;
extern const fm_elem_arch fm_elem_avx2;

/* cond ? a : b through the bits: gcc cannot turn this back into a branch
 * around the arithmetic that computes a and b, so loops stay vectorisable. */
static inline float fm_select_f32(int cond, float a, float b)
{
    uint32_t ua, ub, mask = cond ? 0xFFFFFFFFu : 0u;
    memcpy(&ua, &a, sizeof ua);
    memcpy(&ub, &b, sizeof ub);
    ua = (ua & mask) | (ub & ~mask);
    memcpy(&a, &ua, sizeof a);
    return a;
}

/*
 * exp(x) for float x <= 0 (and NaN), written in plain arithmetic so that
 * gcc vectorises the loops that use it; a call to expf keeps a loop scalar.
 * Every caller only needs x <= 0: softmax (z - max), sigmoid and BCE
 * (-|z|), tanh (-2|x|). Within about 1 ulp of exp where the result is a
 * normal float; 0 below log(FLT_MIN), where exp would be subnormal.
 *
 * x = k ln2 + r with k an integer and |r| <= ln2/2, so exp(x) = 2^k exp(r);
 * exp(r) = 1 + r + r^2 q(r), q a degree-4 polynomial fitted (weighted least
 * squares refined towards minimax, relative error 3e-9) on that interval.
 */
static inline float fm_exp_nonpos_f32(float x)
{
    const float lo = -87.33654785f; /* log(FLT_MIN) */
    const float round = 12582912.0f; /* 1.5 * 2^23: adding it rounds to an integer */
    float xc = fm_select_f32(x < lo, lo, x); /* keeps the reduction finite; NaN passes */
    float t = xc * 1.442695041f + round;
    float k = t - round;             /* nearest integer to x / ln2, in [-126, 0] */
    /* Cody-Waite: ln2 = 0.693359375 (9 bits, so k * it is exact) + tail */
    float r = (xc - k * 0.693359375f) - k * -2.121944400e-4f;
    float q = 4.999999404e-01f + r * (1.666652113e-01f + r * (4.166838899e-02f
              + r * (8.368710056e-03f + r * 1.381461276e-03f)));
    float p = 1.0f + r + r * r * q;
    int32_t kbits;
    memcpy(&kbits, &t, sizeof kbits); /* t's low mantissa bits hold k */
    uint32_t ebits = (uint32_t)(kbits - 0x4B400000 + 127) << 23; /* 2^k */
    ebits = x < lo ? 0 : ebits; /* scale 0 flushes; an integer select vectorises */
    float scale;
    memcpy(&scale, &ebits, sizeof scale);
    return p * scale;
}

/*
 * tanh for float, vectorisable like fm_exp_nonpos_f32 (glibc's tanhf is
 * also slow, ~12 ns). For |x| >= 0.625, tanh|x| = (1 - e) / (1 + e) with
 * e = exp(-2|x|) <= 0.29 loses no precision; below, where 1 - e would cancel,
 * tanh(x) = x + x s Q(s), s = x^2, Q a degree-4 fit (relative error 4e-9).
 * Both are computed and one selected, so the loop has no branches.
 */
static inline float fm_tanh_f32(float x)
{
    float a = fabsf(x);
    float e = fm_exp_nonpos_f32(-2.0f * a);
    float big = (1.0f - e) / (1.0f + e);
    float s = a * a;
    float q = -3.333328068e-01f + s * (1.333144158e-01f + s * (-5.373971537e-02f
              + s * (2.063908800e-02f + s * -5.704987328e-03f)));
    float small = a + a * s * q;
    return copysignf(fm_select_f32(a < 0.625f, small, big), x); /* tanh(-0) = -0 */
}

/*
 * log1p(e) for float e in [0, 1] (BCE's log1p(exp(-|z|))), vectorisable
 * like the above; glibc's log1pf costs ~27 ns. With s = e / (2 + e) in
 * [0, 1/3], log1p(e) = 2 atanh(s) = 2s + s u R(u), u = s^2, R a degree-3
 * fit (relative error 4.5e-9).
 */
static inline float fm_log1p_unit_f32(float e)
{
    float s = e / (2.0f + e);
    float u = s * s;
    float r = 6.666641831e-01f + u * (4.002152681e-01f + u * (2.800180614e-01f
              + u * 2.801198661e-01f));
    return 2.0f * s + s * u * r;
}

#endif /* FM_ELEMENTWISE_H */
