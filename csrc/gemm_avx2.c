/*
 * gemm_avx2.c - GEMM micro-kernels for AVX2 + FMA (Haswell and later).
 *
 * Compiled with -mavx2 -mfma only; reached only when cpu.c has checked
 * CPUID and XGETBV. The tile is 6 rows x 2 vectors of C: 12 accumulators,
 * 2 registers for the B row and one broadcast of A leave 1 of the 16 YMM
 * registers spare, and 12 FMAs per 2 loads keep both FMA ports busy.
 * Vectors run along N, the contiguous direction of row-major C. Full tiles
 * of A may be read in place (`direct`); edge tiles use masked loads and
 * stores, so every tile adds the same products in the same order. A C of at
 * most 10 columns runs a narrow kernel whose vectors run along M instead
 * (kernel_cols_f32, below), with the same sums.
 */
#include <immintrin.h>

#include "gemm_kernel.h"

#define MR 6
#define MR_COLS 8  /* the narrow kernel (kernel_cols_f32) */
#define NR_COLS 10

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

/* ---- packing -------------------------------------------------------------
 * Packing is pure data movement, and the portable loops (gemm_kernel.h)
 * compile to one scalar move per element here: gcc cannot tell the panel
 * from its source. On a Zen 3 that was 12 % of an 8-64-64-1 training step
 * at batch 32. So copies move whole vectors, and transposes go 8 x 8
 * (float) or 4 x 4 (double) blocks at a time through the shuffle unit.
 */

/* The first n (any int) of 8 floats at p, zeros past them; n >= 8 reads 8. */
static inline __m256 load_f32(const float *p, int n)
{
    if (n >= 8)
        return _mm256_loadu_ps(p);
    return n > 0 ? _mm256_maskload_ps(p, mask32(n)) : _mm256_setzero_ps();
}

/* The first n lanes of v to p: all 8 when n >= 8, else n (6 is MR, 2 the
 * last lanes of a 10-wide panel). */
static inline void store_f32(float *p, __m256 v, int n)
{
    if (n >= 8) {
        _mm256_storeu_ps(p, v);
    } else if (n == 6) { /* a masked store costs several times more on AMD */
        _mm_storeu_ps(p, _mm256_castps256_ps128(v));
        _mm_storel_pi((__m64 *)(void *)(p + 4), _mm256_extractf128_ps(v, 1));
    } else if (n == 2) {
        _mm_storel_pi((__m64 *)(void *)p, _mm256_castps256_ps128(v));
    } else {
        _mm256_maskstore_ps(p, mask32(n), v);
    }
}

static inline __m256d load_f64(const double *p, int n)
{
    if (n >= 4)
        return _mm256_loadu_pd(p);
    return n > 0 ? _mm256_maskload_pd(p, mask64(n)) : _mm256_setzero_pd();
}

static inline void store_f64(double *p, __m256d v, int n)
{
    if (n >= 4)
        _mm256_storeu_pd(p, v);
    else if (n == 2)
        _mm_storeu_pd(p, _mm256_castpd256_pd128(v));
    else
        _mm256_maskstore_pd(p, mask64(n), v);
}

