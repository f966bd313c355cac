/* paths_agree_impl.h - the cases of paths_agree.c for one element type T
 * (suffix SFX): included once for float and once for double. */

#ifndef PA_CAT
#define PA_CAT2(a, b) a##_##b
#define PA_CAT(a, b) PA_CAT2(a, b)
#endif
#define FN(name) PA_CAT(name, SFX)

/* n random values in [-scale, scale). */
static T *FN(randoms)(size_t n, double scale)
{
    T *p = alloc(n * sizeof(T));
    for (size_t i = 0; i < n; i++)
        p[i] = (T)(scale * uniform());
    return p;
}

static T *FN(copy)(const T *src, size_t n)
{
    T *p = alloc(n * sizeof(T));
    memcpy(p, src, n * sizeof(T));
    return p;
}

static int FN(same)(const T *x, const T *y, size_t n)
{
    return memcmp(x, y, n * sizeof(T)) == 0;
}

/* ---- GEMM ----------------------------------------------------------------- */

/* alpha, beta, bias?, activation of each variant */
static const struct {
    double alpha, beta;
    int bias, act;
} FN(variants)[] = {
    {1, 0, 0, FM_ACT_IDENTITY},   {0.75, -1.25, 0, FM_ACT_IDENTITY},
    {1, 0, 1, FM_ACT_RELU},       {1, 0, 1, FM_ACT_LEAKY_RELU},
    {1, 0, 1, FM_ACT_SIGMOID},    {1, 0, 1, FM_ACT_TANH},
    {1, 0, 0, FM_ACT_SOFTMAX},    {1.5, 1, 1, FM_ACT_IDENTITY},
};
#define N_VARIANTS 8

/* The activation in long double (softmax: row i of width n at z). */
static void FN(act_ld)(int act, long double *z, ptrdiff_t n)
{
    long double top = z[0], sum = 0;
    for (ptrdiff_t j = 0; j < n; j++) {
        long double v = z[j];
        switch (act) {
        case FM_ACT_SIGMOID: z[j] = 1 / (1 + expl(-v)); break;
        case FM_ACT_TANH: z[j] = tanhl(v); break;
        case FM_ACT_RELU: z[j] = v > 0 ? v : 0; break;
        case FM_ACT_LEAKY_RELU: z[j] = v > 0 ? v : (long double)(T)0.1 * v; break;
        case FM_ACT_SOFTMAX: top = v > top ? v : top; break;
        default: break;
        }
    }
    if (act != FM_ACT_SOFTMAX)
        return;
    for (ptrdiff_t j = 0; j < n; j++)
        sum += (z[j] = expl(z[j] - top));
    for (ptrdiff_t j = 0; j < n; j++)
        z[j] /= sum;
}

/* Whether c (m x n, ldc) is C = act(alpha op(A) op(B) + beta c0 + bias)
 * within the bound tests/test_gemm.py allows: (k + 3) eps times the sum of
 * the terms' magnitudes, plus 8 eps relative and 8 eps absolute after the
 * activation (softmax: the row's largest bound). The padding of c must be
 * c0's. */
