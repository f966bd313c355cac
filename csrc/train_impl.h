/* train_impl.h - the bodies of fm_train_steps and fm_predict, instantiated
 * by train.c once for float (T=float, SFX=f32) and once for double. Not a
 * public header.
 *
 * A training step here computes every element as the kernel calls model.py
 * makes through the op contract with the C backend, so the two paths give
 * bit-identical weights; this one skips Python between the calls and splits
 * the work among a team of threads (see train.c). */

#define FN(name) FM_CAT(name, SFX)

/* Rows idx[0..n) of src (width cols) into dst; plain copy when idx is NULL. */
static void FN(gather_rows)(T *dst, const T *src, ptrdiff_t cols, const int64_t *idx,
                            ptrdiff_t start, ptrdiff_t n)
{
    for (ptrdiff_t i = 0; i < n; i++)
        memcpy(dst + i * cols, src + sample_at(idx, start + i) * cols,
               (size_t)cols * sizeof(T));
}

/* The fm_x_type of an x that holds T already. */
static int FN(own_x_type)(void)
{
    return sizeof(T) == sizeof(float) ? FM_X_F32 : FM_X_F64;
}

/* Rows order[start..start+n) of the training input x (cols wide, of
 * x_type) into dst as T: copied when x holds T already, else each element
 * cast as NumPy's astype casts it (a C conversion, in the caller's rounding
 * mode), so the caller need not convert all of x first. */
static void FN(gather_x)(T *dst, const void *x, int x_type, ptrdiff_t cols,
                         const int64_t *order, ptrdiff_t start, ptrdiff_t n)
{
    if (x_type == FN(own_x_type)()) {
        FN(gather_rows)(dst, (const T *)x, cols, order, start, n);
        return;
    }
    const size_t row_bytes = (size_t)cols * x_elem_bytes(x_type);
    for (ptrdiff_t i = 0; i < n; i++) {
        const char *src = (const char *)x + (size_t)sample_at(order, start + i) * row_bytes;
        T *d = dst + i * cols;
        if (x_type == FM_X_F64) {
            const double *s = (const double *)(const void *)src;
            for (ptrdiff_t j = 0; j < cols; j++)
                d[j] = (T)s[j];
        } else if (x_type == FM_X_F32) {
            const float *s = (const float *)(const void *)src;
            for (ptrdiff_t j = 0; j < cols; j++)
                d[j] = (T)s[j];
        } else {
            const uint8_t *s = (const uint8_t *)src;
            for (ptrdiff_t j = 0; j < cols; j++)
                d[j] = (T)s[j];
        }
    }
}

static ptrdiff_t FN(argmax_row)(const T *row, ptrdiff_t cols)
{
    ptrdiff_t best = 0;
    for (ptrdiff_t j = 1; j < cols; j++)
        if (row[j] > row[best])
            best = j;
    return best;
}

/* The batch value of one metric, as metrics.py computes it. */
static double FN(metric_value)(int metric, const T *out, const T *t, const int64_t *labels,
                               ptrdiff_t rows, ptrdiff_t cols)
{
    ptrdiff_t hits = 0, size = rows * cols;
    double sum = 0.0;
    switch (metric) {
    case FM_METRIC_SPARSE_ACCURACY:
        for (ptrdiff_t i = 0; i < rows; i++)
            hits += FN(argmax_row)(out + i * cols, cols) == (ptrdiff_t)labels[i];
        return (double)hits / (double)rows;
    case FM_METRIC_CATEGORICAL_ACCURACY:
        for (ptrdiff_t i = 0; i < rows; i++)
            hits += FN(argmax_row)(out + i * cols, cols) == FN(argmax_row)(t + i * cols, cols);
        return (double)hits / (double)rows;
    case FM_METRIC_BINARY_ACCURACY:
        for (ptrdiff_t i = 0; i < size; i++)
            hits += (T)(out[i] > (T)0.5) == t[i];
        return (double)hits / (double)size;
    case FM_METRIC_MAE:
        for (ptrdiff_t i = 0; i < size; i++)
            sum += fabs((double)(T)(out[i] - t[i]));
        return sum / (double)size;
    case FM_METRIC_MSE:
        for (ptrdiff_t i = 0; i < size; i++) {
            T d = out[i] - t[i];
            sum += (double)(T)(d * d);
        }
        return sum / (double)size;
    default:
        return NAN;
    }
}

/* Elements of T before the int64 label block: every buffer above, rounded
 * up so the labels are 8-byte aligned. After the labels come the double
 * item losses (one per row, or per element for elementwise losses). */
static ptrdiff_t FN(labels_offset)(const fm_mlp *net, ptrdiff_t batch)
{
    const ptrdiff_t *d = net->dims;
    ptrdiff_t off = batch * d[0] + 2 * batch * d[net->n_layers];
    if (net->loss == FM_LOSS_SOFTMAX_XENT_SPARSE)
        off -= batch * d[net->n_layers]; /* no float target block */
    for (int i = 0; i < net->n_layers; i++)
        off += 2 * batch * d[i + 1];
    ptrdiff_t per = (ptrdiff_t)(sizeof(int64_t) / sizeof(T));
    return (off + per - 1) / per * per;
}

