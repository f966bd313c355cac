"""The op contract in plain NumPy (see ``fastmlp.backends``): the reference.

This module is written to be read. Every formula here is the one the C
kernels in csrc/ implement (their comments in csrc/fastmlp.h say the same),
and the tests hold the C backend against it. It runs the same argument
checks, in the same order, as ``backends/c.py``, so a bad argument fails
with the same message whichever backend is used.

Precision: float32 inputs are computed in float32 (Python-float scalars do
not upcast under NumPy 2's promotion rules); only loss values, which are
returned as Python floats, are summed in float64.
"""

from __future__ import annotations

from typing import Optional

import numpy as np
from numpy.typing import ArrayLike

from fastmlp.backends import _checks as chk
from fastmlp.backends._named import named_activation_ops

name = "numpy"


# ---- GEMM --------------------------------------------------------------------

def gemm(a: ArrayLike, b: ArrayLike, out: Optional[np.ndarray] = None, *, trans_a: bool = False,
         trans_b: bool = False, alpha: float = 1.0, beta: float = 0.0,
         bias: Optional[ArrayLike] = None, activation: Optional[str] = "identity",
         slope: float = 0.01) -> np.ndarray:
    """out = act(alpha * op(a) @ op(b) + beta * out + bias); see fastmlp.backends."""
    a, b, out, bias, alpha, beta, act, slope = chk.gemm_args(
        a, b, out, trans_a, trans_b, alpha, beta, bias, activation, slope)

    product = np.matmul(a.T if trans_a else a, b.T if trans_b else b)
    if alpha != 1.0:
        product *= alpha
    if beta == 0.0:
        out[...] = product  # the old contents are not read, as in BLAS
    else:
        out *= beta
        out += product
    if bias is not None:
        out += bias
    _forward(act, out, out, slope)
    return out


# ---- activations -------------------------------------------------------------

def _forward(act: str, x: np.ndarray, out: np.ndarray, slope: float) -> None:
    """Write act(x) into out (which may be x)."""
    if act == "sigmoid":
        # exp(-|x|) lies in (0, 1]: no overflow for any x. For x >= 0,
        # 1 / (1 + e^-x); for x < 0 the same value written as e^x / (1 + e^x).
        e = np.exp(-np.abs(x))
        np.divide(np.where(x >= 0, 1, e), 1 + e, out=out)
    elif act == "tanh":
        np.tanh(x, out=out)
    elif act == "relu":
        np.maximum(x, 0, out=out)  # NaN passes through
    elif act == "leaky_relu":
        np.copyto(out, np.where(x < 0, slope * x, x))
    elif act == "softmax":
        if x.shape[-1] == 0:
            return  # no classes: nothing to normalise
        shifted = x - x.max(axis=-1, keepdims=True)  # exp(shifted) <= 1
        np.exp(shifted, out=out)
        out /= out.sum(axis=-1, keepdims=True)
    else:  # identity
        if out is not x:
            np.copyto(out, x)


def _backward(act: str, grad: np.ndarray, y: np.ndarray, out: np.ndarray, slope: float) -> None:
    """Write grad * act'(x) into out, with the derivative expressed through
    the forward output y = act(x). out may be grad."""
    if act == "sigmoid":
        np.multiply(grad, y * (1 - y), out=out)
    elif act == "tanh":
        np.multiply(grad, 1 - y * y, out=out)
    elif act == "relu":
        np.copyto(out, np.where(y > 0, grad, 0))
    elif act == "leaky_relu":
        # slope >= 0, so y > 0 exactly where x > 0
        np.copyto(out, np.where(y > 0, grad, slope * grad))
    elif act == "softmax":
        # d softmax: J = diag(y) - y y^T per row, so J^T g = y * (g - <g, y>)
        dot = np.sum(grad * y, axis=-1, keepdims=True)
        np.multiply(y, grad - dot, out=out)
    else:  # identity
        if out is not grad:
            np.copyto(out, grad)


def activation(name: Optional[str], x: ArrayLike, out: Optional[np.ndarray] = None, *,
               alpha: float = 0.01) -> np.ndarray:
    """y = name(x); softmax over the last axis."""
    act, x, slope, out = chk.activation_args(name, x, out, alpha)
    _forward(act, x, out, slope)
    return out


def activation_backward(name: Optional[str], grad: ArrayLike, y: ArrayLike,
                        out: Optional[np.ndarray] = None, *, alpha: float = 0.01) -> np.ndarray:
    """grad * act'(.) expressed through the forward output y."""
    act, grad, y, slope, out = chk.activation_backward_args(name, grad, y, out, alpha)
    _backward(act, grad, y, out, slope)
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
    np.sum(x, axis=0, out=out)
    return out


# ---- fused losses ------------------------------------------------------------

