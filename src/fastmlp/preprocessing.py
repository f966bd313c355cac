"""Feature scaling and train/test splitting, with scikit-learn's semantics.

Fit a scaler on the training data only, then apply the same transform to
validation and test data::

    scaler = fm.preprocessing.StandardScaler()
    x_train = scaler.fit_transform(x_train)
    x_test = scaler.transform(x_test)
"""

from __future__ import annotations

import math
from typing import Any, Optional, Sequence

import numpy as np


class NotFittedError(ValueError, AttributeError):
    """A scaler was used before ``fit`` (same bases as scikit-learn's)."""


def _as_2d_float(name: str, x: Any) -> np.ndarray:
    arr = np.asarray(x)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name}: expected numbers, got dtype {arr.dtype}")
    if arr.ndim != 2:
        hint = " (use x.reshape(-1, 1) for a single feature)" if arr.ndim == 1 else ""
        raise ValueError(f"{name}: expected a 2-D array (samples, features), got shape "
                         f"{arr.shape}{hint}")
    if arr.dtype.kind != "f":
        arr = arr.astype(np.float64)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name}: input contains NaN or infinity")
    return arr


class _Scaler:
    """Shared fit/transform plumbing: subclasses set ``_offset`` and ``_scale``.

    transform(x) = (x - offset) / scale, per column.
    """

    _state: tuple = ()

    def fit(self, x: Any) -> "_Scaler":
        raise NotImplementedError

    def fit_transform(self, x: Any) -> np.ndarray:
        """Fit on ``x`` and return it transformed."""
        return self.fit(x).transform(x)

    def transform(self, x: Any) -> np.ndarray:
        """Scale ``x`` (same number of columns as the data fitted)."""
        arr = self._checked(x, "transform")
        return ((arr - self._offset) / self._scale).astype(arr.dtype, copy=False)

    def inverse_transform(self, x: Any) -> np.ndarray:
        """Undo ``transform``: return data in the original units."""
        arr = self._checked(x, "inverse_transform")
        return (arr * self._scale + self._offset).astype(arr.dtype, copy=False)

    def _checked(self, x: Any, method: str) -> np.ndarray:
        name = f"{type(self).__name__}.{method}"
        if not hasattr(self, "n_features_in_"):
            raise NotFittedError(
                f"This {type(self).__name__} instance is not fitted yet; call fit(x) "
                f"on the training data before {method}"
            )
        arr = _as_2d_float(name, x)
        if arr.shape[1] != self.n_features_in_:
            raise ValueError(
                f"{name}: x has {arr.shape[1]} features (shape {arr.shape}) but the "
                f"scaler was fitted on {self.n_features_in_}"
            )
        return arr

    def to_dict(self) -> dict:
        """JSON-able parameters and fitted state, for saving alongside a model."""
        out = {"class_name": type(self).__name__, "config": self.get_config()}
        if hasattr(self, "n_features_in_"):
            out["state"] = {k: np.asarray(getattr(self, k)).tolist() for k in self._state}
        return out

    def get_config(self) -> dict:
        raise NotImplementedError


class StandardScaler(_Scaler):
    """Scale each feature to zero mean and unit variance.

    Fitted attributes: ``mean_``, ``var_``, ``scale_`` (standard deviation;
    1.0 for constant columns so they map to 0 instead of dividing by zero),
    ``n_features_in_``.
    """

    _state = ("mean_", "var_", "scale_")

    def __init__(self, *, with_mean: bool = True, with_std: bool = True) -> None:
        self.with_mean = with_mean
        self.with_std = with_std

    def fit(self, x: Any) -> "StandardScaler":
        """Learn per-column mean and standard deviation from ``x``."""
        arr = _as_2d_float("StandardScaler.fit", x)
        if arr.shape[0] == 0:
            raise ValueError("StandardScaler.fit: x has no rows")
        # Statistics in float64 whatever the input, for accuracy on float32.
        mean = arr.mean(axis=0, dtype=np.float64)
        var = arr.var(axis=0, dtype=np.float64)
        self._set(mean, var)
        return self

    def _set(self, mean: np.ndarray, var: np.ndarray) -> None:
        self.mean_ = mean
        self.var_ = var
        self.scale_ = _nonzero(np.sqrt(var), mean)
        self.n_features_in_ = mean.shape[0]
        self._offset = mean if self.with_mean else np.zeros_like(mean)
        self._scale = self.scale_ if self.with_std else np.ones_like(mean)

    def get_config(self) -> dict:
        return {"with_mean": self.with_mean, "with_std": self.with_std}


class MinMaxScaler(_Scaler):
    """Scale each feature linearly to ``feature_range`` (default [0, 1]).

    Fitted attributes: ``data_min_``, ``data_max_``, ``data_range_``,
    ``n_features_in_``. A constant column maps to the range's lower end.
    """

    _state = ("data_min_", "data_max_")

    def __init__(self, feature_range: Sequence[float] = (0.0, 1.0)) -> None:
        lo, hi = (float(v) for v in feature_range)
        if not lo < hi:
            raise ValueError(
                f"MinMaxScaler: feature_range must be (min, max) with min < max, "
                f"got {tuple(feature_range)}"
            )
        self.feature_range = (lo, hi)

    def fit(self, x: Any) -> "MinMaxScaler":
        """Learn per-column minimum and maximum from ``x``."""
        arr = _as_2d_float("MinMaxScaler.fit", x)
        if arr.shape[0] == 0:
            raise ValueError("MinMaxScaler.fit: x has no rows")
        self._set(arr.min(axis=0).astype(np.float64), arr.max(axis=0).astype(np.float64))
        return self

    def _set(self, data_min: np.ndarray, data_max: np.ndarray) -> None:
        lo, hi = self.feature_range
        self.data_min_ = data_min
        self.data_max_ = data_max
        self.data_range_ = data_max - data_min
        self.n_features_in_ = data_min.shape[0]
        # x' = (x - offset) / scale  with  x = data_min -> lo, data_max -> hi.
        self._scale = _nonzero(self.data_range_, data_max) / (hi - lo)
        self._offset = data_min - lo * self._scale

    def get_config(self) -> dict:
        return {"feature_range": list(self.feature_range)}


