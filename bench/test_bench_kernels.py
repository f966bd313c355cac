"""Kernel benchmarks on the 784-256-128-10 MLP's shapes at batch 128.

GEMM per training-step shape and 1024^3, the fused GEMM+bias+ReLU forward,
every activation forward and backward at 128x256, the column sum (bias
gradient), every fused loss at 128x10, and one Adam step over the model's
flat buffer of 235,146 parameters. Each runs on the C backend and on its NumPy
twin. The asserts only check that the benchmarked call computed something.
"""

from __future__ import annotations

import numpy as np
import pytest

import fastmlp as fm
import gemm_compare
import workload

SIZES = workload.CLASSIFIER_SIZES
BATCH = 128
GEMMS = gemm_compare.training_step_gemms(SIZES, BATCH) + [gemm_compare.SQUARE]


@pytest.mark.parametrize("g", GEMMS, ids=[f"{g.m}x{g.n}x{g.k}{'-tA' * g.trans_a}{'-tB' * g.trans_b}"
                                          for g in GEMMS])
def test_gemm(benchmark, ops, g):
    a, b, out = gemm_compare.operands(g)
    benchmark.group = f"gemm {g.label}"
    benchmark.extra_info["gflop"] = g.flops / 1e9
    benchmark(ops.gemm, a, b, out=out, trans_a=g.trans_a, trans_b=g.trans_b)
    ref = (a.T if g.trans_a else a) @ (b.T if g.trans_b else b)
    np.testing.assert_allclose(out, ref, rtol=1e-3, atol=1e-3 * np.sqrt(g.k))


def test_gemm_bias_relu_forward(benchmark, ops, rng):
    """The first Dense layer's forward: one GEMM with bias and ReLU fused."""
    x = rng.random((BATCH, SIZES[0]), dtype=np.float32)
    w = rng.standard_normal((SIZES[0], SIZES[1]), dtype=np.float32)
    bias = rng.standard_normal(SIZES[1], dtype=np.float32)
    out = np.empty((BATCH, SIZES[1]), dtype=np.float32)
    benchmark.group = "gemm + bias + relu 128x256x784"
    benchmark(ops.gemm, x, w, out=out, bias=bias, activation="relu")
    assert out.min() >= 0.0


@pytest.mark.parametrize("name", fm.backends.ACTIVATIONS)
def test_activation_forward(benchmark, ops, rng, name):
    x = rng.standard_normal((BATCH, 256), dtype=np.float32)
    out = np.empty_like(x)
    benchmark.group = f"activation forward {name} 128x256"
    benchmark(ops.activation, name, x, out=out)
    assert np.isfinite(out).all()


@pytest.mark.parametrize("name", fm.backends.ACTIVATIONS)
def test_activation_backward(benchmark, ops, rng, name):
    y = ops.activation(name, rng.standard_normal((BATCH, 256), dtype=np.float32))
    grad = rng.standard_normal((BATCH, 256), dtype=np.float32)
    out = np.empty_like(y)
    benchmark.group = f"activation backward {name} 128x256"
    benchmark(ops.activation_backward, name, grad, y, out=out)
    assert np.isfinite(out).all()


def test_column_sum(benchmark, ops, rng):
    x = rng.standard_normal((BATCH, 256), dtype=np.float32)
    out = np.empty(256, dtype=np.float32)
    benchmark.group = "column_sum (bias gradient) 128x256"
    benchmark(ops.column_sum, x, out=out)
    np.testing.assert_allclose(out, x.sum(axis=0), rtol=1e-4, atol=1e-4)


def _loss_target(name: str, rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    if name == "sparse_softmax_cross_entropy":
        return rng.integers(0, shape[1], shape[0])
    if name == "softmax_cross_entropy":
        return np.eye(shape[1], dtype=np.float32)[rng.integers(0, shape[1], shape[0])]
    if name == "sigmoid_binary_cross_entropy":
        return (rng.random(shape) < 0.5).astype(np.float32)
    return rng.standard_normal(shape, dtype=np.float32)


LOSSES = ("softmax_cross_entropy", "sparse_softmax_cross_entropy", "sigmoid_binary_cross_entropy",
          "mean_squared_error", "mean_absolute_error", "sum_squared_error")


@pytest.mark.parametrize("name", LOSSES)
def test_fused_loss(benchmark, ops, rng, name):
    """Loss value and its gradient in one call, at the output layer's 128x10."""
    shape = (BATCH, SIZES[-1])
    x = rng.standard_normal(shape, dtype=np.float32)
    target = _loss_target(name, rng, shape)
    grad = np.empty_like(x)
    benchmark.group = f"loss {name} 128x10"
    loss, _ = benchmark(getattr(ops, name), x, target, grad=grad)
    assert np.isfinite(loss)


def test_adam_update(benchmark, ops, rng):
    """One Adam step over the whole flat parameter buffer of the model."""
    size = workload.n_params(SIZES)
    params = rng.standard_normal(size, dtype=np.float32)
    grads = rng.standard_normal(size, dtype=np.float32) * np.float32(1e-2)
    m, v = np.zeros_like(params), np.zeros_like(params)
    step = iter(range(1, 1 << 40))
    benchmark.group = f"adam_update {size} parameters"
    benchmark.extra_info["parameters"] = size
    benchmark(lambda: ops.adam_update(params, grads, m, v, step=next(step), learning_rate=1e-3,
                                      beta_1=0.9, beta_2=0.999, epsilon=1e-7))
    assert np.isfinite(params).all()
