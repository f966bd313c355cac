"""Training benchmarks: one epoch of fit, and predict, on both backends.

Classification: the first 10,000 Fashion-MNIST training images (an epoch of
the full 60,000 takes six times as long) on 784-256-128-10 with Adam, at
batch 128 on both backends and at 32 and 512 on the C backend. Regression:
one epoch of Friedman #1 (16,512 rows) on 8-64-64-1 at batch 32, whose cost
is mostly per-step overhead. predict: the 10,000 test images in one batch.
Each round trains the same model further; the first (warm-up) round
allocates its workspaces.
"""

from __future__ import annotations

import numpy as np
import pytest

import fastmlp as fm
import workload

SUBSET = 10000


def mlp(sizes, backend: str, task: str) -> fm.Sequential:
    classify = task == "classify"
    layers = [fm.Input(shape=(sizes[0],))]
    layers += [fm.Dense(units, activation="relu") for units in sizes[1:-1]]
    layers.append(fm.Dense(sizes[-1], activation="softmax" if classify else None))
    model = fm.Sequential(layers, backend=backend, seed=0)
    model.compile(optimizer=fm.optimizers.Adam(learning_rate=1e-3),
                  loss="sparse_categorical_crossentropy" if classify else "mse",
                  metrics=["accuracy"] if classify else None)
    return model


def fit_epoch(benchmark, model, x, y, batch_size: int) -> None:
    benchmark.pedantic(model.fit, args=(x, y),
                       kwargs={"epochs": 1, "batch_size": batch_size, "verbose": 0},
                       rounds=3, iterations=1, warmup_rounds=1)


# The NumPy backend at batch 128 only, to keep the run short.
@pytest.mark.parametrize("backend, batch_size", [("c", 128), ("numpy", 128), ("c", 32), ("c", 512)])
def test_fashion_mnist_epoch(benchmark, backend, fashion, batch_size):
    x, y = fashion["x_train"][:SUBSET], fashion["y_train"][:SUBSET]
    model = mlp(workload.CLASSIFIER_SIZES, backend, "classify")
    benchmark.group = f"fit 1 epoch, {SUBSET} Fashion-MNIST images, batch {batch_size}"
    benchmark.extra_info["gflop"] = workload.gemm_flops_per_sample(workload.CLASSIFIER_SIZES) \
        * SUBSET / 1e9
    fit_epoch(benchmark, model, x, y, batch_size)
    _, accuracy = model.evaluate(fashion["x_test"], fashion["y_test"], batch_size=1000)
    assert accuracy > 0.7  # four epochs of Adam: well above chance (0.1)


def test_regression_epoch(benchmark, backend, friedman):
    model = mlp(workload.REGRESSOR_SIZES, backend, "regress")
    benchmark.group = f"fit 1 epoch, Friedman #1 {workload.REGRESSION_ROWS} rows, batch 32"
    benchmark.extra_info["steps"] = -(-workload.REGRESSION_ROWS // 32)
    fit_epoch(benchmark, model, friedman["x_train"], friedman["y_train"], 32)
    assert model.evaluate(friedman["x_test"], friedman["y_test"]) < 0.5  # y has variance 1


def test_predict(benchmark, backend, fashion):
    model = mlp(workload.CLASSIFIER_SIZES, backend, "classify")
    model.build((None, workload.CLASSIFIER_SIZES[0]))
    x = fashion["x_test"]
    benchmark.group = f"predict {len(x)} Fashion-MNIST test images"
    benchmark.extra_info["gflop"] = workload.gemm_flops_per_sample(
        workload.CLASSIFIER_SIZES, train=False) * len(x) / 1e9
    probs = benchmark(model.predict, x, batch_size=len(x))
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-4)
