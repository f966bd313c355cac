/*
 * fastmlp.h - the one public C header of fastmlp.
 *
 * Every kernel exists for float (_f32) and double (_f64). All matrices are
 * row-major. Unless a comment says otherwise, pointers name distinct,
 * non-overlapping buffers of exactly the size the shape arguments give, and
 * the caller (the Cython bindings) has already checked shapes and dtypes:
 * these functions do no validation of their own.
 *
 * Results never depend on the number of OpenMP threads: work is split over
 * independent outputs, and every reduction adds its terms in a fixed order.
 */
#ifndef FASTMLP_H
#define FASTMLP_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- activations (also the GEMM epilogue) ------------------------------ */

typedef enum {
    FM_ACT_IDENTITY = 0,
    FM_ACT_SIGMOID = 1,
    FM_ACT_TANH = 2,
    FM_ACT_RELU = 3,
    FM_ACT_LEAKY_RELU = 4, /* uses the slope argument, >= 0 */
    FM_ACT_SOFTMAX = 5     /* row-wise over the `cols` of each row */
} fm_activation;

/* ---- CPU features and micro-kernel dispatch (cpu.c) --------------------- */

typedef enum {
    FM_ARCH_GENERIC = 0, /* portable C, any CPU */
    FM_ARCH_AVX2 = 1,    /* AVX2 + FMA */
    FM_ARCH_AVX512 = 2   /* AVX-512 F/DQ/BW/VL */
} fm_arch;

/* Name of an arch ("generic", "avx2", "avx512"), or NULL if out of range. */
const char *fm_arch_name(int arch);
/* 1 if the arch's micro-kernels were compiled into this build. */
int fm_arch_compiled(int arch);
/* 1 if this CPU and OS can run the arch (CPUID and XGETBV both agree). */
int fm_arch_supported(int arch);
/* The arch in use. On first call picks the best supported one, or the one
 * named by the environment variable FASTMLP_ARCH if it is supported. */
int fm_arch_selected(void);
/* Select an arch. Returns 0 on success, -1 if it is not compiled in or not
 * supported by this machine (the selection is then unchanged). */
int fm_arch_select(int arch);
/* What FASTMLP_ARCH asked for at start-up, and whether it could be honoured:
 * -1 unset, -2 unknown name, -3 not supported here, else the arch chosen. */
int fm_arch_env_request(void);

/* ---- threads and build facts (threads.c) -------------------------------- */

void fm_set_num_threads(int n);   /* omp_set_num_threads; 1 without OpenMP */
int fm_get_num_threads(void);     /* omp_get_max_threads */
int fm_openmp_version(void);      /* _OPENMP (yyyymm), 0 without OpenMP */
const char *fm_compiler(void);    /* e.g. "GCC 12.2.0" */

/* For tests: while refused (1), the GEMMs get no packing buffers, as when
 * memory runs out, and take their slow fallback paths (gemm.c). */
void fm_refuse_gemm_workspaces(int refuse);

/* ---- GEMM (gemm.c + gemm_<arch>.c) -------------------------------------- */

/*
 * C = act(alpha * op(A) * op(B) + beta * C + bias)
 *
 * op(A) is m x k: A is stored m x k (lda >= k) or, when trans_a, k x m
 * (lda >= m). op(B) is k x n: B is k x n (ldb >= n) or, when trans_b, n x k
 * (ldb >= k). C is m x n with ldc >= n. bias is NULL or n values added to
 * every row. When beta == 0, C is written without being read (NaN in C is
 * ignored), as in BLAS. k == 0 is allowed: then C = act(beta*C + bias).
 * slope is the leaky_relu negative slope (ignored by other activations).
 * C must not overlap A, B or bias.
 */
void fm_gemm_f32(int trans_a, int trans_b, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k,
                 float alpha, const float *a, ptrdiff_t lda,
                 const float *b, ptrdiff_t ldb, float beta, float *c, ptrdiff_t ldc,
                 const float *bias, int act, float slope);
void fm_gemm_f64(int trans_a, int trans_b, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k,
                 double alpha, const double *a, ptrdiff_t lda,
                 const double *b, ptrdiff_t ldb, double beta, double *c, ptrdiff_t ldc,
                 const double *bias, int act, double slope);

