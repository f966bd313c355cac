"""What every peer is asked to do: the data, the model sizes and the FLOP counts.

The classification workload is Fashion-MNIST (60,000 training and 10,000 test
images, pixels scaled to [0, 1] in float32) on a 784-256-128-10 MLP with ReLU
hidden layers and a softmax output. The regression workload is Friedman #1
with 8 features (16,512 training rows, the size of California housing's
training split) on an 8-64-64-1 MLP with a linear output.

The parent process of ``compare.py`` prepares the arrays once and writes them
as ``.npy`` files; every peer's child process loads the same bytes with
``numpy.load`` and imports nothing else of the others, so each peer's peak
memory is its own.
"""

from __future__ import annotations

import os
from typing import Sequence

import numpy as np

CLASSIFIER_SIZES = (784, 256, 128, 10)
REGRESSOR_SIZES = (8, 64, 64, 1)
REGRESSION_ROWS = 16512
REGRESSION_TEST_ROWS = 4128

FILES = ("x_train", "y_train", "x_test", "y_test")


def gemm_flops_per_sample(sizes: Sequence[int], train: bool = True) -> int:
    """GEMM floating-point operations (multiply and add counted apart) per sample.

    Forward: ``2 * sum(fan_in * fan_out)`` over the layers. Training adds the
    weight gradients ``x.T @ delta`` (the same again) and the input gradients
    ``delta @ W.T`` of every layer except the first (its input is the data, so
    nobody computes that gradient). For 784-256-128-10 that is 1,006,976 per
    training sample: 60.4 GFLOP per epoch of 60,000 images.
    """
    layers = [a * b for a, b in zip(sizes[:-1], sizes[1:])]
    forward = 2 * sum(layers)
    if not train:
        return forward
    return forward + 2 * sum(layers) + 2 * sum(layers[1:])


def n_params(sizes: Sequence[int]) -> int:
    """Weights plus biases of a dense MLP with these layer widths."""
    return sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))


def load_fashion_mnist() -> dict[str, np.ndarray]:
    """Fashion-MNIST through fastmlp's loader: x float32 in [0, 1] of shape
    (n, 784), y int64 labels."""
    import fastmlp as fm

    (x_train, y_train), (x_test, y_test) = fm.datasets.fashion_mnist.load_data(download=False)
    return {
        "x_train": _scaled(x_train), "y_train": y_train.astype(np.int64),
        "x_test": _scaled(x_test), "y_test": y_test.astype(np.int64),
    }


def _scaled(images: np.ndarray) -> np.ndarray:
    x = images.reshape(len(images), -1).astype(np.float32)
    x *= np.float32(1.0 / 255.0)
    return x


def make_regression(seed: int = 0) -> dict[str, np.ndarray]:
    """Friedman #1 with 8 features, float32; y standardised so that every
    peer starts from the same well-scaled problem."""
    import fastmlp as fm

    x, y = fm.datasets.friedman1(REGRESSION_ROWS + REGRESSION_TEST_ROWS, n_features=8, seed=seed)
    y = (y - y.mean()) / y.std()
    x, y = x.astype(np.float32), y.astype(np.float32)
    n = REGRESSION_ROWS
    return {"x_train": x[:n], "y_train": y[:n], "x_test": x[n:], "y_test": y[n:]}


def save(arrays: dict[str, np.ndarray], directory: str) -> None:
    """Write each array as ``directory/<name>.npy``."""
    os.makedirs(directory, exist_ok=True)
    for name in FILES:
        np.save(os.path.join(directory, name + ".npy"), arrays[name])


def load(directory: str, train_rows: int = 0) -> dict[str, np.ndarray]:
    """Read what :func:`save` wrote; keep only the first ``train_rows``
    training rows when that is > 0 (quick runs), without reading the rest."""
    arrays = {}
    for name in FILES:
        path = os.path.join(directory, name + ".npy")
        if train_rows > 0 and name.endswith("_train"):
            arrays[name] = np.array(np.load(path, mmap_mode="r")[:train_rows])
        else:
            arrays[name] = np.load(path)
    return arrays


def nbytes(arrays: dict[str, np.ndarray]) -> int:
    """Total size of the arrays in bytes (the dataset a peer holds in memory)."""
    return sum(a.nbytes for a in arrays.values())
