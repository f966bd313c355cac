"""Losses with Keras's names and reductions, computed by the backend's fused ops.

Every loss is a mean over the batch as Keras reduces it (cross-entropies:
mean over samples; MSE, MAE, binary cross-entropy: mean over all elements).
``sse`` is the textbook ``1/2 * sum_j (y_j - t_j)**2`` per sample, averaged
over samples (not in Keras).

How the model uses a loss:

* When the output layer's activation is the one a cross-entropy is fused
  with (softmax for categorical/sparse, sigmoid for binary), the model feeds
  the pre-activation *logits* to :meth:`Loss.on_logits`, which runs one fused
  kernel returning the loss and d(loss)/d(logits): stable for any logits, and
  no activation backward pass is needed.
* Otherwise it calls :meth:`Loss.on_outputs` with the layer's output ``y``
  and gets d(loss)/d(y), then backpropagates through the activation. With
  ``from_logits=True`` that is the fused kernel applied to ``y``. A
  cross-entropy on probabilities that do not come from the matching
  activation (for example categorical cross-entropy after a sigmoid layer)
  takes a small NumPy path that clips probabilities to [1e-7, 1 - 1e-7] as
  Keras does; it allocates temporaries and is meant for experiments, not
  speed.
"""

from __future__ import annotations

from types import ModuleType
from typing import Optional

import numpy as np

# Keras's backend.epsilon(), used to clip probabilities.
EPSILON = 1e-7


class Loss:
    """Base class. Subclasses name their backend op and, for cross-entropies,
    the activation that op is fused with."""

    default_name = "loss"
    logits_activation: Optional[str] = None  # "softmax", "sigmoid" or None
    sparse = False  # targets are integer class labels

    def __init__(self, name: Optional[str] = None) -> None:
        self.name = name or self.default_name
        self.from_logits = False

    def on_logits(self, ops: ModuleType, z: np.ndarray, target: np.ndarray,
                  grad: np.ndarray) -> float:
        """Loss of ``activation(z)``; writes d(loss)/d(z) into ``grad``."""
        raise NotImplementedError(f"{type(self).__name__} has no fused logits form")

    def on_outputs(self, ops: ModuleType, y: np.ndarray, target: np.ndarray,
                   grad: np.ndarray) -> float:
        """Loss of the outputs ``y``; writes d(loss)/d(y) into ``grad``."""
        raise NotImplementedError

    def __call__(self, y_true: object, y_pred: object) -> float:
        """The loss of predictions ``y_pred`` against ``y_true``, as a float
        (computed with the NumPy backend), like calling a Keras loss."""
        from fastmlp.backends import numpy as ops

        y = np.asarray(y_pred)
        if y.dtype not in (np.float32, np.float64):
            y = y.astype(np.float64)
        if y.ndim == 1:
            y = y[:, None]
        if self.sparse:
            target = np.asarray(y_true).reshape(-1)
        else:
            target = np.asarray(y_true, dtype=y.dtype).reshape(y.shape)
        grad = np.empty_like(y)
        return self.on_outputs(ops, np.ascontiguousarray(y), target, grad)

    def get_config(self) -> dict:
        """Constructor arguments, JSON-able."""
        return {"name": self.name}

    @classmethod
    def from_config(cls, config: dict) -> "Loss":
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class MeanSquaredError(Loss):
    """mean((y - t)**2) over all elements."""

    default_name = "mean_squared_error"

    def on_outputs(self, ops, y, target, grad):
        return ops.mean_squared_error(y, target, grad=grad)[0]


class MeanAbsoluteError(Loss):
    """mean(|y - t|) over all elements."""

    default_name = "mean_absolute_error"

    def on_outputs(self, ops, y, target, grad):
        return ops.mean_absolute_error(y, target, grad=grad)[0]


class SumSquaredError(Loss):
    """1/2 * sum_j (y_j - t_j)**2 per sample, averaged over samples."""

    default_name = "sum_squared_error"

    def on_outputs(self, ops, y, target, grad):
        return ops.sum_squared_error(y, target, grad=grad)[0]


