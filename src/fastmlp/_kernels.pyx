# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Bindings to the C kernels in csrc/ (declared in csrc/fastmlp.h).

Bindings only: each function checks that the buffers it is given have the
sizes the C code will touch, releases the GIL and calls C. Dtype checks come
from the fused memoryview types (float32 or float64, C-contiguous); the
user-facing messages live in fastmlp.backends._checks, which backends/c.py
runs first. The checks here are the memory-safety net under them.
"""

from cpython.buffer cimport (PyBUF_FORMAT, PyBUF_STRIDES, PyBuffer_IsContiguous,
                             PyBuffer_Release, PyObject_GetBuffer)
from cython cimport floating
from libc.math cimport isfinite
from libc.stdint cimport int64_t, uintptr_t

import numpy as np

cdef extern from "fastmlp.h" nogil:
    const char *fm_arch_name(int arch)
    int fm_arch_compiled(int arch)
    int fm_arch_supported(int arch)
    int fm_arch_selected()
    int fm_arch_select(int arch)
    int fm_arch_env_request()

    void fm_set_num_threads(int n)
    int fm_get_num_threads()
    void fm_refuse_gemm_workspaces(int refuse)
    int fm_openmp_version()
    const char *fm_compiler()

    void fm_gemm_f32(int trans_a, int trans_b, Py_ssize_t m, Py_ssize_t n, Py_ssize_t k,
                     float alpha, const float *a, Py_ssize_t lda,
                     const float *b, Py_ssize_t ldb, float beta, float *c, Py_ssize_t ldc,
                     const float *bias, int act, float slope)
    void fm_gemm_f64(int trans_a, int trans_b, Py_ssize_t m, Py_ssize_t n, Py_ssize_t k,
                     double alpha, const double *a, Py_ssize_t lda,
                     const double *b, Py_ssize_t ldb, double beta, double *c, Py_ssize_t ldc,
                     const double *bias, int act, double slope)

    void fm_act_forward_f32(int act, float slope, Py_ssize_t rows, Py_ssize_t cols,
                            const float *x, float *y)
    void fm_act_forward_f64(int act, double slope, Py_ssize_t rows, Py_ssize_t cols,
                            const double *x, double *y)
    void fm_act_backward_f32(int act, float slope, Py_ssize_t rows, Py_ssize_t cols,
                             const float *grad, const float *y, float *dx)
    void fm_act_backward_f64(int act, double slope, Py_ssize_t rows, Py_ssize_t cols,
                             const double *grad, const double *y, double *dx)
    void fm_column_sum_f32(Py_ssize_t rows, Py_ssize_t cols, const float *x, float *out)
    void fm_column_sum_f64(Py_ssize_t rows, Py_ssize_t cols, const double *x, double *out)

    Py_ssize_t fm_all_finite_f32(const float *x, Py_ssize_t n)
    Py_ssize_t fm_all_finite_f64(const double *x, Py_ssize_t n)
    Py_ssize_t fm_all_finite_as_f32_f64(const double *x, Py_ssize_t n)

    double fm_softmax_xent_f32(Py_ssize_t rows, Py_ssize_t cols, const float *z,
                               const float *target, float *grad)
    double fm_softmax_xent_f64(Py_ssize_t rows, Py_ssize_t cols, const double *z,
                               const double *target, double *grad)
    double fm_softmax_xent_sparse_f32(Py_ssize_t rows, Py_ssize_t cols, const float *z,
                                      const int64_t *labels, float *grad)
    double fm_softmax_xent_sparse_f64(Py_ssize_t rows, Py_ssize_t cols, const double *z,
                                      const int64_t *labels, double *grad)
    double fm_sigmoid_bce_f32(Py_ssize_t n, const float *z, const float *target, float *grad)
    double fm_sigmoid_bce_f64(Py_ssize_t n, const double *z, const double *target, double *grad)
    double fm_mse_f32(Py_ssize_t n, const float *y, const float *target, float *grad)
    double fm_mse_f64(Py_ssize_t n, const double *y, const double *target, double *grad)
    double fm_mae_f32(Py_ssize_t n, const float *y, const float *target, float *grad)
    double fm_mae_f64(Py_ssize_t n, const double *y, const double *target, double *grad)
    double fm_sse_f32(Py_ssize_t rows, Py_ssize_t cols, const float *y, const float *target,
                      float *grad)
    double fm_sse_f64(Py_ssize_t rows, Py_ssize_t cols, const double *y, const double *target,
                      double *grad)

    void fm_sgd_f32(Py_ssize_t n, float *w, const float *g, double lr, double wd)
    void fm_sgd_f64(Py_ssize_t n, double *w, const double *g, double lr, double wd)
    void fm_momentum_f32(Py_ssize_t n, float *w, const float *g, float *v, double lr,
                         double momentum, int nesterov, double wd)
    void fm_momentum_f64(Py_ssize_t n, double *w, const double *g, double *v, double lr,
                         double momentum, int nesterov, double wd)
    void fm_adagrad_f32(Py_ssize_t n, float *w, const float *g, float *acc, double lr,
                        double eps, double wd)
    void fm_adagrad_f64(Py_ssize_t n, double *w, const double *g, double *acc, double lr,
                        double eps, double wd)
    void fm_rmsprop_f32(Py_ssize_t n, float *w, const float *g, float *ms, double lr,
                        double rho, double eps, double wd)
    void fm_rmsprop_f64(Py_ssize_t n, double *w, const double *g, double *ms, double lr,
                        double rho, double eps, double wd)
    void fm_adam_f32(Py_ssize_t n, float *w, const float *g, float *m, float *v, double lr,
                     double beta1, double beta2, double eps, int64_t step, double wd)
    void fm_adam_f64(Py_ssize_t n, double *w, const double *g, double *m, double *v, double lr,
                     double beta1, double beta2, double eps, int64_t step, double wd)

    ctypedef struct fm_mlp:
        int n_layers
        const Py_ssize_t *dims
        const int *act
        const int *use_bias
        double slope
        int loss
        int fused
        int n_metrics
        const int *metrics
        Py_ssize_t n_params
        int optimizer
        double lr, momentum, rho, beta_1, beta_2, epsilon, weight_decay
        int nesterov

    size_t fm_train_work_bytes_f32(const fm_mlp *net, Py_ssize_t batch)
    size_t fm_train_work_bytes_f64(const fm_mlp *net, Py_ssize_t batch)
    Py_ssize_t fm_train_steps_f32(const fm_mlp *net, const void *x, int x_type, const float *y,
                                  const int64_t *labels, Py_ssize_t rows, const int64_t *order,
                                  Py_ssize_t batch, Py_ssize_t first_step, Py_ssize_t n_steps,
                                  float *params, float *grads, float *slot1, float *slot2,
                                  int64_t *iterations, float *work, double *step_loss,
                                  double *step_metrics)
    Py_ssize_t fm_train_steps_f64(const fm_mlp *net, const void *x, int x_type, const double *y,
                                  const int64_t *labels, Py_ssize_t rows, const int64_t *order,
                                  Py_ssize_t batch, Py_ssize_t first_step, Py_ssize_t n_steps,
                                  double *params, double *grads, double *slot1, double *slot2,
                                  int64_t *iterations, double *work, double *step_loss,
                                  double *step_metrics)
    int FM_MAX_LAYERS
    size_t fm_predict_work_bytes_f32(const fm_mlp *net, Py_ssize_t batch)
    size_t fm_predict_work_bytes_f64(const fm_mlp *net, Py_ssize_t batch)
    int fm_predict_f32(const fm_mlp *net, const void *x, int x_type, Py_ssize_t rows,
                       Py_ssize_t batch,
                       const float *params, float *work, size_t work_bytes, float *out)
    int fm_predict_f64(const fm_mlp *net, const void *x, int x_type, Py_ssize_t rows,
                       Py_ssize_t batch,
                       const double *params, double *work, size_t work_bytes, double *out)


# ---- CPU dispatch, threads, build facts -------------------------------------

ARCHS = ("generic", "avx2", "avx512")
# The element types TrainPlan.run takes x in, in fm_x_type order (fastmlp.h).
X_TYPES = (np.dtype(np.float32), np.dtype(np.float64), np.dtype(np.uint8))


def arch_name(int arch) -> str:
    cdef const char *s = fm_arch_name(arch)
    if s == NULL:
        raise ValueError(f"no SIMD path numbered {arch}")
    return s.decode()


def compiled_archs() -> tuple:
    """SIMD paths compiled into this build."""
    return tuple(a for i, a in enumerate(ARCHS) if fm_arch_compiled(i))


def supported_archs() -> tuple:
    """SIMD paths compiled in and runnable on this CPU and OS."""
    return tuple(a for i, a in enumerate(ARCHS) if fm_arch_compiled(i) and fm_arch_supported(i))


def selected_arch() -> str:
    """The SIMD path the GEMM uses now."""
    return ARCHS[fm_arch_selected()]


def select_arch(str name) -> None:
    """Use the SIMD path ``name``; ValueError if unknown or not runnable here."""
    if name not in ARCHS:
        raise ValueError(f"unknown SIMD path {name!r}; expected one of {ARCHS}")
    if fm_arch_select(ARCHS.index(name)) != 0:
        raise ValueError(f"SIMD path {name!r} is not supported on this machine; "
                         f"supported: {supported_archs()}")


def env_arch_request() -> int:
    """What FASTMLP_ARCH asked for: -1 unset, -2 unknown, -3 unsupported, else the arch."""
    fm_arch_selected()  # forces the one-time read of FASTMLP_ARCH
    return fm_arch_env_request()


def set_num_threads(int n) -> None:
    fm_set_num_threads(n)


def get_num_threads() -> int:
    return fm_get_num_threads()


def refuse_gemm_workspaces(bint refuse) -> None:
    """For tests: make the GEMMs run without packing buffers (their fallbacks)."""
    fm_refuse_gemm_workspaces(refuse)


def openmp_version() -> int:
    return fm_openmp_version()


def compiler() -> str:
    return fm_compiler().decode()


# ---- helpers ---------------------------------------------------------------

cdef inline void _need(bint ok, str what) except *:
    if not ok:
        raise ValueError(what)


cdef bint _all_below(const int64_t[::1] v, int64_t bound) noexcept nogil:
    """Whether every element of v lies in [0, bound): one pass, no early
    exit and no exception check per element (a _need per element cost 40 us
    per call on 16,512 indices, once per chunk of training steps)."""
    cdef Py_ssize_t i
    cdef bint ok = True
    for i in range(v.shape[0]):
        ok &= (v[i] >= 0) & (v[i] < bound)
    return ok


# ---- GEMM ------------------------------------------------------------------

def gemm(bint trans_a, bint trans_b, double alpha, const floating[:, ::1] a,
         const floating[:, ::1] b, double beta, floating[:, ::1] c,
         const floating[::1] bias, int act, double slope):
    """c = act(alpha * op(a) @ op(b) + beta * c + bias); bias may be None."""
    cdef Py_ssize_t m = a.shape[1] if trans_a else a.shape[0]
    cdef Py_ssize_t k = a.shape[0] if trans_a else a.shape[1]
    cdef Py_ssize_t kb = b.shape[1] if trans_b else b.shape[0]
    cdef Py_ssize_t n = b.shape[0] if trans_b else b.shape[1]
    _need(k == kb, f"gemm: inner dimensions differ ({k} vs {kb})")
    _need(c.shape[0] == m and c.shape[1] == n, f"gemm: out must be ({m}, {n})")
    _need(bias is None or bias.shape[0] == n, f"gemm: bias must have {n} values")
    _need(0 <= act <= 5, "gemm: bad activation code")
    if m == 0 or n == 0:
        return
    cdef const floating *pa = &a[0, 0] if a.shape[0] and a.shape[1] else NULL
    cdef const floating *pb = &b[0, 0] if b.shape[0] and b.shape[1] else NULL
    cdef const floating *pbias = &bias[0] if bias is not None else NULL
    cdef Py_ssize_t lda = a.shape[1], ldb = b.shape[1]
    with nogil:
        if floating is float:
            fm_gemm_f32(trans_a, trans_b, m, n, k, <float>alpha, pa, lda, pb, ldb,
                        <float>beta, &c[0, 0], n, pbias, act, <float>slope)
        else:
            fm_gemm_f64(trans_a, trans_b, m, n, k, alpha, pa, lda, pb, ldb,
                        beta, &c[0, 0], n, pbias, act, slope)


# ---- GEMM, the common call checked in C ------------------------------------
#
# fastmlp.backends.c.gemm's checks in Python (backends/_checks.py) cost ~1.2
# us and the fused-memoryview binding above ~1.2 us more: as much as the
# products of the 128x10x128 GEMMs of the MLP's output layer. gemm_plain
# takes the common call (what _checks._gemm_args_fast accepts, if aligned)
# through the buffer protocol and declines everything else, which then goes
# through the full checks and their error messages. A public 1x1x1 gemm
# went from 2.8 us to 0.64 us (NumPy's matmul: 0.94 us; Zen 4, 2026-12-07).

cdef object _ndarray = np.ndarray
cdef object _NEAR_2_53 = 2 ** 53


cdef bint _plain_number(object x) except -1:
    """A finite Python float, or an int (not bool) that float() takes exactly."""
    if type(x) is float:
        return isfinite(<double>x)
    return type(x) is int and -_NEAR_2_53 <= x <= _NEAR_2_53


cdef char _float_view(object x, Py_buffer *view, int ndim) except -1:
    """If x is an ndarray of ndim dimensions, C-contiguous, aligned, of
    native float32 or float64: fill view (the caller releases it) and return
    'f' or 'd'. Otherwise 0, holding nothing."""
    if type(x) is not _ndarray:
        return 0
    try:
        PyObject_GetBuffer(x, view, PyBUF_FORMAT | PyBUF_STRIDES)
    except (BufferError, ValueError, TypeError):  # dtypes with no buffer format
        return 0
    cdef const char *fmt = view.format
    cdef char kind = fmt[0] if fmt[0] in b"fd" and fmt[1] == 0 else 0
    if (kind == 0 or view.ndim != ndim or not PyBuffer_IsContiguous(view, b"C")
            or <uintptr_t>view.buf % <uintptr_t>view.itemsize != 0):
        PyBuffer_Release(view)
        return 0
    return kind


cdef bint _overlap(const Py_buffer *x, const Py_buffer *y) noexcept:
    """Whether two contiguous buffers share a byte (np.may_share_memory's
    bounds test, exact for contiguous arrays)."""
    cdef const char *x0 = <const char *>x.buf
    cdef const char *y0 = <const char *>y.buf
    return x0 < y0 + y.len and y0 < x0 + x.len


def gemm_plain(a, b, out, trans_a, trans_b, alpha, beta, bias, int act, slope):
    """c = act(alpha * op(a) @ op(b) + beta * out + bias) for the common
    call: C-contiguous aligned ndarrays of one float dtype, plain numbers,
    slope >= 0, out (allocated if None and beta == 0) of the right shape,
    writeable and overlapping nothing. Returns out, or None without touching
    anything if the call is not of that kind."""
    cdef Py_buffer va, vb, vc, vbias
    cdef char ka = 0, kb = 0, kc = 0, kbias = 0
    cdef bint ta = trans_a, tb = trans_b
    cdef Py_ssize_t m, n, k, kb_
    if not (_plain_number(alpha) and _plain_number(beta) and _plain_number(slope)) \
            or slope < 0 or not 0 <= act <= 5:
        return None
    try:
        ka = _float_view(a, &va, 2)
        if ka == 0:
            return None
        kb = _float_view(b, &vb, 2)
        if kb != ka:
            return None
        m, k = va.shape[ta], va.shape[1 - ta]
        kb_, n = vb.shape[tb], vb.shape[1 - tb]
        if k != kb_:
            return None
        if bias is not None:
            kbias = _float_view(bias, &vbias, 1)
            if kbias != ka or vbias.shape[0] != n:
                return None
        if out is None:
            if beta != 0:
                return None
            out = np.empty((m, n), dtype=np.float32 if ka == b'f' else np.float64)
        kc = _float_view(out, &vc, 2)
        if (kc != ka or vc.readonly or vc.shape[0] != m or vc.shape[1] != n
                or _overlap(&vc, &va) or _overlap(&vc, &vb)
                or (kbias and _overlap(&vc, &vbias))):
            return None
        if m and n:
            _gemm_views(ka, ta, tb, alpha, &va, &vb, beta, &vc, &vbias if kbias else NULL,
                        act, slope, m, n, k)
        return out
    finally:  # each view is held if its kind is set
        if ka:
            PyBuffer_Release(&va)
        if kb:
            PyBuffer_Release(&vb)
        if kc:
            PyBuffer_Release(&vc)
        if kbias:
            PyBuffer_Release(&vbias)


cdef void _gemm_views(char kind, bint ta, bint tb, double alpha, const Py_buffer *a,
                      const Py_buffer *b, double beta, const Py_buffer *c,
                      const Py_buffer *bias, int act, double slope, Py_ssize_t m,
                      Py_ssize_t n, Py_ssize_t k) noexcept:
    """fm_gemm on checked views (gemm_plain); an empty A or B is passed as
    NULL, as by gemm above."""
    cdef const void *pa = a.buf if a.len else NULL
    cdef const void *pb = b.buf if b.len else NULL
    cdef const void *pbias = bias.buf if bias != NULL else NULL
    cdef Py_ssize_t lda = a.shape[1], ldb = b.shape[1]
    with nogil:
        if kind == b'f':
            fm_gemm_f32(ta, tb, m, n, k, <float>alpha, <const float *>pa, lda,
                        <const float *>pb, ldb, <float>beta, <float *>c.buf, n,
                        <const float *>pbias, act, <float>slope)
        else:
            fm_gemm_f64(ta, tb, m, n, k, alpha, <const double *>pa, lda, <const double *>pb,
                        ldb, beta, <double *>c.buf, n, <const double *>pbias, act, slope)


# ---- activations -----------------------------------------------------------

def act_forward(int act, double slope, Py_ssize_t rows, Py_ssize_t cols,
                const floating[::1] x, floating[::1] y):
    """y = act(x) over a rows x cols block held in flat buffers."""
    _need(0 <= act <= 5, "activation: bad activation code")
    _need(rows >= 0 and cols >= 0 and x.shape[0] == rows * cols and y.shape[0] == rows * cols,
          "activation: buffers do not match rows x cols")
    if rows * cols == 0:
        return
    with nogil:
        if floating is float:
            fm_act_forward_f32(act, <float>slope, rows, cols, &x[0], &y[0])
        else:
            fm_act_forward_f64(act, slope, rows, cols, &x[0], &y[0])


def act_backward(int act, double slope, Py_ssize_t rows, Py_ssize_t cols,
                 const floating[::1] grad, const floating[::1] y, floating[::1] dx):
    """dx = grad * act'(.) through the forward output y."""
    cdef Py_ssize_t size = rows * cols
    _need(0 <= act <= 5, "activation_backward: bad activation code")
    _need(rows >= 0 and cols >= 0 and grad.shape[0] == size and y.shape[0] == size
          and dx.shape[0] == size, "activation_backward: buffers do not match rows x cols")
    if size == 0:
        return
    with nogil:
        if floating is float:
            fm_act_backward_f32(act, <float>slope, rows, cols, &grad[0], &y[0], &dx[0])
        else:
            fm_act_backward_f64(act, slope, rows, cols, &grad[0], &y[0], &dx[0])


