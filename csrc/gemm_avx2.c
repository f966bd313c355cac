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

/* One k step: two vectors of B times ROWS broadcasts of A, A's row i at A_AT. */
#define KERNEL_STEP(ROWS, V, VEC, LOAD, BROADCAST, FMADD, A_AT)                   \
    {                                                                            \
        VEC b0 = LOAD(b), b1 = LOAD(b + V);                                      \
        _Pragma("GCC unroll 6") for (int i = 0; i < ROWS; i++)                   \
        {                                                                        \
            VEC ai = BROADCAST(A_AT);                                            \
            acc[i][0] = FMADD(ai, b0, acc[i][0]);                                \
            acc[i][1] = FMADD(ai, b1, acc[i][1]);                                \
        }                                                                        \
    }

/* A kernel of ROWS (4 to MR: a3 below is row 3) rows x 2 vectors of V lanes
 * of type T, named NAME; MASK(n) gives the load/store mask of a vector's
 * first n lanes. */
#define DEFINE_KERNEL(NAME, T, ROWS, V, VEC, SET1, SETZERO, LOAD, BROADCAST, FMADD, MUL, \
                      MASK, MASKLOAD, STORE, MASKSTORE)                           \
    static void NAME(ptrdiff_t k, const void *alpha_, const void *a_, ptrdiff_t rs_a, \
                     ptrdiff_t cs_a, const void *b_, ptrdiff_t rs_b, const void *beta_, \
                     void *c_, ptrdiff_t ldc, int mr, int nr)                    \
    {                                                                            \
        const T *a = a_, *b = b_;                                                \
        T *c = c_;                                                               \
        VEC acc[ROWS][2];                                                        \
        _Pragma("GCC unroll 6") for (int i = 0; i < ROWS; i++)                   \
        {                                                                        \
            acc[i][0] = SETZERO();                                               \
            acc[i][1] = SETZERO();                                               \
            if (i < mr)                                                          \
                _mm_prefetch((const char *)(c + i * ldc), _MM_HINT_T0);          \
        }                                                                        \
        if (rs_a == 1) {                                                         \
            for (ptrdiff_t p = 0; p < k; p++, a += cs_a, b += rs_b)              \
                KERNEL_STEP(ROWS, V, VEC, LOAD, BROADCAST, FMADD, a + i)         \
        } else {                                                                 \
            /* rows rs_a apart: two pointers, rows at base + {0, 1, 2}*rs_a */   \
            const T *a0 = a, *a3 = a + 3 * rs_a;                                 \
            for (ptrdiff_t p = 0; p < k; p++, a0++, a3++, b += rs_b)             \
                KERNEL_STEP(ROWS, V, VEC, LOAD, BROADCAST, FMADD,                \
                            (i < 3 ? a0 : a3) + (i % 3) * rs_a)                  \
        }                                                                        \
        const VEC alpha = SET1(*(const T *)alpha_);                              \
        const T beta_s = *(const T *)beta_;                                      \
        const VEC beta = SET1(beta_s);                                           \
        const __m256i m0 = MASK(nr < V ? nr : V), m1 = MASK(nr < V ? 0 : nr - V); \
        _Pragma("GCC unroll 6") for (int i = 0; i < ROWS; i++)                   \
        {                                                                        \
            if (i >= mr)                                                         \
                break;                                                           \
            T *ci = c + i * ldc;                                                 \
            VEC r0 = MUL(alpha, acc[i][0]), r1 = MUL(alpha, acc[i][1]);          \
            if (beta_s != 0) {                                                   \
                r0 = FMADD(beta, MASKLOAD(ci, m0), r0);                          \
                r1 = FMADD(beta, MASKLOAD(ci + V, m1), r1);                      \
            }                                                                    \
            if (nr == 2 * V) {                                                   \
                STORE(ci, r0);                                                   \
                STORE(ci + V, r1);                                               \
            } else {                                                             \
                MASKSTORE(ci, m0, r0);                                           \
                MASKSTORE(ci + V, m1, r1);                                       \
            }                                                                    \
        }                                                                        \
    }

#define DEFINE_KERNEL_F32(NAME, ROWS)                                            \
    DEFINE_KERNEL(NAME, float, ROWS, 8, __m256, _mm256_set1_ps, _mm256_setzero_ps, \
                  _mm256_loadu_ps, _mm256_broadcast_ss, _mm256_fmadd_ps, _mm256_mul_ps, \
                  mask32, _mm256_maskload_ps, _mm256_storeu_ps, _mm256_maskstore_ps)
#define DEFINE_KERNEL_F64(NAME, ROWS)                                            \
    DEFINE_KERNEL(NAME, double, ROWS, 4, __m256d, _mm256_set1_pd, _mm256_setzero_pd, \
                  _mm256_loadu_pd, _mm256_broadcast_sd, _mm256_fmadd_pd, _mm256_mul_pd, \
                  mask64, _mm256_maskload_pd, _mm256_storeu_pd, _mm256_maskstore_pd)

DEFINE_KERNEL_F32(kernel_f32, MR)
DEFINE_KERNEL_F64(kernel_f64, MR)

/* The same tile cut to 4 rows, for the M edge (gemm_kernel.h): M = 16, 64
 * and 256 all end in a 4-row tile. Fewer rows are not faster: 4 rows are
 * 8 accumulators, what two FMA ports of latency 4 need to stay busy, and a
 * 2-row kernel ran 1- and 2-row products at half the speed of this one. */
DEFINE_KERNEL_F32(kernel_f32_4, 4)
DEFINE_KERNEL_F64(kernel_f64_4, 4)

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
            .pack_a = pack_mr_f32, .pack_b = pack_nr_f32, .edge = {{4, kernel_f32_4}}},
    .f64 = {.mr = MR, .nr = 8, .mc = 72, .kc = 256, .nc = FM_AVX2_NC / 2, .kernel = kernel_f64, .direct = 1,
            .pack_a = pack_mr_f64, .pack_b = pack_nr_f64, .edge = {{4, kernel_f64_4}}},
};