class _CrossEntropy(Loss):
    """Shared from_logits handling for the three cross-entropies."""

    def __init__(self, from_logits: bool = False, name: Optional[str] = None) -> None:
        super().__init__(name)
        self.from_logits = bool(from_logits)

    def on_outputs(self, ops, y, target, grad):
        if self.from_logits:
            return self.on_logits(ops, y, target, grad)
        return self._on_probabilities(y, target, grad)

    def _on_probabilities(self, y, target, grad):
        raise NotImplementedError

    def get_config(self):
        return {"from_logits": self.from_logits, "name": self.name}


class CategoricalCrossentropy(_CrossEntropy):
    """-sum_j t_j log p_j per sample, mean over samples; one-hot targets."""

    default_name = "categorical_crossentropy"
    logits_activation = "softmax"

    def on_logits(self, ops, z, target, grad):
        return ops.softmax_cross_entropy(z, target, grad=grad)[0]

    def _on_probabilities(self, y, target, grad):
        return _categorical_on_probabilities(y, target, grad)


class SparseCategoricalCrossentropy(_CrossEntropy):
    """Categorical cross-entropy with integer class labels as targets."""

    default_name = "sparse_categorical_crossentropy"
    logits_activation = "softmax"
    sparse = True

    def on_logits(self, ops, z, target, grad):
        return ops.sparse_softmax_cross_entropy(z, target, grad=grad)[0]

    def _on_probabilities(self, y, target, grad):
        onehot = np.zeros(y.shape, dtype=y.dtype)
        onehot[np.arange(y.shape[0]), np.asarray(target, dtype=np.int64)] = 1
        return _categorical_on_probabilities(y, onehot, grad)


class BinaryCrossentropy(_CrossEntropy):
    """-(t log p + (1 - t) log(1 - p)), mean over all elements."""

    default_name = "binary_crossentropy"
    logits_activation = "sigmoid"

    def on_logits(self, ops, z, target, grad):
        return ops.sigmoid_binary_cross_entropy(z, target, grad=grad)[0]

    def _on_probabilities(self, y, target, grad):
        return _binary_on_probabilities(y, target, grad)


def _categorical_on_probabilities(y: np.ndarray, t: np.ndarray, grad: np.ndarray) -> float:
    """Keras's categorical cross-entropy on (unnormalised) probabilities:
    p = y / sum(y), clipped to [eps, 1 - eps]; gradient through both steps
    (zero where the clip is active). Writes d(mean loss)/d(y) into grad."""
    rows = y.shape[0]
    y64, t64 = y.astype(np.float64), t.astype(np.float64)
    total = y64.sum(axis=1, keepdims=True)
    p = y64 / total
    q = np.clip(p, EPSILON, 1.0 - EPSILON)
    loss = float(-(t64 * np.log(q)).sum() / rows)
    inside = (p >= EPSILON) & (p <= 1.0 - EPSILON)
    dp = np.where(inside, -t64 / q, 0.0)
    # p_j = y_j / s: dL/dy_k = (dL/dp_k - sum_j dL/dp_j p_j) / s
    dy = (dp - (dp * p).sum(axis=1, keepdims=True)) / total
    np.divide(dy, rows, out=grad, casting="same_kind")
    return loss


def _binary_on_probabilities(y: np.ndarray, t: np.ndarray, grad: np.ndarray) -> float:
    """Keras's binary cross-entropy on probabilities clipped to
    [eps, 1 - eps]; writes d(mean loss)/d(y) into grad."""
    y64, t64 = y.astype(np.float64), t.astype(np.float64)
    q = np.clip(y64, EPSILON, 1.0 - EPSILON)
    terms = -(t64 * np.log(q) + (1.0 - t64) * np.log(1.0 - q))
    loss = float(terms.sum() / y.size)
    inside = (y64 >= EPSILON) & (y64 <= 1.0 - EPSILON)
    dq = np.where(inside, (q - t64) / (q * (1.0 - q)), 0.0)
    np.divide(dq, y.size, out=grad, casting="same_kind")
    return loss


# ---- Keras's loss functions: per-sample losses of NumPy arrays ----------------
# ``compile(loss=fm.losses.mean_squared_error)`` uses the matching class; the
# functions themselves return one loss per sample, as Keras's do.

def _pair(y_true: object, y_pred: object) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(y_pred, dtype=np.float64)
    return np.asarray(y_true, dtype=np.float64).reshape(p.shape), p


