/*
 * gemm_avx512.c - GEMM micro-kernels for AVX-512 F/DQ/BW/VL (Skylake-SP,
 * Ice Lake, Sapphire Rapids and later; Zen 4).
 *
 * Compiled with the AVX-512 flags only; reached only when cpu.c has checked
 * CPUID and XGETBV (the OS saves ZMM state). In the main kernels vectors
 * run along N, the contiguous direction of row-major C: a tile is MR rows x
 * NV vectors, and each k step is NV loads of B and MR broadcasts of A. A
 * transposed A times a narrow B gets a kernel with vectors along M instead.
 * The kernels also read full panels in place (`direct`), and edge tiles use
 * masked loads and stores, so every tile adds the same products in the same
 * order. The packers beside them move whole vectors (copies) or 16x16 / 8x8
 * blocks (transposes).
 */
#include <immintrin.h>

#include "gemm_kernel.h"

/* Mask of the lanes of vector v (of `lanes` lanes) that fall inside nr. */
static unsigned lane_mask(int nr, int v, int lanes)
{
    int n = nr - v * lanes;
    if (n <= 0)
        return 0;
    return n >= lanes ? (1u << lanes) - 1 : (1u << n) - 1;
}

/* How many k steps ahead the kernels prefetch B into L1 (B streams from L2;
 * 4-8 measured alike, 0 a few percent slower). */
#ifndef FM_B_AHEAD
#define FM_B_AHEAD 8
#endif
/*
 * A kernel of MR rows x NV vectors of V lanes of type T, named NAME. The
 * loops over rows and vectors are fully unrolled, so the accumulators live
 * in registers; MR*NV must leave registers for the NV vectors of B.
 */
#define DEFINE_KERNEL(NAME, T, MR, NV, V, VEC, MASK, SET1, SETZERO, LOAD, FMADD, MUL, \
                      LOADZ, STORE_M)                                                \
    static void NAME(ptrdiff_t k, const void *alpha_, const void *a_, ptrdiff_t rs_a,  \
                     ptrdiff_t cs_a, const void *b_, ptrdiff_t rs_b, const void *beta_, \
                     void *c_, ptrdiff_t ldc, int mr, int nr)                         \
    {                                                                                \
        const T *a = a_, *b = b_;                                                    \
        T *c = c_;                                                                   \
        VEC acc[MR][NV];                                                             \
        _Pragma("GCC unroll 32") for (int i = 0; i < MR; i++)                        \
        {                                                                            \
            _Pragma("GCC unroll 4") for (int v = 0; v < NV; v++) acc[i][v] = SETZERO(); \
            if (i < mr)                                                              \
                _Pragma("GCC unroll 4") for (int v = 0; v < NV; v++)                 \
                    _mm_prefetch((const char *)(c + i * ldc + V * v), _MM_HINT_T0);  \
        }                                                                            \
        /* One k step: NV vectors of B times MR broadcasts of A, A's row i at a   \
         * + i*RS; the B row FM_B_AHEAD steps on is fetched into L1 meanwhile. */ \
        if (rs_a == 1) {                                                             \
            for (ptrdiff_t p = 0; p < k; p++, a += cs_a, b += rs_b)                  \
                KERNEL_STEP(MR, NV, V, VEC, LOAD, SET1, FMADD, A_PANEL)              \
        } else {                                                                     \
            /* rows rs_a apart: one pointer per 4 rows, the rows within a group  \
             * reached by base + {0, 1, 2}*rs_a and base + rs3, address modes    \
             * x86 has, so the 12-16 row offsets need not live in registers. */   \
            const ptrdiff_t rs3 = 3 * rs_a;                                          \
            const T *ag[MR / 4];                                                     \
            _Pragma("GCC unroll 8") for (int g = 0; g < MR / 4; g++)                 \
                ag[g] = a + 4 * g * rs_a;                                            \
            for (ptrdiff_t p = 0; p < k; p++, b += rs_b) {                           \
                KERNEL_STEP(MR, NV, V, VEC, LOAD, SET1, FMADD, A_ROWS)               \
                _Pragma("GCC unroll 8") for (int g = 0; g < MR / 4; g++) ag[g]++;    \
            }                                                                        \
        }                                                                            \
        const VEC alpha = SET1(*(const T *)alpha_);                                  \
        const T beta_s = *(const T *)beta_;                                          \
        const VEC beta = SET1(beta_s);                                               \
        MASK mask[NV];                                                               \
        _Pragma("GCC unroll 4") for (int v = 0; v < NV; v++)                         \
            mask[v] = (MASK)lane_mask(nr, v, V);                                     \
        _Pragma("GCC unroll 32") for (int i = 0; i < MR; i++)                        \
        {                                                                            \
            if (i >= mr)                                                             \
                break;                                                               \
            T *ci = c + i * ldc;                                                     \
            _Pragma("GCC unroll 4") for (int v = 0; v < NV; v++)                     \
            {                                                                        \
                VEC r = MUL(alpha, acc[i][v]);                                       \
                if (beta_s != 0)                                                     \
                    r = FMADD(beta, LOADZ(mask[v], ci + V * v), r);                  \
                STORE_M(ci + V * v, mask[v], r);                                     \
            }                                                                        \
        }                                                                            \
    }