/* Transpose 8 rows of 8 floats in place. */
static inline void transpose8_ps(__m256 r[8])
{
    __m256 t[8], u[8];
    for (int i = 0; i < 4; i++) {
        t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    /* u[4h + c], 128-bit lane L: column 4L + c of rows 4h .. 4h+3 */
    for (int h = 0; h < 2; h++) {
        u[4 * h] = _mm256_shuffle_ps(t[4 * h], t[4 * h + 2], 0x44);
        u[4 * h + 1] = _mm256_shuffle_ps(t[4 * h], t[4 * h + 2], 0xEE);
        u[4 * h + 2] = _mm256_shuffle_ps(t[4 * h + 1], t[4 * h + 3], 0x44);
        u[4 * h + 3] = _mm256_shuffle_ps(t[4 * h + 1], t[4 * h + 3], 0xEE);
    }
    for (int c = 0; c < 4; c++) {
        r[c] = _mm256_permute2f128_ps(u[c], u[4 + c], 0x20);
        r[4 + c] = _mm256_permute2f128_ps(u[c], u[4 + c], 0x31);
    }
}

/* Transpose 4 rows of 4 doubles in place. */
static inline void transpose4_pd(__m256d r[4])
{
    __m256d t0 = _mm256_unpacklo_pd(r[0], r[1]), t1 = _mm256_unpackhi_pd(r[0], r[1]);
    __m256d t2 = _mm256_unpacklo_pd(r[2], r[3]), t3 = _mm256_unpackhi_pd(r[2], r[3]);
    r[0] = _mm256_permute2f128_pd(t0, t2, 0x20);
    r[1] = _mm256_permute2f128_pd(t1, t3, 0x20);
    r[2] = _mm256_permute2f128_pd(t0, t2, 0x31);
    r[3] = _mm256_permute2f128_pd(t1, t3, 0x31);
}

/*
 * An fm_gemm_pack for panels of W lanes, vectors of V lanes; the contract
 * of FM_GEMM_DEFINE_PACK. A lanes-contiguous source is copied one step (one
 * source row) at a time across all panels, as there; a steps-contiguous one
 * goes V lanes of a panel at a time over all its steps, V steps at a time
 * (masked at the last steps, zeros for lanes past len), transposed.
 */
#define DEFINE_PACK(NAME, T, W, V, VEC, LOAD_N, STORE_N, ZERO, TRANSPOSE)               \
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
                    for (int g = 0; g < (W); g += V)                                  \
                        STORE_N(d + g, LOAD_N(src + p * ld + l0 + g, w - g), (W) - g); \
                }                                                                     \
            return;                                                                   \
        }                                                                             \
        for (ptrdiff_t l0 = 0; l0 < len; l0 += (W)) {                                 \
            int w = (int)(len - l0 < (W) ? len - l0 : (W));                           \
            const T *s = src + l0 * ld;                                               \
            T *d = dst + l0 * kc;                                                     \
            for (int g = 0; g < (W); g += V) {                                        \
                for (ptrdiff_t p = 0; p < kc; p += V) {                               \
                    int steps = (int)(kc - p < V ? kc - p : V);                       \
                    VEC r[V];                                                         \
                    for (int i = 0; i < V; i++)                                       \
                        r[i] = g + i < w ? LOAD_N(s + (g + i) * ld + p, steps) : ZERO(); \
                    TRANSPOSE(r);                                                     \
                    for (int q = 0; q < steps; q++)                                   \
                        STORE_N(d + (p + q) * (W) + g, r[q], (W) - g);                \
                }                                                                     \
            }                                                                         \
        }                                                                             \
    }

DEFINE_PACK(pack_mr_f32, float, MR, 8, __m256, load_f32, store_f32, _mm256_setzero_ps,
            transpose8_ps)
DEFINE_PACK(pack_nr_f32, float, 16, 8, __m256, load_f32, store_f32, _mm256_setzero_ps,
            transpose8_ps)
DEFINE_PACK(pack_mr_cols_f32, float, MR_COLS, 8, __m256, load_f32, store_f32,
            _mm256_setzero_ps, transpose8_ps)
DEFINE_PACK(pack_nr_cols_f32, float, NR_COLS, 8, __m256, load_f32, store_f32,
            _mm256_setzero_ps, transpose8_ps)
DEFINE_PACK(pack_mr_f64, double, MR, 4, __m256d, load_f64, store_f64, _mm256_setzero_pd,
            transpose4_pd)
DEFINE_PACK(pack_nr_f64, double, 8, 4, __m256d, load_f64, store_f64, _mm256_setzero_pd,
            transpose4_pd)


/*
 * The narrow kernel, for a C of at most NR_COLS columns (the 10-class output
 * layer; the 1-wide output of a regression): vectors run along M instead,
 * 8 rows of C a vector, one accumulator per column, so a 10-wide C uses
 * every lane where the wide tile above computes 16 columns for 10. Per k
 * step: one vector of A (a packed panel has rs_a = 1; so does a transposed
 * A read in place, the weight gradient's X^T), 10 broadcasts of B's row, 10
 * FMAs. Each product and sum is the wide kernel's, in the same order (an
 * FMA's product commutes), so C gets the same bits from either. The tile is
 * turned back to C's rows in the store: columns 0-7 by an 8 x 8 transpose,
 * 8 and 9 one element at a time.
 */