static int FN(gemm_within)(int ta, int tb, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, T alpha,
                           const T *a, ptrdiff_t lda, const T *b, ptrdiff_t ldb, T beta,
                           const T *c0, const T *c, ptrdiff_t ldc, const T *bias, int act)
{
    const long double eps = sizeof(T) == 4 ? FLT_EPSILON : DBL_EPSILON;
    long double *pre = alloc((size_t)n * sizeof(long double));
    long double *err = alloc((size_t)n * sizeof(long double));
    /* a large product: every fifth row (and the last), which still puts a
     * checked row in every position of every kernel's tile */
    const ptrdiff_t every = (double)m * (double)n * (double)k > 2e6 ? 5 : 1;
    int ok = 1;
    for (ptrdiff_t i = 0; i < m && ok; i++) {
        for (ptrdiff_t j = n; j < ldc; j++)
            ok &= memcmp(&c[i * ldc + j], &c0[i * ldc + j], sizeof(T)) == 0;
        if (i % every != 0 && i != m - 1)
            continue;
        long double row_err = 0;
        for (ptrdiff_t j = 0; j < n; j++) {
            long double sum = 0, size = 0;
            for (ptrdiff_t p = 0; p < k; p++) {
                long double x = ta ? a[p * lda + i] : a[i * lda + p];
                long double y = tb ? b[j * ldb + p] : b[p * ldb + j];
                sum += x * y;
                size += fabsl(x * y);
            }
            pre[j] = alpha * sum;
            size *= fabsl((long double)alpha);
            if (beta != 0) {
                pre[j] += beta * (long double)c0[i * ldc + j];
                size += fabsl(beta * (long double)c0[i * ldc + j]);
            }
            if (bias != NULL) {
                pre[j] += bias[j];
                size += fabsl((long double)bias[j]);
            }
            err[j] = (long double)(k + 3) * eps * size;
            row_err = err[j] > row_err ? err[j] : row_err;
        }
        FN(act_ld)(act, pre, n);
        for (ptrdiff_t j = 0; j < n; j++) {
            long double e = (act == FM_ACT_SOFTMAX ? row_err : err[j]) + 8 * eps * fabsl(pre[j]) +
                            8 * eps;
            ok &= fabsl((long double)c[i * ldc + j] - pre[j]) <= e;
        }
    }
    free(pre), free(err);
    return ok;
}

/* C = act(alpha op(A) op(B) + beta C + bias), m x n x k, every leading
 * dimension `pad` elements wider than needed, on the path under test;
 * checked against the long double formula. (Paths need not agree bit for
 * bit here: their kernels may fuse multiply and add.) */
static void FN(gemm_case)(int ta, int tb, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, int pad,
                          int variant)
{
    const ptrdiff_t lda = (ta ? m : k) + pad, ldb = (tb ? k : n) + pad, ldc = n + pad;
    const size_t a_size = (size_t)((ta ? k : m) * lda), b_size = (size_t)((tb ? n : k) * ldb);
    const size_t c_size = (size_t)(m * ldc);
    T *a = FN(randoms)(a_size, 1.0), *b = FN(randoms)(b_size, 1.0);
    T *c0 = FN(randoms)(c_size, 1.0), *bias = FN(randoms)((size_t)n, 1.0);
    T *c = FN(copy)(c0, c_size);
    const T alpha = (T)FN(variants)[variant].alpha, beta = (T)FN(variants)[variant].beta;
    const int act = FN(variants)[variant].act;
    T *b_or_null = FN(variants)[variant].bias ? bias : NULL;
    use(path);
    PA_CAT(fm_gemm, SFX)(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, b_or_null, act,
                         (T)0.1);
    char what[160];
    snprintf(what, sizeof what, "gemm_%s ta=%d tb=%d m=%td n=%td k=%td pad=%d variant=%d: outside the error bound",
             PA_STR(SFX), ta, tb, m, n, k, pad, variant);
    check(FN(gemm_within)(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c0, c, ldc, b_or_null,
                          act),
          what);
    free(a), free(b), free(c0), free(bias), free(c);
}

