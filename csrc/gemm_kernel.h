/*
 * gemm_kernel.h - internal to csrc/: what a GEMM micro-kernel is, and how
 * each CPU family registers its kernels and block sizes.
 *
 * gemm.c owns the loops, the threads and the epilogue; a gemm_<arch>.c file
 * owns the register-blocked kernel, the packing routines that feed it and
 * the block sizes that suit its caches and register file, all compiled with
 * that arch's ISA flags. Adding a CPU family means adding one such file and
 * one line in gemm.c's table, never touching the loops.
 */
#ifndef FM_GEMM_KERNEL_H
#define FM_GEMM_KERNEL_H

#include <stddef.h>

/*
 * The micro-kernel: C = alpha * A*B + beta * C on one MR x NR tile.
 *
 * A is MR x k with element (i, p) at a[i*rs_a + p*cs_a]; B is k x NR with
 * element (p, j) at b[p*rs_b + j]. Packed panels (zero-padded to full MR /
 * NR, 64-byte aligned) have rs_a = 1, cs_a = MR, rs_b = NR; a kernel whose
 * blocking says `direct` also takes A and B straight from the caller's
 * matrices (any rs_a/cs_a/rs_b, one of rs_a and cs_a being 1), but only for
 * full tiles: edge panels are always packed, so no kernel reads past the
 * valid rows or columns. c points at the tile's first element of the
 * row-major C, rows ldc elements apart; only the top-left mr x nr part
 * (mr <= MR, nr <= NR) is written. When *beta == 0, C is not read (so NaN
 * in C is ignored), as in BLAS. alpha, beta, a, b and c are float or double
 * as the kernel's type says. Each C element is the sum over p in order
 * 0..k-1 of its products, so a tile gives the same bits whether it is an
 * edge tile or not, packed or not.
 */
typedef void (*fm_gemm_ukr)(ptrdiff_t k, const void *alpha, const void *a,
                            ptrdiff_t rs_a, ptrdiff_t cs_a, const void *b,
                            ptrdiff_t rs_b, const void *beta, void *c,
                            ptrdiff_t ldc, int mr, int nr);

/*
 * A packing routine: copy `len` lanes x kc steps of a block of op(A) (lanes
 * are rows) or op(B) (lanes are columns) into panels of W lanes (W = MR or
 * NR), panel q at dst + q*W*kc, each step's W values together, lanes past
 * len zero-filled. The block's element (lane l, step p) is src[p*ld + l]
 * when lanes_contig, else src[l*ld + p]. Lives beside the kernel so that it
 * is compiled with the same ISA flags and a compile-time W.
 */
typedef void (*fm_gemm_pack)(int lanes_contig, const void *src, ptrdiff_t ld,
                             ptrdiff_t len, ptrdiff_t kc, void *dst);

/* How many edge kernels a blocking may list (see below). */
#define FM_GEMM_EDGES 2

/* A kernel, its packing routines and the block sizes the loops around it
 * use (in elements). */
typedef struct {
    int mr, nr;        /* register tile */
    ptrdiff_t mc;      /* rows of A packed at once (multiple of mr) */
    ptrdiff_t kc;      /* depth of one packed block */
    ptrdiff_t nc;      /* columns of B packed at once (multiple of nr; L2) */
    fm_gemm_ukr kernel;
    int direct;        /* kernel takes unpacked full tiles (see above) */
    int direct_a_only; /* with `direct`: still pack a row-major B, reading only A in
                        * place (where B's rows a power of two apart in place cost
                        * more than the copy: AVX2 on Zen 3, see gemm_avx2.c) */
    fm_gemm_pack pack_a; /* W = mr */
    fm_gemm_pack pack_b; /* W = nr */
    /* Kernels of fewer rows for the tiles at the M edge, fewest rows first
     * (unused entries NULL): a tile of `rows` valid rows runs the first one
     * with rows <= edge[e].mr instead of computing all mr rows, a third of
     * them padding when M = 16 and mr = 12. Each is the main kernel with
     * fewer rows: same NR, same A layouts (a packed panel still has cs_a =
     * mr, the main kernel's), the same products in the same order, so a row
     * gets the same bits from either. */
    struct {
        int mr;
        fm_gemm_ukr kernel;
    } edge[FM_GEMM_EDGES];
} fm_gemm_blocking;

