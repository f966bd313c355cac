"""Shared fixtures of the pytest-benchmark suites (not part of tests/).

    PYTHONPATH=src pytest bench --benchmark-only [--bench-threads 2]

Every benchmark runs on both backends where that makes sense, grouped so that
pytest-benchmark prints the C kernel and its NumPy twin side by side.
"""

from __future__ import annotations

import numpy as np
import pytest

try:
    import fastmlp as fm
except ImportError as exc:  # a clear message instead of a collection traceback
    raise pytest.UsageError(f"the benchmarks need fastmlp importable (PYTHONPATH=src?): {exc}")

import workload

BACKENDS = ("c", "numpy")


def pytest_addoption(parser):
    parser.addoption("--bench-threads", type=int, default=2,
                     help="threads for fastmlp and numpy's BLAS in the benchmarks (default 2)")


@pytest.fixture(scope="session", autouse=True)
def threads(pytestconfig) -> int:
    """Pin fastmlp's OpenMP and numpy's BLAS to --bench-threads threads."""
    from threadpoolctl import threadpool_limits

    n = pytestconfig.getoption("--bench-threads")
    fm.set_num_threads(n)
    with threadpool_limits(limits=n, user_api="blas"):
        yield n


@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    return request.param


@pytest.fixture
def ops(backend):
    """The op-contract module of the backend under test."""
    return fm.backends.get(backend)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


@pytest.fixture(scope="session")
def fashion() -> dict[str, np.ndarray]:
    """Fashion-MNIST scaled to [0, 1] (float32 rows of 784), int64 labels."""
    try:
        return workload.load_fashion_mnist()
    except fm.datasets.DatasetNotFoundError as exc:
        pytest.skip(f"Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist): {exc}")


@pytest.fixture(scope="session")
def friedman() -> dict[str, np.ndarray]:
    """Friedman #1, 8 features, 16,512 training rows (float32)."""
    return workload.make_regression()