static void kernel_cols_f32(ptrdiff_t k, const void *alpha_, const void *a_, ptrdiff_t rs_a,
                            ptrdiff_t cs_a, const void *b_, ptrdiff_t rs_b, const void *beta_,
                            void *c_, ptrdiff_t ldc, int mr, int nr)
{
    (void)rs_a; /* always 1 here (see above) */
    const float *a = a_, *b = b_;
    float *c = c_;
    /* every loop over acc fully unrolled, or gcc keeps it in memory */
    __m256 acc[NR_COLS];
    _Pragma("GCC unroll 10") for (int j = 0; j < NR_COLS; j++)
        acc[j] = _mm256_setzero_ps();
    for (ptrdiff_t p = 0; p < k; p++, a += cs_a, b += rs_b) {
        const __m256 av = _mm256_loadu_ps(a);
        _Pragma("GCC unroll 10") for (int j = 0; j < NR_COLS; j++)
            acc[j] = _mm256_fmadd_ps(av, _mm256_broadcast_ss(b + j), acc[j]);
    }
    const __m256 alpha = _mm256_set1_ps(*(const float *)alpha_);
    const float beta = *(const float *)beta_;
    _Pragma("GCC unroll 10") for (int j = 0; j < NR_COLS; j++)
        acc[j] = _mm256_mul_ps(alpha, acc[j]);
    float tail[2][MR_COLS]; /* columns 8 and 9, by row */
    _mm256_storeu_ps(tail[0], acc[8]);
    _mm256_storeu_ps(tail[1], acc[9]);
    __m256 rows[8]; /* a copy: acc handed to the transpose stayed in memory */
    _Pragma("GCC unroll 8") for (int i = 0; i < 8; i++)
        rows[i] = acc[i];
    transpose8_ps(rows); /* rows[i]: row i, columns 0-7 */
    const int head = nr < 8 ? nr : 8;
    const __m256i m = mask32(head);
    const __m128 beta1 = _mm_set_ss(beta);
    for (int i = 0; i < mr; i++) {
        float *ci = c + i * ldc;
        __m256 r = rows[i];
        if (beta != 0)
            r = _mm256_fmadd_ps(_mm256_set1_ps(beta), _mm256_maskload_ps(ci, m), r);
        if (head == 8) {
            _mm256_storeu_ps(ci, r);
        } else { /* a masked store costs several times more on AMD */
            float row[8];
            _mm256_storeu_ps(row, r);
            for (int j = 0; j < head; j++)
                ci[j] = row[j];
        }
        for (int j = 8; j < nr; j++) {
            __m128 t = _mm_set_ss(tail[j - 8][i]);
            if (beta != 0)
                t = _mm_fmadd_ss(beta1, _mm_set_ss(ci[j]), t);
            ci[j] = _mm_cvtss_f32(t);
        }
    }
}

/* The loops keep one 6 x KC panel of A in L1 (6 KiB at KC=256) and stream
 * the KC x NC block of B from L2 for each A panel, so NC is sized for the
 * 256-512 KiB L2 of AVX2-era cores: 256 KiB of B (NC 128 and 512 measured
 * no better on a Zen 3). B is always packed: read in place, a 16-wide
 * panel of a 784 x 256 B walks 262 rows 1 KiB apart, 66 pages for a 64-entry
 * L1 TLB. bench_gemm_c.py on a Zen 3, 2 threads, two alternated runs:
 * 128x256x784 152-162 GFLOP/s packed against 139-154 in place, 128x128x256
 * 156-157 against 148-153, 256x128x128 (A^T) 159-160 against 125-150; the
 * other MLP shapes and 1024^3 the same within noise. */
#ifndef FM_AVX2_NC
#define FM_AVX2_NC 256
#endif
const fm_gemm_arch fm_gemm_arch_avx2 = {
    .f32 = {.mr = MR, .nr = 16, .mc = 144, .kc = 256, .nc = FM_AVX2_NC, .kernel = kernel_f32,
            .direct = 1, .direct_a_only = 1, .pack_a = pack_mr_f32, .pack_b = pack_nr_f32,
            .edge = {{4, kernel_f32_4}}},
    /* The narrow kernel packs A (it needs rows side by side) unless A is
     * transposed, and reads that in place when it can. Same KC as the wide
     * blocking: the same depth blocks, so the same bits. */
    .f32_narrow = {.mr = MR_COLS, .nr = NR_COLS, .mc = 144, .kc = 256, .nc = NR_COLS,
                   .kernel = kernel_cols_f32, .pack_a = pack_mr_cols_f32,
                   .pack_b = pack_nr_cols_f32},
    .f32_narrow_t = {.mr = MR_COLS, .nr = NR_COLS, .mc = 144, .kc = 256, .nc = NR_COLS,
                     .kernel = kernel_cols_f32, .direct = 1, .direct_a_only = 1,
                     .pack_a = pack_mr_cols_f32, .pack_b = pack_nr_cols_f32},
    .f64 = {.mr = MR, .nr = 8, .mc = 72, .kc = 256, .nc = FM_AVX2_NC / 2, .kernel = kernel_f64,
            .direct = 1, .direct_a_only = 1, .pack_a = pack_mr_f64, .pack_b = pack_nr_f64,
            .edge = {{4, kernel_f64_4}}},
};
