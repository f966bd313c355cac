/*
 * gemm_prepacked.h - internal to csrc/: a B operand packed once and reused
 * by many GEMMs, for the training loop and predict, whose every forward
 * GEMM multiplies by a layer's kernel.
 *
 * A GEMM packs the block of B it needs on every call, and in training that
 * copy is the first to touch weights the optimizer has just rewritten, half
 * of them on the other core. Packed instead by the thread that updated
 * them, right after the update (they are still in its cache), each row of
 * the kernel is packed once a step rather than once per thread, and the
 * forward GEMMs of both threads read contiguous panels.
 *
 * The packed layout is the one the GEMM's own loops pack into, for B of k
 * x n, not transposed, with A not transposed (the arch's blocking for that
 * width): K in the GEMM's depth blocks, each block as n rounded up to
 * whole panels. So a GEMM on the packed B gives the same bits as fm_gemm
 * on B (same kernel, same products, same order).
 *
 * The training loop goes further for its first layer (train_impl.h): its
 * weight gradient is written straight into this layout, the optimizer
 * updates the packed kernel in place, and the row-major kernel is brought
 * up to date once, when the loop returns (fm_unpack_rows).
 */
#ifndef FM_GEMM_PREPACKED_H
#define FM_GEMM_PREPACKED_H

#include <stddef.h>

/* Where the packed copy of a k x n B keeps element (p, j): depth block
 * pc = p / kc * kc (depth = min(kc, k - pc) rows), at
 * pc * n_pad + j / nr * nr * depth + (p - pc) * nr + j % nr. So rows
 * [r0, r1) of one depth block are, in each NR-wide panel, one contiguous
 * run of (r1 - r0) * nr elements. */
typedef struct {
    ptrdiff_t nr, kc, n_pad;
} fm_prepacked_shape;

/* Where element (p, j) of a k x n B of this shape sits in its packed copy;
 * for j on a panel boundary, also where the run of rows p.. of that panel
 * (to the end of p's depth block) starts. */
static inline ptrdiff_t fm_prepacked_at(fm_prepacked_shape sh, ptrdiff_t k, ptrdiff_t p,
                                        ptrdiff_t j)
{
    ptrdiff_t pc = p / sh.kc * sh.kc, depth = k - pc < sh.kc ? k - pc : sh.kc;
    return pc * sh.n_pad + j / sh.nr * sh.nr * depth + (p - pc) * sh.nr + j % sh.nr;
}

#define FM_DEFINE_PREPACKED(T, SFX)                                                     \
    /* Elements of the packed copy of a k x n B. */                                    \
    size_t fm_prepacked_size_##SFX(ptrdiff_t k, ptrdiff_t n);                          \
    /* Column shares of the product must start at a multiple of this. */               \
    ptrdiff_t fm_prepacked_align_##SFX(ptrdiff_t n);                                   \
    /* Pack rows [p0, p1) of B (k x n, row-major, rows ldb apart) into packed;       \
     * threads may pack disjoint row ranges at once. */                                \
    void fm_prepack_rows_##SFX(ptrdiff_t k, ptrdiff_t n, const T *b, ptrdiff_t ldb,      \
                               ptrdiff_t p0, ptrdiff_t p1, T *packed);                 \
    /* The inverse: rows [p0, p1) of the packed copy back into b. */                  \
    void fm_unpack_rows_##SFX(ptrdiff_t k, ptrdiff_t n, const T *packed, ptrdiff_t p0,   \
                              ptrdiff_t p1, T *b, ptrdiff_t ldb);                      \
    fm_prepacked_shape fm_prepacked_shape_##SFX(ptrdiff_t k, ptrdiff_t n);             \
    /* Whether fm_gemm_to_prepacked can serve an op(A) of this transposition and    \
     * this n (it needs fm_gemm's blocking for the product to be the layout's). */     \
    int fm_gemm_to_prepacked_ok_##SFX(int trans_a, ptrdiff_t n);                       \
    /* Columns [j0, j1) of C = op(A) B (m x n, B k x n row-major, ldb; j0 a        \
     * multiple of fm_prepacked_align) into rows [r0, r0 + m) of a k_total x n        \
     * matrix in the packed layout, each element the same bits as fm_gemm's blocked  \
     * path (not its no-memory fallback loops); on the calling thread. Padding        \
     * lanes are not written. Returns 0, having written nothing, if it cannot (not    \
     * _ok, j0 off a panel, k < 1, or no memory). */                                  \
    int fm_gemm_to_prepacked_##SFX(int trans_a, ptrdiff_t m, ptrdiff_t n, ptrdiff_t j0,  \
                                   ptrdiff_t j1, ptrdiff_t k, const T *a, ptrdiff_t lda,  \
                                   const T *b, ptrdiff_t ldb, ptrdiff_t k_total,          \
                                   ptrdiff_t r0, T *packed);                            \
    /* Columns [j0, j1) of C = act(A B + bias), A m x k row-major (lda), B packed,     \
     * c and bias pointing at column 0; j0 a multiple of fm_prepacked_align (else a    \
     * slow path), and all n columns for a softmax, which needs whole rows. On the     \
     * calling thread only. a_in_place: read A's full row panels where they are        \
     * rather than packing them, for an A that comes once from main memory (predict's  \
     * input): the kernel's loads then overlap the memory's latency, where packing     \
     * would wait for it first (a 10,000-image predict 3-5% faster). nonfinite, if not \
     * NULL, is set to 1 when a row's product in column j0 (before bias and            \
     * activation) is NaN or inf, as it is whenever that row of A holds one: a NaN or  \
     * inf product stays NaN or inf through every later addition. */                   \
    void fm_gemm_prepacked_##SFX(ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, const T *a,      \
                                 ptrdiff_t lda, int a_in_place, const T *packed,         \
                                 ptrdiff_t j0, ptrdiff_t j1, T *c, ptrdiff_t ldc,         \
                                 const T *bias, int act, T slope, int *nonfinite);

FM_DEFINE_PREPACKED(float, f32)
FM_DEFINE_PREPACKED(double, f64)

#undef FM_DEFINE_PREPACKED

#endif /* FM_GEMM_PREPACKED_H */