/* ---- activations and bias gradient (elementwise.c) ---------------------- */

/* y = act(x) over a contiguous rows x cols block; y may equal x (in place).
 * Softmax is numerically stable (max subtracted per row). */
void fm_act_forward_f32(int act, float slope, ptrdiff_t rows, ptrdiff_t cols,
                        const float *x, float *y);
void fm_act_forward_f64(int act, double slope, ptrdiff_t rows, ptrdiff_t cols,
                        const double *x, double *y);

/* dx = grad * act'(.) expressed through the forward OUTPUT y, in one pass.
 * For softmax: dx = y * (grad - sum_j grad_j y_j) per row.
 * dx may equal grad (in place); it must not partially overlap y. */
void fm_act_backward_f32(int act, float slope, ptrdiff_t rows, ptrdiff_t cols,
                         const float *grad, const float *y, float *dx);
void fm_act_backward_f64(int act, double slope, ptrdiff_t rows, ptrdiff_t cols,
                         const double *grad, const double *y, double *dx);

/* out[j] = sum_i x[i, j] (the bias gradient), rows added in order 0..rows-1. */
void fm_column_sum_f32(ptrdiff_t rows, ptrdiff_t cols, const float *x, float *out);
void fm_column_sum_f64(ptrdiff_t rows, ptrdiff_t cols, const double *x, double *out);

/* ---- finiteness check (finite.c) ------------------------------------------
 * Index of the first NaN or +-inf among the n elements of x (n >= 0), or -1
 * if all are finite. One pass, no allocation; x needs no alignment. */
ptrdiff_t fm_all_finite_f32(const float *x, ptrdiff_t n);
ptrdiff_t fm_all_finite_f64(const double *x, ptrdiff_t n);
/* The same for the float32 values of n doubles: also flags a finite double
 * that overflows to inf when cast (|x| >= 2^128 - 2^103). */
ptrdiff_t fm_all_finite_as_f32_f64(const double *x, ptrdiff_t n);

/* ---- fused losses (loss.c) ----------------------------------------------
 * Each returns the mean loss (as Keras reduces it) and, when grad is not
 * NULL, writes d(mean loss)/d(input) into grad in the same pass (an empty
 * batch gives NaN, like np.mean of nothing). The sum is
 * accumulated in double, in fixed-size chunks added in order, so it does not
 * depend on the thread count. Stable for |z| up to at least 1e4.
 */

/* Softmax + categorical cross-entropy on logits z (rows x cols), target a
 * probability row (one-hot) per sample. Mean over rows. */
double fm_softmax_xent_f32(ptrdiff_t rows, ptrdiff_t cols, const float *z,
                           const float *target, float *grad);
double fm_softmax_xent_f64(ptrdiff_t rows, ptrdiff_t cols, const double *z,
                           const double *target, double *grad);

/* Same with integer labels, each in [0, cols) (checked by the caller). */
double fm_softmax_xent_sparse_f32(ptrdiff_t rows, ptrdiff_t cols, const float *z,
                                  const int64_t *labels, float *grad);
double fm_softmax_xent_sparse_f64(ptrdiff_t rows, ptrdiff_t cols, const double *z,
                                  const int64_t *labels, double *grad);

/* Sigmoid + binary cross-entropy on logits z, targets in [0, 1]; mean over
 * all n elements. */
double fm_sigmoid_bce_f32(ptrdiff_t n, const float *z, const float *target, float *grad);
double fm_sigmoid_bce_f64(ptrdiff_t n, const double *z, const double *target, double *grad);

/* Mean squared error, mean over all n elements: mean((y - t)^2). */
double fm_mse_f32(ptrdiff_t n, const float *y, const float *target, float *grad);
double fm_mse_f64(ptrdiff_t n, const double *y, const double *target, double *grad);

/* Mean absolute error, mean over all n elements; gradient sign(y - t)/n,
 * 0 where y == t. */
double fm_mae_f32(ptrdiff_t n, const float *y, const float *target, float *grad);
double fm_mae_f64(ptrdiff_t n, const double *y, const double *target, double *grad);

/* Textbook sum of squared errors, 1/2 * sum_j (y_j - t_j)^2 per sample,
 * averaged over the rows of the batch; gradient (y - t) / rows. */