static void FN(gemm_cases)(void)
{
    static const ptrdiff_t tiny[] = {1, 3, 8, 17};
    static const ptrdiff_t edge_m[] = {4, 6, 7, 12, 15, 16, 24, 31, 33, 48, 97};
    static const ptrdiff_t edge_n[] = {9, 10, 11, 15, 16, 17, 32, 47, 48, 49, 64, 100};
    static const ptrdiff_t edge_k[] = {2, 255, 256, 257, 300};
    /* the MLPs' shapes (forward, weight and input gradients) and a few odd ones */
    static const ptrdiff_t mlp[][5] = {
        {0, 0, 128, 256, 784}, {0, 0, 128, 128, 256}, {0, 0, 128, 10, 128},
        {1, 0, 784, 256, 128}, {1, 0, 256, 128, 128}, {1, 0, 128, 10, 128},
        {0, 1, 128, 256, 128}, {0, 1, 128, 128, 10},  {0, 0, 32, 64, 8},
        {1, 0, 8, 64, 32},     {1, 0, 64, 64, 32},    {0, 1, 32, 64, 64},
        {0, 0, 240, 256, 784}, {0, 0, 513, 77, 129},  {0, 0, 1, 1000, 1},
        {1, 1, 1000, 1, 1000}, {0, 0, 64, 1, 64},     {1, 0, 64, 1, 32},
    };
    long count = 0;
    for (int t = 0; t < 4; t++)
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 4; j++)
                for (int l = 0; l < 4; l++, count++)
                    FN(gemm_case)(t & 1, t >> 1, tiny[i], tiny[j], tiny[l], (int)(count % 3) * 2,
                                  (int)(count % N_VARIANTS));
    /* every third combination of the edge sizes, each with a rotating
     * transposition, padding and variant */
    for (size_t i = 0; i < sizeof edge_m / sizeof *edge_m; i++)
        for (size_t j = 0; j < sizeof edge_n / sizeof *edge_n; j++)
            for (size_t l = 0; l < sizeof edge_k / sizeof *edge_k; l++, count++)
                if (count % 3 == 0)
                    FN(gemm_case)((int)(count / 3 % 2), (int)(count / 6 % 2), edge_m[i],
                                  edge_n[j], edge_k[l], (int)(count % 4),
                                  (int)(count / 3 % N_VARIANTS));
    for (size_t s = 0; s < sizeof mlp / sizeof *mlp; s++) {
        FN(gemm_case)((int)mlp[s][0], (int)mlp[s][1], mlp[s][2], mlp[s][3], mlp[s][4], 0, 0);
        FN(gemm_case)((int)mlp[s][0], (int)mlp[s][1], mlp[s][2], mlp[s][3], mlp[s][4], 3, 2);
    }
}

/* ---- activations and column sums ------------------------------------------ */

static void FN(elementwise_cases)(void)
{
    static const ptrdiff_t shapes[][2] = {{1, 1}, {3, 7}, {5, 16}, {2, 33}, {17, 130}, {4, 1000}};
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
        const ptrdiff_t rows = shapes[s][0], cols = shapes[s][1];
        const size_t size = (size_t)(rows * cols);
        T *x = FN(randoms)(size, 4.0), *grad = FN(randoms)(size, 1.0);
        T *y[2] = {alloc(size * sizeof(T)), alloc(size * sizeof(T))};
        T *dx[2] = {alloc(size * sizeof(T)), alloc(size * sizeof(T))};
        T *sums[2] = {alloc((size_t)cols * sizeof(T)), alloc((size_t)cols * sizeof(T))};
        char what[120];
        for (int act = FM_ACT_IDENTITY; act <= FM_ACT_SOFTMAX; act++) {
            for (int q = 0; q < 2; q++) {
                use(q ? path : FM_ARCH_GENERIC);
                PA_CAT(fm_act_forward, SFX)(act, (T)0.1, rows, cols, x, y[q]);
                /* both from generic's outputs, so only the backward loop differs */
                PA_CAT(fm_act_backward, SFX)(act, (T)0.1, rows, cols, grad, y[0], dx[q]);
            }
            snprintf(what, sizeof what, "act_forward_%s act=%d %tdx%td differs from generic", PA_STR(SFX), act, rows,
                     cols);
            check(FN(same)(y[0], y[1], size), what);
            snprintf(what, sizeof what, "act_backward_%s act=%d %tdx%td differs from generic", PA_STR(SFX), act, rows,
                     cols);
            check(FN(same)(dx[0], dx[1], size), what);
        }
        for (int q = 0; q < 2; q++) {
            use(q ? path : FM_ARCH_GENERIC);
            PA_CAT(fm_column_sum, SFX)(rows, cols, x, sums[q]);
        }
        snprintf(what, sizeof what, "column_sum_%s %tdx%td differs from generic", PA_STR(SFX), rows, cols);
        check(FN(same)(sums[0], sums[1], (size_t)cols), what);
        free(x), free(grad);
        for (int q = 0; q < 2; q++)
            free(y[q]), free(dx[q]), free(sums[q]);
    }
}

/* ---- optimizers --------------------------------------------------------------- */

/* Three steps of optimizer `kind` (0 SGD, 1 momentum, 2 Nesterov, 3 AdaGrad,
 * 4 RMSprop, 5 Adam) on n weights; weights and state compared. */
