"""Fused losses: the mean loss and its gradient, on both backends, against
float64 formulas written from the definitions.

Tolerances, in units of the dtype's machine epsilon eps:
- loss: each term is computed in the input dtype from values of size about
  |z| + log(classes), then summed in float64, so the mean is within
  32 eps (1 + max|z|) of the exact value (plus 16 eps relative).
- gradient entries are differences of probabilities (or of y and t) divided
  by the count: within 32 eps (1 + max|input|) / count of the exact value.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

LOSS_NAMES = ["softmax_cross_entropy", "sparse_softmax_cross_entropy",
              "sigmoid_binary_cross_entropy", "mean_squared_error",
              "mean_absolute_error", "sum_squared_error"]


def softmax64(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def reference(name, x, t):
    """(mean loss, gradient) from the textbook definitions, in float64."""
    x, t = x.astype(np.float64), np.asarray(t)
    if name == "sparse_softmax_cross_entropy":
        onehot = np.zeros_like(x)
        onehot[np.arange(len(t)), t] = 1
        return reference("softmax_cross_entropy", x, onehot)
    t = t.astype(np.float64)
    if name == "softmax_cross_entropy":
        p = softmax64(x)
        rows = x.shape[0]
        # d/dz_k of -sum_j t_j log p_j is p_k sum_j t_j - t_k
        return -(t * np.log(p)).sum() / rows, (p * t.sum(1, keepdims=True) - t) / rows
    if name == "sigmoid_binary_cross_entropy":
        s = 1 / (1 + np.exp(-x))
        loss = -(t * np.log(s) + (1 - t) * np.log(1 - s))
        return loss.mean(), (s - t) / x.size
    d = x - t
    if name == "mean_squared_error":
        return (d**2).mean(), 2 * d / x.size
    if name == "mean_absolute_error":
        return np.abs(d).mean(), np.sign(d) / x.size
    if name == "sum_squared_error":
        rows = x.shape[0]
        return 0.5 * (d**2).sum() / rows, d / rows
    raise ValueError(name)


def make_target(name, rng, shape, dtype):
    if name == "sparse_softmax_cross_entropy":
        return rng.integers(0, shape[1], size=shape[0])
    if name == "softmax_cross_entropy":
        return np.eye(shape[1], dtype=dtype)[rng.integers(0, shape[1], size=shape[0])]
    if name == "sigmoid_binary_cross_entropy":
        return rng.uniform(0, 1, size=shape).astype(dtype)
    return rng.uniform(-1, 1, size=shape).astype(dtype)


def assert_loss_close(name, loss, grad, x, t):
    expected_loss, expected_grad = reference(name, x, t)
    e = float(np.finfo(x.dtype).eps)
    scale = 1 + float(np.abs(x).max())
    assert isinstance(loss, float)
    assert abs(loss - expected_loss) <= 32 * e * scale + 16 * e * abs(expected_loss)
    count = x.shape[0] if "softmax" in name or name == "sum_squared_error" else x.size
    assert grad.dtype == x.dtype and grad.shape == x.shape
    assert np.all(np.abs(grad - expected_grad) <= 32 * e * scale / count)


SHAPES = {
    "softmax": [(1, 1), (1, 7), (13, 127), (600, 10)],
    "elementwise": [(1,), (7,), (13, 127), (2, 3, 5), (600, 257)],
    "sse": [(1,), (7,), (13, 127), (600, 10)],
}
CASES = [(name, shape) for name in LOSS_NAMES
         for shape in SHAPES["softmax" if "softmax_cross" in name
                             else "sse" if name == "sum_squared_error" else "elementwise"]]


@pytest.mark.parametrize("name,shape", CASES, ids=str)
def test_loss_and_gradient_match_the_definition(backend, dtype, rng, name, shape):
    x = rng.uniform(-5, 5, size=shape).astype(dtype)
    t = make_target(name, rng, shape, dtype)
    loss, grad = getattr(backend, name)(x, t)
    assert_loss_close(name, loss, grad, x, t)


@pytest.mark.parametrize("name", LOSS_NAMES)
def test_non_contiguous_inputs_and_a_reused_grad_buffer(backend, dtype, rng, name, make):
    grad = np.full((40, 9), np.nan, dtype)
    for layout in ("fortran", "strided", "transposed"):
        x = make((40, 9), dtype, layout, low=-4, high=4)
        t = make_target(name, rng, (40, 9), dtype)
        if t.ndim == 2:
            t = np.asfortranarray(t)
        loss, got = getattr(backend, name)(x, t, grad=grad)
        assert got is grad
        assert_loss_close(name, loss, grad, x, t)


def test_softmax_cross_entropy_gradient_for_targets_not_summing_to_one(backend, dtype, rng):
    z = rng.uniform(-3, 3, size=(17, 6)).astype(dtype)
    smoothed = 0.9 * np.eye(6)[rng.integers(0, 6, size=17)] + 0.1 / 6
    for t in (smoothed, 2 * smoothed, 0.5 * smoothed, np.zeros((17, 6))):
        t = t.astype(dtype)
        loss, grad = backend.softmax_cross_entropy(z, t)
        assert_loss_close("softmax_cross_entropy", loss, grad, z, t)


def test_sparse_equals_dense_with_one_hot_targets(backend, dtype, rng):
    z = rng.uniform(-3, 3, size=(50, 11)).astype(dtype)
    labels = rng.integers(0, 11, size=50)
    dense = backend.softmax_cross_entropy(z, np.eye(11, dtype=dtype)[labels])
    sparse = backend.sparse_softmax_cross_entropy(z, labels)
    e = float(np.finfo(dtype).eps)
    assert sparse[0] == pytest.approx(dense[0], rel=16 * e)
    np.testing.assert_allclose(sparse[1], dense[1], rtol=0, atol=4 * e)


@pytest.mark.parametrize("labels", [
    np.array([2, 0, 1], np.int32), np.array([2, 0, 1], np.uint8),
    np.array([[2], [0], [1]]), np.array([2.0, 0.0, 1.0]), [2, 0, 1],
], ids=["int32", "uint8", "column", "integral-float", "list"])
def test_labels_in_any_integer_form_give_the_same_loss(backend, labels):
    z = np.array([[0.1, 0.2, 3.0], [2.0, -1.0, 0.0], [0.0, 0.5, 0.25]])
    expected = backend.sparse_softmax_cross_entropy(z, np.array([2, 0, 1]))
    got = backend.sparse_softmax_cross_entropy(z, labels)
    assert got[0] == expected[0]
    np.testing.assert_array_equal(got[1], expected[1])


def test_huge_logits_give_exact_finite_losses_without_warnings(backend, dtype):
    z = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, 1e4]], dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sparse = backend.sparse_softmax_cross_entropy(z, [1, 2])
        dense = backend.softmax_cross_entropy(z, np.eye(3, dtype=dtype)[[1, 2]])
        bce = backend.sigmoid_binary_cross_entropy(
            np.array([1e4, -1e4, 1e4, -1e4], dtype), np.array([0, 1, 1, 0], dtype))
    # row 0 pays 2e4 for a label whose logit is 2e4 below the top; row 1 pays 0
    assert sparse[0] == pytest.approx(1e4) and dense[0] == pytest.approx(1e4)
    np.testing.assert_allclose(sparse[1], [[0.5, -0.5, 0], [0, 0, 0]], atol=1e-30)
    np.testing.assert_allclose(dense[1], sparse[1], atol=1e-30)
    assert bce[0] == pytest.approx(1e4 / 2)  # two terms of 1e4, two of 0, mean of 4
    np.testing.assert_allclose(bce[1], [0.25, -0.25, 0, 0], atol=1e-30)


def test_mean_absolute_error_gradient_is_zero_where_prediction_is_exact(backend, dtype):
    y = np.array([1.0, 2.0, 3.0, 4.0], dtype)
    t = np.array([1.0, 0.0, 3.0, 5.0], dtype)
    loss, grad = backend.mean_absolute_error(y, t)
    assert loss == pytest.approx(0.75)
    np.testing.assert_array_equal(grad, np.array([0, 0.25, 0, -0.25], dtype))


def test_sum_squared_error_treats_a_vector_as_one_output_per_sample(backend, dtype):
    y = np.array([1.0, 2.0, 4.0], dtype)
    t = np.zeros(3, dtype)
    loss, grad = backend.sum_squared_error(y, t)
    assert loss == pytest.approx(0.5 * 21 / 3)
    assert grad.shape == (3,)
    np.testing.assert_allclose(grad, y / 3, rtol=np.finfo(dtype).eps)
    column = backend.sum_squared_error(y[:, None], t[:, None])
    assert column[0] == loss


def test_nan_in_logits_gives_a_nan_loss_not_a_crash(backend, dtype):
    z = np.array([[0.0, np.nan], [1.0, 2.0]], dtype)
    assert np.isnan(backend.sparse_softmax_cross_entropy(z, [0, 1])[0])
    assert np.isnan(backend.mean_squared_error(z, np.zeros_like(z))[0])
    assert np.isnan(backend.sigmoid_binary_cross_entropy(z, np.zeros_like(z))[0])


def test_threads_do_not_change_losses_or_gradients(c_backend, dtype, rng, threads):
    z = rng.uniform(-5, 5, size=(4096, 37)).astype(dtype)
    labels = rng.integers(0, 37, size=4096)
    onehot = np.eye(37, dtype=dtype)[labels]
    probs = rng.uniform(0, 1, size=z.shape).astype(dtype)
    runs = []
    for n in (1, 2):
        with threads(n):
            runs.append([
                c_backend.softmax_cross_entropy(z, onehot),
                c_backend.sparse_softmax_cross_entropy(z, labels),
                c_backend.sigmoid_binary_cross_entropy(z, probs),
                c_backend.mean_squared_error(z, probs),
                c_backend.mean_absolute_error(z, probs),
                c_backend.sum_squared_error(z, probs),
            ])
    for (loss1, grad1), (loss2, grad2) in zip(*runs):
        assert loss1 == loss2
        np.testing.assert_array_equal(grad1, grad2)


@pytest.mark.parametrize("name", LOSS_NAMES)
def test_c_and_numpy_backends_agree(c_backend, numpy_backend, dtype, rng, name):
    x = rng.uniform(-5, 5, size=(700, 13)).astype(dtype)
    t = make_target(name, rng, x.shape, dtype)
    c_loss, c_grad = getattr(c_backend, name)(x, t)
    n_loss, n_grad = getattr(numpy_backend, name)(x, t)
    e = float(np.finfo(dtype).eps)
    assert c_loss == pytest.approx(n_loss, rel=32 * e, abs=64 * e * 6)
    count = 700 if "softmax" in name or name == "sum_squared_error" else x.size
    np.testing.assert_allclose(c_grad, n_grad, rtol=0, atol=64 * e * 6 / count)
