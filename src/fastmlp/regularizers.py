"""Weight penalties added to the loss, as Keras's ``regularizers``.

``L2(l2)`` adds ``l2 * sum(W ** 2)`` to the loss and ``2 * l2 * W`` to the
kernel gradient (Keras's formula; PyTorch's ``weight_decay=wd`` adds ``wd * W``
to the gradient instead, so ``wd = 2 * l2`` matches). The gradient term is
written into the kernel-gradient buffer first and the GEMM that computes
``x.T @ delta`` then adds onto it (``beta=1``), so no temporary is allocated.
"""

from __future__ import annotations

from types import ModuleType

import numpy as np


class Regularizer:
    """Base class: a penalty on one weight array and its gradient."""

    def penalty(self, ops: ModuleType, w: np.ndarray) -> float:
        """Return the penalty for ``w`` as a Python float."""
        raise NotImplementedError

    def write_gradient(self, w: np.ndarray, out: np.ndarray) -> None:
        """Write d(penalty)/dw into ``out`` (same shape as ``w``)."""
        raise NotImplementedError

    def get_config(self) -> dict:
        raise NotImplementedError

    @classmethod
    def from_config(cls, config: dict) -> "Regularizer":
        return cls(**config)


class L2(Regularizer):
    """``l2 * sum(W ** 2)``; Keras's default factor is 0.01."""

    def __init__(self, l2: float = 0.01) -> None:
        value = float(l2)
        if not np.isfinite(value) or value < 0:
            raise ValueError(f"l2 must be a finite number >= 0, got {l2!r}")
        self.l2 = value
        self._dot: dict = {}  # one 1x1 result buffer per dtype, reused every step

    def penalty(self, ops: ModuleType, w: np.ndarray) -> float:
        # sum(W^2) as a 1 x n by n x 1 product through the backend, so the sum
        # has the backend's fixed order whatever the thread count.
        buf = self._dot.get(w.dtype)
        if buf is None:
            buf = self._dot[w.dtype] = np.empty((1, 1), dtype=w.dtype)
        flat = w.reshape(1, -1)
        ops.gemm(flat, flat, out=buf, trans_b=True)
        return self.l2 * float(buf[0, 0])

    def write_gradient(self, w: np.ndarray, out: np.ndarray) -> None:
        np.multiply(w, 2.0 * self.l2, out=out)

    def get_config(self) -> dict:
        return {"l2": self.l2}

    def __repr__(self) -> str:
        return f"L2(l2={self.l2})"


def l2(l2: float = 0.01) -> L2:  # noqa: D103 - Keras spells the class both ways
    """Return ``L2(l2)``: penalty ``l2 * sum(W ** 2)``."""
    return L2(l2)


_CLASSES = {"L2": L2}


def get(identifier: object) -> Regularizer | None:
    """Return a Regularizer from None, an instance, "l2", or a config dict."""
    if identifier is None or isinstance(identifier, Regularizer):
        return identifier
    if isinstance(identifier, str):
        if identifier.lower() == "l2":
            return L2()
        raise ValueError(f"unknown regularizer {identifier!r}; expected 'l2' or fm.regularizers.l2(x)")
    if isinstance(identifier, dict):
        cls = _CLASSES.get(identifier.get("class_name"))
        if cls is None:
            raise ValueError(f"unknown regularizer config {identifier!r}")
        return cls.from_config(dict(identifier.get("config") or {}))
    raise TypeError(
        f"regularizer must be None, a name or a Regularizer, got {type(identifier).__name__}"
    )


def serialize(reg: Regularizer | None) -> dict | None:
    """``{"class_name", "config"}`` or None."""
    if reg is None:
        return None
    return {"class_name": type(reg).__name__, "config": reg.get_config()}