/* One CPU family's kernels, float and double. The narrow ones, if the arch
 * has them (kernel != NULL), serve a C of at most their nr columns, where a
 * wide tile would mostly compute padding; the _t ones do so when A is
 * transposed, and read A only with rs_a == 1. */
typedef struct {
    fm_gemm_blocking f32, f64;
    fm_gemm_blocking f32_narrow, f64_narrow;
    fm_gemm_blocking f32_narrow_t, f64_narrow_t;
} fm_gemm_arch;

/* Defined in gemm_<arch>.c; gemm.c refers to an AVX one only when the build
 * compiled it in (FM_HAVE_AVX2 / FM_HAVE_AVX512). */
extern const fm_gemm_arch fm_gemm_arch_generic;
extern const fm_gemm_arch fm_gemm_arch_avx2;
extern const fm_gemm_arch fm_gemm_arch_avx512;

/*
 * The portable packing routine for panels of W lanes, as an fm_gemm_pack
 * named NAME. W is a compile-time constant so the copies vectorise. A
 * lanes-contiguous source is copied one step (one source row) at a time
 * across all panels, so each row is read once, in order (a column strip
 * would touch a new page at every step). A steps-contiguous source goes in
 * blocks of 8 steps, so each source row is read along a cache line. static
 * so that each kernel file gets its own copy compiled with its own ISA flags
 * (a shared inline could otherwise resolve to the AVX-512 copy in baseline
 * code).
 */
#define FM_GEMM_DEFINE_PACK(T, W, NAME)                                         \
    static void NAME(int lanes_contig, const void *src_, ptrdiff_t ld,          \
                     ptrdiff_t len, ptrdiff_t kc, void *dst_)                   \
    {                                                                            \
        const T *src = src_;                                                     \
        T *dst = dst_;                                                           \
        if (lanes_contig) {                                                      \
            for (ptrdiff_t p = 0; p < kc; p++)                                   \
                for (ptrdiff_t l0 = 0; l0 < len; l0 += (W)) {                    \
                    const T *s = src + p * ld + l0;                              \
                    T *d = dst + l0 * kc + p * (W);                              \
                    if (len - l0 >= (W)) {                                       \
                        for (int l = 0; l < (W); l++)                            \
                            d[l] = s[l];                                         \
                    } else {                                                     \
                        for (int l = 0; l < (W); l++)                            \
                            d[l] = l < len - l0 ? s[l] : (T)0;                   \
                    }                                                            \
                }                                                                \
            return;                                                              \
        }                                                                        \
        for (ptrdiff_t l0 = 0; l0 < len; l0 += (W)) {                            \
            ptrdiff_t w = len - l0 < (W) ? len - l0 : (W);                       \
            const T *s = src + l0 * ld;                                          \
            T *d = dst + l0 * kc;                                                \
            ptrdiff_t p = 0;                                                     \
            if (w == (W)) {                                                      \
                for (; p + 8 <= kc; p += 8)                                      \
                    for (int l = 0; l < (W); l++)                                \
                        for (int q = 0; q < 8; q++)                              \
                            d[(p + q) * (W) + l] = s[l * ld + p + q];            \
            }                                                                    \
            for (; p < kc; p++)                                                  \
                for (int l = 0; l < (W); l++)                                    \
                    d[p * (W) + l] = l < w ? s[l * ld + p] : (T)0;               \
        }                                                                        \
    }

#endif /* FM_GEMM_KERNEL_H */
