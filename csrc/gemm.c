/*
 * gemm.c - C = act(alpha * op(A) * op(B) + beta * C + bias), BLIS style.
 *
 * Five loops around a register-blocked micro-kernel, over one thread's
 * block of C:
 *
 *   for jc over N in steps of NC       (a KC x NC block of B stays in L2)
 *     for pc over K in steps of KC
 *       pack B[pc.., jc..] into NR-wide panels
 *       for ic over M in steps of MC
 *         pack A[ic.., pc..] into MR-tall panels
 *         for ir over the MR panels    (one A panel stays in L1 ...)
 *           for jr over the NR panels  (... while B's panels stream by)
 *             micro-kernel
 *           last K block: bias + activation on the finished row panel
 *
 * Packing absorbs the transposes and zero-pads the panels to full MR / NR,
 * so the kernel's inner loop never branches; when packing would cost more
 * than it saves, a `direct` kernel reads full panels in place instead. The
 * kernel, the packers and the block sizes come from the arch table
 * (gemm_kernel.h), chosen by fm_arch_selected(). A caller that multiplies
 * by the same B many times may pack it once in advance (gemm_prepacked.h,
 * at the end of this file); the loops then skip B's packing. They can also
 * write C in that packed layout, for a gradient that is kept beside the
 * packed weights it updates.
 *
 * The loops are written once for both element types: the few places here
 * that must know the type (the epilogue, the fallbacks) are reached through
 * a small table of per-type functions.
 *
 * Threads: one OpenMP region per call; each thread computes its own block
 * of C with its own packed copies, so no thread waits for another until the
 * region ends (softmax excepted: it needs whole rows). Each C element is
 * computed by one thread, summing over K in the same blocks in the same
 * order whatever the thread count, so the result does not depend on it (M
 * and N are split, never K).
 */
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "arch_pick.h"
#include "elementwise.h"
#include "fastmlp.h"
#include "gemm_kernel.h"
#include "gemm_prepacked.h"
#include "parallel.h"

/* With a direct kernel, A is read in place (not packed) when C's block is
 * at most this many NR panels wide, and a row-major B when the block is at
 * most this many MR panels tall (unless the blocking says direct_a_only).
 * Measured on the MLP shapes and 1024^3: reading in place wins up to +45%
 * on 128x10x128 and +12% on 128x256x784, and loses up to 18% on large
 * squares (power-of-two rows crowd the caches' sets), where packing is a
 * small share anyway. (The training loop's and predict's forward GEMMs
 * take their B packed in advance instead: gemm_prepacked.h.) */
#ifndef FM_GEMM_DIRECT_A
#define FM_GEMM_DIRECT_A 4
#endif
#ifndef FM_GEMM_DIRECT_B
#define FM_GEMM_DIRECT_B 24
#endif

/* Below this many multiply-adds a GEMM runs on one thread: waking a second
 * thread costs more than it saves, and on a busy machine far more. Measured
 * on a 2-core Sapphire Rapids (see the commit that set it); OpenBLAS draws
 * the line at the same size. */
#ifndef FM_GEMM_SERIAL_FMAS
#define FM_GEMM_SERIAL_FMAS ((ptrdiff_t)1 << 18)
#endif

static ptrdiff_t min_pd(ptrdiff_t a, ptrdiff_t b) { return a < b ? a : b; }
static ptrdiff_t ceil_div(ptrdiff_t a, ptrdiff_t b) { return (a + b - 1) / b; }
static size_t round_up64(size_t x) { return (x + 63) & ~(size_t)63; }

/* ---- per-type leaves: the epilogue and the fallbacks -------------------- */

/* Add bias to each row of a rows x cols block and apply the elementwise
 * activation (fm_bias_act: one pass for relu and leaky_relu). Softmax needs
 * whole rows, so it is applied once they are done. */
#define DEFINE_EPILOGUE(T, NAME, BIAS_ACT)                                       \
    static void NAME(void *c, ptrdiff_t ldc, ptrdiff_t rows, ptrdiff_t cols,      \
                     const void *bias, int act, double slope)                    \
    {                                                                            \
        BIAS_ACT(act == FM_ACT_SOFTMAX ? FM_ACT_IDENTITY : act, (T)slope, rows,   \
                 cols, c, ldc, bias);                                            \
    }

/* C = beta * C on a rows x cols block; beta == 0 writes zeros unread. */
#define DEFINE_SCALE(T, NAME)                                                    \
    static void NAME(void *c_, ptrdiff_t ldc, ptrdiff_t rows, ptrdiff_t cols,     \
                     const void *beta_)                                          \
    {                                                                            \
        T *c = c_;                                                               \
        T beta = *(const T *)beta_;                                              \
        for (ptrdiff_t i = 0; i < rows; i++)                                     \
            for (ptrdiff_t j = 0; j < cols; j++)                                 \
                c[i * ldc + j] = beta == 0 ? (T)0 : beta * c[i * ldc + j];      \
    }

/* The unblocked triple loop, used only if the packing buffers cannot be
 * allocated: slow, but correct and allocation-free. */
