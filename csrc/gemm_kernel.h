/*
 * gemm_kernel.h - internal to csrc/: what a GEMM micro-kernel is, and how
 * each CPU family registers its kernels and block sizes.
 *
 * gemm.c owns the loops and the packing; a gemm_<arch>.c file owns only the
 * register-blocked kernel and the block sizes that suit its cache and
 * register file. Adding a CPU family means adding one such file and one
 * line in gemm.c's table, never touching the loops.
 */
#ifndef FM_GEMM_KERNEL_H
#define FM_GEMM_KERNEL_H

#include <stddef.h>

/*
 * The micro-kernel: C = alpha * A*B + beta * C on one MR x NR tile.
 *
 * a is a packed A panel: k steps of MR values (column kk of the panel is
 * a[kk*MR .. kk*MR+MR-1]); b is a packed B panel: k steps of NR values.
 * Both are zero-padded to full MR / NR and 64-byte aligned. c points at the
 * tile's first element of the row-major C, rows ldc elements apart. Only
 * the top-left mr x nr part of the tile (mr <= MR, nr <= NR) is written.
 * When *beta == 0, C is not read (so NaN in C is ignored), as in BLAS.
 * alpha, beta, a, b and c are float or double as the kernel's type says.
 * Each C element is the sum over kk in order 0..k-1 of its products, so a
 * tile gives the same bits whether it is an edge tile or not.
 */
typedef void (*fm_gemm_ukr)(ptrdiff_t k, const void *alpha, const void *a,
                            const void *b, const void *beta, void *c,
                            ptrdiff_t ldc, int mr, int nr);

/* A kernel and the block sizes the loops around it use (in elements). */
typedef struct {
    int mr, nr;        /* register tile */
    ptrdiff_t mc;      /* rows of A packed at once (multiple of mr; L2) */
    ptrdiff_t kc;      /* depth of one packed block (L1 holds a B panel) */
    ptrdiff_t nc;      /* columns of B packed at once (multiple of nr; L3) */
    fm_gemm_ukr kernel;
} fm_gemm_blocking;

/* One CPU family's kernels, float and double. */
typedef struct {
    fm_gemm_blocking f32;
    fm_gemm_blocking f64;
} fm_gemm_arch;

/* Largest MR*NR any kernel uses; edge tiles are computed in a local
 * buffer of this size. */
#define FM_GEMM_MAX_TILE (32 * 32)

/* Defined in gemm_<arch>.c; gemm.c refers to an AVX one only when the build
 * compiled it in (FM_HAVE_AVX2 / FM_HAVE_AVX512). */
extern const fm_gemm_arch fm_gemm_arch_generic;
extern const fm_gemm_arch fm_gemm_arch_avx2;
extern const fm_gemm_arch fm_gemm_arch_avx512;

/*
 * Write an MR x NR tile computed in a local buffer `t` (C = alpha*AB already
 * folded in) out to the valid mr x nr part of C: c = t + beta*c. Used by the
 * kernels for edge tiles. static so that each kernel file gets its own copy
 * compiled with its own ISA flags (a shared inline could otherwise resolve to
 * the AVX-512 copy in baseline code).
 */
#define FM_GEMM_DEFINE_STORE_EDGE(T, NAME)                                      \
    static void NAME(const T *t, int ld_t, T beta, T *c, ptrdiff_t ldc,          \
                     int mr, int nr)                                             \
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

#endif /* FM_GEMM_KERNEL_H */