/* Elements of layer i's kernel packed for the forward GEMM
 * (gemm_prepacked.h), rounded up to whole cache lines. */
static size_t FN(packed_kernel_elems)(const fm_mlp *net, int i)
{
    const size_t line = 64 / sizeof(T);
    return (FN(fm_prepacked_size)(net->dims[i], net->dims[i + 1]) + line - 1) / line * line;
}

static size_t FN(packed_kernels_elems)(const fm_mlp *net)
{
    size_t total = 0;
    for (int i = 0; i < net->n_layers; i++)
        total += FN(packed_kernel_elems)(net, i);
    return total;
}

/* Point packed[i] at layer i's packed kernel, from `at` (64-byte aligned
 * or not) on; returns the end. */
static char *FN(carve_packed)(const fm_mlp *net, char *at, T **packed)
{
    T *p = (T *)(void *)(((uintptr_t)at + 63) & ~(uintptr_t)63);
    for (int i = 0; i < net->n_layers; i++) {
        packed[i] = p;
        p += FN(packed_kernel_elems)(net, i);
    }
    return (char *)p;
}

/* Thread tid of nt's rows of every layer's kernel into its packed copy
 * (training's first step and predict; a barrier must follow before any
 * thread reads another's rows). */
static void FN(pack_kernels_share)(const fm_mlp *net, const T *params, T *const *packed,
                                   int tid, int nt)
{
    ptrdiff_t w_off[FM_MAX_LAYERS], b_off[FM_MAX_LAYERS];
    layer_offsets(net, w_off, b_off);
    for (int i = 0; i < net->n_layers; i++) {
        ptrdiff_t f0, f1;
        share_of(net->dims[i], nt, tid, &f0, &f1);
        if (f1 > f0 && packed[i] != NULL)
            FN(fm_prepack_rows)(net->dims[i], net->dims[i + 1], params + w_off[i],
                                net->dims[i + 1], f0, f1, packed[i]);
    }
}

/* A first layer with fewer weights than this keeps its gradient and state
 * row-major: the packed path costs a few calls more a step, which a small
 * kernel's packing does not repay (8-64-64-1 regression, batch 32, one
 * thread: 13.35-13.94 us a step packed, 13.22-13.71 not). Larger ones gain:
 * the 784-256-128-10 MLP on one thread, batch 32, 0.684 s/epoch against
 * 0.798; batch 128, 0.490 against 0.506. */
#define FM_FIRST_PACKED_MIN 4096

/* Whether the first layer's gradient and optimizer state are kept in its
 * packed kernel's layout during fm_train_steps (see update_first_block):
 * whenever the weight-gradient GEMM can write that layout, for all but
 * small kernels. */
static int FN(first_kept_packed)(const fm_mlp *net)
{
    return net->dims[0] * net->dims[1] >= FM_FIRST_PACKED_MIN &&
           FN(fm_gemm_to_prepacked_ok)(1, net->dims[1]);
}

/* The first layer's packed gradient, slot 1 and slot 2 start 1, 2 and 3
 * KiB past the packed kernel modulo 4 KiB (see carve). */
#define FM_FIRST_STAGGER 1024

/* Bytes of the first layer's packed gradient and slots, staggered. */
static size_t FN(first_state_bytes)(const fm_mlp *net)
{
    return FN(first_kept_packed)(net)
               ? 3 * (FN(packed_kernel_elems)(net, 0) * sizeof(T) + 4 * FM_FIRST_STAGGER)
               : 0;
}

size_t FN(fm_train_work_bytes)(const fm_mlp *net, ptrdiff_t batch)
{
    return (size_t)FN(labels_offset)(net, batch) * sizeof(T) + (size_t)batch * sizeof(int64_t) +
           (size_t)(batch * net->dims[net->n_layers]) * sizeof(double) + 64 +
           FN(packed_kernels_elems)(net) * sizeof(T) + FN(first_state_bytes)(net);
}

/* One fm_train_steps call: its arguments, and where each buffer and each
 * layer's parameters sit. Every thread of the team reads the same one. */
typedef struct {
    const fm_mlp *net;
    const void *x; /* of x_type */
    int x_type;
    const T *y;
    const int64_t *labels, *order;
    ptrdiff_t rows, batch;
    T *params, *grads, *slot1, *slot2;
    T *xb, *tb, *logits; /* minibatch inputs, float targets, fused logits */
    int64_t *lb;         /* minibatch labels (sparse loss) */
    double *item_loss;
    T *outs[FM_MAX_LAYERS], *deltas[FM_MAX_LAYERS];
    /* each layer's kernel packed for the forward GEMM, or NULL: read in
     * place (see read_small_kernels_in_place) */
    T *packed[FM_MAX_LAYERS];
    /* The first layer's gradient and optimizer state in packed[0]'s layout
     * (NULL: kept row-major; a slot also when the optimizer has none). */
    T *first_grad, *first_s1, *first_s2;
    ptrdiff_t w_off[FM_MAX_LAYERS], b_off[FM_MAX_LAYERS]; /* b_off < 0: no bias */
} FN(train_ctx);