#define DEFINE_NAIVE(T, NAME)                                                    \
    static void NAME(int ta, int tb, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k,       \
                     const void *alpha_, const void *a_, ptrdiff_t lda,          \
                     const void *b_, ptrdiff_t ldb, const void *beta_, void *c_,  \
                     ptrdiff_t ldc)                                              \
    {                                                                            \
        const T *a = a_, *b = b_;                                                \
        T *c = c_;                                                               \
        T alpha = *(const T *)alpha_, beta = *(const T *)beta_;                  \
        for (ptrdiff_t i = 0; i < m; i++)                                        \
            for (ptrdiff_t j = 0; j < n; j++) {                                  \
                T s = 0;                                                         \
                for (ptrdiff_t p = 0; p < k; p++)                                \
                    s += (ta ? a[p * lda + i] : a[i * lda + p]) *                \
                         (tb ? b[j * ldb + p] : b[p * ldb + j]);                 \
                T *cij = &c[i * ldc + j];                                        \
                *cij = beta == 0 ? alpha * s : alpha * s + beta * *cij;          \
            }                                                                    \
    }

/* The fallbacks' product over a prepacked B (gemm_prepacked.h): columns
 * [j0, j1) of C = A B, B k deep and of shape sh. */
#define DEFINE_NAIVE_PACKED(T, NAME)                                             \
    static void NAME(ptrdiff_t m, ptrdiff_t k, const void *a_, ptrdiff_t lda,     \
                     const void *packed_, fm_prepacked_shape sh, ptrdiff_t j0,    \
                     ptrdiff_t j1, void *c_, ptrdiff_t ldc)                      \
    {                                                                            \
        const T *a = a_, *packed = packed_;                                      \
        T *c = c_;                                                               \
        for (ptrdiff_t i = 0; i < m; i++)                                        \
            for (ptrdiff_t j = j0; j < j1; j++) {                                \
                T s = 0;                                                         \
                for (ptrdiff_t p = 0; p < k; p++)                                \
                    s += a[i * lda + p] * packed[fm_prepacked_at(sh, k, p, j)];  \
                c[i * ldc + j] = s;                                              \
            }                                                                    \
    }

/* Whether column 0 of a rows-tall block holds only finite values. */
#define DEFINE_COLUMN_FINITE(T, NAME)                                            \
    static int NAME(const void *c_, ptrdiff_t ldc, ptrdiff_t rows)                \
    {                                                                            \
        const T *c = c_;                                                         \
        int finite = 1;                                                          \
        for (ptrdiff_t i = 0; i < rows; i++)                                     \
            finite &= isfinite(c[i * ldc]) != 0;                                 \
        return finite;                                                           \
    }

DEFINE_COLUMN_FINITE(float, column_finite_f32)
DEFINE_COLUMN_FINITE(double, column_finite_f64)
DEFINE_EPILOGUE(float, epilogue_f32, fm_bias_act_f32)
DEFINE_EPILOGUE(double, epilogue_f64, fm_bias_act_f64)
DEFINE_SCALE(float, scale_f32)
DEFINE_SCALE(double, scale_f64)
DEFINE_NAIVE(float, naive_f32)
DEFINE_NAIVE(double, naive_f64)
DEFINE_NAIVE_PACKED(float, naive_packed_f32)
DEFINE_NAIVE_PACKED(double, naive_packed_f64)

static void softmax_rows_f32(void *c, ptrdiff_t ldc, ptrdiff_t rows, ptrdiff_t cols)
{
    fm_bias_act_f32(FM_ACT_SOFTMAX, 0.0f, rows, cols, c, ldc, NULL);
}

static void softmax_rows_f64(void *c, ptrdiff_t ldc, ptrdiff_t rows, ptrdiff_t cols)
{
    fm_bias_act_f64(FM_ACT_SOFTMAX, 0.0, rows, cols, c, ldc, NULL);
}

typedef struct {
    size_t size; /* bytes per element */
    const void *one, *zero;
    void (*epilogue)(void *, ptrdiff_t, ptrdiff_t, ptrdiff_t, const void *, int, double);
    void (*scale)(void *, ptrdiff_t, ptrdiff_t, ptrdiff_t, const void *);
    void (*softmax)(void *, ptrdiff_t, ptrdiff_t, ptrdiff_t);
    int (*column_finite)(const void *, ptrdiff_t, ptrdiff_t);
    void (*naive)(int, int, ptrdiff_t, ptrdiff_t, ptrdiff_t, const void *, const void *,
                  ptrdiff_t, const void *, ptrdiff_t, const void *, void *, ptrdiff_t);
    void (*naive_packed)(ptrdiff_t, ptrdiff_t, const void *, ptrdiff_t, const void *,
                         fm_prepacked_shape, ptrdiff_t, ptrdiff_t, void *, ptrdiff_t);
} type_ops;

static const float one_f32 = 1.0f, zero_f32 = 0.0f;
static const double one_f64 = 1.0, zero_f64 = 0.0;

static const type_ops ops_f32 = {sizeof(float), &one_f32, &zero_f32, epilogue_f32, scale_f32,
                                 softmax_rows_f32, column_finite_f32, naive_f32,
                                 naive_packed_f32};
