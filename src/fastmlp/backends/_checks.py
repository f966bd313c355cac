"""Argument checks shared by both backends, so both fail the same way.

Each check names the op and the argument and says what it got. The C
bindings check again (memory safety); these give the user-facing message.
"""

from __future__ import annotations

import math
from typing import Optional

import numpy as np

from fastmlp.backends import ACTIVATIONS

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))

# np.may_share_memory without NumPy's __array_function__ dispatch, which
# costs more than the bounds check itself; these checks run on every op
# call, so on small arrays they are most of the call's time.
_may_share_memory = getattr(np.may_share_memory, "_implementation", np.may_share_memory)


def as_float_arrays(op: str, **arrays: object) -> tuple[np.ndarray, ...]:
    """Return the arguments as C-contiguous arrays of one float dtype.

    Non-contiguous arrays are copied; integer, bool or object arrays and a
    mix of float32 with float64 raise TypeError naming the argument.
    """
    out = []
    dtype = None
    first = None
    for name, value in arrays.items():
        arr = value if type(value) is np.ndarray else np.asarray(value)
        if arr.dtype not in FLOAT_DTYPES:
            raise TypeError(
                f"{op}: {name} has dtype {arr.dtype} (shape {arr.shape}); "
                "expected float32 or float64"
            )
        if dtype is None:
            dtype, first = arr.dtype, name
        elif arr.dtype != dtype:
            raise TypeError(
                f"{op}: {name} has dtype {arr.dtype} but {first} has {dtype}; "
                "all arrays must share one dtype"
            )
        # not np.ascontiguousarray: it turns a 0-d array into shape (1,)
        out.append(arr if arr.flags.c_contiguous else np.array(arr, order="C"))
    return tuple(out)


def check_ndim(op: str, name: str, arr: np.ndarray, ndim: int) -> None:
    """Raise ValueError unless ``arr`` has ``ndim`` dimensions."""
    if arr.ndim != ndim:
        raise ValueError(f"{op}: {name} must be {ndim}-D, got shape {arr.shape}")


def check_same_shape(op: str, names: tuple[str, str], a: np.ndarray, b: np.ndarray) -> None:
    """Raise ValueError unless two arrays have the same shape."""
    if a.shape != b.shape:
        raise ValueError(
            f"{op}: {names[0]} has shape {a.shape} but {names[1]} has shape {b.shape}; "
            "they must match"
        )


def prepare_out(
    op: str, name: str, out: object, shape: tuple[int, ...], dtype: np.dtype
) -> np.ndarray:
    """Return ``out``, or a new empty array when it is None, after checking it
    is a writable C-contiguous ndarray of the given shape and dtype."""
    if out is None:
        return np.empty(shape, dtype=dtype)
    if not isinstance(out, np.ndarray):
        raise TypeError(f"{op}: {name} must be a numpy.ndarray, got {type(out).__name__}")
    if out.dtype != dtype:
        raise TypeError(f"{op}: {name} has dtype {out.dtype}; expected {dtype}")
    if out.shape != tuple(shape):
        raise ValueError(f"{op}: {name} has shape {out.shape}; expected {tuple(shape)}")
    if not out.flags.c_contiguous:
        raise ValueError(f"{op}: {name} must be C-contiguous (got strides {out.strides})")
    if not out.flags.writeable:
        raise ValueError(f"{op}: {name} is read-only")
    return out


def check_inplace_buffer(op: str, name: str, arr: object, size: int, dtype: np.dtype) -> np.ndarray:
    """Check an optimizer buffer that is updated in place: a writable,
    C-contiguous 1-D ndarray of ``size`` elements of ``dtype``."""
    if not isinstance(arr, np.ndarray):
        raise TypeError(f"{op}: {name} must be a numpy.ndarray, got {type(arr).__name__}")
    if arr.dtype not in FLOAT_DTYPES:
        raise TypeError(f"{op}: {name} has dtype {arr.dtype}; expected float32 or float64")
    if arr.dtype != dtype:
        raise TypeError(f"{op}: {name} has dtype {arr.dtype}; expected {dtype} like params")
    if arr.ndim != 1 or arr.shape[0] != size:
        raise ValueError(f"{op}: {name} has shape {arr.shape}; expected ({size},) like params")
    if not arr.flags.c_contiguous:
        raise ValueError(f"{op}: {name} must be C-contiguous (got strides {arr.strides})")
    if not arr.flags.writeable:
        raise ValueError(f"{op}: {name} is read-only")
    return arr


