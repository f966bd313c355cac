"""Shared fixtures: the two backends, dtypes, random data in every memory
layout, and the tolerances the kernel tests use."""

from __future__ import annotations

import contextlib
from typing import Callable, Iterator

import numpy as np
import pytest

from fastmlp import backends

DTYPES = (np.float32, np.float64)


@pytest.fixture(params=backends.NAMES)
def backend(request):
    """Each backend module in turn: "c" then "numpy"."""
    return backends.get(request.param)


@pytest.fixture
def c_backend():
    """The C backend alone (SIMD paths, threads)."""
    return backends.get("c")


@pytest.fixture
def numpy_backend():
    return backends.get("numpy")


@pytest.fixture(params=DTYPES, ids=["f32", "f64"])
def dtype(request):
    return np.dtype(request.param)


@pytest.fixture
def rng():
    """A fresh generator with a fixed seed, so every test is reproducible."""
    return np.random.default_rng(20261125)


def eps(dtype) -> float:
    """Unit roundoff-ish: the machine epsilon of ``dtype``."""
    return float(np.finfo(dtype).eps)


def random_array(rng: np.random.Generator, shape: tuple[int, ...], dtype,
                 layout: str = "c", low: float = -1.0, high: float = 1.0) -> np.ndarray:
    """Uniform values in [low, high) of ``shape`` laid out in memory as asked:

    "c" C-contiguous; "fortran" column-major; "strided" a view taking every
    other element of the last axis; "transposed" the transpose of a
    C-contiguous array (a non-contiguous view for 2-D and up); "reversed" a
    view with a negative stride on the first axis.
    """
    values = rng.uniform(low, high, size=shape).astype(dtype)
    if layout == "c":
        return values
    if layout == "fortran":
        return np.asfortranarray(values)
    if layout == "strided":
        if not shape:
            return values  # a 0-d array has no axis to stride along
        wide = np.zeros(shape[:-1] + (2 * shape[-1],), dtype=dtype)
        wide[..., ::2] = values
        return wide[..., ::2]
    if layout == "transposed":
        return np.ascontiguousarray(values.T).T
    if layout == "reversed":
        return np.ascontiguousarray(values[::-1])[::-1] if shape else values
    raise ValueError(layout)


@pytest.fixture
def make(rng) -> Callable[..., np.ndarray]:
    """``make(shape, dtype, layout="c", low=-1, high=1)``: see random_array."""
    def _make(shape, dtype, layout="c", low=-1.0, high=1.0):
        return random_array(rng, tuple(shape), dtype, layout, low, high)
    return _make


@contextlib.contextmanager
def num_threads(n: int) -> Iterator[None]:
    """Run the block with ``n`` OpenMP threads in the C kernels, then restore."""
    import fastmlp

    before = fastmlp.get_num_threads()
    fastmlp.set_num_threads(n)
    assert fastmlp.get_num_threads() == n
    try:
        yield
    finally:
        fastmlp.set_num_threads(before)


@pytest.fixture
def threads() -> Callable[[int], contextlib.AbstractContextManager]:
    """``with threads(n): ...`` runs the C kernels on n threads."""
    return num_threads


@pytest.fixture
def tol() -> Callable[[object], float]:
    """``tol(dtype)`` is the machine epsilon of dtype, the unit every
    tolerance in these tests is written in."""
    return eps
