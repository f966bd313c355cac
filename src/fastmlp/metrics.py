"""Metrics reported by fit and evaluate, with Keras's names and meanings.

A metric returns its mean over one batch; the model averages batch values
weighted by batch size over an epoch, which equals the metric over all
samples, as Keras's running ``Mean`` does.

``"accuracy"`` (or ``"acc"``) is resolved as Keras resolves it from the loss
and the output shape: binary accuracy (threshold 0.5) for binary
cross-entropy or a single output unit, sparse categorical accuracy for
integer labels, categorical accuracy otherwise. The name the user wrote is
the key in the history.

Metrics run every training step, so they reuse scratch buffers (grown to the
largest batch seen) instead of allocating.
"""

from __future__ import annotations

from typing import Optional

import numpy as np


class Metric:
    """Base class: ``value(y_pred, y_true)`` is the mean over one batch."""

    default_name = "metric"

    def __init__(self, name: Optional[str] = None) -> None:
        self.name = name or self.default_name
        self._buffers: dict = {}

    def value(self, y_pred: np.ndarray, y_true: np.ndarray) -> float:
        raise NotImplementedError

    def __call__(self, y_true: object, y_pred: object) -> float:
        """The metric over ``y_pred`` against ``y_true``, Keras argument order."""
        y = np.asarray(y_pred)
        if y.ndim == 1:
            y = y[:, None]
        t = np.asarray(y_true)
        if not isinstance(self, SparseCategoricalAccuracy):
            t = t.reshape(y.shape)
        return self.value(y, t)

    def _scratch(self, key: str, shape: tuple[int, ...], dtype: object) -> np.ndarray:
        """A buffer of ``shape`` (leading rows of a reused array)."""
        dtype = np.dtype(dtype)
        buf = self._buffers.get(key)
        if buf is None or buf.dtype != dtype or buf.shape[1:] != shape[1:] or buf.shape[0] < shape[0]:
            buf = self._buffers[key] = np.empty(shape, dtype=dtype)
        return buf[: shape[0]]

    def get_config(self) -> dict:
        return {"name": self.name}

    @classmethod
    def from_config(cls, config: dict) -> "Metric":
        return cls(**config)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


class BinaryAccuracy(Metric):
    """Fraction of outputs where (y_pred > threshold) equals the target."""

    default_name = "binary_accuracy"

    def __init__(self, name: Optional[str] = None, threshold: float = 0.5) -> None:
        super().__init__(name)
        self.threshold = float(threshold)

    def value(self, y_pred, y_true):
        above = self._scratch("above", y_pred.shape, bool)
        np.greater(y_pred, self.threshold, out=above)
        # Keras casts the thresholded prediction to the target's dtype and
        # compares exactly, so soft targets never count as matches.
        same = self._scratch("same", y_pred.shape, bool)
        np.equal(y_true, above, out=same)
        return float(np.count_nonzero(same)) / same.size

    def get_config(self):
        return {"name": self.name, "threshold": self.threshold}


class CategoricalAccuracy(Metric):
    """Fraction of rows whose argmax matches the one-hot target's argmax."""

    default_name = "categorical_accuracy"

    def value(self, y_pred, y_true):
        rows = y_pred.shape[0]
        pred = self._scratch("pred", (rows,), np.int64)
        true = self._scratch("true", (rows,), np.int64)
        np.argmax(y_pred, axis=1, out=pred)
        np.argmax(y_true, axis=1, out=true)
        same = self._scratch("same", (rows,), bool)
        np.equal(pred, true, out=same)
        return float(np.count_nonzero(same)) / rows


class SparseCategoricalAccuracy(Metric):
    """Fraction of rows whose argmax equals the integer label."""

    default_name = "sparse_categorical_accuracy"

    def value(self, y_pred, y_true):
        rows = y_pred.shape[0]
        pred = self._scratch("pred", (rows,), np.int64)
        np.argmax(y_pred, axis=1, out=pred)
        same = self._scratch("same", (rows,), bool)
        np.equal(pred, np.reshape(y_true, (rows,)), out=same)
        return float(np.count_nonzero(same)) / rows


class MeanAbsoluteError(Metric):
    """mean(|y_pred - y_true|)."""

    default_name = "mean_absolute_error"

    def value(self, y_pred, y_true):
        diff = self._scratch("diff", y_pred.shape, y_pred.dtype)
        np.subtract(y_pred, y_true, out=diff)
        np.abs(diff, out=diff)
        return float(diff.sum(dtype=np.float64)) / diff.size


class MeanSquaredError(Metric):
    """mean((y_pred - y_true)**2)."""

    default_name = "mean_squared_error"

    def value(self, y_pred, y_true):
        diff = self._scratch("diff", y_pred.shape, y_pred.dtype)
        np.subtract(y_pred, y_true, out=diff)
        np.multiply(diff, diff, out=diff)
        return float(diff.sum(dtype=np.float64)) / diff.size


_NAMED = {
    "mae": MeanAbsoluteError, "mean_absolute_error": MeanAbsoluteError,
    "mse": MeanSquaredError, "mean_squared_error": MeanSquaredError,
    "binary_accuracy": BinaryAccuracy, "categorical_accuracy": CategoricalAccuracy,
    "sparse_categorical_accuracy": SparseCategoricalAccuracy,
}
_CLASSES = {cls.__name__: cls for cls in set(_NAMED.values())}
NAMES = ("accuracy", "acc", *sorted(_NAMED))


def get(identifier: object, *, loss: object = None, output_units: int = 0) -> Metric:
    """Return a Metric for a name, an instance or a config dict.

    "accuracy"/"acc" become binary, sparse categorical or categorical
    accuracy from ``loss`` (a fastmlp.losses.Loss) and ``output_units``, as
    Keras decides; the metric keeps the name the user wrote.
    """
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, dict):
        cls = _CLASSES.get(identifier.get("class_name"))
        if cls is None:
            raise ValueError(f"unknown metric config {identifier!r}")
        return cls.from_config(dict(identifier.get("config") or {}))
    if not isinstance(identifier, str):
        raise TypeError(
            f"metric must be a name such as 'accuracy' or a fastmlp.metrics.Metric, "
            f"got {type(identifier).__name__}"
        )
    key = identifier.lower()
    if key in ("accuracy", "acc"):
        return _accuracy_for(loss, output_units)(name=identifier)
    cls = _NAMED.get(key)
    if cls is None:
        raise ValueError(f"unknown metric {identifier!r}; expected one of {NAMES}")
    return cls(name=identifier)


def _accuracy_for(loss: object, output_units: int) -> type:
    from fastmlp.losses import BinaryCrossentropy

    if isinstance(loss, BinaryCrossentropy) or output_units == 1:
        return BinaryAccuracy
    if getattr(loss, "sparse", False):
        return SparseCategoricalAccuracy
    return CategoricalAccuracy


def serialize(metric: Metric) -> dict:
    """``{"class_name", "config"}`` for ``metric``."""
    return {"class_name": type(metric).__name__, "config": metric.get_config()}