def check_scalar(op: str, name: str, value: object, *, low: float | None = None,
                 high: float | None = None, low_open: bool = False) -> float:
    """Return ``value`` as a finite float within [low, high] (or (low, high]
    when ``low_open``), else raise ValueError naming it."""
    try:
        x = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise TypeError(f"{op}: {name} must be a number, got {value!r}") from None
    if not math.isfinite(x):
        raise ValueError(f"{op}: {name} must be finite, got {x}")
    if low is not None and (x <= low if low_open else x < low):
        bound = f"> {low}" if low_open else f">= {low}"
        raise ValueError(f"{op}: {name} must be {bound}, got {x}")
    if high is not None and x > high:
        raise ValueError(f"{op}: {name} must be <= {high}, got {x}")
    return x


def check_activation(op: str, name: object) -> str:
    """Return a valid activation name or raise ValueError listing them."""
    if name is None:
        return "identity"
    if name not in ACTIVATIONS:
        raise ValueError(f"{op}: unknown activation {name!r}; expected one of {ACTIVATIONS}")
    return str(name)


def check_labels(op: str, labels: object, rows: int, classes: int) -> np.ndarray:
    """Return integer class labels as a contiguous int64 vector of length
    ``rows``, each in [0, classes), else raise naming the bad value."""
    arr = np.asarray(labels)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.dtype.kind not in "iu":
        if arr.dtype.kind == "f" and arr.size and np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)):
            arr = arr.astype(np.int64)
        elif arr.dtype.kind == "f" and arr.size == 0:
            arr = arr.astype(np.int64)
        else:
            raise TypeError(f"{op}: labels must be integers, got dtype {arr.dtype} (shape {arr.shape})")
    if arr.shape != (rows,):
        raise ValueError(f"{op}: labels has shape {arr.shape}; expected ({rows},), one label per row of logits")
    if rows:
        lo, hi = int(arr.min()), int(arr.max())
        if lo < 0 or hi >= classes:
            bad = lo if lo < 0 else hi
            raise ValueError(f"{op}: label {bad} is out of range for {classes} classes (expected 0..{classes - 1})")
    return np.ascontiguousarray(arr, dtype=np.int64)


def check_min_ndim(op: str, name: str, arr: np.ndarray, ndim: int) -> None:
    """Raise ValueError unless ``arr`` has at least ``ndim`` dimensions."""
    if arr.ndim < ndim:
        raise ValueError(f"{op}: {name} must have at least {ndim} dimension(s), got shape {arr.shape}")


def check_nonempty(op: str, name: str, arr: np.ndarray) -> None:
    """A mean loss over no samples is undefined: raise ValueError."""
    if arr.size == 0:
        raise ValueError(f"{op}: {name} is empty (shape {arr.shape}); a mean loss needs at least one value")


def gemm_shapes(a: np.ndarray, b: np.ndarray, trans_a: bool, trans_b: bool) -> tuple[int, int]:
    """Return (m, n) of op(a) @ op(b) after checking both are 2-D and the
    inner dimensions agree."""
    check_ndim("gemm", "a", a, 2)
    check_ndim("gemm", "b", b, 2)
    m, ka = (a.shape[1], a.shape[0]) if trans_a else a.shape
    kb, n = (b.shape[1], b.shape[0]) if trans_b else b.shape
    if ka != kb:
        raise ValueError(
            f"gemm: op(a) is {m}x{ka} (a {a.shape}, trans_a={bool(trans_a)}) but op(b) is "
            f"{kb}x{n} (b {b.shape}, trans_b={bool(trans_b)}); inner dimensions must match"
        )
    return int(m), int(n)