double fm_sse_f32(ptrdiff_t rows, ptrdiff_t cols, const float *y, const float *target,
                  float *grad);
double fm_sse_f64(ptrdiff_t rows, ptrdiff_t cols, const double *y, const double *target,
                  double *grad);

/* ---- optimizer updates in place over flat buffers (optim.c) -------------
 * n parameters w, their gradients g, and the optimizer's state buffers.
 * weight_decay > 0 adds the L2 term: g <- g + weight_decay * w (coupled,
 * as PyTorch's weight_decay and Keras's l2 regularizer gradient), before
 * the update. Update rules are Keras's; see optimizers.py for the formulas.
 * They run with flush-to-zero / denormals-are-zero (x86, restored on
 * return): state values below FLT_MIN (DBL_MIN) are stored as 0, which
 * keeps a step from slowing ~25x once Adam's v decays into the subnormal
 * range and changes weights by far less than their rounding.
 */

/* w -= lr * g */
void fm_sgd_f32(ptrdiff_t n, float *w, const float *g, double lr, double weight_decay);
void fm_sgd_f64(ptrdiff_t n, double *w, const double *g, double lr, double weight_decay);

/* v = momentum * v - lr * g; w += v, or for Nesterov w += momentum * v - lr * g */
void fm_momentum_f32(ptrdiff_t n, float *w, const float *g, float *v, double lr,
                     double momentum, int nesterov, double weight_decay);
void fm_momentum_f64(ptrdiff_t n, double *w, const double *g, double *v, double lr,
                     double momentum, int nesterov, double weight_decay);

/* acc += g^2; w -= lr * g / sqrt(acc + eps)  (Keras 3) */
void fm_adagrad_f32(ptrdiff_t n, float *w, const float *g, float *acc, double lr,
                    double eps, double weight_decay);
void fm_adagrad_f64(ptrdiff_t n, double *w, const double *g, double *acc, double lr,
                    double eps, double weight_decay);

/* ms = rho * ms + (1 - rho) * g^2; w -= lr * g / sqrt(ms + eps)  (Keras 3) */
void fm_rmsprop_f32(ptrdiff_t n, float *w, const float *g, float *ms, double lr,
                    double rho, double eps, double weight_decay);
void fm_rmsprop_f64(ptrdiff_t n, double *w, const double *g, double *ms, double lr,
                    double rho, double eps, double weight_decay);

/* Kingma & Ba with Keras's epsilon placement, step t >= 1:
 * m += (1-b1)(g - m); v += (1-b2)(g^2 - v);
 * w -= lr * sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps) */
void fm_adam_f32(ptrdiff_t n, float *w, const float *g, float *m, float *v, double lr,
                 double beta1, double beta2, double eps, int64_t step, double weight_decay);
void fm_adam_f64(ptrdiff_t n, double *w, const double *g, double *m, double *v, double lr,
                 double beta1, double beta2, double eps, int64_t step, double weight_decay);

/* ---- whole training steps of a Dense-only MLP (train.c) ------------------ */

#define FM_MAX_LAYERS 64

typedef enum {
    FM_LOSS_SOFTMAX_XENT = 0, FM_LOSS_SOFTMAX_XENT_SPARSE = 1, FM_LOSS_SIGMOID_BCE = 2,
    FM_LOSS_MSE = 3, FM_LOSS_MAE = 4, FM_LOSS_SSE = 5
} fm_loss;

typedef enum {
    FM_OPT_SGD = 0, FM_OPT_MOMENTUM = 1, FM_OPT_ADAGRAD = 2, FM_OPT_RMSPROP = 3, FM_OPT_ADAM = 4
} fm_optimizer;

typedef enum {
    FM_METRIC_SPARSE_ACCURACY = 0, FM_METRIC_CATEGORICAL_ACCURACY = 1,
    FM_METRIC_BINARY_ACCURACY = 2, FM_METRIC_MAE = 3, FM_METRIC_MSE = 4
} fm_metric;

/* A Dense-only MLP and how it trains. Parameters sit in one flat buffer,
 * layer by layer: kernel (dims[i] x dims[i+1], row-major) then bias. */