def mean_squared_error(y_true: object, y_pred: object) -> np.ndarray:
    """mean((y_true - y_pred)**2) over the last axis."""
    t, p = _pair(y_true, y_pred)
    return np.mean((t - p) ** 2, axis=-1)


def mean_absolute_error(y_true: object, y_pred: object) -> np.ndarray:
    """mean(|y_true - y_pred|) over the last axis."""
    t, p = _pair(y_true, y_pred)
    return np.mean(np.abs(t - p), axis=-1)


def binary_crossentropy(y_true: object, y_pred: object, from_logits: bool = False) -> np.ndarray:
    """Binary cross-entropy averaged over the last axis."""
    t, p = _pair(y_true, y_pred)
    if from_logits:
        return np.mean(np.maximum(p, 0) - p * t + np.log1p(np.exp(-np.abs(p))), axis=-1)
    q = np.clip(p, EPSILON, 1.0 - EPSILON)
    return -np.mean(t * np.log(q) + (1.0 - t) * np.log(1.0 - q), axis=-1)


def categorical_crossentropy(y_true: object, y_pred: object, from_logits: bool = False) -> np.ndarray:
    """-sum_j t_j log p_j per sample (probabilities normalised and clipped)."""
    t, p = _pair(y_true, y_pred)
    if from_logits:
        shifted = p - p.max(axis=-1, keepdims=True)
        log_p = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    else:
        log_p = np.log(np.clip(p / p.sum(axis=-1, keepdims=True), EPSILON, 1.0 - EPSILON))
    return -np.sum(t * log_p, axis=-1)


def sparse_categorical_crossentropy(y_true: object, y_pred: object,
                                    from_logits: bool = False) -> np.ndarray:
    """Categorical cross-entropy against integer labels."""
    p = np.asarray(y_pred, dtype=np.float64)
    labels = np.asarray(y_true).reshape(-1).astype(np.int64)
    return categorical_crossentropy(np.eye(p.shape[-1])[labels], p, from_logits)


mse, mae = mean_squared_error, mean_absolute_error

_FUNCTIONS = {
    mean_squared_error: MeanSquaredError, mean_absolute_error: MeanAbsoluteError,
    binary_crossentropy: BinaryCrossentropy, categorical_crossentropy: CategoricalCrossentropy,
    sparse_categorical_crossentropy: SparseCategoricalCrossentropy,
}

_ALIASES = {
    "mse": MeanSquaredError, "mean_squared_error": MeanSquaredError,
    "mae": MeanAbsoluteError, "mean_absolute_error": MeanAbsoluteError,
    "sse": SumSquaredError, "sum_squared_error": SumSquaredError,
    "binary_crossentropy": BinaryCrossentropy,
    "categorical_crossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
}
_CLASSES = {cls.__name__: cls for cls in set(_ALIASES.values())}
NAMES = ("mse", "mae", "sse", "binary_crossentropy", "categorical_crossentropy",
         "sparse_categorical_crossentropy")


def get(identifier: object) -> Loss:
    """Return a Loss from a name ("mse", "categorical_crossentropy", ...; also
    the long names and class names), an instance, a config dict, or one of
    this module's loss functions (``fm.losses.mean_squared_error``)."""
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, str):
        cls = _ALIASES.get(identifier.lower()) or _CLASSES.get(identifier)
        if cls is None:
            raise ValueError(f"unknown loss {identifier!r}; expected one of {NAMES}")
        return cls()
    if isinstance(identifier, dict):
        cls = _CLASSES.get(identifier.get("class_name"))
        if cls is None:
            raise ValueError(f"unknown loss config {identifier!r}")
        return cls.from_config(dict(identifier.get("config") or {}))
    if callable(identifier) and identifier in _FUNCTIONS:
        return _FUNCTIONS[identifier]()
    raise TypeError(
        f"loss must be a name such as 'mse', a fastmlp.losses.Loss or a config dict; "
        f"got {type(identifier).__name__} (custom loss functions are not supported)"
    )


def serialize(loss: Loss) -> dict:
    """``{"class_name", "config"}`` for ``loss``."""
    return {"class_name": type(loss).__name__, "config": loss.get_config()}