def column_sum(const floating[:, ::1] x, floating[::1] out):
    """out[j] = sum over rows of x[:, j]."""
    cdef Py_ssize_t rows = x.shape[0], cols = x.shape[1]
    _need(out.shape[0] == cols, f"column_sum: out must have {cols} values")
    if cols == 0:
        return
    with nogil:
        if floating is float:
            fm_column_sum_f32(rows, cols, &x[0, 0] if rows else NULL, &out[0])
        else:
            fm_column_sum_f64(rows, cols, &x[0, 0] if rows else NULL, &out[0])


# ---- finiteness check --------------------------------------------------------

def all_finite(const floating[::1] x, bint as_float32=False) -> int:
    """Index of the first NaN or inf in x, or -1 if every element is finite;
    with as_float32 (float64 x only), of x cast to float32."""
    cdef Py_ssize_t n = x.shape[0], first = -1
    if floating is float:
        _need(not as_float32, "all_finite: as_float32 is for float64 x")
    if n == 0:
        return -1
    with nogil:
        if floating is float:
            first = fm_all_finite_f32(&x[0], n)
        elif as_float32:
            first = fm_all_finite_as_f32_f64(&x[0], n)
        else:
            first = fm_all_finite_f64(&x[0], n)
    return first


# ---- losses ----------------------------------------------------------------