/* Carve the workspace: x batch, target batch, then per layer an output and
 * a delta block, the fused logits, the labels, the item losses and (from
 * the next 64-byte boundary: fm_train_work_bytes adds 64 for it) the
 * packed kernels and the first layer's packed state. */
static void FN(carve)(FN(train_ctx) *c, T *work)
{
    const fm_mlp *net = c->net;
    const ptrdiff_t *d = net->dims, batch = c->batch;
    const int L = net->n_layers;
    c->xb = work;
    c->tb = c->xb + batch * d[0];
    T *p = c->tb + (net->loss == FM_LOSS_SOFTMAX_XENT_SPARSE ? 0 : batch * d[L]);
    for (int i = 0; i < L; i++) {
        c->outs[i] = p;
        c->deltas[i] = p + batch * d[i + 1];
        p += 2 * batch * d[i + 1];
    }
    layer_offsets(net, c->w_off, c->b_off);
    c->logits = p;
    c->lb = (int64_t *)(void *)(work + FN(labels_offset)(net, batch));
    c->item_loss = (double *)(void *)(c->lb + batch);
    char *end = FN(carve_packed)(net, (char *)(c->item_loss + batch * d[L]), c->packed);
    if (FN(first_kept_packed)(net)) {
        /* The optimizer streams the kernel, gradient and slots side by side:
         * at equal offsets modulo 4 KiB, its stores to one would stall its
         * loads from the others (4K aliasing), Adam then ran 40% slower. */
        T *state[3];
        for (int q = 0; q < 3; q++) {
            uintptr_t from = (uintptr_t)c->packed[0], at = (uintptr_t)end;
            at += ((from + (uintptr_t)(q + 1) * FM_FIRST_STAGGER - at) % (4 * FM_FIRST_STAGGER));
            state[q] = (T *)(void *)at;
            end = (char *)(state[q] + FN(packed_kernel_elems)(net, 0));
        }
        c->first_grad = state[0];
        c->first_s1 = c->slot1 ? state[1] : NULL;
        c->first_s2 = c->slot2 ? state[2] : NULL;
    }
}

/* Thread tid's rows of the first layer's gradient and optimizer state into
 * their packed copies (to_packed), or back with its kernel rows too: the
 * copies are the ones updated during fm_train_steps, so the caller's
 * buffers are brought up to date before it returns. */
static void FN(first_state_share)(const FN(train_ctx) *c, int to_packed, int tid, int nt)
{
    const ptrdiff_t *d = c->net->dims, w0 = c->w_off[0];
    T *flat[3] = {c->grads + w0, c->slot1 ? c->slot1 + w0 : NULL,
                  c->slot2 ? c->slot2 + w0 : NULL};
    T *packed[3] = {c->first_grad, c->first_s1, c->first_s2};
    ptrdiff_t f0, f1;
    share_of(d[0], nt, tid, &f0, &f1);
    for (int q = 0; q < 3; q++) {
        if (packed[q] == NULL)
            continue;
        if (to_packed)
            FN(fm_prepack_rows)(d[0], d[1], flat[q], d[1], f0, f1, packed[q]);
        else
            FN(fm_unpack_rows)(d[0], d[1], packed[q], f0, f1, flat[q], d[1]);
    }
    if (!to_packed)
        FN(fm_unpack_rows)(d[0], d[1], c->packed[0], f0, f1, c->params + w0, d[1]);
}

/* Rows [f0, f1) of layer i's kernel into its packed copy. */
static void FN(pack_kernel_rows)(const FN(train_ctx) *c, int i, ptrdiff_t f0, ptrdiff_t f1)
{
    const ptrdiff_t *d = c->net->dims;
    if (f1 > f0 && c->packed[i] != NULL)
        FN(fm_prepack_rows)(d[i], d[i + 1], c->params + c->w_off[i], d[i + 1], f0, f1,
                            c->packed[i]);
}

/* A team of one reads kernels of at most this many bytes where the
 * optimizer left them instead of packing them after every update: the
 * packed copy saves nothing on a kernel that sits in L1 beside its A
 * panel, and no other core wrote it. 8-64-64-1 regression, batch 32, every
 * kernel in place or every kernel packed, alternated in one process (100
 * epochs each, two runs): best 14.23-14.26 us a step against 14.67-14.77,
 * median 14.87-15.28 against 15.30-15.89. */
#define FM_IN_PLACE_MAX_BYTES (16 * 1024)

/* For a team of one, drop the packed copy (packed[i] = NULL) of each small
 * kernel the optimizer keeps row-major. fm_gemm on the row-major kernel and
 * fm_gemm_prepacked on its packed copy give the same bits (gemm_prepacked.h). */
static void FN(read_small_kernels_in_place)(FN(train_ctx) *c, int nt)
{
    const ptrdiff_t *d = c->net->dims;
    if (nt != 1)
        return;
    for (int i = 0; i < c->net->n_layers; i++)
        if (!(i == 0 && c->first_grad != NULL) &&
            (size_t)(d[i] * d[i + 1]) * sizeof(T) <= FM_IN_PLACE_MAX_BYTES)
            c->packed[i] = NULL;
}