def _mean(terms: np.ndarray, count: int) -> float:
    """Sum per-element (or per-row) loss terms in float64 and divide."""
    return float(np.sum(terms, dtype=np.float64) / count)


def _log_softmax(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return (log softmax(z), softmax(z)) row-wise, via log-sum-exp."""
    shifted = z - z.max(axis=1, keepdims=True)  # every exp(shifted) <= 1
    exp = np.exp(shifted)
    total = exp.sum(axis=1, keepdims=True)
    return shifted - np.log(total), exp / total


def softmax_cross_entropy(logits: ArrayLike, target: ArrayLike,
                          grad: Optional[np.ndarray] = None) -> tuple[float, np.ndarray]:
    """Mean categorical cross-entropy of softmax(logits); grad w.r.t. logits.

    loss = mean over rows of -sum_j t_j log softmax(z)_j. The gradient,
    softmax(z) * sum_j t_j - t, reduces to softmax(z) - t for targets that
    sum to one, and stays exact for those that do not (e.g. label noise).
    """
    op = "softmax_cross_entropy"
    z, t, grad = chk.loss_inputs(op, "logits", logits, target, grad, ndim=2)
    chk.check_nonempty(op, "logits", z)
    rows = z.shape[0]
    log_p, p = _log_softmax(z)
    loss = _mean(-(t * log_p).sum(axis=1), rows)
    np.divide(p * t.sum(axis=1, keepdims=True) - t, rows, out=grad)
    return loss, grad


def sparse_softmax_cross_entropy(logits: ArrayLike, labels: ArrayLike,
                                 grad: Optional[np.ndarray] = None) -> tuple[float, np.ndarray]:
    """Mean cross-entropy of softmax(logits) against integer labels.

    loss = mean over rows of -log softmax(z)[label]; the gradient is
    (softmax(z) - onehot(label)) / rows.
    """
    z, labels, grad = chk.sparse_softmax_cross_entropy_args(logits, labels, grad)
    rows = z.shape[0]
    every_row = np.arange(rows)
    log_p, p = _log_softmax(z)
    loss = _mean(-log_p[every_row, labels], rows)
    p[every_row, labels] -= 1
    np.divide(p, rows, out=grad)
    return loss, grad


def sigmoid_binary_cross_entropy(logits: ArrayLike, target: ArrayLike,
                                 grad: Optional[np.ndarray] = None) -> tuple[float, np.ndarray]:
    """Mean binary cross-entropy of sigmoid(logits); grad w.r.t. logits.

    Per element, -t log s(z) - (1 - t) log(1 - s(z)) written as
    max(z, 0) - z t + log1p(exp(-|z|)), which never overflows; the
    gradient is (s(z) - t) / size.
    """
    op = "sigmoid_binary_cross_entropy"
    z, t, grad = chk.loss_inputs(op, "logits", logits, target, grad)
    chk.check_nonempty(op, "logits", z)
    terms = np.maximum(z, 0) - z * t + np.log1p(np.exp(-np.abs(z)))
    loss = _mean(terms, z.size)
    _forward("sigmoid", z, grad, 0.0)
    grad -= t
    grad /= z.size
    return loss, grad


def mean_squared_error(y: ArrayLike, target: ArrayLike,
                       grad: Optional[np.ndarray] = None) -> tuple[float, np.ndarray]:
    """mean((y - target)**2) over all elements; grad 2 (y - target) / size."""
    op = "mean_squared_error"
    y, t, grad = chk.loss_inputs(op, "y", y, target, grad)
    chk.check_nonempty(op, "y", y)
    diff = y - t
    loss = _mean(diff * diff, y.size)
    np.multiply(diff, 2 / y.size, out=grad)
    return loss, grad


def mean_absolute_error(y: ArrayLike, target: ArrayLike,
                        grad: Optional[np.ndarray] = None) -> tuple[float, np.ndarray]:
    """mean(|y - target|) over all elements; grad sign(y - target) / size."""
    op = "mean_absolute_error"
    y, t, grad = chk.loss_inputs(op, "y", y, target, grad)
    chk.check_nonempty(op, "y", y)
    diff = y - t
    loss = _mean(np.abs(diff), y.size)
    np.divide(np.sign(diff), y.size, out=grad)  # sign is 0 where y == target
    return loss, grad


def sum_squared_error(y: ArrayLike, target: ArrayLike,
                      grad: Optional[np.ndarray] = None) -> tuple[float, np.ndarray]:
    """Textbook 1/2 * sum of squared errors per sample, averaged over samples.

    A 1-D y holds one output per sample. The gradient is (y - target) / rows.
    """
    y2, t2, grad = chk.sum_squared_error_args(y, target, grad)
    rows = y2.shape[0]
    diff = y2 - t2
    loss = _mean(0.5 * diff * diff, rows)
    np.divide(diff, rows, out=grad.reshape(y2.shape))
    return loss, grad


# ---- optimizers ----------------------------------------------------------------
# Each updates params (and its state buffers) in place. Weight decay is the
# coupled L2 term: the gradient used is g + weight_decay * w.

def _decayed(grads: np.ndarray, params: np.ndarray, weight_decay: float) -> np.ndarray:
    return grads + weight_decay * params if weight_decay else grads


def sgd_update(params: np.ndarray, grads: ArrayLike, *, learning_rate: float,
               weight_decay: float = 0.0) -> None:
    """params -= learning_rate * (grads + weight_decay * params), in place."""
    op = "sgd_update"
    params, grads = chk.optimizer_buffers(op, params, grads)
    h = chk.optimizer_hyper(op, learning_rate=learning_rate, weight_decay=weight_decay)
    g = _decayed(grads, params, h["weight_decay"])
    params -= h["learning_rate"] * g


def momentum_update(params: np.ndarray, grads: ArrayLike, velocity: np.ndarray, *,
                    learning_rate: float, momentum: float, nesterov: bool = False,
                    weight_decay: float = 0.0) -> None:
    """Keras SGD with momentum, in place:
    v = momentum * v - lr * g; w += v, or with Nesterov w += momentum * v - lr * g."""
    op = "momentum_update"
    params, grads, velocity = chk.optimizer_buffers(op, params, grads, velocity=velocity)
    h = chk.optimizer_hyper(op, learning_rate=learning_rate, momentum=momentum,
                            weight_decay=weight_decay)
    lr, mu = h["learning_rate"], h["momentum"]
    g = _decayed(grads, params, h["weight_decay"])
    velocity *= mu
    velocity -= lr * g
    if nesterov:
        params += mu * velocity - lr * g
    else:
        params += velocity


def adagrad_update(params: np.ndarray, grads: ArrayLike, accumulator: np.ndarray, *,
                   learning_rate: float, epsilon: float, weight_decay: float = 0.0) -> None:
    """Keras Adagrad, in place: acc += g^2; w -= lr * g / sqrt(acc + eps)."""
    op = "adagrad_update"
    params, grads, accumulator = chk.optimizer_buffers(op, params, grads, accumulator=accumulator)
    h = chk.optimizer_hyper(op, learning_rate=learning_rate, epsilon=epsilon,
                            weight_decay=weight_decay)
    g = _decayed(grads, params, h["weight_decay"])
    accumulator += g * g
    params -= h["learning_rate"] * g / np.sqrt(accumulator + h["epsilon"])


def rmsprop_update(params: np.ndarray, grads: ArrayLike, mean_square: np.ndarray, *,
                   learning_rate: float, rho: float, epsilon: float,
                   weight_decay: float = 0.0) -> None:
    """Keras RMSprop, in place:
    ms = rho * ms + (1 - rho) * g^2; w -= lr * g / sqrt(ms + eps)."""
    op = "rmsprop_update"
    params, grads, mean_square = chk.optimizer_buffers(op, params, grads, mean_square=mean_square)
    h = chk.optimizer_hyper(op, learning_rate=learning_rate, rho=rho, epsilon=epsilon,
                            weight_decay=weight_decay)
    rho = h["rho"]
    g = _decayed(grads, params, h["weight_decay"])
    mean_square *= rho
    mean_square += (1 - rho) * (g * g)
    params -= h["learning_rate"] * g / np.sqrt(mean_square + h["epsilon"])


def adam_update(params: np.ndarray, grads: ArrayLike, m: np.ndarray, v: np.ndarray, *,
                step: int, learning_rate: float, beta_1: float, beta_2: float, epsilon: float,
                weight_decay: float = 0.0) -> None:
    """Adam with bias correction (Kingma & Ba, Keras's epsilon), in place:
    m += (1 - b1)(g - m); v += (1 - b2)(g^2 - v);
    w -= lr * sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps)."""
    op = "adam_update"
    params, grads, m, v = chk.optimizer_buffers(op, params, grads, m=m, v=v)
    step = chk.check_step(op, step)
    h = chk.optimizer_hyper(op, learning_rate=learning_rate, beta_1=beta_1, beta_2=beta_2,
                            epsilon=epsilon, weight_decay=weight_decay)
    b1, b2 = h["beta_1"], h["beta_2"]
    g = _decayed(grads, params, h["weight_decay"])
    m += (1 - b1) * (g - m)
    v += (1 - b2) * (g * g - v)
    # the bias corrections fold into one step size, computed in double
    step_size = h["learning_rate"] * np.sqrt(1 - b2**step) / (1 - b1**step)
    params -= float(step_size) * m / (np.sqrt(v) + h["epsilon"])
