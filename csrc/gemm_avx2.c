/*
 * gemm_avx2.c - GEMM micro-kernels for AVX2 + FMA (Haswell and later).
 *
 * Compiled with -mavx2 -mfma only; reached only when cpu.c has checked
 * CPUID and XGETBV. The tile is 6 rows x 2 vectors of C: 12 accumulators,
 * 2 registers for the B row and one broadcast of A leave 1 of the 16 YMM
 * registers spare, and 12 FMAs per 2 loads keep both FMA ports busy.
 * Vectors run along N, the contiguous direction of row-major C. Full tiles
 * may be read in place (`direct`); edge tiles use masked loads and stores,
 * so every tile adds the same products in the same order.
 */
#include <immintrin.h>

#include "gemm_kernel.h"

#define MR 6

/* Lane masks for the first n (0..8) of 8 32-bit lanes. */
static __m256i mask32(int n)
{
    const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), lanes);
}

/* Lane masks for the first n (0..4) of 4 64-bit lanes. */
static __m256i mask64(int n)
{
    const __m256i lanes = _mm256_setr_epi64x(0, 1, 2, 3);
    return _mm256_cmpgt_epi64(_mm256_set1_epi64x(n), lanes);
}

/* One k step: two vectors of B times MR broadcasts of A, A's row i at A_AT. */
#define STEP_PS(A_AT)                                                            \
    {                                                                            \
        __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);             \
        _Pragma("GCC unroll 6") for (int i = 0; i < MR; i++)                     \
        {                                                                        \
            __m256 ai = _mm256_broadcast_ss(A_AT);                               \
            acc[i][0] = _mm256_fmadd_ps(ai, b0, acc[i][0]);                      \
            acc[i][1] = _mm256_fmadd_ps(ai, b1, acc[i][1]);                      \
        }                                                                        \
    }
#define STEP_PD(A_AT)                                                            \
    {                                                                            \
        __m256d b0 = _mm256_loadu_pd(b), b1 = _mm256_loadu_pd(b + 4);            \
        _Pragma("GCC unroll 6") for (int i = 0; i < MR; i++)                     \
        {                                                                        \
            __m256d ai = _mm256_broadcast_sd(A_AT);                              \
            acc[i][0] = _mm256_fmadd_pd(ai, b0, acc[i][0]);                      \
            acc[i][1] = _mm256_fmadd_pd(ai, b1, acc[i][1]);                      \
        }                                                                        \
    }

static void kernel_f32(ptrdiff_t k, const void *alpha_, const void *a_, ptrdiff_t rs_a,
                       ptrdiff_t cs_a, const void *b_, ptrdiff_t rs_b, const void *beta_,
                       void *c_, ptrdiff_t ldc, int mr, int nr)
{
    const float *a = a_, *b = b_;
    float *c = c_;
    __m256 acc[MR][2];

#pragma GCC unroll 6
    for (int i = 0; i < MR; i++) {
        acc[i][0] = _mm256_setzero_ps();
        acc[i][1] = _mm256_setzero_ps();
        if (i < mr)
            _mm_prefetch((const char *)(c + i * ldc), _MM_HINT_T0);
    }
    if (rs_a == 1) {
        for (ptrdiff_t p = 0; p < k; p++, a += cs_a, b += rs_b)
            STEP_PS(a + i)
    } else {
        /* rows rs_a apart: two pointers, rows at base + {0, 1, 2}*rs_a */
        const float *a0 = a, *a3 = a + 3 * rs_a;
        for (ptrdiff_t p = 0; p < k; p++, a0++, a3++, b += rs_b)
            STEP_PS((i < 3 ? a0 : a3) + (i % 3) * rs_a)
    }

    const __m256 alpha = _mm256_set1_ps(*(const float *)alpha_);
    const float beta_s = *(const float *)beta_;
    const __m256 beta = _mm256_set1_ps(beta_s);
    const __m256i m0 = mask32(nr < 8 ? nr : 8), m1 = mask32(nr < 8 ? 0 : nr - 8);
#pragma GCC unroll 6
    for (int i = 0; i < MR; i++) {
        if (i >= mr)
            break;
        float *ci = c + i * ldc;
        __m256 r0 = _mm256_mul_ps(alpha, acc[i][0]), r1 = _mm256_mul_ps(alpha, acc[i][1]);
        if (beta_s != 0) {
            r0 = _mm256_fmadd_ps(beta, _mm256_maskload_ps(ci, m0), r0);
            r1 = _mm256_fmadd_ps(beta, _mm256_maskload_ps(ci + 8, m1), r1);
        }
        if (nr == 16) {
            _mm256_storeu_ps(ci, r0);
            _mm256_storeu_ps(ci + 8, r1);
        } else {
            _mm256_maskstore_ps(ci, m0, r0);
            _mm256_maskstore_ps(ci + 8, m1, r1);
        }
    }
}