static void FN(optimizer_case)(int kind, ptrdiff_t n, double wd)
{
    const size_t size = (size_t)n;
    T *w0 = FN(randoms)(size, 1.0), *g = FN(randoms)(size, 1.0);
    T *w[2] = {FN(copy)(w0, size), FN(copy)(w0, size)};
    T *s1[2], *s2[2];
    for (int q = 0; q < 2; q++) {
        s1[q] = calloc(size, sizeof(T));
        s2[q] = calloc(size, sizeof(T));
        if (s1[q] == NULL || s2[q] == NULL)
            exit(2);
    }
    for (int q = 0; q < 2; q++) {
        use(q ? path : FM_ARCH_GENERIC);
        for (int64_t step = 1; step <= 3; step++) {
            switch (kind) {
            case 0: PA_CAT(fm_sgd, SFX)(n, w[q], g, 0.01, wd); break;
            case 1: PA_CAT(fm_momentum, SFX)(n, w[q], g, s1[q], 0.01, 0.9, 0, wd); break;
            case 2: PA_CAT(fm_momentum, SFX)(n, w[q], g, s1[q], 0.01, 0.9, 1, wd); break;
            case 3: PA_CAT(fm_adagrad, SFX)(n, w[q], g, s1[q], 0.01, 1e-7, wd); break;
            case 4: PA_CAT(fm_rmsprop, SFX)(n, w[q], g, s1[q], 0.001, 0.9, 1e-7, wd); break;
            default:
                PA_CAT(fm_adam, SFX)(n, w[q], g, s1[q], s2[q], 0.001, 0.9, 0.999, 1e-7, step, wd);
            }
        }
    }
    char what[100];
    snprintf(what, sizeof what, "optimizer_%s kind=%d n=%td weight_decay=%g differs from generic", PA_STR(SFX), kind,
             n, wd);
    check(FN(same)(w[0], w[1], size) && FN(same)(s1[0], s1[1], size) &&
              FN(same)(s2[0], s2[1], size),
          what);
    free(w0), free(g);
    for (int q = 0; q < 2; q++)
        free(w[q]), free(s1[q]), free(s2[q]);
}

static void FN(optimizer_cases)(void)
{
    static const ptrdiff_t sizes[] = {1, 7, 16, 33, 1000};
    for (int kind = 0; kind < 6; kind++)
        for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
            FN(optimizer_case)(kind, sizes[s], 0.0);
            FN(optimizer_case)(kind, sizes[s], 0.01);
        }
}

/* ---- training runs and predict ------------------------------------------------ */

typedef struct {
    int n_layers;
    ptrdiff_t dims[4];
    int act[3], use_bias[3];
    int loss, optimizer, metric; /* metric < 0: none */
    ptrdiff_t rows, batch;
    int x_from; /* 0: x of type T, else 1 + the fm_x_type fm_train_steps casts x from */
} FN(net_case);

/* Buffers of one training run. */
typedef struct {
    T *params, *grads, *s1, *s2;
} FN(state);

static void FN(state_init)(FN(state) *st, const T *p0, size_t np)
{
    st->params = FN(copy)(p0, np);
    st->grads = calloc(np, sizeof(T));
    st->s1 = calloc(np, sizeof(T));
    st->s2 = calloc(np, sizeof(T));
    if (!st->grads || !st->s1 || !st->s2)
        exit(2);
}

static int FN(state_same)(const FN(state) *x, const FN(state) *y, size_t np)
{
    return FN(same)(x->params, y->params, np) && FN(same)(x->s1, y->s1, np) &&
           FN(same)(x->s2, y->s2, np);
}

static void FN(state_free)(FN(state) *st)
{
    free(st->params), free(st->grads), free(st->s1), free(st->s2);
}

/* Where each layer's kernel and bias start in the flat parameters. */
static void FN(offsets)(const fm_mlp *net, ptrdiff_t *w_off, ptrdiff_t *b_off)
{
    ptrdiff_t off = 0;
    for (int i = 0; i < net->n_layers; i++) {
        w_off[i] = off;
        off += net->dims[i] * net->dims[i + 1];
        b_off[i] = net->use_bias[i] ? off : -1;
        off += net->use_bias[i] ? net->dims[i + 1] : 0;
    }
}

