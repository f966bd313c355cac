"""Activation functions by name, as Keras spells them.

Layers store the canonical op name (one of ``fastmlp.backends.ACTIVATIONS``)
and hand it to the backend, which applies it fused into the GEMM write-back
(forward) or multiplied by the upstream gradient (backward). This module only
resolves what a user may write: ``None`` and ``"linear"`` mean identity, as
in Keras.

``leaky_relu`` uses a negative slope of 0.2, Keras 3's default for
``keras.activations.leaky_relu`` (PyTorch's ``LeakyReLU`` uses 0.01).

The functions below (``relu(x)`` etc.) compute an activation on a NumPy
array with the NumPy backend, for users who want to look at one.
"""

from __future__ import annotations

import numpy as np

from fastmlp.backends import ACTIVATIONS

# Keras 3: keras.activations.leaky_relu(x, negative_slope=0.2).
LEAKY_RELU_SLOPE = 0.2

_ALIASES = {
    "linear": "identity",
    "identity": "identity",
    "sigmoid": "sigmoid",
    "tanh": "tanh",
    "relu": "relu",
    "leaky_relu": "leaky_relu",
    "leakyrelu": "leaky_relu",
    "softmax": "softmax",
}

NAMES = ("linear", "sigmoid", "tanh", "relu", "leaky_relu", "softmax")


def get(identifier: object) -> str:
    """Return the canonical op name for ``identifier``.

    ``None``, ``"linear"`` and ``"identity"`` give ``"identity"``; names are
    case-insensitive; the functions of this module (``fm.activations.relu``)
    stand for their names. Anything else raises ValueError listing the names.
    """
    if identifier is None:
        return "identity"
    if isinstance(identifier, str):
        name = _ALIASES.get(identifier.lower())
        if name is not None:
            return name
        raise ValueError(f"unknown activation {identifier!r}; expected one of {NAMES} or None")
    if callable(identifier) and getattr(identifier, "__module__", None) == __name__:
        return get(identifier.__name__)  # fm.activations.relu, as keras.activations.relu
    raise TypeError(
        f"activation must be a name such as 'relu' or None, got {type(identifier).__name__}"
    )


def serialize(name: str) -> str:
    """Return the name Keras writes in a config ("linear" for identity)."""
    return "linear" if name == "identity" else name


def _apply(name: str, x: object) -> np.ndarray:
    from fastmlp.backends import numpy as ops

    arr = np.asarray(x)
    if arr.dtype not in (np.float32, np.float64):
        arr = arr.astype(np.float64)
    return ops.activation(name, arr, alpha=LEAKY_RELU_SLOPE)


def linear(x: object) -> np.ndarray:
    """Identity: returns ``x`` as a float array."""
    return _apply("identity", x)


def sigmoid(x: object) -> np.ndarray:
    """Logistic function 1 / (1 + exp(-x))."""
    return _apply("sigmoid", x)


def tanh(x: object) -> np.ndarray:
    """Hyperbolic tangent."""
    return _apply("tanh", x)


def relu(x: object) -> np.ndarray:
    """max(x, 0)."""
    return _apply("relu", x)


def leaky_relu(x: object) -> np.ndarray:
    """x for x > 0, else 0.2 * x (Keras 3's default slope)."""
    return _apply("leaky_relu", x)


def softmax(x: object) -> np.ndarray:
    """Row-wise softmax over the last axis."""
    return _apply("softmax", x)


assert set(_ALIASES.values()) == set(ACTIVATIONS)