/* A's element of row i at this step, in a packed (or column-contiguous)
 * panel and in rows rs_a apart. */
#define A_PANEL(i) a[i]
#define A_ROWS(i) ag[(i) / 4][(i) % 4 == 3 ? rs3 : (i) % 4 * rs_a]

#define KERNEL_STEP(MR, NV, V, VEC, LOAD, SET1, FMADD, A_AT)                          \
    {                                                                                \
        VEC bv[NV];                                                                  \
        _Pragma("GCC unroll 4") for (int v = 0; v < NV; v++)                         \
        {                                                                            \
            bv[v] = LOAD(b + V * v);                                                 \
            _mm_prefetch((const char *)(b + FM_B_AHEAD * rs_b + V * v), _MM_HINT_T0); \
        }                                                                            \
        _Pragma("GCC unroll 32") for (int i = 0; i < MR; i++)                        \
        {                                                                            \
            VEC ai = SET1(A_AT(i));                                                  \
            _Pragma("GCC unroll 4") for (int v = 0; v < NV; v++)                     \
                acc[i][v] = FMADD(ai, bv[v], acc[i][v]);                             \
        }                                                                            \
    }

#define DEFINE_KERNEL_F32(NAME, MR, NV)                                              \
    DEFINE_KERNEL(NAME, float, MR, NV, 16, __m512, __mmask16, _mm512_set1_ps,         \
                  _mm512_setzero_ps, _mm512_loadu_ps, _mm512_fmadd_ps, _mm512_mul_ps,  \
                  _mm512_maskz_loadu_ps, _mm512_mask_storeu_ps)
#define DEFINE_KERNEL_F64(NAME, MR, NV)                                              \
    DEFINE_KERNEL(NAME, double, MR, NV, 8, __m512d, __mmask8, _mm512_set1_pd,         \
                  _mm512_setzero_pd, _mm512_loadu_pd, _mm512_fmadd_pd, _mm512_mul_pd,  \
                  _mm512_maskz_loadu_pd, _mm512_mask_storeu_pd)

/* The main tiles: 12 rows x 2 vectors, 24 accumulators of the 32 ZMM
 * registers. */
#define MR_S 12
#define NV_S 2
#define MR_D 12
#define NV_D 2
DEFINE_KERNEL_F32(kernel_f32, MR_S, NV_S)
DEFINE_KERNEL_F64(kernel_f64, MR_D, NV_D)

/* The same tiles cut to 4 and 8 rows, for the M edge (gemm_kernel.h): with
 * M = 64 or 16 (a batch of 128 or 32 split over two threads) the last tile
 * has 4 rows, and the full kernel would spend 12 rows of work on it. */
DEFINE_KERNEL_F32(kernel_f32_4, 4, NV_S)
DEFINE_KERNEL_F32(kernel_f32_8, 8, NV_S)
DEFINE_KERNEL_F64(kernel_f64_4, 4, NV_D)
DEFINE_KERNEL_F64(kernel_f64_8, 8, NV_D)

/* For narrow C (the output layer's 10 classes): one vector wide, so fewer
 * padded lanes are computed, and 16 rows to keep 16 FMAs in flight. */
#define MR_NARROW 16
DEFINE_KERNEL_F32(kernel_narrow_f32, MR_NARROW, 1)
DEFINE_KERNEL_F64(kernel_narrow_f64, MR_NARROW, 1)