/* Every layer forward on n rows from a into outs (the top layer of a fused
 * loss into logits, without its activation, when `logits` is given). */
static void FN(forward)(const fm_mlp *net, const T *params, const T *a, ptrdiff_t n, T **outs,
                        T *logits)
{
    const ptrdiff_t *d = net->dims;
    ptrdiff_t w_off[3], b_off[3];
    FN(offsets)(net, w_off, b_off);
    for (int i = 0; i < net->n_layers; i++) {
        const int top = i == net->n_layers - 1 && logits != NULL;
        PA_CAT(fm_gemm, SFX)(0, 0, n, d[i + 1], d[i], 1, a, d[i], params + w_off[i], d[i + 1], 0,
                             top ? logits : outs[i], d[i + 1],
                             b_off[i] >= 0 ? params + b_off[i] : NULL,
                             top ? FM_ACT_IDENTITY : net->act[i], (T)net->slope);
        a = outs[i];
    }
}

/* One training step as model.py's Python loop makes it, kernel call by
 * kernel call: forward, loss gradient, backward, one optimizer call over
 * the flat buffer. The C loop promises the same bits. */
static void FN(reference_step)(const fm_mlp *net, const T *xb, const T *tb, const int64_t *lb,
                               ptrdiff_t n, int64_t step, FN(state) *st, T **outs, T **deltas,
                               T *logits)
{
    const int L = net->n_layers;
    const ptrdiff_t *d = net->dims, out = n * d[L];
    ptrdiff_t w_off[3], b_off[3];
    FN(offsets)(net, w_off, b_off);
    FN(forward)(net, st->params, xb, n, outs, net->fused ? logits : NULL);
    T *top = net->fused ? logits : outs[L - 1], *dtop = deltas[L - 1];
    switch (net->loss) {
    case FM_LOSS_SOFTMAX_XENT_SPARSE: PA_CAT(fm_softmax_xent_sparse, SFX)(n, d[L], top, lb, dtop); break;
    case FM_LOSS_SOFTMAX_XENT: PA_CAT(fm_softmax_xent, SFX)(n, d[L], top, tb, dtop); break;
    case FM_LOSS_SIGMOID_BCE: PA_CAT(fm_sigmoid_bce, SFX)(out, top, tb, dtop); break;
    case FM_LOSS_MSE: PA_CAT(fm_mse, SFX)(out, top, tb, dtop); break;
    case FM_LOSS_MAE: PA_CAT(fm_mae, SFX)(out, top, tb, dtop); break;
    default: PA_CAT(fm_sse, SFX)(n, d[L], top, tb, dtop); break;
    }
    for (int i = L - 1; i >= 0; i--) {
        T *dy = deltas[i];
        const T *in = i ? outs[i - 1] : xb;
        if (!(i == L - 1 && net->fused) && net->act[i] != FM_ACT_IDENTITY)
            PA_CAT(fm_act_backward, SFX)(net->act[i], (T)net->slope, n, d[i + 1], dy, outs[i], dy);
        PA_CAT(fm_gemm, SFX)(1, 0, d[i], d[i + 1], n, 1, in, d[i], dy, d[i + 1], 0,
                             st->grads + w_off[i], d[i + 1], NULL, FM_ACT_IDENTITY, 0);
        if (b_off[i] >= 0)
            PA_CAT(fm_column_sum, SFX)(n, d[i + 1], dy, st->grads + b_off[i]);
        if (i > 0)
            PA_CAT(fm_gemm, SFX)(0, 1, n, d[i], d[i + 1], 1, dy, d[i + 1], st->params + w_off[i],
                                 d[i + 1], 0, deltas[i - 1], d[i], NULL, FM_ACT_IDENTITY, 0);
    }
    const ptrdiff_t np = net->n_params;
    const double wd = net->weight_decay;
    switch (net->optimizer) {
    case FM_OPT_SGD: PA_CAT(fm_sgd, SFX)(np, st->params, st->grads, net->lr, wd); break;
    case FM_OPT_MOMENTUM:
        PA_CAT(fm_momentum, SFX)(np, st->params, st->grads, st->s1, net->lr, net->momentum,
                                 net->nesterov, wd);
        break;
    case FM_OPT_ADAGRAD:
        PA_CAT(fm_adagrad, SFX)(np, st->params, st->grads, st->s1, net->lr, net->epsilon, wd);
        break;
    case FM_OPT_RMSPROP:
        PA_CAT(fm_rmsprop, SFX)(np, st->params, st->grads, st->s1, net->lr, net->rho,
                                net->epsilon, wd);
        break;
    default:
        PA_CAT(fm_adam, SFX)(np, st->params, st->grads, st->s1, st->s2, net->lr, net->beta_1,
                             net->beta_2, net->epsilon, step, wd);
    }
}