def softmax_xent(const floating[:, ::1] z, const floating[:, ::1] target, floating[:, ::1] grad):
    cdef Py_ssize_t rows = z.shape[0], cols = z.shape[1]
    cdef double loss
    _need(target.shape[0] == rows and target.shape[1] == cols, "softmax_cross_entropy: target shape")
    _need(grad is None or (grad.shape[0] == rows and grad.shape[1] == cols),
          "softmax_cross_entropy: grad shape")
    if rows == 0 or cols == 0:
        return float("nan")
    cdef floating *pg = &grad[0, 0] if grad is not None else NULL
    with nogil:
        if floating is float:
            loss = fm_softmax_xent_f32(rows, cols, &z[0, 0], &target[0, 0], pg)
        else:
            loss = fm_softmax_xent_f64(rows, cols, &z[0, 0], &target[0, 0], pg)
    return loss


def softmax_xent_sparse(const floating[:, ::1] z, const int64_t[::1] labels, floating[:, ::1] grad):
    """Labels must already be checked to lie in [0, cols)."""
    cdef Py_ssize_t rows = z.shape[0], cols = z.shape[1], i
    cdef double loss
    _need(labels.shape[0] == rows, "sparse_softmax_cross_entropy: labels length")
    _need(grad is None or (grad.shape[0] == rows and grad.shape[1] == cols),
          "sparse_softmax_cross_entropy: grad shape")
    for i in range(rows):  # cheap next to the kernel; an out-of-range label would write out of bounds
        _need(0 <= labels[i] < cols, "sparse_softmax_cross_entropy: label out of range")
    if rows == 0 or cols == 0:
        return float("nan")
    cdef floating *pg = &grad[0, 0] if grad is not None else NULL
    with nogil:
        if floating is float:
            loss = fm_softmax_xent_sparse_f32(rows, cols, &z[0, 0], &labels[0], pg)
        else:
            loss = fm_softmax_xent_sparse_f64(rows, cols, &z[0, 0], &labels[0], pg)
    return loss