def check_bias(bias: np.ndarray, n: int, dtype: np.dtype) -> None:
    """bias must be a vector of n values of the GEMM's dtype."""
    if bias.dtype != dtype:
        raise TypeError(f"gemm: bias has dtype {bias.dtype} but a has {dtype}")
    if bias.shape != (n,):
        raise ValueError(f"gemm: bias has shape {bias.shape}; expected ({n},), one value per output column")


def as_rows(op: str, name: str, arr: np.ndarray) -> np.ndarray:
    """View a 1-D array as one column per sample, keep a 2-D one; else raise."""
    if arr.ndim == 1:
        return arr.reshape(-1, 1)
    check_ndim(op, name, arr, 2)
    return arr


def sum_squared_error_args(y: object, target: object, grad: object
                           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Checked (y, target) as rows x outputs (a 1-D y is one output per
    sample) and the grad buffer, shaped like the y the caller passed."""
    op = "sum_squared_error"
    y, t = as_float_arrays(op, y=y, target=target)
    check_same_shape(op, ("y", "target"), y, t)
    y2, t2 = as_rows(op, "y", y), as_rows(op, "target", t)
    check_nonempty(op, "y", y2)
    grad = prepare_out(op, "grad", grad, y.shape, y.dtype)
    check_no_overlap(op, "grad", grad, y=y, target=t)
    return y2, t2, grad


def optimizer_buffers(op: str, params: object, grads: object, **state: object) -> tuple[np.ndarray, ...]:
    """Check the flat buffers of an optimizer step: params and every state
    buffer are updated in place, so they must be writable contiguous 1-D
    float arrays; grads must match params in size and dtype."""
    if not isinstance(params, np.ndarray):
        raise TypeError(f"{op}: params must be a numpy.ndarray, got {type(params).__name__}")
    if params.dtype not in FLOAT_DTYPES:
        raise TypeError(f"{op}: params has dtype {params.dtype}; expected float32 or float64")
    size = params.size
    params = check_inplace_buffer(op, "params", params, size, params.dtype)
    (grads,) = as_float_arrays(op, grads=grads)
    if grads.dtype != params.dtype:
        raise TypeError(f"{op}: grads has dtype {grads.dtype} but params has {params.dtype}")
    if grads.shape != (size,):
        raise ValueError(f"{op}: grads has shape {grads.shape}; expected ({size},) like params")
    bufs = [check_inplace_buffer(op, k, v, size, params.dtype) for k, v in state.items()]
    # Each buffer is written while the others are read: aliases (m is v,
    # grads a view of params) would give silently wrong updates.
    named = {"params": params, "grads": grads, **dict(zip(state, bufs))}
    names = list(named)
    for i, first in enumerate(names):
        later = {k: named[k] for k in names[i + 1:]}
        check_no_overlap(op, first, named[first], **later)
    return (params, grads, *bufs)


# Allowed range of each optimizer hyperparameter: (low, high, low_open).
_HYPER_RANGES = {
    "learning_rate": (0.0, None, False),
    "weight_decay": (0.0, None, False),
    "momentum": (0.0, None, False),
    "epsilon": (0.0, None, False),
    "rho": (0.0, 1.0, False),
    "beta_1": (0.0, 1.0, False),
    "beta_2": (0.0, 1.0, False),
}


def optimizer_hyper(op: str, **values: object) -> dict[str, float]:
    """Return the hyperparameters as floats after range checks (all finite)."""
    out = {}
    for key, value in values.items():
        low, high, low_open = _HYPER_RANGES[key]
        x = check_scalar(op, key, value, low=low, high=high, low_open=low_open)
        if key in ("rho", "beta_1", "beta_2") and x >= 1.0:
            raise ValueError(f"{op}: {key} must be < 1, got {x}")
        out[key] = x
    return out


def check_step(op: str, step: object) -> int:
    """Adam's step counter: an integer >= 1."""
    if isinstance(step, bool) or not isinstance(step, (int, np.integer)):
        raise TypeError(f"{op}: step must be an integer >= 1, got {step!r}")
    if step < 1:
        raise ValueError(f"{op}: step must be >= 1, got {step}")
    return int(step)


def check_no_overlap(op: str, name: str, out: np.ndarray, **inputs: object) -> None:
    """Raise ValueError if the output buffer ``name`` shares memory with any
    of ``inputs`` (None entries are skipped): the kernels read their inputs
    while writing, so an overlapping output would corrupt them."""
    for arg, arr in inputs.items():
        if arr is not None and _may_share_memory(out, arr):
            raise ValueError(f"{op}: {name} must not share memory with {arg}")


def check_inplace_or_disjoint(op: str, name: str, out: np.ndarray, arg: str, arr: np.ndarray) -> None:
    """``out`` may be exactly ``arr`` (in place: same memory, shape and
    strides) or apart from it; a partial overlap would be read after being
    written by another thread's block, so it raises ValueError."""
    if out is arr or not _may_share_memory(out, arr):
        return
    same = (out.__array_interface__["data"][0] == arr.__array_interface__["data"][0]
            and out.shape == arr.shape and out.strides == arr.strides)
    if not same:
        raise ValueError(f"{op}: {name} partly overlaps {arg}; pass {arg} itself for in-place, "
                         "or a separate buffer")


# ---- the checks of whole ops ------------------------------------------------
# Both backends start these ops with one call here, so a bad argument fails
# with the same message, found in the same order, whichever backend runs.

def gemm_args(a: object, b: object, out: object, trans_a: bool, trans_b: bool, alpha: object,
              beta: object, bias: object, activation: object, slope: object) -> tuple:
    """Check the arguments of gemm; return (a, b, out, bias, alpha, beta,
    act, slope) with the arrays contiguous and out allocated if None."""
    fast = _gemm_args_fast(a, b, out, trans_a, trans_b, alpha, beta, bias, activation, slope)
    if fast is not None:
        return fast
    a, b = as_float_arrays("gemm", a=a, b=b)
    m, n = gemm_shapes(a, b, trans_a, trans_b)
    alpha = check_scalar("gemm", "alpha", alpha)
    beta = check_scalar("gemm", "beta", beta)
    act = check_activation("gemm", activation)
    slope = check_scalar("gemm", "slope", slope, low=0.0)
    if bias is not None:
        (bias,) = as_float_arrays("gemm", bias=bias)
        check_bias(bias, n, a.dtype)
    if beta != 0.0 and out is None:
        raise ValueError("gemm: beta != 0 needs out= holding the C to add")
    out = prepare_out("gemm", "out", out, (m, n), a.dtype)
    check_no_overlap("gemm", "out", out, a=a, b=b, bias=bias)
    return a, b, out, bias, alpha, beta, act, slope


_ACTIVATION_SET = frozenset(ACTIVATIONS)


def _plain_number(x: object) -> bool:
    """A finite Python float, or an int (not bool) that float() takes exactly."""
    if type(x) is float:
        return math.isfinite(x)
    return type(x) is int and -(2**53) <= x <= 2**53


def _same(d1: np.dtype, d2: np.dtype) -> bool:
    """Equal dtypes; identity first, the common case (an unpickled array's
    dtype is equal to float32's without being the same object)."""
    return d1 is d2 or d1 == d2


def _gemm_args_fast(a: object, b: object, out: object, trans_a: bool, trans_b: bool,
                    alpha: object, beta: object, bias: object, activation: object,
                    slope: object) -> Optional[tuple]:
    """gemm_args for the common call, in a fraction of its time (it runs on
    every GEMM of a Python training step): C-contiguous ndarrays of one float
    dtype, plain numbers, a known activation name, nothing overlapping out.
    Returns what gemm_args would, or None to let its full checks decide,
    which also give every error message; it raises only what they would
    (a trans flag whose truth value raises)."""
    if type(a) is not np.ndarray or type(b) is not np.ndarray or a.ndim != 2 or b.ndim != 2:
        return None
    dtype = a.dtype
    if dtype not in FLOAT_DTYPES or not _same(b.dtype, dtype):  # `in` tries identity first
        return None
    if not (a.flags.c_contiguous and b.flags.c_contiguous):
        return None
    m, ka = (a.shape[1], a.shape[0]) if trans_a else a.shape
    kb, n = (b.shape[1], b.shape[0]) if trans_b else b.shape
    if ka != kb or not (_plain_number(alpha) and _plain_number(beta) and _plain_number(slope)):
        return None
    if slope < 0 or not (activation is None or (type(activation) is str
                                                 and activation in _ACTIVATION_SET)):
        return None
    if bias is not None and not (type(bias) is np.ndarray and _same(bias.dtype, dtype)
                                 and bias.shape == (n,) and bias.flags.c_contiguous):
        return None
    if out is None:
        if beta != 0:
            return None
        out = np.empty((m, n), dtype=dtype)
    elif not (type(out) is np.ndarray and _same(out.dtype, dtype) and out.shape == (m, n)
              and out.flags.c_contiguous and out.flags.writeable
              and not _may_share_memory(out, a) and not _may_share_memory(out, b)
              and (bias is None or not _may_share_memory(out, bias))):
        return None
    return (a, b, out, bias, float(alpha), float(beta), activation or "identity",
            float(slope))


def activation_args(name: object, x: object, out: object,
                    alpha: object) -> tuple[str, np.ndarray, float, np.ndarray]:
    """Check the arguments of activation(name, x, out, alpha=...); return
    (act, x, slope, out)."""
    act = check_activation("activation", name)
    (x,) = as_float_arrays(act, x=x)
    slope = check_scalar(act, "alpha", alpha, low=0.0)
    if act == "softmax":
        check_min_ndim(act, "x", x, 1)
    out = prepare_out(act, "out", out, x.shape, x.dtype)
    check_inplace_or_disjoint(act, "out", out, "x", x)
    return act, x, slope, out


def activation_backward_args(
    name: object, grad: object, y: object, out: object, alpha: object
) -> tuple[str, np.ndarray, np.ndarray, float, np.ndarray]:
    """Check the arguments of activation_backward(name, grad, y, out,
    alpha=...); return (act, grad, y, slope, out)."""
    act = check_activation("activation_backward", name)
    op = f"{act}_backward"
    grad, y = as_float_arrays(op, grad=grad, y=y)
    check_same_shape(op, ("grad", "y"), grad, y)
    slope = check_scalar(op, "alpha", alpha, low=0.0)
    if act == "softmax":
        check_min_ndim(op, "y", y, 1)
    out = prepare_out(op, "out", out, y.shape, y.dtype)
    check_inplace_or_disjoint(op, "out", out, "grad", grad)
    check_no_overlap(op, "out", out, y=y)
    return act, grad, y, slope, out


def loss_inputs(op: str, first: str, x: object, target: object, grad: object,
                ndim: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Check a fused loss's input (called ``first``), its same-shaped target
    and its grad buffer; return (x, target, grad)."""
    x, target = as_float_arrays(op, **{first: x, "target": target})
    check_same_shape(op, (first, "target"), x, target)
    if ndim is not None:
        check_ndim(op, first, x, ndim)
    grad = prepare_out(op, "grad", grad, x.shape, x.dtype)
    check_no_overlap(op, "grad", grad, **{first: x, "target": target})
    return x, target, grad


def sparse_softmax_cross_entropy_args(
    logits: object, labels: object, grad: object
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Check the arguments of sparse_softmax_cross_entropy; return
    (logits, labels as int64, grad)."""
    op = "sparse_softmax_cross_entropy"
    (z,) = as_float_arrays(op, logits=logits)
    check_ndim(op, "logits", z, 2)
    check_nonempty(op, "logits", z)
    labels = check_labels(op, labels, z.shape[0], z.shape[1])
    grad = prepare_out(op, "grad", grad, z.shape, z.dtype)
    check_no_overlap(op, "grad", grad, logits=z)
    return z, labels, grad