/* Rows [r0, r1) of a minibatch of n rows starting at `start` in the
 * epoch's order, into the minibatch buffers. */
static void FN(gather_share)(const FN(train_ctx) *c, ptrdiff_t start, ptrdiff_t r0,
                             ptrdiff_t r1)
{
    const ptrdiff_t *d = c->net->dims;
    const int L = c->net->n_layers;
    FN(gather_x)(c->xb + r0 * d[0], c->x, c->x_type, d[0], c->order, start + r0, r1 - r0);
    if (c->net->loss == FM_LOSS_SOFTMAX_XENT_SPARSE)
        for (ptrdiff_t i = r0; i < r1; i++)
            c->lb[i] = c->labels[sample_at(c->order, start + i)];
    else
        FN(gather_rows)(c->tb + r0 * d[L], c->y, d[L], c->order, start + r0, r1 - r0);
}

/* Below this many rows per thread, the first layer's forward is split by
 * columns (each thread reads half its kernel) rather than by rows (each
 * reads all of it for a few rows), at the cost of two more barriers a
 * step. Fashion-MNIST, 2 threads, s/epoch by rows / by columns, 3 rounds:
 * batch 32 0.535-0.551 / 0.482-0.519; batch 128 0.296-0.298 / 0.291-0.303;
 * batch 512 0.234-0.235 / 0.238-0.241. When the first layer's state is kept
 * packed, the same split decides who updates which part of it (see
 * update_first_block), which moved the line no further: by columns won at
 * 16, 32 and 48 rows a thread and lost at 64 and 256. */
#define FM_COLUMN_SPLIT_ROWS 64

/* Whether the first layer's forward is split by columns: not when it is
 * also the top layer or a softmax (both need whole rows). */
static int FN(first_by_columns)(const fm_mlp *net, ptrdiff_t batch, int nt)
{
    return nt > 1 && net->n_layers >= 2 && net->act[0] != FM_ACT_SOFTMAX &&
           batch / nt < FM_COLUMN_SPLIT_ROWS;
}

/* Layer i forward (one fused GEMM + bias + activation) for rows [r0, r0 +
 * nr) and output columns [k0, k1), from the input rows at `a`. The top
 * layer of a fused loss gives logits and, for the metrics, their
 * activation (which needs whole rows: the top layer always gets them). */
static void FN(layer_forward)(const FN(train_ctx) *c, int i, const T *a, ptrdiff_t r0,
                              ptrdiff_t nr, ptrdiff_t k0, ptrdiff_t k1)
{
    const fm_mlp *net = c->net;
    const ptrdiff_t *d = net->dims, w = d[i + 1];
    const int top_logits = i == net->n_layers - 1 && net->fused;
    const T slope = (T)net->slope;
    T *z = (top_logits ? c->logits : c->outs[i]) + r0 * w;
    const T *bias = c->b_off[i] >= 0 ? c->params + c->b_off[i] : NULL;
    if (nr <= 0 || k1 <= k0)
        return;
    const int act = top_logits ? FM_ACT_IDENTITY : net->act[i];
    if (c->packed[i] == NULL) /* a team of one: all columns, k0 = 0, k1 = w */
        FN(fm_gemm)(0, 0, nr, w, d[i], (T)1, a, d[i], c->params + c->w_off[i], w, (T)0, z, w,
                    bias, act, slope);
    else
        FN(fm_gemm_prepacked)(nr, w, d[i], a, d[i], 0, c->packed[i], k0, k1, z, w, bias, act,
                              slope, NULL);
    if (top_logits && net->n_metrics > 0)
        FN(fm_act_forward)(net->act[i], slope, nr, w, z, c->outs[i] + r0 * w);
}

/*
 * Rows [r0, r1) of a minibatch of n rows, gathered, and with layers before
 * `first` already done: the remaining layers forward, the loss gradient,
 * and the backward pass as far as rows stay independent (activation
 * derivatives and input gradients). Nothing here reads another thread's
 * rows, so a team runs it without waiting; the GEMMs see only these rows,
 * which gives the same bits as the whole batch (each C element's sum does
 * not depend on M).
 */
static void FN(rows_pass)(const FN(train_ctx) *c, ptrdiff_t n, ptrdiff_t r0, ptrdiff_t r1,
                          int first)
{
    const fm_mlp *net = c->net;
    const ptrdiff_t *d = net->dims, nr = r1 - r0;
    const int L = net->n_layers;
    const T slope = (T)net->slope;
    if (nr <= 0)
        return;

    /* forward, layer by layer */
    for (int i = first; i < L; i++)
        FN(layer_forward)(c, i, i ? c->outs[i - 1] + r0 * d[i] : c->xb + r0 * d[0], r0, nr, 0,
                          d[i + 1]);

    /* d(loss)/d(top) for these rows, and their item losses */
    FN(fm_loss_rows)(net->loss, n, d[L], net->fused ? c->logits : c->outs[L - 1], c->tb, c->lb,
                     c->deltas[L - 1], r0, r1, c->item_loss);

    /* backward within the rows, with the weights as they were in forward */
    for (int i = L - 1; i >= 0; i--) {
        T *dy = c->deltas[i] + r0 * d[i + 1];
        if (!(i == L - 1 && net->fused) && net->act[i] != FM_ACT_IDENTITY)
            FN(fm_act_backward)(net->act[i], slope, nr, d[i + 1], dy,
                                c->outs[i] + r0 * d[i + 1], dy);
        if (i > 0)
            FN(fm_gemm)(0, 1, nr, d[i], d[i + 1], (T)1, dy, d[i + 1], c->params + c->w_off[i],
                        d[i + 1], (T)0, c->deltas[i - 1] + r0 * d[i], d[i], NULL,
                        FM_ACT_IDENTITY, (T)0);
    }
}