def _nonzero(scale: np.ndarray, magnitude: np.ndarray) -> np.ndarray:
    """Replace (near-)zero scales by 1, as scikit-learn does for constant columns."""
    eps = 10 * np.finfo(np.float64).eps * np.maximum(np.abs(magnitude), 1.0)
    return np.where(scale < eps, 1.0, scale)


def scaler_from_dict(d: dict) -> _Scaler:
    """Rebuild a scaler saved with ``to_dict`` (fitted if it was)."""
    classes = {"StandardScaler": StandardScaler, "MinMaxScaler": MinMaxScaler}
    name = d.get("class_name")
    if name not in classes:
        raise ValueError(f"scaler_from_dict: unknown class_name {name!r}; "
                         f"expected one of {', '.join(classes)}")
    scaler = classes[name](**d.get("config", {}))
    state = d.get("state")
    if state is not None:
        arrays = [np.asarray(state[k], dtype=np.float64) for k in scaler._state]
        if any(a.ndim != 1 or a.shape != arrays[0].shape for a in arrays):
            raise ValueError("scaler_from_dict: state arrays must be 1-D of one length")
        # (mean_, var_) or (data_min_, data_max_): the rest is derived.
        scaler._set(arrays[0], arrays[1])
    return scaler


def train_test_split(
    *arrays: Any,
    test_size: float = 0.25,
    seed: Optional[int] = None,
    stratify: Any = None,
    shuffle: bool = True,
) -> list:
    """Split arrays (same length) into random train and test parts.

    Returns ``[a_train, a_test, b_train, b_test, ...]`` like scikit-learn.
    ``test_size`` is a fraction in (0, 1) or a number of samples. With
    ``stratify`` (class labels, one per sample) each class keeps its share
    in both parts. ``shuffle=False`` takes the last samples as the test part.
    """
    if not arrays:
        raise ValueError("train_test_split: give at least one array")
    arrs = [a if isinstance(a, np.ndarray) else np.asarray(a) for a in arrays]
    n = len(arrs[0])
    for i, a in enumerate(arrs):
        if a.ndim == 0 or len(a) != n:
            shapes = ", ".join(str(b.shape) for b in arrs)
            raise ValueError(f"train_test_split: arrays must have the same length; "
                             f"got shapes {shapes} (array {i} differs)")
    n_test = _n_test(test_size, n)
    rng = np.random.default_rng(seed)
    if stratify is not None:
        if not shuffle:
            raise ValueError("train_test_split: stratify needs shuffle=True")
        train_idx, test_idx = _stratified(np.asarray(stratify), n, n_test, rng)
    elif shuffle:
        perm = rng.permutation(n)
        train_idx, test_idx = perm[n_test:], perm[:n_test]
    else:
        train_idx, test_idx = np.arange(n - n_test), np.arange(n - n_test, n)
    out = []
    for a in arrs:
        out.extend([a[train_idx], a[test_idx]])
    return out


def _n_test(test_size: float, n: int) -> int:
    if isinstance(test_size, bool):
        raise TypeError("train_test_split: test_size must be a number")
    if isinstance(test_size, (int, np.integer)):
        n_test = int(test_size)
    elif isinstance(test_size, (float, np.floating)) and 0.0 < test_size < 1.0:
        n_test = math.ceil(test_size * n)
    else:
        raise ValueError(f"train_test_split: test_size must be a fraction in (0, 1) or a "
                         f"count, got {test_size!r}")
    if not 0 < n_test < n:
        raise ValueError(f"train_test_split: test_size={test_size!r} of {n} samples leaves "
                         f"{n_test} test and {n - n_test} train samples; both must be > 0")
    return n_test


def _stratified(labels: np.ndarray, n: int, n_test: int, rng: np.random.Generator):
    if labels.shape[:1] != (n,):
        raise ValueError(f"train_test_split: stratify has shape {labels.shape}, "
                         f"expected ({n},) like the arrays")
    if labels.ndim > 1:  # one-hot rows: a class per distinct row
        labels = np.unique(labels.reshape(n, -1), axis=0, return_inverse=True)[1].ravel()
    classes, y = np.unique(labels, return_inverse=True)
    counts = np.bincount(y)
    if counts.min() < 2:
        raise ValueError(f"train_test_split: class {classes[counts.argmin()]!r} has only "
                         f"{counts.min()} member; stratify needs at least 2 per class")
    # Largest-remainder rounding: exactly n_test in total, each class near its share.
    share = counts * (n_test / n)
    take = np.floor(share).astype(int)
    order = np.argsort(-(share - take), kind="stable")
    take[order[: n_test - take.sum()]] += 1
    train, test = [], []
    for c, k in enumerate(take):
        idx = rng.permutation(np.flatnonzero(y == c))
        test.append(idx[:k])
        train.append(idx[k:])
    return rng.permutation(np.concatenate(train)), rng.permutation(np.concatenate(test))