typedef struct {
    int n_layers;             /* 1 .. FM_MAX_LAYERS */
    const ptrdiff_t *dims;    /* n_layers + 1 widths, input first */
    const int *act;           /* fm_activation of each layer */
    const int *use_bias;      /* 0/1 per layer */
    double slope;             /* leaky_relu slope */
    int loss;                 /* fm_loss */
    int fused;                /* 1: the loss takes the last layer's logits */
    int n_metrics;
    const int *metrics;       /* fm_metric, n_metrics of them */
    ptrdiff_t n_params;
    int optimizer;            /* fm_optimizer; hyperparameters below */
    double lr, momentum, rho, beta_1, beta_2, epsilon, weight_decay;
    int nesterov;
} fm_mlp;

/* Bytes of workspace fm_train_steps needs for minibatches of `batch` rows. */
size_t fm_train_work_bytes_f32(const fm_mlp *net, ptrdiff_t batch);
size_t fm_train_work_bytes_f64(const fm_mlp *net, ptrdiff_t batch);

/* Element types of the training input x. */
typedef enum { FM_X_F32 = 0, FM_X_F64 = 1, FM_X_U8 = 2 } fm_x_type;

/* Run steps first_step .. first_step + n_steps - 1 of an epoch over `rows`
 * samples (x: rows x dims[0] C-contiguous elements of x_type, each gathered
 * row cast to the parameters' type as C and NumPy's astype cast it, so x
 * need not be converted first; y: rows x dims[L] targets, or labels: rows
 * int64 class labels for the sparse loss), in the order `order` (a
 * permutation of 0..rows-1, or NULL for 0, 1, ...). Each step: gather the
 * minibatch, forward, loss, backward into grads, then (if the loss is
 * finite) one optimizer update with step number *iterations + 1, after
 * which *iterations is incremented. step_loss[s] gets each loss and
 * step_metrics[s * n_metrics + k] each metric's batch value.
 * Returns the number of steps completed; fewer than n_steps means the loss
 * of the next step was not finite and the weights are as before it. */
ptrdiff_t fm_train_steps_f32(const fm_mlp *net, const void *x, int x_type, const float *y,
                             const int64_t *labels, ptrdiff_t rows, const int64_t *order,
                             ptrdiff_t batch, ptrdiff_t first_step, ptrdiff_t n_steps,
                             float *params, float *grads, float *slot1, float *slot2,
                             int64_t *iterations, float *work, double *step_loss,
                             double *step_metrics);
ptrdiff_t fm_train_steps_f64(const fm_mlp *net, const void *x, int x_type, const double *y,
                             const int64_t *labels, ptrdiff_t rows, const int64_t *order,
                             ptrdiff_t batch, ptrdiff_t first_step, ptrdiff_t n_steps,
                             double *params, double *grads, double *slot1, double *slot2,
                             int64_t *iterations, double *work, double *step_loss,
                             double *step_metrics);

/* Outputs of the MLP (activations included) for `rows` samples of x (rows
 * x dims[0] C-contiguous elements of x_type, cast block by block as in
 * fm_train_steps) into out (rows x dims[L]), at most `batch` rows at a
 * time; each output row has the
 * bits the Python path of predict gives it. Only the layer fields of net
 * are read. fm_predict_work_bytes is the workspace for the current thread
 * count; with less, fewer threads run.
 *
 * Returns 0 if x is known to be finite, else 1 (x may hold a NaN or inf;
 * the caller should scan it). A NaN or inf in a row of x makes that row's
 * first-layer products NaN or inf, so predict learns whether x is finite
 * from sums it computes anyway, without a pass over x of its own; a return
 * of 1 can also mean the sums overflowed, the weights hold a NaN, or (a
 * single block of rows) it did not look. */
size_t fm_predict_work_bytes_f32(const fm_mlp *net, ptrdiff_t batch);
size_t fm_predict_work_bytes_f64(const fm_mlp *net, ptrdiff_t batch);
int fm_predict_f32(const fm_mlp *net, const void *x, int x_type, ptrdiff_t rows,
                   ptrdiff_t batch, const float *params, float *work, size_t work_bytes,
                   float *out);
int fm_predict_f64(const fm_mlp *net, const void *x, int x_type, ptrdiff_t rows,
                   ptrdiff_t batch, const double *params, double *work, size_t work_bytes,
                   double *out);

#ifdef __cplusplus
}
#endif
#endif /* FASTMLP_H */