/* Rows [f0, f1) x columns [k0, k1) of the first layer's weight gradient,
 * by way of its row-major buffer, into its packed copy: for when the GEMM
 * cannot write the packed layout itself (no memory for its buffers). For
 * k1 - k0 columns fm_gemm may pick a narrower kernel than for the whole
 * layer; every kernel sums each element in the same order over the same
 * depth blocks (gemm_kernel.h), so the bits are the same. */
static void FN(first_grad_fallback)(const FN(train_ctx) *c, ptrdiff_t n, ptrdiff_t f0,
                                    ptrdiff_t f1, ptrdiff_t k0, ptrdiff_t k1)
{
    const ptrdiff_t *d = c->net->dims;
    const fm_prepacked_shape sh = FN(fm_prepacked_shape)(d[0], d[1]);
    T *g = c->grads + c->w_off[0];
    FN(fm_gemm)(1, 0, f1 - f0, k1 - k0, n, (T)1, c->xb + f0, d[0], c->deltas[0] + k0, d[1],
                (T)0, g + f0 * d[1] + k0, d[1], NULL, FM_ACT_IDENTITY, (T)0);
    for (ptrdiff_t p = f0; p < f1; p++)
        for (ptrdiff_t j = k0; j < k1; j++)
            c->first_grad[fm_prepacked_at(sh, d[0], p, j)] = g[p * d[1] + j];
}

/*
 * Rows [f0, f1) x columns [k0, k1) (k0 on a panel boundary) of the first
 * layer's weight gradient and their update, all in its packed kernel's
 * layout: the GEMM writes the gradient's tiles into the panels, and the
 * optimizer (elementwise, so layout-blind) runs over one contiguous run per
 * panel and depth block, padding lanes included: they stay 0 (NaN if
 * epsilon is 0 in T or flushed as a subnormal), and no GEMM stores them or
 * any result it stores reads them. The next forward then
 * reads the updated kernel where it is, with no packing pass, and the
 * row-major kernel and state are not touched until fm_train_steps ends.
 *
 * By rows (each thread a share of the inputs, all columns): the pack took
 * 28-33 us of a thread's ~600 us batch-128 step, but about half of that now
 * goes to the optimizer, whose stores must take back the lines the other
 * thread's forward read. By columns, when the forward is split so (under
 * FM_COLUMN_SPLIT_ROWS rows a thread): each thread then updates the very
 * panels its forward reads, and nothing of the kernel crosses cores.
 * Epochs of the 784-256-128-10 MLP, 2 threads, alternated in one process
 * (medians of 8-12), against re-packing after a row-major update: batch 32
 * 0.439 s against 0.501, batch 64 0.349 against 0.357 (by columns), batch
 * 128 0.307 against 0.311 and batch 512 0.250 against 0.249 (by rows).
 * Owning columns at batch 128 and 512 measured 3% and 19% slower: the
 * gradient then needs every row of the batch, half of them the other's.
 */
static void FN(update_first_block)(const FN(train_ctx) *c, ptrdiff_t n,
                                   const FN(fm_update) *update, ptrdiff_t f0, ptrdiff_t f1,
                                   ptrdiff_t k0, ptrdiff_t k1)
{
    const ptrdiff_t *d = c->net->dims;
    const fm_prepacked_shape sh = FN(fm_prepacked_shape)(d[0], d[1]);
    if (f1 <= f0 || k1 <= k0)
        return;
    if (!FN(fm_gemm_to_prepacked)(1, f1 - f0, d[1], k0, k1, n, c->xb + f0, d[0], c->deltas[0],
                                  d[1], d[0], f0, c->first_grad))
        FN(first_grad_fallback)(c, n, f0, f1, k0, k1);
    for (ptrdiff_t pc = f0 / sh.kc * sh.kc; pc < f1; pc += sh.kc) {
        ptrdiff_t r0 = f0 > pc ? f0 : pc, r1 = f1 < pc + sh.kc ? f1 : pc + sh.kc;
        for (ptrdiff_t j = k0; j < k1; j += sh.nr) {
            ptrdiff_t at = fm_prepacked_at(sh, d[0], r0, j);
            FN(fm_update_apply)(update, at, at + (r1 - r0) * sh.nr);
        }
    }
}