/* An epoch on the path under test three ways, from the same start: the
 * reference steps, fm_train_steps on one thread, and on two threads in two
 * calls (the second from the middle step on). All three must give the same
 * weights and optimizer state; then fm_predict must give the reference
 * forward pass's outputs. */
static void FN(train_case)(const FN(net_case) *nc)
{
    const int L = nc->n_layers;
    ptrdiff_t n_params = 0;
    for (int i = 0; i < L; i++)
        n_params += nc->dims[i] * nc->dims[i + 1] + (nc->use_bias[i] ? nc->dims[i + 1] : 0);
    const int top = nc->act[L - 1], sparse = nc->loss == FM_LOSS_SOFTMAX_XENT_SPARSE;
    const int fused =
        ((nc->loss == FM_LOSS_SOFTMAX_XENT || sparse) && top == FM_ACT_SOFTMAX) ||
        (nc->loss == FM_LOSS_SIGMOID_BCE && top == FM_ACT_SIGMOID);
    fm_mlp net = {.n_layers = L, .dims = nc->dims, .act = nc->act, .use_bias = nc->use_bias,
                  .slope = 0.1, .loss = nc->loss, .fused = fused,
                  .n_metrics = nc->metric >= 0, .metrics = &nc->metric, .n_params = n_params,
                  .optimizer = nc->optimizer, .lr = 0.01, .momentum = 0.9, .rho = 0.9,
                  .beta_1 = 0.9, .beta_2 = 0.999, .epsilon = 1e-7, .weight_decay = 0.001,
                  .nesterov = 1};
    const ptrdiff_t rows = nc->rows, batch = nc->batch, in = nc->dims[0], out = nc->dims[L];
    const ptrdiff_t steps = (rows + batch - 1) / batch;
    const size_t np = (size_t)n_params;
    /* x as fm_train_steps reads it (xs, of x_type), and as T for the rest */
    const int own_type = sizeof(T) == sizeof(float) ? FM_X_F32 : FM_X_F64;
    const int x_type = nc->x_from ? nc->x_from - 1 : own_type;
    const size_t x_elems = (size_t)(rows * in);
    T *x = alloc(x_elems * sizeof(T)), *y = FN(randoms)((size_t)(rows * out), 1.0);
    void *xs = alloc(x_elems * sizeof(double));
    for (size_t e = 0; e < x_elems; e++) {
        double v = uniform();
        if (x_type == FM_X_U8)
            x[e] = (T)(((uint8_t *)xs)[e] = (uint8_t)(v * 127.5 + 127.5));
        else if (x_type == FM_X_F32)
            x[e] = (T)(((float *)xs)[e] = (float)v);
        else
            x[e] = (T)(((double *)xs)[e] = v);
    }
    int64_t *labels = alloc((size_t)rows * sizeof(int64_t));
    int64_t *order = alloc((size_t)rows * sizeof(int64_t));
    for (ptrdiff_t r = 0; r < rows; r++) {
        labels[r] = (int64_t)((uniform() + 1.0) / 2.0 * (double)out) % out;
        order[r] = r;
        for (ptrdiff_t j = 0; j < out; j++) /* one-hot or 0/1 targets where the loss wants them */
            if (nc->loss == FM_LOSS_SOFTMAX_XENT)
                y[r * out + j] = (T)(j == labels[r]);
            else if (nc->loss == FM_LOSS_SIGMOID_BCE)
                y[r * out + j] = (T)(y[r * out + j] > 0);
    }
    for (ptrdiff_t r = rows - 1; r > 0; r--) { /* shuffled */
        ptrdiff_t o = (ptrdiff_t)((uniform() + 1.0) / 2.0 * (double)(r + 1)) % (r + 1);
        int64_t t = order[r];
        order[r] = order[o];
        order[o] = t;
    }
    T *p0 = FN(randoms)(np, 0.3);
    use(path);

    /* the reference */
    FN(state) ref;
    FN(state_init)(&ref, p0, np);
    T *xb = alloc((size_t)(batch * in) * sizeof(T)), *tb = alloc((size_t)(batch * out) * sizeof(T));
    int64_t *lb = alloc((size_t)batch * sizeof(int64_t));
    T *outs[3], *deltas[3], *logits = alloc((size_t)(batch * out) * sizeof(T));
    for (int i = 0; i < L; i++) {
        outs[i] = alloc((size_t)(rows * nc->dims[i + 1]) * sizeof(T)); /* rows: predict too */
        deltas[i] = alloc((size_t)(batch * nc->dims[i + 1]) * sizeof(T));
    }
    for (ptrdiff_t s = 0; s < steps; s++) {
        ptrdiff_t start = s * batch, n = rows - start < batch ? rows - start : batch;
        for (ptrdiff_t r = 0; r < n; r++) {
            ptrdiff_t src = (ptrdiff_t)order[start + r];
            memcpy(xb + r * in, x + src * in, (size_t)in * sizeof(T));
            memcpy(tb + r * out, y + src * out, (size_t)out * sizeof(T));
            lb[r] = labels[src];
        }
        FN(reference_step)(&net, xb, tb, lb, n, s + 1, &ref, outs, deltas, logits);
    }

    /* the C loop: one thread in one call; two threads in two calls */
    FN(state) run[2];
    const size_t work_bytes = PA_CAT(fm_train_work_bytes, SFX)(&net, batch);
    const size_t pred_bytes = PA_CAT(fm_predict_work_bytes, SFX)(&net, rows);
    T *work = alloc(work_bytes > pred_bytes ? work_bytes : pred_bytes);
    double *losses = alloc((size_t)steps * sizeof(double));
    double *metrics = alloc((size_t)steps * sizeof(double));
    const int threads_before = fm_get_num_threads();
    ptrdiff_t done[2] = {0, 0};
    for (int q = 0; q < 2; q++) {
        int64_t iterations = 0;
        FN(state_init)(&run[q], p0, np);
        fm_set_num_threads(q + 1);
        for (ptrdiff_t first = 0; first < steps;) {
            ptrdiff_t count = q == 0 ? steps : (first == 0 ? steps / 2 + 1 : steps - first);
            done[q] += PA_CAT(fm_train_steps, SFX)(
                &net, xs, x_type, y, sparse ? labels : NULL, rows, order, batch, first, count,
                run[q].params, run[q].grads, run[q].s1, run[q].s2, &iterations, work, losses,
                metrics);
            first += count;
        }
    }
    fm_set_num_threads(threads_before);
    char what[200];
    snprintf(what, sizeof what,
             "train_%s %td-%td-%td-%td (%d layers) loss=%d optimizer=%d rows=%td batch=%td "
             "x_type=%d",
             PA_STR(SFX), nc->dims[0], nc->dims[1], nc->dims[2], nc->dims[3], L, nc->loss,
             nc->optimizer, rows, batch, x_type);
    char line[320];
    snprintf(line, sizeof line, "%s: fm_train_steps on 1 thread differs from the reference steps",
             what);
    check(done[0] == steps && FN(state_same)(&run[0], &ref, np), line);
    snprintf(line, sizeof line, "%s: 2 threads in 2 calls differ from the reference steps", what);
    check(done[1] == steps && FN(state_same)(&run[1], &ref, np), line);

    /* predict with the trained weights against the reference forward pass */
    T *pred = alloc((size_t)(rows * out) * sizeof(T));
    PA_CAT(fm_predict, SFX)(&net, xs, x_type, rows, rows, ref.params, work, pred_bytes, pred);
    FN(forward)(&net, ref.params, x, rows, outs, NULL);
    snprintf(line, sizeof line, "%s: fm_predict differs from the layers' GEMMs", what);
    check(FN(same)(pred, outs[L - 1], (size_t)(rows * out)), line);

    free(x), free(xs), free(y), free(labels), free(order), free(p0), free(xb), free(tb), free(lb);
    free(logits), free(work), free(losses), free(metrics), free(pred);
    for (int i = 0; i < L; i++)
        free(outs[i]), free(deltas[i]);
    FN(state_free)(&ref);
    FN(state_free)(&run[0]);
    FN(state_free)(&run[1]);
}

