/* train_impl.h - the body of fm_train_steps, instantiated by train.c once
 * for float (T=float, SFX=f32) and once for double. Not a public header.
 *
 * One training step here makes exactly the kernel calls, in exactly the
 * order, that model.py makes through the op contract with the C backend, so
 * the two paths give bit-identical weights; this one just skips Python
 * between the calls. */

#define FN(name) FM_CAT(name, SFX)

/* Rows idx[0..n) of src (width cols) into dst; plain copy when idx is NULL. */
static void FN(gather_rows)(T *dst, const T *src, ptrdiff_t cols, const int64_t *idx,
                            ptrdiff_t start, ptrdiff_t n)
{
    for (ptrdiff_t i = 0; i < n; i++) {
        ptrdiff_t r = idx ? (ptrdiff_t)idx[start + i] : start + i;
        memcpy(dst + i * cols, src + r * cols, (size_t)cols * sizeof(T));
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

/* Loss of the batch, and d(loss)/d(last layer's logits or outputs) in delta. */
static double FN(batch_loss)(const fm_mlp *net, const T *z, const T *t, const int64_t *labels,
                             ptrdiff_t rows, ptrdiff_t cols, T *delta)
{
    switch (net->loss) {
    case FM_LOSS_SOFTMAX_XENT:
        return FN(fm_softmax_xent)(rows, cols, z, t, delta);
    case FM_LOSS_SOFTMAX_XENT_SPARSE:
        return FN(fm_softmax_xent_sparse)(rows, cols, z, labels, delta);
    case FM_LOSS_SIGMOID_BCE:
        return FN(fm_sigmoid_bce)(rows * cols, z, t, delta);
    case FM_LOSS_MSE:
        return FN(fm_mse)(rows * cols, z, t, delta);
    case FM_LOSS_MAE:
        return FN(fm_mae)(rows * cols, z, t, delta);
    case FM_LOSS_SSE:
        return FN(fm_sse)(rows, cols, z, t, delta);
    default:
        return NAN;
    }
}

static void FN(optimizer_step)(const fm_mlp *net, ptrdiff_t n, T *w, const T *g, T *s1, T *s2,
                               int64_t step)
{
    switch (net->optimizer) {
    case FM_OPT_SGD:
        FN(fm_sgd)(n, w, g, net->lr, net->weight_decay);
        break;
    case FM_OPT_MOMENTUM:
        FN(fm_momentum)(n, w, g, s1, net->lr, net->momentum, net->nesterov, net->weight_decay);
        break;
    case FM_OPT_ADAGRAD:
        FN(fm_adagrad)(n, w, g, s1, net->lr, net->epsilon, net->weight_decay);
        break;
    case FM_OPT_RMSPROP:
        FN(fm_rmsprop)(n, w, g, s1, net->lr, net->rho, net->epsilon, net->weight_decay);
        break;
    default:
        FN(fm_adam)(n, w, g, s1, s2, net->lr, net->beta_1, net->beta_2, net->epsilon, step,
                    net->weight_decay);
        break;
    }
}

/* Elements of T before the int64 label block: every buffer above, rounded
 * up so the labels are 8-byte aligned. */
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

size_t FN(fm_train_work_bytes)(const fm_mlp *net, ptrdiff_t batch)
{
    return (size_t)FN(labels_offset)(net, batch) * sizeof(T) + (size_t)batch * sizeof(int64_t);
}

ptrdiff_t FN(fm_train_steps)(const fm_mlp *net, const T *x, const T *y, const int64_t *labels,
                             ptrdiff_t rows, const int64_t *order, ptrdiff_t batch,
                             ptrdiff_t first_step, ptrdiff_t n_steps, T *params, T *grads,
                             T *slot1, T *slot2, int64_t *iterations, T *work,
                             double *step_loss, double *step_metrics)
{
    const int L = net->n_layers;
    const ptrdiff_t *d = net->dims;
    const ptrdiff_t out_cols = d[L];
    const int sparse = net->loss == FM_LOSS_SOFTMAX_XENT_SPARSE;

    /* Carve the workspace: x batch, target batch, then per layer an output
     * and a delta block (see fm_train_work_size); the logits of a fused
     * last layer live in its delta's twin, net->fused_logits. */
    T *xb = work;
    T *tb = xb + batch * d[0];
    T *p = tb + (sparse ? 0 : batch * out_cols);
    T *outs[FM_MAX_LAYERS], *deltas[FM_MAX_LAYERS], *logits;
    for (int i = 0; i < L; i++) {
        outs[i] = p;
        deltas[i] = p + batch * d[i + 1];
        p += 2 * batch * d[i + 1];
    }
    logits = p;
    int64_t *lb = (int64_t *)(void *)(work + FN(labels_offset)(net, batch)); /* sparse labels */

    for (ptrdiff_t s = 0; s < n_steps; s++) {
        ptrdiff_t start = (first_step + s) * batch;
        ptrdiff_t n = rows - start < batch ? rows - start : batch;

        FN(gather_rows)(xb, x, d[0], order, start, n);
        if (sparse)
            for (ptrdiff_t i = 0; i < n; i++)
                lb[i] = labels[order ? order[start + i] : start + i];
        else
            FN(gather_rows)(tb, y, out_cols, order, start, n);

        /* forward: one fused GEMM + bias + activation per layer */
        const T *a = xb;
        const T *w = params;
        const T *wp[FM_MAX_LAYERS], *bp[FM_MAX_LAYERS];
        for (int i = 0; i < L; i++) {
            int last = i == L - 1;
            wp[i] = w;
            bp[i] = net->use_bias[i] ? w + d[i] * d[i + 1] : NULL;
            T *z = (last && net->fused) ? logits : outs[i];
            FN(fm_gemm)(0, 0, n, d[i + 1], d[i], (T)1, a, d[i], wp[i], d[i + 1], (T)0, z,
                        d[i + 1], bp[i], (last && net->fused) ? FM_ACT_IDENTITY : net->act[i],
                        (T)net->slope);
            if (last && net->fused && net->n_metrics > 0)
                FN(fm_act_forward)(net->act[i], (T)net->slope, n, d[i + 1], z, outs[i]);
            a = outs[i];
            w += d[i] * d[i + 1] + (net->use_bias[i] ? d[i + 1] : 0);
        }

        /* loss and its gradient at the top */
        const T *top = net->fused ? logits : outs[L - 1];
        double loss = FN(batch_loss)(net, top, tb, lb, n, out_cols, deltas[L - 1]);
        step_loss[s] = loss;

        /* backward: activation derivative, weight and bias gradients, input gradient */
        T *gw = grads;
        T *gwp[FM_MAX_LAYERS];
        for (int i = 0; i < L; i++) {
            gwp[i] = gw;
            gw += d[i] * d[i + 1] + (net->use_bias[i] ? d[i + 1] : 0);
        }
        for (int i = L - 1; i >= 0; i--) {
            T *dy = deltas[i];
            int logits_delta = i == L - 1 && net->fused;
            if (!logits_delta && net->act[i] != FM_ACT_IDENTITY)
                FN(fm_act_backward)(net->act[i], (T)net->slope, n, d[i + 1], dy, outs[i], dy);
            const T *in = i ? outs[i - 1] : xb;
            FN(fm_gemm)(1, 0, d[i], d[i + 1], n, (T)1, in, d[i], dy, d[i + 1], (T)0, gwp[i],
                        d[i + 1], NULL, FM_ACT_IDENTITY, (T)0);
            if (net->use_bias[i])
                FN(fm_column_sum)(n, d[i + 1], dy, gwp[i] + d[i] * d[i + 1]);
            if (i > 0)
                FN(fm_gemm)(0, 1, n, d[i], d[i + 1], (T)1, dy, d[i + 1], wp[i], d[i + 1], (T)0,
                            deltas[i - 1], d[i], NULL, FM_ACT_IDENTITY, (T)0);
        }

        /* A non-finite loss stops before the update: the weights stay as
         * they were before this batch. */
        if (!isfinite(loss))
            return s;
        FN(optimizer_step)(net, net->n_params, params, grads, slot1, slot2, *iterations + 1);
        *iterations += 1;

        for (int k = 0; k < net->n_metrics; k++)
            step_metrics[s * net->n_metrics + k] =
                FN(metric_value)(net->metrics[k], outs[L - 1], tb, lb, n, out_cols);
    }
    return n_steps;
}

#undef FN

#define FN(name) FM_CAT(name, SFX)

size_t FN(fm_predict_work_bytes)(const fm_mlp *net, ptrdiff_t batch)
{
    ptrdiff_t widest = 0;
    for (int i = 1; i < net->n_layers; i++)
        widest = net->dims[i] > widest ? net->dims[i] : widest;
    return (size_t)(2 * batch * widest) * sizeof(T);
}

void FN(fm_predict)(const fm_mlp *net, const T *x, ptrdiff_t rows, ptrdiff_t batch,
                    const T *params, T *work, T *out)
{
    const int L = net->n_layers;
    const ptrdiff_t *d = net->dims;
    ptrdiff_t widest = 0;
    for (int i = 1; i < L; i++)
        widest = d[i] > widest ? d[i] : widest;
    T *buf[2] = {work, work + batch * widest};

    for (ptrdiff_t start = 0; start < rows; start += batch) {
        ptrdiff_t n = rows - start < batch ? rows - start : batch;
        const T *a = x + start * d[0];
        const T *w = params;
        for (int i = 0; i < L; i++) {
            /* hidden outputs alternate between two buffers; the last layer
             * writes its rows of `out` directly */
            T *y = i == L - 1 ? out + start * d[L] : buf[i % 2];
            const T *b = net->use_bias[i] ? w + d[i] * d[i + 1] : NULL;
            FN(fm_gemm)(0, 0, n, d[i + 1], d[i], (T)1, a, d[i], w, d[i + 1], (T)0, y, d[i + 1],
                        b, net->act[i], (T)net->slope);
            a = y;
            w += d[i] * d[i + 1] + (net->use_bias[i] ? d[i + 1] : 0);
        }
    }
}

#undef FN