/*
 * Thread tid's share of the update, once every row's deltas are done: for
 * each layer, rows [f0, f1) of the weight gradient and columns [c0, c1) of
 * the bias gradient, each updated by the optimizer while still in cache;
 * for a first layer kept packed and split by columns, its columns [k0, k1)
 * of the kernel instead.
 * The optimizer is elementwise, so updating the buffer in pieces gives the
 * same bits as one call over all of it. (Updating each GEMM tile as it is
 * finished measured 8% slower an epoch: short rows, state not prefetched.)
 */
static void FN(update_share)(const FN(train_ctx) *c, ptrdiff_t n, int64_t step, int tid,
                             int nt, int by_columns, ptrdiff_t k0, ptrdiff_t k1)
{
    const fm_mlp *net = c->net;
    const ptrdiff_t *d = net->dims;
    FN(fm_update) update, first;
    FN(fm_update_init)(&update, net, c->params, c->grads, c->slot1, c->slot2, step);
    if (c->first_grad != NULL)
        FN(fm_update_init)(&first, net, c->packed[0], c->first_grad, c->first_s1, c->first_s2,
                           step);
    for (int i = 0; i < net->n_layers; i++) {
        const T *in = i ? c->outs[i - 1] : c->xb;
        ptrdiff_t f0, f1, c0, c1;
        share_of(d[i], nt, tid, &f0, &f1);
        if (i == 0 && c->first_grad != NULL) {
            if (by_columns) /* the columns the forward reads: k0, k1 in team_steps */
                FN(update_first_block)(c, n, &first, 0, d[0], k0, k1);
            else
                FN(update_first_block)(c, n, &first, f0, f1, 0, d[1]);
        } else if (f1 > f0) {
            ptrdiff_t off = c->w_off[i] + f0 * d[i + 1];
            FN(fm_gemm)(1, 0, f1 - f0, d[i + 1], n, (T)1, in + f0, d[i], c->deltas[i],
                        d[i + 1], (T)0, c->grads + off, d[i + 1], NULL, FM_ACT_IDENTITY, (T)0);
            FN(fm_update_apply)(&update, off, off + (f1 - f0) * d[i + 1]);
            FN(pack_kernel_rows)(c, i, f0, f1); /* for the next forward, while in cache */
        }
        if (c->b_off[i] < 0)
            continue;
        share_of(d[i + 1], nt, tid, &c0, &c1);
        if (c1 > c0) {
            FN(fm_column_sum_range)(n, d[i + 1], c->deltas[i], c0, c1, c->grads + c->b_off[i]);
            FN(fm_update_apply)(&update, c->b_off[i] + c0, c->b_off[i] + c1);
        }
    }
}

/* Ask for rows [r0, r1) of the minibatch starting at `start` to be brought
 * toward the cache. The gather waits on memory for every row (rows are
 * shuffled, 3 KiB each for 28x28 images): fetched during the previous
 * step's update, they are there when it copies them. */
static void FN(prefetch_share)(const FN(train_ctx) *c, ptrdiff_t start, ptrdiff_t r0,
                               ptrdiff_t r1)
{
    const size_t row_bytes = (size_t)c->net->dims[0] * x_elem_bytes(c->x_type);
    for (ptrdiff_t i = r0; i < r1; i++) {
        const char *row = (const char *)c->x + (size_t)sample_at(c->order, start + i) * row_bytes;
        for (size_t off = 0; off < row_bytes; off += 64)
            __builtin_prefetch(row + off, 0, 2);
    }
}

/* Rows of the minibatch starting at `start`: batch, or fewer for the last. */
static ptrdiff_t FN(step_rows)(const FN(train_ctx) *c, ptrdiff_t start)
{
    return c->rows - start < c->batch ? c->rows - start : c->batch;
}

/* Wait for the team's other threads. A team of one does not wait: then
 * fm_train_steps may run inside a caller's own parallel region (as one
 * thread of it), and a barrier would bind to the caller's team. */
static void FN(team_barrier)(int nt)
{
    if (nt > 1) {
#pragma omp barrier
    }
}

/* Steps first_step .. first_step + n_steps - 1, as thread tid of nt. Two
 * barriers a step: after the row passes (the weight gradients need every
 * row) and after the update (the next forward needs every weight); two
 * more around a first layer split by columns. */