def elementwise_loss(int which, const floating[::1] y, const floating[::1] target, floating[::1] grad):
    """which: 0 sigmoid-BCE, 1 MSE, 2 MAE; mean over all elements."""
    cdef Py_ssize_t n = y.shape[0]
    cdef double loss = 0.0
    _need(target.shape[0] == n and (grad is None or grad.shape[0] == n), "loss: buffer sizes differ")
    _need(0 <= which <= 2, "loss: bad loss code")
    if n == 0:
        return float("nan")
    cdef floating *pg = &grad[0] if grad is not None else NULL
    with nogil:
        if floating is float:
            if which == 0:
                loss = fm_sigmoid_bce_f32(n, &y[0], &target[0], pg)
            elif which == 1:
                loss = fm_mse_f32(n, &y[0], &target[0], pg)
            else:
                loss = fm_mae_f32(n, &y[0], &target[0], pg)
        else:
            if which == 0:
                loss = fm_sigmoid_bce_f64(n, &y[0], &target[0], pg)
            elif which == 1:
                loss = fm_mse_f64(n, &y[0], &target[0], pg)
            else:
                loss = fm_mae_f64(n, &y[0], &target[0], pg)
    return loss


def sse(const floating[:, ::1] y, const floating[:, ::1] target, floating[:, ::1] grad):
    cdef Py_ssize_t rows = y.shape[0], cols = y.shape[1]
    cdef double loss
    _need(target.shape[0] == rows and target.shape[1] == cols, "sum_squared_error: target shape")
    _need(grad is None or (grad.shape[0] == rows and grad.shape[1] == cols),
          "sum_squared_error: grad shape")
    if rows == 0:
        return float("nan")
    if cols == 0:
        return 0.0
    cdef floating *pg = &grad[0, 0] if grad is not None else NULL
    with nogil:
        if floating is float:
            loss = fm_sse_f32(rows, cols, &y[0, 0], &target[0, 0], pg)
        else:
            loss = fm_sse_f64(rows, cols, &y[0, 0], &target[0, 0], pg)
    return loss


