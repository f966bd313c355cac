"""The op contract on the C/OpenMP kernels (see ``fastmlp.backends``).

Each op runs the shared argument checks of ``_checks`` (the same ones the
NumPy reference runs, so both fail alike), makes inputs C-contiguous, and
calls one binding in ``fastmlp._kernels``, which releases the GIL.
"""

from __future__ import annotations

import contextlib
from typing import Iterator, Optional

import numpy as np
from numpy.typing import ArrayLike

from fastmlp import _kernels as _k
from fastmlp._config import warn_on_bad_env_arch
from fastmlp.backends import ACTIVATIONS
from fastmlp.backends import _checks as chk
from fastmlp.backends._named import named_activation_ops

name = "c"

warn_on_bad_env_arch()

_ACT_CODE = {a: i for i, a in enumerate(ACTIVATIONS)}
_BCE, _MSE, _MAE = 0, 1, 2


# ---- SIMD path control (for tests and show_config) --------------------------

def available_archs() -> tuple[str, ...]:
    """SIMD paths compiled in and runnable on this machine, e.g. ("generic", "avx2", "avx512")."""
    return _k.supported_archs()


@contextlib.contextmanager
def forced_arch(arch: str) -> Iterator[None]:
    """Run the block with the GEMM micro-kernels of ``arch``, then restore."""
    before = _k.selected_arch()
    _k.select_arch(arch)
    try:
        yield
    finally:
        _k.select_arch(before)


@contextlib.contextmanager
def refused_workspaces() -> Iterator[None]:
    """Run the block with the GEMMs denied their packing buffers, as when
    memory runs out, so that they take their slow fallback paths (for tests)."""
    _k.refuse_gemm_workspaces(True)
    try:
        yield
    finally:
        _k.refuse_gemm_workspaces(False)


# ---- GEMM --------------------------------------------------------------------

def gemm(a: ArrayLike, b: ArrayLike, out: Optional[np.ndarray] = None, *, trans_a: bool = False,
         trans_b: bool = False, alpha: float = 1.0, beta: float = 0.0,
         bias: Optional[ArrayLike] = None, activation: Optional[str] = "identity",
         slope: float = 0.01) -> np.ndarray:
    """out = act(alpha * op(a) @ op(b) + beta * out + bias); see fastmlp.backends."""
    # The common call is checked and run by one binding (0.64 us a 1x1x1
    # call, against 2.8 through the checks below and the general binding);
    # it declines anything else, which then gets the full checks and their
    # messages.
    code = 0 if activation is None else (
        _ACT_CODE.get(activation, -1) if type(activation) is str else -1)
    if code >= 0:
        done = _k.gemm_plain(a, b, out, trans_a, trans_b, alpha, beta, bias, code, slope)
        if done is not None:
            return done
    a, b, out, bias, alpha, beta, act, slope = chk.gemm_args(
        a, b, out, trans_a, trans_b, alpha, beta, bias, activation, slope)
    _k.gemm(bool(trans_a), bool(trans_b), alpha, a, b, beta, out, bias, _ACT_CODE[act], slope)
    return out


# ---- activations -------------------------------------------------------------