static ptrdiff_t FN(team_steps)(const FN(train_ctx) *c, ptrdiff_t first_step, ptrdiff_t n_steps,
                                int64_t iterations, double *step_loss, double *step_metrics,
                                int tid, int nt)
{
    const fm_mlp *net = c->net;
    const ptrdiff_t out_cols = net->dims[net->n_layers];
    const int by_columns = FN(first_by_columns)(net, c->batch, nt);
    /* the first layer's columns in whole panels of its packed kernel */
    const ptrdiff_t panel = FN(fm_prepacked_align)(net->dims[1]);
    ptrdiff_t k0, k1;
    share_of((net->dims[1] + panel - 1) / panel, nt, tid, &k0, &k1);
    k0 *= panel;
    k1 = k1 * panel < net->dims[1] ? k1 * panel : net->dims[1];
    /* The kernels as Python left them, packed: each thread its rows. */
    FN(pack_kernels_share)(net, c->params, c->packed, tid, nt);
    if (c->first_grad != NULL)
        FN(first_state_share)(c, 1, tid, nt);
    FN(team_barrier)(nt);
    ptrdiff_t done = n_steps;
    for (ptrdiff_t s = 0; s < n_steps; s++) {
        ptrdiff_t start = (first_step + s) * c->batch, n = FN(step_rows)(c, start), r0, r1;
        share_of(n, nt, tid, &r0, &r1);
        FN(gather_share)(c, start, r0, r1);
        if (by_columns) {
            FN(team_barrier)(nt);
            FN(layer_forward)(c, 0, c->xb, 0, n, k0, k1);
            FN(team_barrier)(nt);
        }
        FN(rows_pass)(c, n, r0, r1, by_columns);
        FN(team_barrier)(nt);
        /* every thread sums the same item losses, so all agree on stopping */
        double loss = fm_loss_total(net->loss, n, out_cols, c->item_loss);
        if (tid == 0)
            step_loss[s] = loss;
        /* A non-finite loss stops before the update: the weights stay as
         * they were before this batch. */
        if (!isfinite(loss)) {
            done = s;
            break;
        }
        if (s + 1 < n_steps) {
            ptrdiff_t next = start + c->batch, q0, q1;
            share_of(FN(step_rows)(c, next), nt, tid, &q0, &q1);
            FN(prefetch_share)(c, next, q0, q1);
        }
        FN(update_share)(c, n, iterations + s + 1, tid, nt, by_columns, k0, k1);
        for (int k = 0; tid == 0 && k < net->n_metrics; k++)
            step_metrics[s * net->n_metrics + k] =
                FN(metric_value)(net->metrics[k], c->outs[net->n_layers - 1], c->tb, c->lb, n,
                                 out_cols);
        FN(team_barrier)(nt);
    }
    /* Each thread its own rows: every update is done (the last barrier, or
     * a stop before the step's update), and no thread reads them now. */
    if (c->first_grad != NULL)
        FN(first_state_share)(c, 0, tid, nt);
    return done;
}

ptrdiff_t FN(fm_train_steps)(const fm_mlp *net, const void *x, int x_type, const T *y,
                             const int64_t *labels, ptrdiff_t rows, const int64_t *order,
                             ptrdiff_t batch, ptrdiff_t first_step, ptrdiff_t n_steps,
                             T *params, T *grads, T *slot1, T *slot2, int64_t *iterations,
                             T *work, double *step_loss, double *step_metrics)
{
    FN(train_ctx) c = {.net = net, .x = x, .x_type = x_type, .y = y, .labels = labels,
                       .order = order,
                       .rows = rows, .batch = batch, .params = params, .grads = grads,
                       .slot1 = slot1, .slot2 = slot2};
    FN(carve)(&c, work);
    ptrdiff_t done = n_steps;
    int nt = team_size_for(net, batch);
    FN(read_small_kernels_in_place)(&c, nt);
    if (nt <= 1) {
        done = FN(team_steps)(&c, first_step, n_steps, *iterations, step_loss, step_metrics, 0,
                              1);
    } else {
        unsigned caller_mode = fp_mode_get();
#pragma omp parallel num_threads(nt)
        {
            unsigned own_mode = fp_mode_get();
            fp_mode_set(caller_mode);
            int tid = omp_get_thread_num();
            ptrdiff_t mine = FN(team_steps)(&c, first_step, n_steps, *iterations, step_loss,
                                            step_metrics, tid, omp_get_num_threads());
            if (tid == 0)
                done = mine;
            fp_mode_set(own_mode);
        }
    }
    *iterations += done;
    return done;
}

#undef FN

#define FN(name) FM_CAT(name, SFX)

/* Rows per block in predict: a block's activations stay in cache from one
 * layer to the next (240 x 256 floats = 240 KiB); 240 is a multiple of
 * every kernel's rows and one AVX-512 row block (MC), so no block ends in
 * a short remainder. */
#ifndef FM_PREDICT_ROWS
#define FM_PREDICT_ROWS 240
#endif

static ptrdiff_t FN(predict_block_rows)(ptrdiff_t batch)
{
    return batch < FM_PREDICT_ROWS ? (batch > 0 ? batch : 1) : FM_PREDICT_ROWS;
}

/* The widest hidden layer (1 with none). */
static ptrdiff_t FN(predict_widest)(const fm_mlp *net)
{
    ptrdiff_t widest = 1;
    for (int i = 1; i < net->n_layers; i++)
        widest = net->dims[i] > widest ? net->dims[i] : widest;
    return widest;
}

/* Elements of one thread's buffers: two ping-pong halves for the hidden
 * activations, then a block of input rows cast to T (for an x of another
 * type). */
static ptrdiff_t FN(predict_thread_elems)(const fm_mlp *net, ptrdiff_t batch)
{
    return FN(predict_block_rows)(batch) * (2 * FN(predict_widest)(net) + net->dims[0]);
}