static const type_ops ops_f64 = {sizeof(double), &one_f64, &zero_f64, epilogue_f64, scale_f64,
                                 softmax_rows_f64, column_finite_f64, naive_f64,
                                 naive_packed_f64};

/* The depth of the K blocks: near the arch's kc, but K cut into equal
 * blocks (784 = 3 x 262, not 3 x 256 + 16), since every block reloads and
 * stores each C tile once; rounded up to 8 so packed panels stay aligned. */
static ptrdiff_t depth_block(ptrdiff_t kc, ptrdiff_t k)
{
    ptrdiff_t blocks = (k + kc / 2) / kc;
    blocks = blocks > 1 ? blocks : 1;
    return min_pd((ceil_div(k, blocks) + 7) / 8 * 8, k);
}

/* The prepacked layout of a k x n B for this blocking (gemm_prepacked.h). */
static fm_prepacked_shape packed_shape(const fm_gemm_blocking *blk, ptrdiff_t k, ptrdiff_t n)
{
    fm_prepacked_shape sh = {blk->nr, depth_block(blk->kc, k), ceil_div(n, blk->nr) * blk->nr};
    return sh;
}

/* ---- the arch table ----------------------------------------------------- */

static const fm_gemm_arch *selected_arch(void)
{
    return fm_arch_pick(&fm_gemm_arch_generic, FM_IF_AVX2(&fm_gemm_arch_avx2),
                        FM_IF_AVX512(&fm_gemm_arch_avx512));
}

/* ---- packing buffers ---------------------------------------------------- */

/*
 * Cached workspaces, reused across calls: a fresh multi-megabyte buffer per
 * call would be mmap'ed and page-faulted every time, which costs as much as
 * a small GEMM. Slot 0 serves calls from outside any team; a thread of a
 * team (the training loop's) gets a slot of its own, so that each keeps its
 * buffer warm in its own cache. A caller takes a slot's block with an
 * atomic exchange; a concurrent caller finding it empty allocates its own,
 * and on return the last one back stays cached (the other is freed), so
 * nothing leaks.
 */
#define WS_HEADER 64 /* keeps the payload 64-byte aligned */
#define WS_SLOTS 16
static _Atomic(void *) ws_cache[WS_SLOTS];

static _Atomic(void *) *ws_slot(void)
{
#ifdef _OPENMP
    if (omp_in_parallel())
        return &ws_cache[1 + omp_get_thread_num() % (WS_SLOTS - 1)];
#endif
    return &ws_cache[0];
}

static atomic_int ws_refused; /* fm_refuse_gemm_workspaces */

void fm_refuse_gemm_workspaces(int refuse)
{
    atomic_store(&ws_refused, refuse != 0);
}

static char *ws_take(size_t need)
{
    if (atomic_load_explicit(&ws_refused, memory_order_relaxed))
        return NULL;
    void *block = atomic_exchange(ws_slot(), NULL);
    if (block != NULL && *(size_t *)block >= need)
        return (char *)block + WS_HEADER;
    free(block);
    block = aligned_alloc(64, round_up64(need + WS_HEADER));
    if (block == NULL)
        return NULL;
    *(size_t *)block = need;
    return (char *)block + WS_HEADER;
}

static void ws_give_back(char *payload)
{
    free(atomic_exchange(ws_slot(), (void *)(payload - WS_HEADER)));
}

/* ---- the blocked algorithm ---------------------------------------------- */

typedef struct {
    const type_ops *ops;
    const fm_gemm_blocking *blk;
    int trans_a, trans_b;
    ptrdiff_t m, n, k;
    const void *alpha, *beta;
    const char *a, *b;
    ptrdiff_t lda, ldb;
    char *c;
    ptrdiff_t ldc;
    const void *bias;
    int act;
    double slope;
    const char *prepacked; /* B packed whole (gemm_prepacked.h), or NULL */
    int a_in_place;        /* read full panels of A in place, whatever the width */
    int *nonfinite;        /* if not NULL: set to 1 if a sum of C's first column is NaN/inf */
    ptrdiff_t c_panel;     /* 0: C row-major; else C in NR-wide panels this far apart (rows
                            * ldc = NR apart within one): a prepacked layout's depth block.
                            * Only with no bias, identity, no nonfinite check: the row-panel
                            * epilogue and softmax address C row-major. */
} gemm_job;

/* The packing buffers of one thread, and the block sizes they were sized
 * for (the arch's, clipped to the problem). */
typedef struct {
    ptrdiff_t mc, kc, nc;
    char *packed_a; /* mc x kc */
    char *packed_b; /* kc x nc */
} gemm_buffers;

/* The block sizes for an m x n x k product (the arch's, clipped to the
 * problem; whole panels, since the packers fill a panel's padding too),
 * buffers not yet assigned. */
static gemm_buffers buffer_sizes(const fm_gemm_blocking *blk, ptrdiff_t m, ptrdiff_t n,
                                 ptrdiff_t k)
{
    gemm_buffers buf = {0};
    buf.kc = depth_block(blk->kc, k);
    buf.nc = min_pd(ceil_div(blk->nc, blk->nr), ceil_div(n, blk->nr)) * blk->nr;
    buf.mc = min_pd(ceil_div(blk->mc, blk->mr), ceil_div(m, blk->mr)) * blk->mr;
    return buf;
}