# ---- optimizers ------------------------------------------------------------

def sgd(floating[::1] w, const floating[::1] g, double lr, double wd):
    cdef Py_ssize_t n = w.shape[0]
    _need(g.shape[0] == n, "sgd_update: grads size differs from params")
    if n == 0:
        return
    with nogil:
        if floating is float:
            fm_sgd_f32(n, &w[0], &g[0], lr, wd)
        else:
            fm_sgd_f64(n, &w[0], &g[0], lr, wd)


def momentum(floating[::1] w, const floating[::1] g, floating[::1] v, double lr,
             double mom, bint nesterov, double wd):
    cdef Py_ssize_t n = w.shape[0]
    _need(g.shape[0] == n and v.shape[0] == n, "momentum_update: buffer sizes differ")
    if n == 0:
        return
    with nogil:
        if floating is float:
            fm_momentum_f32(n, &w[0], &g[0], &v[0], lr, mom, nesterov, wd)
        else:
            fm_momentum_f64(n, &w[0], &g[0], &v[0], lr, mom, nesterov, wd)


def adagrad(floating[::1] w, const floating[::1] g, floating[::1] acc, double lr,
            double eps, double wd):
    cdef Py_ssize_t n = w.shape[0]
    _need(g.shape[0] == n and acc.shape[0] == n, "adagrad_update: buffer sizes differ")
    if n == 0:
        return
    with nogil:
        if floating is float:
            fm_adagrad_f32(n, &w[0], &g[0], &acc[0], lr, eps, wd)
        else:
            fm_adagrad_f64(n, &w[0], &g[0], &acc[0], lr, eps, wd)