def _rows_cols(x: np.ndarray, act: str) -> tuple[int, int]:
    if act == "softmax":
        cols = x.shape[-1]
        return (x.size // cols if cols else 0), cols
    return 1, x.size


def activation(name: Optional[str], x: ArrayLike, out: Optional[np.ndarray] = None, *,
               alpha: float = 0.01) -> np.ndarray:
    """y = name(x); softmax over the last axis."""
    act, x, slope, out = chk.activation_args(name, x, out, alpha)
    rows, cols = _rows_cols(x, act)
    _k.act_forward(_ACT_CODE[act], slope, rows, cols, x.reshape(-1), out.reshape(-1))
    return out


def activation_backward(name: Optional[str], grad: ArrayLike, y: ArrayLike,
                        out: Optional[np.ndarray] = None, *, alpha: float = 0.01) -> np.ndarray:
    """grad * act'(.) expressed through the forward output y."""
    act, grad, y, slope, out = chk.activation_backward_args(name, grad, y, out, alpha)
    rows, cols = _rows_cols(y, act)
    _k.act_backward(_ACT_CODE[act], slope, rows, cols, grad.reshape(-1), y.reshape(-1),
                    out.reshape(-1))
    return out


# relu, relu_backward and the other named ops: one-line calls to the two
# functions above, the same in both backends, so written once in _named.
globals().update(named_activation_ops(globals()))


# ---- bias gradient -----------------------------------------------------------

def column_sum(x: ArrayLike, out: Optional[np.ndarray] = None) -> np.ndarray:
    """Sum over axis 0 of a 2-D array (the bias gradient)."""
    (x,) = chk.as_float_arrays("column_sum", x=x)
    chk.check_ndim("column_sum", "x", x, 2)
    out = chk.prepare_out("column_sum", "out", out, (x.shape[1],), x.dtype)
    _k.column_sum(x, out)
    return out


# ---- fused losses ------------------------------------------------------------

def softmax_cross_entropy(logits: ArrayLike, target: ArrayLike,
                          grad: Optional[np.ndarray] = None) -> tuple[float, np.ndarray]:
    """Mean categorical cross-entropy of softmax(logits); grad w.r.t. logits."""
    op = "softmax_cross_entropy"
    z, t, grad = chk.loss_inputs(op, "logits", logits, target, grad, ndim=2)
    chk.check_nonempty(op, "logits", z)
    return _k.softmax_xent(z, t, grad), grad


def sparse_softmax_cross_entropy(logits: ArrayLike, labels: ArrayLike,
                                 grad: Optional[np.ndarray] = None) -> tuple[float, np.ndarray]:
    """Mean cross-entropy of softmax(logits) against integer labels."""
    z, labels, grad = chk.sparse_softmax_cross_entropy_args(logits, labels, grad)
    return _k.softmax_xent_sparse(z, labels, grad), grad


def _elementwise_loss(op: str, code: int, first: str, x, target, grad):
    x, t, grad = chk.loss_inputs(op, first, x, target, grad)
    chk.check_nonempty(op, first, x)
    loss = _k.elementwise_loss(code, x.reshape(-1), t.reshape(-1), grad.reshape(-1))
    return loss, grad


def sigmoid_binary_cross_entropy(logits: ArrayLike, target: ArrayLike,
                                 grad: Optional[np.ndarray] = None) -> tuple[float, np.ndarray]:
    """Mean binary cross-entropy of sigmoid(logits); grad w.r.t. logits."""
    return _elementwise_loss("sigmoid_binary_cross_entropy", _BCE, "logits", logits, target, grad)


def mean_squared_error(y: ArrayLike, target: ArrayLike,
                       grad: Optional[np.ndarray] = None) -> tuple[float, np.ndarray]:
    """mean((y - target)**2) over all elements; grad w.r.t. y."""
    return _elementwise_loss("mean_squared_error", _MSE, "y", y, target, grad)


def mean_absolute_error(y: ArrayLike, target: ArrayLike,
                        grad: Optional[np.ndarray] = None) -> tuple[float, np.ndarray]:
    """mean(|y - target|) over all elements; grad sign(y - target) / size."""
    return _elementwise_loss("mean_absolute_error", _MAE, "y", y, target, grad)


def sum_squared_error(y: ArrayLike, target: ArrayLike,
                      grad: Optional[np.ndarray] = None) -> tuple[float, np.ndarray]:
    """Textbook 1/2 * sum of squared errors per sample, averaged over samples."""
    y2, t2, grad = chk.sum_squared_error_args(y, target, grad)
    return _k.sse(y2, t2, grad.reshape(y2.shape)), grad


# ---- optimizers ----------------------------------------------------------------

def sgd_update(params: np.ndarray, grads: ArrayLike, *, learning_rate: float,
               weight_decay: float = 0.0) -> None:
    """params -= learning_rate * (grads + weight_decay * params), in place."""
    op = "sgd_update"
    params, grads = chk.optimizer_buffers(op, params, grads)
    h = chk.optimizer_hyper(op, learning_rate=learning_rate, weight_decay=weight_decay)
    _k.sgd(params, grads, h["learning_rate"], h["weight_decay"])


def momentum_update(params: np.ndarray, grads: ArrayLike, velocity: np.ndarray, *,
                    learning_rate: float, momentum: float, nesterov: bool = False,
                    weight_decay: float = 0.0) -> None:
    """Keras SGD with momentum (and Nesterov), in place."""
    op = "momentum_update"
    params, grads, velocity = chk.optimizer_buffers(op, params, grads, velocity=velocity)
    h = chk.optimizer_hyper(op, learning_rate=learning_rate, momentum=momentum,
                            weight_decay=weight_decay)
    _k.momentum(params, grads, velocity, h["learning_rate"], h["momentum"], bool(nesterov),
                h["weight_decay"])


def adagrad_update(params: np.ndarray, grads: ArrayLike, accumulator: np.ndarray, *,
                   learning_rate: float, epsilon: float, weight_decay: float = 0.0) -> None:
    """Keras Adagrad, in place."""
    op = "adagrad_update"
    params, grads, accumulator = chk.optimizer_buffers(op, params, grads, accumulator=accumulator)
    h = chk.optimizer_hyper(op, learning_rate=learning_rate, epsilon=epsilon,
                            weight_decay=weight_decay)
    _k.adagrad(params, grads, accumulator, h["learning_rate"], h["epsilon"], h["weight_decay"])


def rmsprop_update(params: np.ndarray, grads: ArrayLike, mean_square: np.ndarray, *,
                   learning_rate: float, rho: float, epsilon: float,
                   weight_decay: float = 0.0) -> None:
    """Keras RMSprop, in place."""
    op = "rmsprop_update"
    params, grads, mean_square = chk.optimizer_buffers(op, params, grads, mean_square=mean_square)
    h = chk.optimizer_hyper(op, learning_rate=learning_rate, rho=rho, epsilon=epsilon,
                            weight_decay=weight_decay)
    _k.rmsprop(params, grads, mean_square, h["learning_rate"], h["rho"], h["epsilon"],
               h["weight_decay"])


def adam_update(params: np.ndarray, grads: ArrayLike, m: np.ndarray, v: np.ndarray, *,
                step: int, learning_rate: float, beta_1: float, beta_2: float, epsilon: float,
                weight_decay: float = 0.0) -> None:
    """Adam with bias correction (Kingma & Ba, Keras's epsilon), in place."""
    op = "adam_update"
    params, grads, m, v = chk.optimizer_buffers(op, params, grads, m=m, v=v)
    step = chk.check_step(op, step)
    h = chk.optimizer_hyper(op, learning_rate=learning_rate, beta_1=beta_1, beta_2=beta_2,
                            epsilon=epsilon, weight_decay=weight_decay)
    _k.adam(params, grads, m, v, h["learning_rate"], h["beta_1"], h["beta_2"], h["epsilon"],
            step, h["weight_decay"])