/* Where op(A)[i, p] and op(B)[p, j] are stored. */
static const void *a_at(const gemm_job *job, ptrdiff_t i, ptrdiff_t p)
{
    ptrdiff_t at = job->trans_a ? p * job->lda + i : i * job->lda + p;
    return job->a + (size_t)at * job->ops->size;
}

static const void *b_at(const gemm_job *job, ptrdiff_t p, ptrdiff_t j)
{
    ptrdiff_t at = job->trans_b ? j * job->ldb + p : p * job->ldb + j;
    return job->b + (size_t)at * job->ops->size;
}

/* The kernel for a tile of `rows` valid rows: the arch's smallest edge
 * kernel that covers them, else the main one. */
static fm_gemm_ukr tile_kernel(const fm_gemm_blocking *blk, int rows)
{
    for (int e = 0; e < FM_GEMM_EDGES; e++)
        if (blk->edge[e].kernel != NULL && rows <= blk->edge[e].mr)
            return blk->edge[e].kernel;
    return blk->kernel;
}

/*
 * The five loops over the block C[m0:m1, n0:n1]. The inner two keep one
 * MR x KC panel of A in L1 while the NR-wide panels of B stream from L2.
 * After the last K block of a row panel (MR x NC: 12 x 256 floats, 12 KiB,
 * for the MLP's widest layer), bias and activation are applied to it while
 * it is still in cache: one call per row panel rather than per tile.
 *
 * With a `direct` kernel, full panels are read straight from A and from a
 * row-major B instead of packed copies: the panel is reused from cache just
 * the same, and the copy (up to a sixth of the time of the MLP's GEMMs) is
 * saved. Edge panels and a transposed B are still packed, and so is every
 * B of a blocking that says direct_a_only.
 */
static void gemm_block(const gemm_job *job, const gemm_buffers *buf, ptrdiff_t m0,
                       ptrdiff_t m1, ptrdiff_t n0, ptrdiff_t n1)
{
    const type_ops *ops = job->ops;
    const fm_gemm_blocking *blk = job->blk;
    const size_t es = ops->size;
    const int mr = blk->mr, nr = blk->nr;
    const int has_epilogue = job->bias != NULL ||
                             (job->act != FM_ACT_IDENTITY && job->act != FM_ACT_SOFTMAX);
    /* A panel read in place pays off when few panels of the other operand
     * reuse it: then packing it costs as much as the products it feeds. */
    const int direct_a = blk->direct && (job->a_in_place || n1 - n0 <= FM_GEMM_DIRECT_A * nr);
    /* (not for the training loop's first-layer gradient, c_panel: read in
     * place, its B's rows 1 KiB apart crowd a few L1 sets) */
    const int direct_b = blk->direct && !blk->direct_a_only && !job->trans_b &&
                         job->prepacked == NULL && !job->c_panel &&
                         m1 - m0 <= FM_GEMM_DIRECT_B * mr;
    const ptrdiff_t n_pad = ceil_div(job->n, nr) * nr; /* of a prepacked B */
    const ptrdiff_t rs_a = job->trans_a ? 1 : job->lda, cs_a = job->trans_a ? job->lda : 1;

    for (ptrdiff_t jc = n0; jc < n1; jc += buf->nc) {
        ptrdiff_t nc = min_pd(buf->nc, n1 - jc);
        ptrdiff_t nc_full = direct_b ? nc / nr * nr : 0; /* read in place */
        for (ptrdiff_t pc = 0; pc < job->k; pc += buf->kc) {
            ptrdiff_t kc = min_pd(buf->kc, job->k - pc);
            const void *beta = pc == 0 ? job->beta : ops->one;
            int last = pc + kc == job->k;
            if (nc > nc_full && job->prepacked == NULL)
                blk->pack_b(!job->trans_b, b_at(job, pc, jc + nc_full), job->ldb,
                            nc - nc_full, kc, buf->packed_b + (size_t)(nc_full * kc) * es);
            for (ptrdiff_t ic = m0; ic < m1; ic += buf->mc) {
                ptrdiff_t mc = min_pd(buf->mc, m1 - ic);
                if (!direct_a)
                    blk->pack_a(job->trans_a, a_at(job, ic, pc), job->lda, mc, kc,
                                buf->packed_a);
                for (ptrdiff_t ir = 0; ir < mc; ir += mr) {
                    int rows = (int)min_pd(mr, mc - ir);
                    const fm_gemm_ukr kernel = tile_kernel(blk, rows);
                    const void *ap = buf->packed_a + (size_t)(ir * kc) * es;
                    ptrdiff_t ap_rs = 1, ap_cs = mr;
                    if (direct_a && rows == mr) {
                        ap = a_at(job, ic + ir, pc);
                        ap_rs = rs_a;
                        ap_cs = cs_a;
                    } else if (direct_a) {
                        ap = buf->packed_a;
                        blk->pack_a(job->trans_a, a_at(job, ic + ir, pc), job->lda, rows, kc,
                                    buf->packed_a);
                    }
                    for (ptrdiff_t jr = 0; jr < nc; jr += nr) {
                        int cols = (int)min_pd(nr, nc - jr);
                        ptrdiff_t i = ic + ir, j = jc + jr;
                        const void *bp;
                        ptrdiff_t bp_rs = nr;
                        if (job->prepacked != NULL) {
                            bp = job->prepacked + (size_t)(pc * n_pad + j * kc) * es;
                        } else if (jr < nc_full) {
                            bp = b_at(job, pc, j);
                            bp_rs = job->ldb;
                        } else {
                            bp = buf->packed_b + (size_t)(jr * kc) * es;
                        }
                        ptrdiff_t col_at = job->c_panel ? j / nr * job->c_panel : j;
                        char *ct = job->c + (size_t)(i * job->ldc + col_at) * es;
                        kernel(kc, job->alpha, ap, ap_rs, ap_cs, bp, bp_rs, beta, ct, job->ldc,
                               rows, cols);
                    }
                    char *panel = job->c + (size_t)((ic + ir) * job->ldc + jc) * es;
                    /* before bias and activation, which can make a NaN/inf finite */
                    if (last && jc == n0 && job->nonfinite != NULL &&
                        !ops->column_finite(panel, job->ldc, rows))
                        *job->nonfinite = 1;
                    if (last && has_epilogue) /* the row panel's tiles are done */
                        ops->epilogue(panel, job->ldc, rows, nc,
                                      job->bias ? (const char *)job->bias + jc * es : NULL,
                                      job->act, job->slope);
                }
            }
        }
    }
}