def rmsprop(floating[::1] w, const floating[::1] g, floating[::1] ms, double lr,
            double rho, double eps, double wd):
    cdef Py_ssize_t n = w.shape[0]
    _need(g.shape[0] == n and ms.shape[0] == n, "rmsprop_update: buffer sizes differ")
    if n == 0:
        return
    with nogil:
        if floating is float:
            fm_rmsprop_f32(n, &w[0], &g[0], &ms[0], lr, rho, eps, wd)
        else:
            fm_rmsprop_f64(n, &w[0], &g[0], &ms[0], lr, rho, eps, wd)


def adam(floating[::1] w, const floating[::1] g, floating[::1] m, floating[::1] v,
         double lr, double beta1, double beta2, double eps, int64_t step, double wd):
    cdef Py_ssize_t n = w.shape[0]
    _need(g.shape[0] == n and m.shape[0] == n and v.shape[0] == n, "adam_update: buffer sizes differ")
    _need(step >= 1, "adam_update: step must be >= 1")
    if n == 0:
        return
    with nogil:
        if floating is float:
            fm_adam_f32(n, &w[0], &g[0], &m[0], &v[0], lr, beta1, beta2, eps, step, wd)
        else:
            fm_adam_f64(n, &w[0], &g[0], &m[0], &v[0], lr, beta1, beta2, eps, step, wd)


# ---- whole training steps (train.c) ---------------------------------------