/* The loops keep one MR x KC panel of A in L1 (12 KiB) and stream the KC x
 * NC block of B (1 MiB) from the 1-2 MiB L2 of AVX-512 cores for each A
 * panel; NC=1024 beat 3072 by 7% at 2048^3 (B then no longer fits L2). */
#ifndef FM_AVX512_KC
#define FM_AVX512_KC 256
#endif
#ifndef FM_AVX512_MC
#define FM_AVX512_MC 240
#endif
#ifndef FM_AVX512_NC
#define FM_AVX512_NC 1024
#endif

/* ---- packing -------------------------------------------------------------
 * Packing is pure data movement, and for the MLP's small GEMMs it costs as
 * much as a fifth of the time unless it moves whole vectors: copies use
 * masked vector loads and stores, transposes go 16x16 (float) or 8x8
 * (double) blocks at a time through the shuffle network.
 */

/* Transpose 16 rows of 16 floats in place. */
static inline __attribute__((always_inline)) void transpose16_ps(__m512 r[16])
{
    __m512 t[16], u[16];
    for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    /* u[4j + c], 128-bit lane L: column 4L + c of rows 4j .. 4j+3. */
    for (int j = 0; j < 4; j++) {
        __m512d t0 = _mm512_castps_pd(t[4 * j]), t1 = _mm512_castps_pd(t[4 * j + 1]);
        __m512d t2 = _mm512_castps_pd(t[4 * j + 2]), t3 = _mm512_castps_pd(t[4 * j + 3]);
        u[4 * j] = _mm512_castpd_ps(_mm512_unpacklo_pd(t0, t2));
        u[4 * j + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(t0, t2));
        u[4 * j + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(t1, t3));
        u[4 * j + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(t1, t3));
    }
    for (int c = 0; c < 4; c++) {
        __m512 lo01 = _mm512_shuffle_f32x4(u[c], u[4 + c], 0x44);
        __m512 hi01 = _mm512_shuffle_f32x4(u[c], u[4 + c], 0xEE);
        __m512 lo23 = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0x44);
        __m512 hi23 = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0xEE);
        r[c] = _mm512_shuffle_f32x4(lo01, lo23, 0x88);
        r[4 + c] = _mm512_shuffle_f32x4(lo01, lo23, 0xDD);
        r[8 + c] = _mm512_shuffle_f32x4(hi01, hi23, 0x88);
        r[12 + c] = _mm512_shuffle_f32x4(hi01, hi23, 0xDD);
    }
}

