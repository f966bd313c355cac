"""Weight penalties added to the loss, as Keras's ``regularizers``.

``L2(l2)`` adds ``l2 * sum(W ** 2)`` to the loss and ``2 * l2 * W`` to the
kernel gradient (Keras's formula; PyTorch's ``weight_decay=wd`` adds ``wd * W``
to the gradient instead, so ``wd = 2 * l2`` matches). ``L1(l1)`` adds
``l1 * sum(|W|)`` and ``l1 * sign(W)``; ``L1L2`` both.

The gradient term is written into the kernel-gradient buffer first and the
GEMM that computes ``x.T @ delta`` then adds onto it (``beta=1``); sums go
through the backend as 1 x n by n x 1 products (fixed order whatever the
thread count); a scratch array the size of W is made once. So a training
step allocates nothing here.
"""

from __future__ import annotations

from types import ModuleType
from typing import Optional

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


def _factor(name: str, value: object) -> float:
    try:
        x = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a number, got {value!r}") from None
    if not np.isfinite(x) or x < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return x


class L1L2(Regularizer):
    """``l1 * sum(|W|) + l2 * sum(W ** 2)`` (Keras defaults 0 and 0)."""

    def __init__(self, l1: float = 0.0, l2: float = 0.0) -> None:
        self.l1 = _factor("l1", l1)
        self.l2 = _factor("l2", l2)
        self._dot: dict = {}  # 1x1 result buffer per dtype
        self._scratch: Optional[np.ndarray] = None  # like W, made once

    def _result(self, w: np.ndarray) -> np.ndarray:
        buf = self._dot.get(w.dtype)
        if buf is None:
            buf = self._dot[w.dtype] = np.empty((1, 1), dtype=w.dtype)
        return buf

    def _like(self, w: np.ndarray) -> np.ndarray:
        """Scratch the shape of W (only L1 needs it), made once."""
        if self._scratch is None or self._scratch.shape != w.shape or self._scratch.dtype != w.dtype:
            self._scratch = np.empty_like(w)
        return self._scratch

    def _dot_sum(self, ops: ModuleType, a: np.ndarray, b: np.ndarray, buf: np.ndarray) -> float:
        ops.gemm(a.reshape(1, -1), b.reshape(1, -1), out=buf, trans_b=True)
        return float(buf[0, 0])

    def penalty(self, ops, w):
        buf = self._result(w)
        total = 0.0
        if self.l2:
            total += self.l2 * self._dot_sum(ops, w, w, buf)
        if self.l1:
            signs = self._like(w)
            np.sign(w, out=signs)  # sum |W| = sign(W) . W
            total += self.l1 * self._dot_sum(ops, signs, w, buf)
        return total

    def write_gradient(self, w, out):
        if self.l1:
            np.sign(w, out=out)
            np.multiply(out, self.l1, out=out)
            if self.l2:
                scratch = self._like(w)
                np.multiply(w, 2.0 * self.l2, out=scratch)
                np.add(out, scratch, out=out)
        else:
            np.multiply(w, 2.0 * self.l2, out=out)

    def get_config(self):
        return {"l1": self.l1, "l2": self.l2}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class L1(L1L2):
    """``l1 * sum(|W|)``; Keras's default factor is 0.01."""

    def __init__(self, l1: float = 0.01) -> None:
        super().__init__(l1=l1)

    def get_config(self):
        return {"l1": self.l1}


class L2(L1L2):
    """``l2 * sum(W ** 2)``; Keras's default factor is 0.01."""

    def __init__(self, l2: float = 0.01) -> None:
        super().__init__(l2=l2)

    def get_config(self):
        return {"l2": self.l2}


def l1(l1: float = 0.01) -> L1:
    """Return ``L1(l1)``: penalty ``l1 * sum(|W|)``."""
    return L1(l1)


def l2(l2: float = 0.01) -> L2:
    """Return ``L2(l2)``: penalty ``l2 * sum(W ** 2)``."""
    return L2(l2)


def l1_l2(l1: float = 0.01, l2: float = 0.01) -> L1L2:
    """Return ``L1L2(l1, l2)`` (this function's defaults are Keras's: 0.01 each)."""
    return L1L2(l1, l2)


_CLASSES = {"L1": L1, "L2": L2, "L1L2": L1L2}
_NAMES = {"l1": L1, "l2": L2, "l1_l2": lambda: L1L2(0.01, 0.01)}


def get(identifier: object) -> Optional[Regularizer]:
    """Return a Regularizer from None, an instance, "l1"/"l2"/"l1_l2", or a
    ``{"class_name", "config"}`` dict."""
    if identifier is None or isinstance(identifier, Regularizer):
        return identifier
    if isinstance(identifier, str):
        make = _NAMES.get(identifier.lower())
        if make is None:
            raise ValueError(f"unknown regularizer {identifier!r}; expected one of "
                             f"{sorted(_NAMES)} or fm.regularizers.l2(x)")
        return make()
    if isinstance(identifier, dict):
        cls = _CLASSES.get(identifier.get("class_name"))
        if cls is None:
            raise ValueError(f"unknown regularizer config {identifier!r}")
        return cls.from_config(dict(identifier.get("config") or {}))
    raise TypeError(
        f"regularizer must be None, a name or a Regularizer, got {type(identifier).__name__}"
    )


def serialize(reg: Optional[Regularizer]) -> Optional[dict]:
    """``{"class_name", "config"}`` or None."""
    if reg is None:
        return None
    return {"class_name": type(reg).__name__, "config": reg.get_config()}