static void FN(train_cases)(void)
{
    enum { I = FM_ACT_IDENTITY, S = FM_ACT_SIGMOID, H = FM_ACT_TANH, R = FM_ACT_RELU,
           K = FM_ACT_LEAKY_RELU, X = FM_ACT_SOFTMAX };
    const FN(net_case) nets[] = {
        /* small, three layers, sparse cross-entropy, Adam */
        {3, {13, 37, 29, 5}, {R, H, X}, {1, 1, 1}, FM_LOSS_SOFTMAX_XENT_SPARSE, FM_OPT_ADAM,
         FM_METRIC_SPARSE_ACCURACY, 50, 7, 0},
        /* a first layer of >= 4096 weights (kept packed); a team at batch 64
         * splits it by columns, at batch 300 by rows */
        {2, {120, 90, 10}, {R, X}, {1, 1}, FM_LOSS_SOFTMAX_XENT_SPARSE, FM_OPT_ADAM,
         FM_METRIC_SPARSE_ACCURACY, 200, 64, 0},
        {2, {120, 90, 10}, {K, X}, {1, 1}, FM_LOSS_SOFTMAX_XENT, FM_OPT_RMSPROP,
         FM_METRIC_CATEGORICAL_ACCURACY, 700, 300, 0},
        /* the regression net */
        {3, {8, 64, 64, 1}, {R, R, I}, {1, 1, 1}, FM_LOSS_MSE, FM_OPT_ADAM, FM_METRIC_MAE, 200,
         32, 0},
        {2, {20, 30, 1}, {S, S}, {1, 1}, FM_LOSS_SIGMOID_BCE, FM_OPT_MOMENTUM,
         FM_METRIC_BINARY_ACCURACY, 90, 9, 0},
        {2, {50, 70, 3}, {H, I}, {0, 1}, FM_LOSS_SSE, FM_OPT_ADAGRAD, FM_METRIC_MSE, 61, 16, 0},
        {1, {11, 4, 0, 0}, {I}, {1}, FM_LOSS_MAE, FM_OPT_SGD, -1, 33, 5, 0},
        /* x cast while gathered: bytes (images; 613 rows, so that predict
         * runs several blocks of 240 rows, prepacked and, with threads, a
         * team), and the other float type */
        {2, {120, 90, 10}, {R, X}, {1, 1}, FM_LOSS_SOFTMAX_XENT_SPARSE, FM_OPT_ADAM,
         FM_METRIC_SPARSE_ACCURACY, 613, 64, 1 + FM_X_U8},
        {3, {8, 64, 64, 1}, {R, R, I}, {1, 1, 1}, FM_LOSS_MSE, FM_OPT_ADAM, FM_METRIC_MAE, 200,
         32, 1 + FM_X_F64},
        {3, {13, 37, 29, 5}, {R, H, X}, {1, 1, 1}, FM_LOSS_SOFTMAX_XENT_SPARSE, FM_OPT_ADAM,
         FM_METRIC_SPARSE_ACCURACY, 50, 7, 1 + FM_X_F32},
    };
    for (size_t i = 0; i < sizeof nets / sizeof *nets; i++)
        FN(train_case)(&nets[i]);
}

static void FN(run_all)(void)
{
    FN(gemm_cases)();
    if (path != FM_ARCH_GENERIC) { /* these promise generic's bits */
        FN(elementwise_cases)();
        FN(optimizer_cases)();
    }
    FN(train_cases)();
}

#undef FN
#undef N_VARIANTS
