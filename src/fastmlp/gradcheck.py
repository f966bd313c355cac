"""Gradient checking: backpropagation against central differences.

``numerical_gradient(f, x)`` is the textbook routine: nudge each element of
``x`` by ``+h`` and ``-h`` and take ``(f(x+h) - f(x-h)) / 2h``.

``gradcheck(model, x, y)`` runs it over every parameter of a compiled model,
in float64 on the NumPy backend so that rounding does not hide a wrong
derivative, and reports the worst relative error of each parameter array.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

import numpy as np

__all__ = ["numerical_gradient", "gradcheck", "relative_error"]

TINY = float(np.finfo(np.float64).tiny)


def numerical_gradient(f: Callable[[np.ndarray], float], x: np.ndarray,
                       h: float = 1e-4) -> np.ndarray:
    """Central-difference gradient of the scalar function ``f`` at ``x``.

    ``x`` is changed in place, one element at a time, while ``f(x)`` is
    evaluated, and is restored afterwards (also if ``f`` raises), so ``f``
    may ignore its argument and read a model's weights instead, as in the
    textbook's ``lambda w: net.loss(x, t)``. The error is O(h**2); with
    float32 arrays the rounding of ``f`` dominates, so use float64.

    Example::

        >>> x = np.array([3.0, 4.0])
        >>> numerical_gradient(lambda v: float(np.sum(v ** 2)), x)
        array([6., 8.])

    Returns an array like ``x`` (same shape and dtype).
    """
    if not isinstance(x, np.ndarray):
        x = np.array(x, dtype=np.float64)
    if x.dtype.kind != "f":
        raise TypeError(f"numerical_gradient: x must be a floating-point array (it is nudged "
                        f"by h), got dtype {x.dtype}")
    if not x.flags.writeable:
        raise ValueError("numerical_gradient: x must be writable (it is nudged in place)")
    h = float(h)
    if not np.isfinite(h) or h <= 0:
        raise ValueError(f"numerical_gradient: h must be a positive number, got {h}")
    grad = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        grad[idx] = _central_difference(f, x, idx, h)
    return grad


def _central_difference(f: Callable[[np.ndarray], float], x: np.ndarray, idx: tuple,
                        h: float) -> float:
    """(f(x + h e_idx) - f(x - h e_idx)) / 2h, restoring x[idx] whatever happens."""
    saved = x[idx]
    try:
        x[idx] = saved + h
        plus = _scalar(f(x))
        x[idx] = saved - h
        minus = _scalar(f(x))
    finally:
        x[idx] = saved
    return (plus - minus) / (2 * h)


def _scalar(value: object) -> float:
    arr = np.asarray(value)
    if arr.size != 1:
        raise TypeError(f"numerical_gradient: f must return a scalar, got shape {arr.shape}")
    return float(arr.reshape(()))


def relative_error(analytic: np.ndarray, numeric: np.ndarray) -> float:
    """``max |a - n| / max(|a| + |n|, tiny)`` over the elements (0.0 for
    an empty array), where ``tiny`` is the smallest normal float64; an
    element whose two values are both exactly 0 counts as 0."""
    a = np.asarray(analytic, dtype=np.float64)
    n = np.asarray(numeric, dtype=np.float64)
    if a.size == 0:
        return 0.0
    return float(np.max(np.abs(a - n) / np.maximum(np.abs(a) + np.abs(n), TINY)))


def gradcheck(model: Any, x: Any, y: Any, eps: float = 1e-6, *,
              max_per_array: Optional[int] = None, seed: int = 0) -> dict[str, float]:
    """Compare the model's backpropagated gradients with central differences.

    The model must be built and compiled. It is copied (same layers, same
    weights, same loss and regularizers) into float64 on the NumPy backend;
    the original is not touched. For every parameter the copy's loss on
    ``(x, y)`` (with regularization, dropout off) is evaluated at ``w + eps``
    and ``w - eps``, and the resulting slope is compared with
    ``compute_gradients``. That is two passes over ``x`` per parameter: give
    a few samples, and for a large model ``max_per_array=k`` to check ``k``
    elements of each array, drawn at random (``seed``), instead of all.

    Returns ``{"<layer name>/kernel": err, "<layer name>/bias": err, ...}``,
    ``err`` being the largest relative error over the array's elements::

        err = max |a - n| / max(|a| + |n|, tiny)

    with ``a`` the backprop gradient, ``n`` the numerical one and ``tiny`` the
    smallest normal float64. Correct gradients give about 1e-7 or less;
    an error near 1 means a wrong derivative. Kinks (ReLU at 0) and
    gradients that are almost 0 can give larger values on correct code.

    Example::

        model = fm.Sequential([fm.Input(shape=(3,)), fm.Dense(4, activation="tanh"),
                               fm.Dense(2, activation="softmax")], seed=0)
        model.compile(optimizer="sgd", loss="categorical_crossentropy")
        x = np.random.default_rng(0).normal(size=(5, 3))
        y = np.eye(2)[[0, 1, 1, 0, 1]]
        errors = fm.gradcheck(model, x, y)
        # {'dense/kernel': 1.4e-07, 'dense/bias': 1.7e-07,
        #  'dense_1/kernel': 3.3e-10, 'dense_1/bias': 1.3e-10}
        assert max(errors.values()) < 1e-6
    """
    eps = float(eps)
    if not np.isfinite(eps) or eps <= 0:
        raise ValueError(f"gradcheck: eps must be a positive number, got {eps}")
    if max_per_array is not None and (isinstance(max_per_array, bool)
                                      or not isinstance(max_per_array, (int, np.integer))
                                      or max_per_array < 1):
        raise ValueError(f"gradcheck: max_per_array must be None or an integer >= 1, "
                         f"got {max_per_array!r}")
    copy = _float64_copy(model)
    x64, y64 = _float64_data(x, y)
    copy.compute_gradients(x64, y64)
    # Copy every backprop gradient before any nudging refills the buffers.
    analytic = {name: grad.copy() for name, _, grad in _parameter_arrays(copy)}
    rng = np.random.default_rng(seed)
    errors: dict[str, float] = {}
    for name, param, _ in _parameter_arrays(copy):
        flat = np.arange(param.size)
        if max_per_array is not None and max_per_array < param.size:
            flat = np.sort(rng.choice(param.size, size=max_per_array, replace=False))
        indices = [np.unravel_index(i, param.shape) for i in flat]
        numeric = np.array([_central_difference(lambda _: copy.compute_gradients(x64, y64),
                                                param, idx, eps) for idx in indices])
        errors[name] = relative_error(np.array([analytic[name][idx] for idx in indices]), numeric)
    return errors


def _float64_copy(model: Any) -> Any:
    """A float64, NumPy-backend twin of ``model`` with its weights and loss."""
    from fastmlp.model import Sequential

    if not getattr(model, "built", False):
        raise ValueError("gradcheck: the model is not built; call model.build(input_shape) "
                         "or fit it first")
    compile_config = model.get_compile_config()
    if compile_config is None:
        raise ValueError("gradcheck: the model is not compiled; call model.compile(loss=...) first")
    config = dict(model.get_config(), dtype="float64", backend="numpy")
    copy = Sequential.from_config(config)
    if not copy.built:
        copy.build(config["input_shape"])
    copy.set_weights([np.asarray(w, dtype=np.float64) for w in model.get_weights()])
    copy.compile_from_config(compile_config)
    return copy


def _float64_data(x: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
    x64 = np.ascontiguousarray(x, dtype=np.float64)
    y_arr = np.asarray(y)
    # Integer class labels (sparse losses) stay integers.
    y64 = np.ascontiguousarray(y_arr if y_arr.dtype.kind in "iu" else y_arr.astype(np.float64))
    if x64.ndim < 2:
        raise ValueError(f"gradcheck: x must have a samples axis and features, got shape {x64.shape}")
    if len(y64) != len(x64):
        raise ValueError(f"gradcheck: x has {len(x64)} samples but y has {len(y64)}")
    return x64, y64


def _parameter_arrays(model: Any):
    """(name, parameter view, gradient view) for each parameter array."""
    for layer in model.layers:
        for kind in ("kernel", "bias"):
            param = getattr(layer, kind, None)
            grad = getattr(layer, f"{kind}_grad", None)
            if param is not None and grad is not None:
                yield f"{layer.name}/{kind}", param, grad