/* The packed kernels first, then each thread's buffers (predict_thread_elems). */
static size_t FN(predict_packed_bytes)(const fm_mlp *net)
{
    return 64 + FN(packed_kernels_elems)(net) * sizeof(T);
}

size_t FN(fm_predict_work_bytes)(const fm_mlp *net, ptrdiff_t batch)
{
    return FN(predict_packed_bytes)(net) +
           (size_t)(FN(predict_thread_elems)(net, batch) * threads_available()) * sizeof(T);
}

/* Rows [r0, r1) through every layer, `block` rows at a time, with buf's two
 * halves holding the hidden activations; the kernels packed in advance, or
 * (packed NULL) by each GEMM, which may then use every thread. Returns 0 if
 * these rows of x are finite, 1 if they may not be (see fm_predict). */
static int FN(predict_rows)(const fm_mlp *net, const void *x, int x_type, ptrdiff_t r0,
                            ptrdiff_t r1, ptrdiff_t block, const T *params, T *const *packed,
                            T *buf, T *out)
{
    int suspect = packed == NULL; /* fm_gemm does not look */
    const int L = net->n_layers;
    const ptrdiff_t *d = net->dims;
    ptrdiff_t w_off[FM_MAX_LAYERS], b_off[FM_MAX_LAYERS];
    layer_offsets(net, w_off, b_off);
    T *half[2] = {buf, buf + block * FN(predict_widest)(net)};
    T *cast = buf + 2 * block * FN(predict_widest)(net);
    const int own = x_type == FN(own_x_type)();
    for (ptrdiff_t start = r0; start < r1; start += block) {
        ptrdiff_t n = r1 - start < block ? r1 - start : block;
        const T *a = own ? (const T *)x + start * d[0] : cast;
        if (!own)
            FN(gather_x)(cast, x, x_type, d[0], NULL, start, n);
        for (int i = 0; i < L; i++) {
            /* the last layer writes its rows of `out` directly */
            T *y = i == L - 1 ? out + start * d[L] : half[i % 2];
            const T *bias = b_off[i] >= 0 ? params + b_off[i] : NULL;
            if (packed == NULL)
                FN(fm_gemm)(0, 0, n, d[i + 1], d[i], (T)1, a, d[i], params + w_off[i],
                            d[i + 1], (T)0, y, d[i + 1], bias, net->act[i], (T)net->slope);
            else /* the input rows come from memory once: read in place */
                FN(fm_gemm_prepacked)(n, d[i + 1], d[i], a, d[i], i == 0, packed[i], 0,
                                      d[i + 1], y, d[i + 1], bias, net->act[i], (T)net->slope,
                                      i == 0 ? &suspect : NULL);
            a = y;
        }
    }
    return suspect;
}

/* The team packs the kernels once (each thread some rows of each), then
 * each thread takes a contiguous share of the rows and runs it through all
 * layers on its own: rows are independent, so after the packing no thread
 * waits for another, and the bits do not depend on the split. work must
 * hold fm_predict_work_bytes. */
int FN(fm_predict)(const fm_mlp *net, const void *x, int x_type, ptrdiff_t rows,
                   ptrdiff_t batch, const T *params, T *work, size_t work_bytes, T *out)
{
    int suspect = 0;
    ptrdiff_t block = FN(predict_block_rows)(batch);
    size_t per_thread = (size_t)FN(predict_thread_elems)(net, block) * sizeof(T);
    ptrdiff_t blocks = (rows + block - 1) / block;
    T *packed[FM_MAX_LAYERS];
    T *bufs = (T *)(void *)FN(carve_packed)(net, (char *)work, packed);
    size_t packed_bytes = (size_t)((char *)bufs - (char *)work);
    work_bytes = work_bytes > packed_bytes ? work_bytes - packed_bytes : 0;
    int nt = team_size_for(net, rows);
    nt = (size_t)nt * per_thread <= work_bytes ? nt : (int)(work_bytes / per_thread);
    nt = nt < blocks ? nt : (int)blocks;
    if (nt <= 1) {
        /* One block: each GEMM packs what it needs and may use every
         * thread, and a few rows do not pay for packing all the kernels. */
        if (blocks > 1)
            FN(pack_kernels_share)(net, params, packed, 0, 1);
        return FN(predict_rows)(net, x, x_type, 0, rows, block, params,
                                blocks > 1 ? packed : NULL, bufs, out);
    }
    unsigned caller_mode = fp_mode_get();
#pragma omp parallel num_threads(nt) reduction(| : suspect)
    {
        unsigned own_mode = fp_mode_get();
        fp_mode_set(caller_mode);
        int tid = omp_get_thread_num(), team = omp_get_num_threads();
        ptrdiff_t b0, b1;
        FN(pack_kernels_share)(net, params, packed, tid, team);
#pragma omp barrier
        share_of(blocks, team, tid, &b0, &b1);
        suspect |= FN(predict_rows)(net, x, x_type, b0 * block,
                                    b1 * block < rows ? b1 * block : rows,
                                    block, params, packed, bufs + tid * (per_thread / sizeof(T)),
                                    out);
        fp_mode_set(own_mode);
    }
    return suspect;
}

#undef FN