static void kernel_f64(ptrdiff_t k, const void *alpha_, const void *a_, ptrdiff_t rs_a,
                       ptrdiff_t cs_a, const void *b_, ptrdiff_t rs_b, const void *beta_,
                       void *c_, ptrdiff_t ldc, int mr, int nr)
{
    const double *a = a_, *b = b_;
    double *c = c_;
    __m256d acc[MR][2];

#pragma GCC unroll 6
    for (int i = 0; i < MR; i++) {
        acc[i][0] = _mm256_setzero_pd();
        acc[i][1] = _mm256_setzero_pd();
        if (i < mr)
            _mm_prefetch((const char *)(c + i * ldc), _MM_HINT_T0);
    }
    if (rs_a == 1) {
        for (ptrdiff_t p = 0; p < k; p++, a += cs_a, b += rs_b)
            STEP_PD(a + i)
    } else {
        /* rows rs_a apart: two pointers, rows at base + {0, 1, 2}*rs_a */
        const double *a0 = a, *a3 = a + 3 * rs_a;
        for (ptrdiff_t p = 0; p < k; p++, a0++, a3++, b += rs_b)
            STEP_PD((i < 3 ? a0 : a3) + (i % 3) * rs_a)
    }

    const __m256d alpha = _mm256_set1_pd(*(const double *)alpha_);
    const double beta_s = *(const double *)beta_;
    const __m256d beta = _mm256_set1_pd(beta_s);
    const __m256i m0 = mask64(nr < 4 ? nr : 4), m1 = mask64(nr < 4 ? 0 : nr - 4);
#pragma GCC unroll 6
    for (int i = 0; i < MR; i++) {
        if (i >= mr)
            break;
        double *ci = c + i * ldc;
        __m256d r0 = _mm256_mul_pd(alpha, acc[i][0]), r1 = _mm256_mul_pd(alpha, acc[i][1]);
        if (beta_s != 0) {
            r0 = _mm256_fmadd_pd(beta, _mm256_maskload_pd(ci, m0), r0);
            r1 = _mm256_fmadd_pd(beta, _mm256_maskload_pd(ci + 4, m1), r1);
        }
        if (nr == 8) {
            _mm256_storeu_pd(ci, r0);
            _mm256_storeu_pd(ci + 4, r1);
        } else {
            _mm256_maskstore_pd(ci, m0, r0);
            _mm256_maskstore_pd(ci + 4, m1, r1);
        }
    }
}

FM_GEMM_DEFINE_PACK(float, MR, pack_mr_f32)
FM_GEMM_DEFINE_PACK(float, 16, pack_nr_f32)
FM_GEMM_DEFINE_PACK(double, MR, pack_mr_f64)
FM_GEMM_DEFINE_PACK(double, 8, pack_nr_f64)


/* The loops keep one 6 x KC panel of A in L1 (6 KiB at KC=256) and stream
 * the KC x NC block of B from L2 for each A panel, so NC is sized for the
 * 256-512 KiB L2 of AVX2-era cores: 256 KiB of B. */
#ifndef FM_AVX2_NC
#define FM_AVX2_NC 256
#endif
const fm_gemm_arch fm_gemm_arch_avx2 = {
    .f32 = {.mr = MR, .nr = 16, .mc = 144, .kc = 256, .nc = FM_AVX2_NC, .kernel = kernel_f32, .direct = 1,
            .pack_a = pack_mr_f32, .pack_b = pack_nr_f32},
    .f64 = {.mr = MR, .nr = 8, .mc = 72, .kc = 256, .nc = FM_AVX2_NC / 2, .kernel = kernel_f64, .direct = 1,
            .pack_a = pack_mr_f64, .pack_b = pack_nr_f64},
};