cdef int _N_LOSSES = 6, _N_OPTIMIZERS = 5, _N_METRICS = 5
cdef int _SPARSE_LOSS = 1


cdef class TrainPlan:
    """A Dense-only MLP and its loss, metrics and optimizer, checked once and
    held in the C struct that fm_train_steps reads."""

    cdef fm_mlp net
    cdef Py_ssize_t[::1] _dims
    cdef int[::1] _act, _bias, _metrics
    cdef readonly Py_ssize_t n_params

    def __init__(self, const Py_ssize_t[::1] dims, const int[::1] act, const int[::1] use_bias,
                 double slope, int loss, bint fused, const int[::1] metrics, int optimizer,
                 double lr, double momentum, double rho, double beta_1, double beta_2,
                 double epsilon, double weight_decay, bint nesterov):
        cdef Py_ssize_t L = act.shape[0], i, total = 0
        _need(1 <= L <= FM_MAX_LAYERS, f"TrainPlan: 1 to {FM_MAX_LAYERS} layers, got {L}")
        _need(dims.shape[0] == L + 1 and use_bias.shape[0] == L, "TrainPlan: dims/use_bias length")
        _need(0 <= loss < _N_LOSSES and 0 <= optimizer < _N_OPTIMIZERS, "TrainPlan: bad code")
        for i in range(L + 1):
            _need(dims[i] >= 1, "TrainPlan: every width must be >= 1")
        for i in range(L):
            _need(0 <= act[i] <= 5, "TrainPlan: bad activation code")
            total += dims[i] * dims[i + 1] + (dims[i + 1] if use_bias[i] else 0)
        for i in range(metrics.shape[0]):
            _need(0 <= metrics[i] < _N_METRICS, "TrainPlan: bad metric code")
        self._dims = dims.copy()
        self._act = act.copy()
        self._bias = use_bias.copy()
        self._metrics = metrics.copy() if metrics.shape[0] else None
        self.n_params = total
        self.net.n_layers = <int>L
        self.net.dims = &self._dims[0]
        self.net.act = &self._act[0]
        self.net.use_bias = &self._bias[0]
        self.net.slope = slope
        self.net.loss = loss
        self.net.fused = fused
        self.net.n_metrics = <int>metrics.shape[0]
        self.net.metrics = &self._metrics[0] if metrics.shape[0] else NULL
        self.net.n_params = total
        self.net.optimizer = optimizer
        self.net.lr, self.net.momentum, self.net.rho = lr, momentum, rho
        self.net.beta_1, self.net.beta_2, self.net.epsilon = beta_1, beta_2, epsilon
        self.net.weight_decay, self.net.nesterov = weight_decay, nesterov

    def work_bytes(self, Py_ssize_t batch, bint double_precision) -> int:
        """Bytes of workspace for minibatches of ``batch`` rows."""
        if double_precision:
            return fm_train_work_bytes_f64(&self.net, batch)
        return fm_train_work_bytes_f32(&self.net, batch)

    def run(self, floating[::1] params, const unsigned char[:, ::1] x_bytes, int x_type,
            const floating[:, ::1] y, const int64_t[::1] labels, const int64_t[::1] order,
            Py_ssize_t batch, Py_ssize_t first_step, Py_ssize_t n_steps, floating[::1] grads,
            floating[::1] slot1, floating[::1] slot2, int64_t[::1] iterations,
            floating[::1] work, double[::1] step_loss, double[::1] step_metrics) -> int:
        """Run training steps; returns how many completed (see fastmlp.h).
        x_bytes is x (C-contiguous) viewed as bytes, x_type its element type
        (X_TYPES), so that x need not have the parameters' dtype. params
        comes first: Cython picks float or double from the first argument of
        the fused type, and y may be None."""
        cdef fm_mlp *net = &self.net
        cdef Py_ssize_t rows = x_bytes.shape[0], L = net.n_layers
        cdef Py_ssize_t out = self._dims[L]
        cdef bint sparse = net.loss == _SPARSE_LOSS
        cdef Py_ssize_t steps
        cdef Py_ssize_t done
        # batch <= rows also keeps the step count and the buffer sizes below
        # from overflowing (fit passes min(batch_size, rows))
        _need(rows >= 1 and 1 <= batch <= rows, "train_steps: batch must be in 1..rows")
        steps = (rows + batch - 1) // batch
        _need(0 <= x_type < len(X_TYPES), "train_steps: unknown x_type")
        _need(x_bytes.shape[1] == self._dims[0] * X_TYPES[x_type].itemsize,
              "train_steps: x width differs from the input layer")
        _need(0 <= first_step <= steps and 0 <= n_steps <= steps - first_step,
              "train_steps: steps out of range for this epoch")
        if sparse:
            _need(labels is not None and labels.shape[0] == rows, "train_steps: labels length")
            _need(_all_below(labels, out), "train_steps: label out of range")
        else:
            _need(y is not None and y.shape[0] == rows and y.shape[1] == out,
                  "train_steps: y shape")
        if order is not None:
            _need(order.shape[0] == rows, "train_steps: order length")
            _need(_all_below(order, rows), "train_steps: order index out of range")
        _need(params.shape[0] == self.n_params and grads.shape[0] == self.n_params,
              "train_steps: params/grads size")
        if net.optimizer != 0:  # every optimizer but plain SGD keeps a slot
            _need(slot1 is not None and slot1.shape[0] == self.n_params, "train_steps: slot1 size")
        if net.optimizer == 4:
            _need(slot2 is not None and slot2.shape[0] == self.n_params, "train_steps: slot2 size")
        _need(iterations.shape[0] == 1, "train_steps: iterations holds one counter")
        cdef size_t need
        if floating is float:
            need = fm_train_work_bytes_f32(net, batch)
        else:
            need = fm_train_work_bytes_f64(net, batch)
        _need(<size_t>work.shape[0] * sizeof(floating) >= need, "train_steps: work too small")
        _need(step_loss.shape[0] >= n_steps, "train_steps: step_loss too short")
        _need(net.n_metrics == 0 or step_metrics.shape[0] >= n_steps * net.n_metrics,
              "train_steps: step_metrics too short")
        if n_steps == 0:
            return 0
        cdef const floating *py = &y[0, 0] if y is not None else NULL
        cdef const int64_t *pl = &labels[0] if labels is not None else NULL
        cdef const int64_t *po = &order[0] if order is not None else NULL
        cdef floating *s1 = &slot1[0] if slot1 is not None else NULL
        cdef floating *s2 = &slot2[0] if slot2 is not None else NULL
        cdef double *pm = &step_metrics[0] if net.n_metrics else NULL
        with nogil:
            if floating is float:
                done = fm_train_steps_f32(net, &x_bytes[0, 0], x_type, py, pl, rows, po, batch,
                                          first_step, n_steps, &params[0], &grads[0], s1, s2,
                                          &iterations[0], &work[0], &step_loss[0], pm)
            else:
                done = fm_train_steps_f64(net, &x_bytes[0, 0], x_type, py, pl, rows, po, batch,
                                          first_step, n_steps, &params[0], &grads[0], s1, s2,
                                          &iterations[0], &work[0], &step_loss[0], pm)
        return done

    def predict(self, const floating[::1] params, const unsigned char[:, ::1] x_bytes,
                int x_type, Py_ssize_t batch, floating[::1] work, floating[:, ::1] out) -> bool:
        """Outputs for every row of x into out, batch rows at a time; x as in
        run (bytes and an X_TYPES index). Returns False if x is known to be
        finite, True if it may hold a NaN or inf and must be scanned
        (csrc/fastmlp.h, fm_predict)."""
        cdef fm_mlp *net = &self.net
        cdef Py_ssize_t rows = x_bytes.shape[0], L = net.n_layers
        cdef size_t need
        cdef int suspect
        _need(batch >= 1, "predict: batch must be >= 1")
        _need(0 <= x_type < len(X_TYPES), "predict: unknown x_type")
        _need(x_bytes.shape[1] == self._dims[0] * X_TYPES[x_type].itemsize,
              "predict: x width differs from the input layer")
        _need(out.shape[0] == rows and out.shape[1] == self._dims[L], "predict: out shape")
        _need(params.shape[0] == self.n_params, "predict: params size")
        if floating is float:
            need = fm_predict_work_bytes_f32(net, batch)
        else:
            need = fm_predict_work_bytes_f64(net, batch)
        _need(<size_t>work.shape[0] * sizeof(floating) >= need, "predict: work too small")
        if rows == 0:
            return False
        cdef floating *pw = &work[0] if work.shape[0] else NULL
        with nogil:
            if floating is float:
                suspect = fm_predict_f32(net, &x_bytes[0, 0], x_type, rows, batch, &params[0],
                                         pw, <size_t>work.shape[0] * sizeof(float), &out[0, 0])
            else:
                suspect = fm_predict_f64(net, &x_bytes[0, 0], x_type, rows, batch, &params[0],
                                         pw, <size_t>work.shape[0] * sizeof(double), &out[0, 0])
        return suspect != 0

    def predict_work_bytes(self, Py_ssize_t batch, bint double_precision) -> int:
        """Bytes of workspace predict needs for ``batch`` rows at a time."""
        if double_precision:
            return fm_predict_work_bytes_f64(&self.net, batch)
        return fm_predict_work_bytes_f32(&self.net, batch)
