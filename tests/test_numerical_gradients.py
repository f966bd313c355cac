"""Analytic backward of every activation and loss against central
differences, in float64, on both backends.

Tolerance: with h = 1e-6 the central difference (f(x+h) - f(x-h)) / 2h has
truncation error about h^2 |f'''| / 6 ~ 1e-13 for the smooth functions here
(inputs of order one) and rounding error about eps |f| / h ~ 1e-9 for
|f| <= 10. So rtol 1e-6 with atol 1e-7 is loose for a right gradient and
tight for a wrong one, which is off by O(1 / size) >= 1e-2. Inputs of relu,
leaky_relu and MAE are kept at least 1e-3 from their kinks so that no
difference straddles one.
"""

from __future__ import annotations

import numpy as np
import pytest

from fastmlp.backends import ACTIVATIONS

H = 1e-6
TOL = dict(rtol=1e-6, atol=1e-7)


def central_difference(f, x):
    """The gradient of the scalar function f at x, entry by entry."""
    grad = np.empty_like(x)
    for i in np.ndindex(x.shape):
        up, down = x.copy(), x.copy()
        up[i] += H
        down[i] -= H
        grad[i] = (f(up) - f(down)) / (2 * H)
    return grad


def away_from_zero(x):
    """Move entries within 1e-3 of 0 out to +-0.5 (kinks sit at 0)."""
    return np.where(np.abs(x) < 1e-3, np.copysign(0.5, x), x)


@pytest.mark.parametrize("shape", [(1,), (4, 5), (2, 3, 4)], ids=str)
@pytest.mark.parametrize("act", ACTIVATIONS)
def test_activation_backward_is_the_derivative(backend, rng, act, shape):
    x = away_from_zero(rng.uniform(-3, 3, shape))
    upstream = rng.uniform(-1, 1, shape)

    def weighted_output(z):
        return float(np.sum(upstream * backend.activation(act, z, alpha=0.1)))

    y = backend.activation(act, x, alpha=0.1)
    analytic = backend.activation_backward(act, upstream, y, alpha=0.1)
    np.testing.assert_allclose(analytic, central_difference(weighted_output, x), **TOL)


def dense_target(rng, shape):
    return np.eye(shape[1])[rng.integers(0, shape[1], shape[0])]


# loss name -> target maker; the sparse one draws integer labels
TARGETS = {
    "softmax_cross_entropy": dense_target,
    "softmax_cross_entropy-smoothed": lambda rng, s: 0.8 * dense_target(rng, s) + 0.1,
    "sparse_softmax_cross_entropy": lambda rng, s: rng.integers(0, s[1], s[0]),
    "sigmoid_binary_cross_entropy": lambda rng, s: rng.uniform(0, 1, s),
    "mean_squared_error": lambda rng, s: rng.uniform(-1, 1, s),
    "mean_absolute_error": lambda rng, s: rng.uniform(-1, 1, s),
    "sum_squared_error": lambda rng, s: rng.uniform(-1, 1, s),
}


@pytest.mark.parametrize("shape", [(1, 1), (1, 3), (5, 4)], ids=str)
@pytest.mark.parametrize("case", sorted(TARGETS))
def test_loss_gradient_is_the_derivative_of_the_loss(backend, rng, case, shape):
    name = case.split("-")[0]
    loss_fn = getattr(backend, name)
    x = rng.uniform(-3, 3, shape)
    t = TARGETS[case](rng, shape)
    if name == "mean_absolute_error":
        x = t + away_from_zero(x - t)  # keep y - t off MAE's kink
    loss, analytic = loss_fn(x, t)
    numeric = central_difference(lambda z: loss_fn(z, t)[0], x)
    np.testing.assert_allclose(analytic, numeric, **TOL)


def test_sum_squared_error_gradient_for_one_output_per_sample(backend, rng):
    y, t = rng.uniform(-2, 2, 6), rng.uniform(-2, 2, 6)
    numeric = central_difference(lambda z: backend.sum_squared_error(z, t)[0], y)
    np.testing.assert_allclose(backend.sum_squared_error(y, t)[1], numeric, **TOL)


@pytest.mark.parametrize("act", ACTIVATIONS)
def test_dense_layer_backprop_through_gemm_and_column_sum(backend, rng, act):
    # The ops as a layer uses them: z = x @ W + b, y = act(z), loss = MSE(y, t).
    # Backprop: dz = act'(dy), dW = x^T dz, db = column sums of dz, dx = dz W^T.
    x, w, b = rng.uniform(-1, 1, (5, 4)), rng.uniform(-1, 1, (4, 3)), rng.uniform(-1, 1, 3)
    t = rng.uniform(-1, 1, (5, 3))
    assert np.abs(x @ w + b).min() > 1e-4  # no pre-activation near relu's kink

    def loss_of(x_, w_, b_):
        y_ = backend.gemm(x_, w_, bias=b_, activation=act, slope=0.1)
        return backend.mean_squared_error(y_, t)[0]

    y = backend.gemm(x, w, bias=b, activation=act, slope=0.1)
    _, dy = backend.mean_squared_error(y, t)
    dz = backend.activation_backward(act, dy, y, alpha=0.1)
    dw = backend.gemm(x, dz, trans_a=True)
    db = backend.column_sum(dz)
    dx = backend.gemm(dz, w, trans_b=True)
    np.testing.assert_allclose(dw, central_difference(lambda v: loss_of(x, v, b), w), **TOL)
    np.testing.assert_allclose(db, central_difference(lambda v: loss_of(x, w, v), b), **TOL)
    np.testing.assert_allclose(dx, central_difference(lambda v: loss_of(v, w, b), x), **TOL)