/* Transpose 8 rows of 8 doubles in place. */
static inline __attribute__((always_inline)) void transpose8_pd(__m512d r[8])
{
    __m512d t[8];
    /* t[2i + c], 128-bit lane L: column 2L + c of rows 2i, 2i+1. */
    for (int i = 0; i < 4; i++) {
        t[2 * i] = _mm512_unpacklo_pd(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_pd(r[2 * i], r[2 * i + 1]);
    }
    for (int c = 0; c < 2; c++) {
        __m512d lo01 = _mm512_shuffle_f64x2(t[c], t[2 + c], 0x44);
        __m512d hi01 = _mm512_shuffle_f64x2(t[c], t[2 + c], 0xEE);
        __m512d lo23 = _mm512_shuffle_f64x2(t[4 + c], t[6 + c], 0x44);
        __m512d hi23 = _mm512_shuffle_f64x2(t[4 + c], t[6 + c], 0xEE);
        r[c] = _mm512_shuffle_f64x2(lo01, lo23, 0x88);
        r[2 + c] = _mm512_shuffle_f64x2(lo01, lo23, 0xDD);
        r[4 + c] = _mm512_shuffle_f64x2(hi01, hi23, 0x88);
        r[6 + c] = _mm512_shuffle_f64x2(hi01, hi23, 0xDD);
    }
}

/*
 * An fm_gemm_pack for panels of W lanes, vectors of V lanes. A lanes-
 * contiguous source is copied one step (one source row) at a time across
 * all panels, so each row is read once, in order: going down a column strip
 * instead would touch a new page at every step and, with power-of-two row
 * lengths, keep hitting the same few L1 sets. A steps-contiguous source is
 * read V lanes x V steps at a time and transposed.
 */
#define DEFINE_PACK(NAME, T, W, V, VEC, MASK, LOADZ, STORE_M, ZERO, TRANSPOSE)          \
    static void NAME(int lanes_contig, const void *src_, ptrdiff_t ld, ptrdiff_t len,  \
                     ptrdiff_t kc, void *dst_)                                         \
    {                                                                                 \
        const T *src = src_;                                                          \
        T *dst = dst_;                                                                \
        if (lanes_contig) {                                                           \
            for (ptrdiff_t p = 0; p < kc; p++)                                        \
                for (ptrdiff_t l0 = 0; l0 < len; l0 += (W)) {                         \
                    int w = (int)(len - l0 < (W) ? len - l0 : (W));                   \
                    T *d = dst + l0 * kc + p * (W);                                   \
                    for (int g = 0; g < (W); g += V) {                                \
                        MASK valid = (MASK)lane_mask(w, g / V, V);                    \
                        MASK panel = (MASK)lane_mask((W), g / V, V);                  \
                        STORE_M(d + g, panel, LOADZ(valid, src + p * ld + l0 + g));   \
                    }                                                                 \
                }                                                                     \
            return;                                                                   \
        }                                                                             \
        for (ptrdiff_t l0 = 0; l0 < len; l0 += (W)) {                                 \
            int w = (int)(len - l0 < (W) ? len - l0 : (W));                           \
            const T *s = src + l0 * ld;                                               \
            T *d = dst + l0 * kc;                                                     \
            for (int g = 0; g < (W); g += V) {                                        \
                MASK panel = (MASK)lane_mask((W), g / V, V);                          \
                int rows = w - g < V ? w - g : V;                                     \
                ptrdiff_t p = 0;                                                      \
                for (; p + V <= kc; p += V) {                                         \
                    VEC r[V];                                                         \
                    for (int i = 0; i < V; i++)                                       \
                        r[i] = i < rows ? LOADZ((MASK)~0u, s + (g + i) * ld + p) : ZERO(); \
                    TRANSPOSE(r);                                                     \
                    for (int q = 0; q < V; q++)                                       \
                        STORE_M(d + (p + q) * (W) + g, panel, r[q]);                  \
                }                                                                     \
                for (; p < kc; p++)                                                   \
                    for (int i = 0; i < V && g + i < (W); i++)                        \
                        d[p * (W) + g + i] = i < rows ? s[(g + i) * ld + p] : (T)0;   \
            }                                                                         \
        }                                                                             \
    }

#define DEFINE_PACK_F32(NAME, W)                                                      \
    DEFINE_PACK(NAME, float, W, 16, __m512, __mmask16, _mm512_maskz_loadu_ps,          \
                _mm512_mask_storeu_ps, _mm512_setzero_ps, transpose16_ps)
#define DEFINE_PACK_F64(NAME, W)                                                      \
    DEFINE_PACK(NAME, double, W, 8, __m512d, __mmask8, _mm512_maskz_loadu_pd,          \
                _mm512_mask_storeu_pd, _mm512_setzero_pd, transpose8_pd)

DEFINE_PACK_F32(pack_mr_f32, MR_S)
DEFINE_PACK_F32(pack_nr_f32, 16 * NV_S)
DEFINE_PACK_F64(pack_mr_f64, MR_D)
DEFINE_PACK_F64(pack_nr_f64, 8 * NV_D)
DEFINE_PACK_F32(pack_mr_narrow_f32, MR_NARROW)
DEFINE_PACK_F32(pack_nr_narrow_f32, 16)
DEFINE_PACK_F64(pack_mr_narrow_f64, MR_NARROW)
DEFINE_PACK_F64(pack_nr_narrow_f64, 8)


/*
 * The narrow kernel for a transposed A (the weight gradient of a narrow
 * layer, X^T D with D 10 wide): vectors run along M instead, 32 rows x 12
 * columns, so a 10-wide C wastes 2 of 12 lanes instead of 6 of 16. Each step
 * loads 32 contiguous values of A (rs_a must be 1: a transposed A or a
 * packed panel) and broadcasts 12 of B; the tile is transposed 16 rows at a
 * time on the way out. Each C element is still the sum over p in order of
 * its products, so the bits match the row-vector kernels'.
 */
#define MR_COLS 32
#define NR_COLS 12
static void kernel_cols_f32(ptrdiff_t k, const void *alpha_, const void *a_, ptrdiff_t rs_a,
                            ptrdiff_t cs_a, const void *b_, ptrdiff_t rs_b, const void *beta_,
                            void *c_, ptrdiff_t ldc, int mr, int nr)
{
    const float *a = a_, *b = b_;
    float *c = c_;
    __m512 acc[NR_COLS][2];
    (void)rs_a; /* always 1 here, see above */

#pragma GCC unroll 16
    for (int j = 0; j < NR_COLS; j++)
        acc[j][0] = acc[j][1] = _mm512_setzero_ps();
    for (ptrdiff_t p = 0; p < k; p++, a += cs_a, b += rs_b) {
        __m512 a0 = _mm512_loadu_ps(a), a1 = _mm512_loadu_ps(a + 16);
#pragma GCC unroll 16
        for (int j = 0; j < NR_COLS; j++) {
            __m512 bj = _mm512_set1_ps(b[j]);
            acc[j][0] = _mm512_fmadd_ps(a0, bj, acc[j][0]);
            acc[j][1] = _mm512_fmadd_ps(a1, bj, acc[j][1]);
        }
    }

    const __m512 alpha = _mm512_set1_ps(*(const float *)alpha_);
    const float beta_s = *(const float *)beta_;
    const __m512 beta = _mm512_set1_ps(beta_s);
    const __mmask16 cols = (__mmask16)lane_mask(nr, 0, 16);
#pragma GCC unroll 2
    for (int v = 0; v < 2; v++) {
        __m512 r[16];
#pragma GCC unroll 16
        for (int j = 0; j < 16; j++)
            r[j] = j < NR_COLS ? acc[j < NR_COLS ? j : 0][v] : _mm512_setzero_ps();
        transpose16_ps(r); /* r[q]: row 16v+q of the tile, its columns in lanes */
        for (int q = 0; q < 16 && 16 * v + q < mr; q++) {
            float *ci = c + (16 * v + q) * ldc;
            __m512 x = _mm512_mul_ps(alpha, r[q]);
            if (beta_s != 0)
                x = _mm512_fmadd_ps(beta, _mm512_maskz_loadu_ps(cols, ci), x);
            _mm512_mask_storeu_ps(ci, cols, x);
        }
    }
}

DEFINE_PACK_F32(pack_mr_cols_f32, MR_COLS)
DEFINE_PACK_F32(pack_nr_cols_f32, NR_COLS)

const fm_gemm_arch fm_gemm_arch_avx512 = {
    .f32 = {.mr = MR_S, .nr = 16 * NV_S, .mc = FM_AVX512_MC, .kc = FM_AVX512_KC,
            .nc = FM_AVX512_NC, .kernel = kernel_f32, .direct = 1,
            .pack_a = pack_mr_f32, .pack_b = pack_nr_f32,
            .edge = {{4, kernel_f32_4}, {8, kernel_f32_8}}},
    .f64 = {.mr = MR_D, .nr = 8 * NV_D, .mc = FM_AVX512_MC / 2, .kc = FM_AVX512_KC,
            .nc = FM_AVX512_NC / 2, .kernel = kernel_f64, .direct = 1,
            .pack_a = pack_mr_f64, .pack_b = pack_nr_f64,
            .edge = {{4, kernel_f64_4}, {8, kernel_f64_8}}},
    .f32_narrow = {.mr = MR_NARROW, .nr = 16, .mc = FM_AVX512_MC, .kc = FM_AVX512_KC,
                   .nc = 16, .kernel = kernel_narrow_f32, .direct = 1,
                   .pack_a = pack_mr_narrow_f32, .pack_b = pack_nr_narrow_f32},
    .f32_narrow_t = {.mr = MR_COLS, .nr = NR_COLS, .mc = FM_AVX512_MC, .kc = FM_AVX512_KC,
                     .nc = NR_COLS, .kernel = kernel_cols_f32, .direct = 1,
                     .pack_a = pack_mr_cols_f32, .pack_b = pack_nr_cols_f32},
    .f64_narrow = {.mr = MR_NARROW, .nr = 8, .mc = FM_AVX512_MC / 2, .kc = FM_AVX512_KC,
                   .nc = 8, .kernel = kernel_narrow_f64, .direct = 1,
                   .pack_a = pack_mr_narrow_f64, .pack_b = pack_nr_narrow_f64},
};
