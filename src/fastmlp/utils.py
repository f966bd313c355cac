"""Small helpers with Keras's names."""

from __future__ import annotations

from typing import Any, Optional

import numpy as np


def to_categorical(y: Any, num_classes: Optional[int] = None) -> np.ndarray:
    """One-hot encode integer class labels, as ``keras.utils.to_categorical``.

    ``y`` holds labels 0..num_classes-1 of any shape (a trailing axis of size
    1 is dropped); the result has shape ``y.shape + (num_classes,)`` and dtype
    float32 (the library's default float). ``num_classes`` defaults to
    ``max(y) + 1``.
    """
    arr = np.asarray(y)
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)):
            raise ValueError("to_categorical: y must hold integer class labels, "
                             "got non-integer values")
    elif arr.dtype.kind not in "biu":
        raise TypeError(f"to_categorical: y must hold integer labels, got dtype {arr.dtype}")
    labels = arr.astype(np.int64)
    if labels.ndim > 1 and labels.shape[-1] == 1:
        labels = labels[..., 0]
    if labels.size and labels.min() < 0:
        raise ValueError(f"to_categorical: labels must be >= 0, got {labels.min()}")
    top = int(labels.max()) + 1 if labels.size else 0
    if num_classes is None:
        num_classes = top
    elif isinstance(num_classes, bool) or int(num_classes) != num_classes or num_classes < 1:
        raise ValueError(f"to_categorical: num_classes must be a positive integer, "
                         f"got {num_classes!r}")
    elif top > num_classes:
        raise ValueError(f"to_categorical: label {top - 1} does not fit num_classes={num_classes}")
    num_classes = int(num_classes)
    out = np.zeros(labels.shape + (num_classes,), dtype=np.float32)
    np.put_along_axis(out, labels[..., None], 1.0, axis=-1)
    return out
