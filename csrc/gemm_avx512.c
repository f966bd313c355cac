/*
 * gemm_avx512.c - GEMM micro-kernels for AVX-512 F/DQ/BW/VL (Skylake-SP,
 * Ice Lake, Sapphire Rapids and later; Zen 4).
 *
 * Compiled with the AVX-512 flags only; reached only when cpu.c has checked
 * CPUID and XGETBV (the OS saves ZMM state). Vectors run along N, the
 * contiguous direction of row-major C: a tile is MR rows x NV vectors, and
 * each k step is NV loads of B and MR broadcasts of A, the broadcasts
 * folded into the FMAs as memory operands. Edge tiles use masked loads and
 * stores, so they add the same products in the same order as full tiles.
 */
#include <immintrin.h>

#include "gemm_kernel.h"

/* float: 12 x 32 -> 24 accumulators of the 32 ZMM registers. */
#define MR_S 12
#define NV_S 2
/* double: 12 x 16 -> 24 accumulators. */
#define MR_D 12
#define NV_D 2

/* Mask of the lanes of vector v (of `lanes` lanes) that fall inside nr. */
static unsigned lane_mask(int nr, int v, int lanes)
{
    int n = nr - v * lanes;
    if (n <= 0)
        return 0;
    return n >= lanes ? (1u << lanes) - 1 : (1u << n) - 1;
}

static void kernel_f32(ptrdiff_t k, const void *alpha_, const void *a_, const void *b_,
                       const void *beta_, void *c_, ptrdiff_t ldc, int mr, int nr)
{
    const float *a = a_, *b = b_;
    float *c = c_;
    __m512 acc[MR_S][NV_S];

#pragma GCC unroll 16
    for (int i = 0; i < MR_S; i++) {
#pragma GCC unroll 4
        for (int v = 0; v < NV_S; v++)
            acc[i][v] = _mm512_setzero_ps();
        if (i < mr)
            _mm_prefetch((const char *)(c + i * ldc), _MM_HINT_T0);
    }
    for (ptrdiff_t p = 0; p < k; p++) {
        __m512 bv[NV_S];
#pragma GCC unroll 4
        for (int v = 0; v < NV_S; v++)
            bv[v] = _mm512_load_ps(b + 16 * v);
#pragma GCC unroll 16
        for (int i = 0; i < MR_S; i++) {
            __m512 ai = _mm512_set1_ps(a[i]);
#pragma GCC unroll 4
            for (int v = 0; v < NV_S; v++)
                acc[i][v] = _mm512_fmadd_ps(ai, bv[v], acc[i][v]);
        }
        a += MR_S;
        b += 16 * NV_S;
    }

    const __m512 alpha = _mm512_set1_ps(*(const float *)alpha_);
    const float beta_s = *(const float *)beta_;
    const __m512 beta = _mm512_set1_ps(beta_s);
    __mmask16 mask[NV_S];
#pragma GCC unroll 4
    for (int v = 0; v < NV_S; v++)
        mask[v] = (__mmask16)lane_mask(nr, v, 16);
#pragma GCC unroll 16
    for (int i = 0; i < MR_S; i++) {
        if (i >= mr)
            break;
        float *ci = c + i * ldc;
#pragma GCC unroll 4
        for (int v = 0; v < NV_S; v++) {
            __m512 r = _mm512_mul_ps(alpha, acc[i][v]);
            if (beta_s != 0)
                r = _mm512_fmadd_ps(beta, _mm512_maskz_loadu_ps(mask[v], ci + 16 * v), r);
            _mm512_mask_storeu_ps(ci + 16 * v, mask[v], r);
        }
    }
}

static void kernel_f64(ptrdiff_t k, const void *alpha_, const void *a_, const void *b_,
                       const void *beta_, void *c_, ptrdiff_t ldc, int mr, int nr)
{
    const double *a = a_, *b = b_;
    double *c = c_;
    __m512d acc[MR_D][NV_D];

#pragma GCC unroll 16
    for (int i = 0; i < MR_D; i++) {
#pragma GCC unroll 4
        for (int v = 0; v < NV_D; v++)
            acc[i][v] = _mm512_setzero_pd();
        if (i < mr)
            _mm_prefetch((const char *)(c + i * ldc), _MM_HINT_T0);
    }
    for (ptrdiff_t p = 0; p < k; p++) {
        __m512d bv[NV_D];
#pragma GCC unroll 4
        for (int v = 0; v < NV_D; v++)
            bv[v] = _mm512_load_pd(b + 8 * v);
#pragma GCC unroll 16
        for (int i = 0; i < MR_D; i++) {
            __m512d ai = _mm512_set1_pd(a[i]);
#pragma GCC unroll 4
            for (int v = 0; v < NV_D; v++)
                acc[i][v] = _mm512_fmadd_pd(ai, bv[v], acc[i][v]);
        }
        a += MR_D;
        b += 8 * NV_D;
    }

    const __m512d alpha = _mm512_set1_pd(*(const double *)alpha_);
    const double beta_s = *(const double *)beta_;
    const __m512d beta = _mm512_set1_pd(beta_s);
    __mmask8 mask[NV_D];
#pragma GCC unroll 4
    for (int v = 0; v < NV_D; v++)
        mask[v] = (__mmask8)lane_mask(nr, v, 8);
#pragma GCC unroll 16
    for (int i = 0; i < MR_D; i++) {
        if (i >= mr)
            break;
        double *ci = c + i * ldc;
#pragma GCC unroll 4
        for (int v = 0; v < NV_D; v++) {
            __m512d r = _mm512_mul_pd(alpha, acc[i][v]);
            if (beta_s != 0)
                r = _mm512_fmadd_pd(beta, _mm512_maskz_loadu_pd(mask[v], ci + 8 * v), r);
            _mm512_mask_storeu_pd(ci + 8 * v, mask[v], r);
        }
    }
}

#ifndef FM_AVX512_KC
#define FM_AVX512_KC 256
#endif
#ifndef FM_AVX512_MC
#define FM_AVX512_MC 240
#endif
#ifndef FM_AVX512_NC
#define FM_AVX512_NC 3072
#endif

const fm_gemm_arch fm_gemm_arch_avx512 = {
    .f32 = {.mr = MR_S, .nr = 16 * NV_S, .mc = FM_AVX512_MC, .kc = FM_AVX512_KC,
            .nc = FM_AVX512_NC, .kernel = kernel_f32},
    .f64 = {.mr = MR_D, .nr = 8 * NV_D, .mc = FM_AVX512_MC / 2, .kc = FM_AVX512_KC,
            .nc = FM_AVX512_NC / 2, .kernel = kernel_f64},
};