/*
 * How many of nt threads split M (the rest split N). Each thread computes
 * its own block of C with its own packed copies of the A rows and B columns
 * it needs, so threads never wait for each other inside a GEMM (a barrier
 * costs a whole time slice when the machine is busy). The grid minimises the
 * largest thread's multiply-adds plus its packing, a packed element costing
 * about as much as 8 multiply-adds.
 */
static int threads_over_m(const gemm_job *job, int nt)
{
    const fm_gemm_blocking *blk = job->blk;
    ptrdiff_t mpan = ceil_div(job->m, blk->mr), npan = ceil_div(job->n, blk->nr);
    int best = 1;
    double best_cost = -1;
    for (int tm = nt; tm >= 1; tm--) {
        if (nt % tm != 0)
            continue;
        double rows = (double)ceil_div(mpan, tm) * blk->mr;
        double cols = (double)ceil_div(npan, nt / tm) * blk->nr;
        double cost = rows * cols * job->k + 8.0 * job->k * (rows + cols);
        if (best_cost < 0 || cost < best_cost) {
            best = tm;
            best_cost = cost;
        }
    }
    return best;
}

/* Thread tid's block of C: whole MR / NR panels, so the tiles (and the
 * bits of every result) do not depend on the thread count. */
static void gemm_thread(const gemm_job *job, const gemm_buffers *buf, int tid, int nt)
{
    const int mr = job->blk->mr, nr = job->blk->nr;
    const int tm = threads_over_m(job, nt), tn = nt / tm;
    ptrdiff_t m0, m1, n0, n1;
    share_of(ceil_div(job->m, mr), tm, tid / tn, &m0, &m1);
    share_of(ceil_div(job->n, nr), tn, tid % tn, &n0, &n1);
    m0 *= mr;
    m1 = min_pd(m1 * mr, job->m);
    n0 *= nr;
    n1 = min_pd(n1 * nr, job->n);
    if (m1 > m0 && n1 > n0)
        gemm_block(job, buf, m0, m1, n0, n1);
}

/* Softmax over whole rows, once every tile of those rows is done. */
static void softmax_share(const gemm_job *job, int tid, int nt)
{
    ptrdiff_t r0, r1;
    share_of(job->m, nt, tid, &r0, &r1);
    if (r1 > r0)
        job->ops->softmax(job->c + (size_t)(r0 * job->ldc) * job->ops->size, job->ldc,
                          r1 - r0, job->n);
}

/* Bias, activation and softmax over all of C, for the paths that do not
 * go through the tiles. */
static void finish_whole(const type_ops *ops, ptrdiff_t m, ptrdiff_t n, void *c,
                         ptrdiff_t ldc, const void *bias, int act, double slope)
{
    ops->epilogue(c, ldc, m, n, bias, act, slope);
    if (act == FM_ACT_SOFTMAX)
        ops->softmax(c, ldc, m, n);
}

static int team_size(ptrdiff_t m, ptrdiff_t n, ptrdiff_t k)
{
    return m * n * k >= FM_GEMM_SERIAL_FMAS ? threads_available() : 1;
}

