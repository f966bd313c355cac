/*
 * gemm_generic.c - the portable GEMM micro-kernels, for any CPU.
 *
 * Compiled without ISA flags: plain C that the compiler vectorises with the
 * baseline instruction set (SSE2 on x86-64, NEON on aarch64). The tile is
 * small enough (8 or 16 accumulators of 128 bits) to stay in the 16
 * registers of those targets.
 */
#include "gemm_kernel.h"

#define MR_S 4
#define NR_S 8
#define MR_D 4
#define NR_D 4

/* Write the valid mr x nr part of a tile t (alpha already applied) to C:
 * c = t + beta*c, not reading C when beta == 0. */
#define DEFINE_STORE_TILE(T, NAME)                                               \
    static void NAME(const T *t, int ld_t, T beta, T *c, ptrdiff_t ldc, int mr,  \
                     int nr)                                                     \
    {                                                                            \
        for (int i = 0; i < mr; i++) {                                           \
            T *ci = c + i * ldc;                                                 \
            const T *ti = t + i * ld_t;                                          \
            if (beta == 0) {                                                     \
                for (int j = 0; j < nr; j++)                                     \
                    ci[j] = ti[j];                                               \
            } else {                                                             \
                for (int j = 0; j < nr; j++)                                     \
                    ci[j] = ti[j] + beta * ci[j];                                \
            }                                                                    \
        }                                                                        \
    }

DEFINE_STORE_TILE(float, store_tile_f32)
DEFINE_STORE_TILE(double, store_tile_f64)

static void kernel_f32(ptrdiff_t k, const void *alpha_, const void *a_, ptrdiff_t rs_a,
                       ptrdiff_t cs_a, const void *b_, ptrdiff_t rs_b, const void *beta_,
                       void *c_, ptrdiff_t ldc, int mr, int nr)
{
    (void)rs_a, (void)cs_a, (void)rs_b; /* packed panels only (direct = 0) */
    const float *a = a_, *b = b_;
    float *c = c_;
    float alpha = *(const float *)alpha_, beta = *(const float *)beta_;
    float ab[MR_S][NR_S] = {{0}};

    for (ptrdiff_t p = 0; p < k; p++) {
        for (int i = 0; i < MR_S; i++)
            for (int j = 0; j < NR_S; j++)
                ab[i][j] += a[i] * b[j];
        a += MR_S;
        b += NR_S;
    }
    for (int i = 0; i < MR_S; i++)
        for (int j = 0; j < NR_S; j++)
            ab[i][j] *= alpha;
    store_tile_f32(&ab[0][0], NR_S, beta, c, ldc, mr, nr);
}

static void kernel_f64(ptrdiff_t k, const void *alpha_, const void *a_, ptrdiff_t rs_a,
                       ptrdiff_t cs_a, const void *b_, ptrdiff_t rs_b, const void *beta_,
                       void *c_, ptrdiff_t ldc, int mr, int nr)
{
    (void)rs_a, (void)cs_a, (void)rs_b; /* packed panels only (direct = 0) */
    const double *a = a_, *b = b_;
    double *c = c_;
    double alpha = *(const double *)alpha_, beta = *(const double *)beta_;
    double ab[MR_D][NR_D] = {{0}};

    for (ptrdiff_t p = 0; p < k; p++) {
        for (int i = 0; i < MR_D; i++)
            for (int j = 0; j < NR_D; j++)
                ab[i][j] += a[i] * b[j];
        a += MR_D;
        b += NR_D;
    }
    for (int i = 0; i < MR_D; i++)
        for (int j = 0; j < NR_D; j++)
            ab[i][j] *= alpha;
    store_tile_f64(&ab[0][0], NR_D, beta, c, ldc, mr, nr);
}

FM_GEMM_DEFINE_PACK(float, MR_S, pack_mr_f32)
FM_GEMM_DEFINE_PACK(float, NR_S, pack_nr_f32)
FM_GEMM_DEFINE_PACK(double, MR_D, pack_mr_f64)
FM_GEMM_DEFINE_PACK(double, NR_D, pack_nr_f64)


/* KC: a 4 x 256 A panel plus an 8 x 256 B panel fit a 32 KiB L1 with room;
 * MC x KC of A (128 KiB) sits in any L2; NC x KC of B in L3. */
const fm_gemm_arch fm_gemm_arch_generic = {
    .f32 = {.mr = MR_S, .nr = NR_S, .mc = 128, .kc = 256, .nc = 4096, .kernel = kernel_f32,
            .pack_a = pack_mr_f32, .pack_b = pack_nr_f32},
    .f64 = {.mr = MR_D, .nr = NR_D, .mc = 128, .kc = 256, .nc = 2048, .kernel = kernel_f64,
            .pack_a = pack_mr_f64, .pack_b = pack_nr_f64},
};
