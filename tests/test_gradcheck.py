"""Gradient checks: the textbook numerical gradient, the relative error, and
gradcheck on real models (every activation and loss, float64)."""

from __future__ import annotations

import numpy as np
import pytest

from fastmlp.gradcheck import numerical_gradient, relative_error


def test_numerical_gradient_of_a_known_function():
    x = np.array([[1.0, -2.0], [0.5, 3.0]])
    grad = numerical_gradient(lambda v: float(np.sum(np.sin(v) * v[::-1, ::-1])), x)
    # d/dx_ij of sum_kl sin(x_kl) x_(1-k)(1-l) = cos(x_ij) x_mirror + sin(x_mirror)
    mirror = x[::-1, ::-1]
    np.testing.assert_allclose(grad, np.cos(x) * mirror + np.sin(mirror), rtol=1e-7, atol=1e-9)


def test_numerical_gradient_error_shrinks_as_h_squared():
    x = np.array([0.7])
    exact = 3 * 0.7**2
    err1 = abs(numerical_gradient(lambda v: float(v[0] ** 3), x, h=1e-2)[0] - exact)
    err2 = abs(numerical_gradient(lambda v: float(v[0] ** 3), x, h=1e-3)[0] - exact)
    assert err1 == pytest.approx(1e-4, rel=1e-3)  # the error of x^3 is exactly h^2
    assert err2 == pytest.approx(err1 / 100, rel=1e-2)


def test_numerical_gradient_restores_x_and_keeps_its_dtype():
    x = np.linspace(-1, 1, 6, dtype=np.float32).reshape(2, 3)
    before = x.copy()
    grad = numerical_gradient(lambda v: float(np.sum(v * v)), x, h=1e-2)
    np.testing.assert_array_equal(x, before)
    assert grad.dtype == np.float32 and grad.shape == (2, 3)
    np.testing.assert_allclose(grad, 2 * before, atol=1e-3)


def test_numerical_gradient_restores_x_when_f_raises():
    x = np.array([1.0, 2.0])

    def explode(v):
        if v[0] != 1.0:
            raise RuntimeError("boom")
        return 0.0

    with pytest.raises(RuntimeError, match="boom"):
        numerical_gradient(explode, x)
    np.testing.assert_array_equal(x, [1.0, 2.0])


def test_numerical_gradient_may_ignore_its_argument_and_read_shared_state():
    w = np.array([2.0, -1.0])
    data = np.array([1.0, 3.0])
    grad = numerical_gradient(lambda _: float(np.dot(w, data) ** 2), w)
    np.testing.assert_allclose(grad, 2 * np.dot(w, data) * data, rtol=1e-8)


@pytest.mark.parametrize("x,h,error,message", [
    (np.array([1, 2]), 1e-4, TypeError, "floating-point"),
    (np.array([1.0]), 0.0, ValueError, "h must be a positive"),
    (np.array([1.0]), float("nan"), ValueError, "h must be a positive"),
])
def test_numerical_gradient_bad_input(x, h, error, message):
    with pytest.raises(error, match=message):
        numerical_gradient(lambda v: 0.0, x, h=h)


def test_numerical_gradient_needs_a_scalar_function():
    with pytest.raises(TypeError, match="scalar"):
        numerical_gradient(lambda v: v * 2, np.array([1.0, 2.0]))


def test_relative_error_definition():
    assert relative_error(np.array([1.0, 0.0]), np.array([1.0, 0.0])) == 0.0
    assert relative_error(np.array([1.0, 2.0]), np.array([3.0, 2.0])) == pytest.approx(0.5)
    assert relative_error(np.array([1e-3]), np.array([-1e-3])) == pytest.approx(1.0)
    assert relative_error(np.zeros(0), np.zeros(0)) == 0.0