static void gemm_any(const type_ops *ops, const fm_gemm_blocking *blk, int trans_a,
                     int trans_b, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, const void *alpha,
                     int alpha_is_zero, const void *a, ptrdiff_t lda, const void *b,
                     ptrdiff_t ldb, const void *beta, void *c, ptrdiff_t ldc,
                     const void *bias, int act, double slope)
{
    if (m <= 0 || n <= 0)
        return;
    if (k <= 0 || alpha_is_zero) {
        /* no product: C = act(beta*C + bias); A and B unread, as in BLAS */
        ops->scale(c, ldc, m, n, beta);
        finish_whole(ops, m, n, c, ldc, bias, act, slope);
        return;
    }
    gemm_job job = {ops, blk, trans_a, trans_b, m, n, k, alpha, beta, a, b, lda, ldb,
                    c, ldc, bias, act, slope, NULL, 0, NULL, 0};
    int nt = team_size(m, n, k);

    /* Each thread's buffers, sized for the largest block any thread gets. */
    gemm_buffers buf = buffer_sizes(blk, m, n, k);
    size_t a_bytes = round_up64((size_t)(buf.mc * buf.kc) * ops->size);
    size_t b_bytes = round_up64((size_t)(buf.kc * buf.nc) * ops->size);
    char *ws = ws_take((size_t)nt * (a_bytes + b_bytes));
    if (ws == NULL) {
        ops->naive(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        finish_whole(ops, m, n, c, ldc, bias, act, slope);
        return;
    }

    if (nt == 1) {
        buf.packed_a = ws;
        buf.packed_b = ws + a_bytes;
        gemm_block(&job, &buf, 0, m, 0, n);
        if (act == FM_ACT_SOFTMAX)
            softmax_share(&job, 0, 1);
    } else {
        unsigned caller_mode = fp_mode_get();
#pragma omp parallel num_threads(nt)
        {
#ifdef _OPENMP
            int tid = omp_get_thread_num(), team = omp_get_num_threads();
#else
            int tid = 0, team = 1;
#endif
            unsigned own_mode = fp_mode_get();
            fp_mode_set(caller_mode);
            gemm_buffers mine = buf;
            mine.packed_a = ws + (size_t)tid * (a_bytes + b_bytes);
            mine.packed_b = mine.packed_a + a_bytes;
            gemm_thread(&job, &mine, tid, team);
            if (act == FM_ACT_SOFTMAX) {
                /* softmax needs whole rows, which other threads may share */
#pragma omp barrier
                softmax_share(&job, tid, team);
            }
            fp_mode_set(own_mode);
        }
    }
    ws_give_back(ws);
}

/* The arch's blocking for this width of C. */
static const fm_gemm_blocking *blocking(const fm_gemm_blocking *wide,
                                        const fm_gemm_blocking *narrow,
                                        const fm_gemm_blocking *narrow_t, int trans_a,
                                        ptrdiff_t n)
{
    if (trans_a && narrow_t->kernel != NULL && n <= narrow_t->nr)
        return narrow_t;
    return narrow->kernel != NULL && n <= narrow->nr ? narrow : wide;
}

/* The blocking fm_gemm uses for a C n wide, in float (f64 = 0) or double. */
static const fm_gemm_blocking *type_blocking(const fm_gemm_arch *arch, int f64, int trans_a,
                                             ptrdiff_t n)
{
    return f64 ? blocking(&arch->f64, &arch->f64_narrow, &arch->f64_narrow_t, trans_a, n)
               : blocking(&arch->f32, &arch->f32_narrow, &arch->f32_narrow_t, trans_a, n);
}

void fm_gemm_f32(int trans_a, int trans_b, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k,
                 float alpha, const float *a, ptrdiff_t lda, const float *b, ptrdiff_t ldb,
                 float beta, float *c, ptrdiff_t ldc, const float *bias, int act,
                 float slope)
{
    gemm_any(&ops_f32, type_blocking(selected_arch(), 0, trans_a, n), trans_a, trans_b, m, n, k,
             &alpha, alpha == 0, a, lda, b, ldb, &beta, c, ldc, bias, act, slope);
}

void fm_gemm_f64(int trans_a, int trans_b, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k,
                 double alpha, const double *a, ptrdiff_t lda, const double *b,
                 ptrdiff_t ldb, double beta, double *c, ptrdiff_t ldc, const double *bias,
                 int act, double slope)
{
    gemm_any(&ops_f64, type_blocking(selected_arch(), 1, trans_a, n), trans_a, trans_b, m, n, k,
             &alpha, alpha == 0, a, lda, b, ldb, &beta, c, ldc, bias, act, slope);
}

/* ---- a B packed once for many GEMMs (gemm_prepacked.h) ----------------- */

/* The blocking a GEMM with A not transposed uses for a B n wide. */
static const fm_gemm_blocking *prepacked_blocking(const fm_gemm_arch *arch, int f64,
                                                  ptrdiff_t n)
{
    return type_blocking(arch, f64, 0, n);
}

/* Rows [p0, p1) of B into the layout of the GEMM's own packed blocks
 * (fm_prepacked_shape), one run per panel and depth block, so the rows of
 * a block can be packed in pieces. */
static void prepack_rows(const type_ops *ops, const fm_gemm_blocking *blk, ptrdiff_t k,
                         ptrdiff_t n, const char *b, ptrdiff_t ldb, ptrdiff_t p0, ptrdiff_t p1,
                         char *packed)
{
    const size_t es = ops->size;
    const fm_prepacked_shape sh = packed_shape(blk, k, n);
    for (ptrdiff_t pc = p0 / sh.kc * sh.kc; pc < p1; pc += sh.kc) {
        ptrdiff_t r0 = p0 > pc ? p0 : pc, r1 = min_pd(p1, pc + sh.kc);
        for (ptrdiff_t j = 0; j < n; j += sh.nr)
            blk->pack_b(1, b + (size_t)(r0 * ldb + j) * es, ldb, min_pd(sh.nr, n - j), r1 - r0,
                        packed + (size_t)fm_prepacked_at(sh, k, r0, j) * es);
    }
}

static void gemm_prepacked(const type_ops *ops, const fm_gemm_blocking *blk, ptrdiff_t m,
                           ptrdiff_t n, ptrdiff_t k, const void *a, ptrdiff_t lda,
                           int a_in_place, const void *packed, ptrdiff_t j0, ptrdiff_t j1,
                           void *c, ptrdiff_t ldc, const void *bias, int act, double slope,
                           int *nonfinite)
{
    if (m <= 0 || j1 <= j0)
        return;
    /* C's and bias's column j0, for the paths that do not go through tiles */
    char *c_j0 = (char *)c + (size_t)j0 * ops->size;
    const char *bias_j0 = bias ? (const char *)bias + (size_t)j0 * ops->size : NULL;
    if (k <= 0) { /* no product: C = act(bias), as fm_gemm gives */
        ops->scale(c_j0, ldc, m, j1 - j0, ops->zero);
        finish_whole(ops, m, j1 - j0, c_j0, ldc, bias_j0, act, slope);
        return;
    }
    gemm_job job = {ops, blk, 0, 0, m, n, k, ops->one, ops->zero, a, NULL, lda, 0,
                    c, ldc, bias, act, slope, packed, a_in_place && blk->direct, nonfinite,
                    0};
    gemm_buffers buf = buffer_sizes(blk, m, n, k);
    char *ws = j0 % blk->nr == 0 ? ws_take(round_up64((size_t)(buf.mc * buf.kc) * ops->size))
                                 : NULL;
    if (ws == NULL) {
        /* no room to pack A (or columns off the panels): the slow way */
        ops->naive_packed(m, k, a, lda, packed, packed_shape(blk, k, n), j0, j1, c, ldc);
        if (nonfinite != NULL && !ops->column_finite(c_j0, ldc, m))
            *nonfinite = 1;
        finish_whole(ops, m, j1 - j0, c_j0, ldc, bias_j0, act, slope);
        return;
    }
    buf.packed_a = ws;
    gemm_block(&job, &buf, 0, m, j0, j1);
    ws_give_back(ws);
    if (act == FM_ACT_SOFTMAX)
        softmax_share(&job, 0, 1);
}

/* Columns [j0, j1) of C = op(A) B (j0 on a panel boundary), as rows
 * [r0, r0 + m) of a k_total x n matrix kept in the prepacked layout
 * (prepack_rows), on the calling thread: the training
 * loop's first-layer weight gradient, written where its optimizer state
 * lives. A row block of C never spans two depth blocks of the layout, so
 * the rows go in one piece per depth block they touch; each piece is an
 * ordinary GEMM whose tiles land in NR-wide panels. Each element is the
 * same sum as fm_gemm's with this blocking. Returns 0 if its packing
 * buffers could not be allocated (nothing written). */
static int gemm_to_prepacked(const type_ops *ops, const fm_gemm_blocking *blk, int trans_a,
                             ptrdiff_t m, ptrdiff_t n, ptrdiff_t j0, ptrdiff_t j1, ptrdiff_t k,
                             const char *a, ptrdiff_t lda, const char *b, ptrdiff_t ldb,
                             ptrdiff_t k_total, ptrdiff_t r0, char *packed)
{
    const size_t es = ops->size;
    const fm_prepacked_shape sh = packed_shape(blk, k_total, n);
    gemm_buffers buf = buffer_sizes(blk, min_pd(m, sh.kc), j1 - j0, k);
    size_t a_bytes = round_up64((size_t)(buf.mc * buf.kc) * es);
    char *ws = ws_take(a_bytes + round_up64((size_t)(buf.kc * buf.nc) * es));
    if (ws == NULL)
        return 0;
    buf.packed_a = ws;
    buf.packed_b = ws + a_bytes;
    for (ptrdiff_t s0 = r0; s0 < r0 + m;) {
        ptrdiff_t pc = s0 / sh.kc * sh.kc, depth = min_pd(sh.kc, k_total - pc);
        ptrdiff_t s1 = min_pd(r0 + m, pc + depth);
        ptrdiff_t a_off = trans_a ? s0 - r0 : (s0 - r0) * lda;
        gemm_job job = {ops, blk, trans_a, 0, s1 - s0, n, k, ops->one, ops->zero,
                        a + (size_t)a_off * es, b, lda, ldb,
                        packed + (size_t)fm_prepacked_at(sh, k_total, s0, 0) * es, sh.nr,
                        NULL, FM_ACT_IDENTITY, 0.0, NULL, 0, NULL, sh.nr * depth};
        gemm_block(&job, &buf, 0, s1 - s0, j0, j1);
        s0 = s1;
    }
    ws_give_back(ws);
    return 1;
}

/* Rows [p0, p1) of a prepacked k x n matrix back into row-major b. */
static void unpack_rows(const type_ops *ops, const fm_gemm_blocking *blk, ptrdiff_t k,
                        ptrdiff_t n, const char *packed, ptrdiff_t p0, ptrdiff_t p1, char *b,
                        ptrdiff_t ldb)
{
    const size_t es = ops->size;
    const fm_prepacked_shape sh = packed_shape(blk, k, n);
    for (ptrdiff_t p = p0; p < p1; p++)
        for (ptrdiff_t j = 0; j < n; j += sh.nr)
            memcpy(b + (size_t)(p * ldb + j) * es,
                   packed + (size_t)fm_prepacked_at(sh, k, p, j) * es,
                   (size_t)min_pd(sh.nr, n - j) * es);
}

#define DEFINE_PREPACKED_API(T, SFX, F64)                                              \
    size_t fm_prepacked_size_##SFX(ptrdiff_t k, ptrdiff_t n)                           \
    {                                                                                  \
        fm_prepacked_shape sh = fm_prepacked_shape_##SFX(k, n);                        \
        return (size_t)(k * sh.n_pad);                                                 \
    }                                                                                  \
    ptrdiff_t fm_prepacked_align_##SFX(ptrdiff_t n)                                    \
    {                                                                                  \
        return prepacked_blocking(selected_arch(), F64, n)->nr;                        \
    }                                                                                  \
    void fm_prepack_rows_##SFX(ptrdiff_t k, ptrdiff_t n, const T *b, ptrdiff_t ldb,      \
                               ptrdiff_t p0, ptrdiff_t p1, T *packed)                  \
    {                                                                                  \
        prepack_rows(&ops_##SFX, prepacked_blocking(selected_arch(), F64, n), k, n,     \
                     (const char *)b, ldb, p0, p1, (char *)packed);                    \
    }                                                                                  \
    fm_prepacked_shape fm_prepacked_shape_##SFX(ptrdiff_t k, ptrdiff_t n)                \
    {                                                                                  \
        return packed_shape(prepacked_blocking(selected_arch(), F64, n), k, n);          \
    }                                                                                  \
    int fm_gemm_to_prepacked_ok_##SFX(int trans_a, ptrdiff_t n)                          \
    {                                                                                  \
        const fm_gemm_arch *arch = selected_arch();                                    \
        /* fm_gemm's own blocking for this product, or the bits could differ */       \
        return prepacked_blocking(arch, F64, n) == type_blocking(arch, F64, trans_a, n); \
    }                                                                                  \
    int fm_gemm_to_prepacked_##SFX(int trans_a, ptrdiff_t m, ptrdiff_t n, ptrdiff_t j0,  \
                                   ptrdiff_t j1, ptrdiff_t k, const T *a, ptrdiff_t lda,  \
                                   const T *b, ptrdiff_t ldb, ptrdiff_t k_total,          \
                                   ptrdiff_t r0, T *packed)                             \
    {                                                                                  \
        const fm_gemm_arch *arch = selected_arch();                                    \
        const fm_gemm_blocking *blk = prepacked_blocking(arch, F64, n);                \
        if (k <= 0 || j0 % blk->nr != 0 || blk != type_blocking(arch, F64, trans_a, n))  \
            return 0;                                                                  \
        if (m <= 0 || j1 <= j0)                                                        \
            return 1;                                                                  \
        return gemm_to_prepacked(&ops_##SFX, blk, trans_a, m, n, j0, j1, k,              \
                                 (const char *)a, lda, (const char *)b, ldb, k_total, r0, \
                                 (char *)packed);                                      \
    }                                                                                  \
    void fm_unpack_rows_##SFX(ptrdiff_t k, ptrdiff_t n, const T *packed, ptrdiff_t p0,   \
                              ptrdiff_t p1, T *b, ptrdiff_t ldb)                       \
    {                                                                                  \
        unpack_rows(&ops_##SFX, prepacked_blocking(selected_arch(), F64, n), k, n,      \
                    (const char *)packed, p0, p1, (char *)b, ldb);                     \
    }                                                                                  \
    void fm_gemm_prepacked_##SFX(ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, const T *a,      \
                                 ptrdiff_t lda, int a_in_place, const T *packed,         \
                                 ptrdiff_t j0, ptrdiff_t j1, T *c, ptrdiff_t ldc,         \
                                 const T *bias, int act, T slope, int *nonfinite)      \
    {                                                                                  \
        gemm_prepacked(&ops_##SFX, prepacked_blocking(selected_arch(), F64, n), m, n, k, \
                       a, lda, a_in_place, packed, j0, j1, c, ldc, bias, act, slope,    \
                       nonfinite);                                                     \
    }

DEFINE_PREPACKED_API(float, f32, 0)
DEFINE_PREPACKED_API(double, f64, 1)
