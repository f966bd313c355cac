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


# ---- gradcheck on real models ----------------------------------------------------------

import fastmlp as fm  # noqa: E402
from fastmlp.regularizers import l2  # noqa: E402

ACTIVATIONS = ["linear", "sigmoid", "tanh", "relu", "leaky_relu", "softmax"]
# Each loss with the output activation it is used with (fused where fastmlp fuses).
LOSSES = {"mse": "linear", "mae": "linear", "sse": "tanh", "binary_crossentropy": "sigmoid",
          "categorical_crossentropy": "softmax", "sparse_categorical_crossentropy": "softmax"}


def targets(loss, rng, rows):
    if loss == "sparse_categorical_crossentropy":
        return rng.integers(0, 3, size=rows)
    if loss == "categorical_crossentropy":
        return np.eye(3)[rng.integers(0, 3, size=rows)]
    if loss == "binary_crossentropy":
        return rng.integers(0, 2, size=(rows, 3)).astype(np.float64)
    if loss == "mae":  # far from the outputs: no |.| kink, no cancelling signs
        return rng.normal(size=(rows, 3)) + np.array([4.0, -4.0, 4.0])
    return rng.normal(size=(rows, 3))


def two_hidden_layer_model(hidden, loss, seed, dtype="float32", use_bias=True):
    rng = np.random.default_rng(seed)
    model = fm.Sequential([fm.Input(shape=(4,)),
                           fm.Dense(3, activation=hidden, kernel_regularizer=l2(0.01), name="h1"),
                           fm.Dropout(0.3, name="drop"),
                           fm.Dense(3, activation=hidden, use_bias=use_bias, name="h2"),
                           fm.Dense(3, activation=LOSSES[loss], name="out")],
                          backend="numpy", dtype=dtype, seed=0)
    # Weights drawn here, not by the initializers, so that the problem is fixed.
    model.set_weights([rng.normal(scale=1.0 if w.ndim == 2 else 0.5, size=w.shape)
                       for w in model.get_weights()])
    model.compile(optimizer="sgd", loss=loss)
    return model, rng.normal(size=(4, 4)), targets(loss, rng, 4)


def well_conditioned(hidden, loss):
    """The first seed whose every gradient component is at least 1e-3 in
    size: rounding in the loss puts ~1e-10 of noise on a central difference
    with eps=1e-6, so only then does a relative error of 1e-6 measure the
    derivative rather than the rounding. The choice looks at the backprop
    gradient only, never at the check's result."""
    for seed in range(200):
        model, x, y = two_hidden_layer_model(hidden, loss, seed, dtype="float64")
        model.compute_gradients(x, y)
        if np.min(np.abs(model.grads)) > 1e-3:
            return seed
    raise AssertionError("no well-conditioned problem found")


@pytest.mark.parametrize("loss", sorted(LOSSES))
@pytest.mark.parametrize("hidden", ACTIVATIONS)
def test_backprop_matches_central_differences(hidden, loss):
    model, x, y = two_hidden_layer_model(hidden, loss, well_conditioned(hidden, loss))
    errors = fm.gradcheck(model, x, y)
    assert sorted(errors) == ["h1/bias", "h1/kernel", "h2/bias", "h2/kernel", "out/bias", "out/kernel"]
    assert max(errors.values()) < 1e-6, errors


def test_gradcheck_leaves_the_model_alone():
    model, x, y = two_hidden_layer_model("tanh", "mse", 0)
    before = model.get_weights()
    fm.gradcheck(model, x, y)
    assert model.dtype == np.float32 and model.backend == "numpy"
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_layers_without_bias_report_only_their_kernel():
    model, x, y = two_hidden_layer_model("tanh", "mse", 0, use_bias=False)
    assert "h2/bias" not in fm.gradcheck(model, x, y) and "h2/kernel" in fm.gradcheck(model, x, y)


def test_gradcheck_catches_a_wrong_derivative(monkeypatch):
    from fastmlp.backends import numpy as ops

    model, x, y = two_hidden_layer_model("tanh", "mse", well_conditioned("tanh", "mse"))
    right = ops.activation_backward

    def tanh_off_by_two_percent(name, grad, y_out, out=None, **kwargs):
        result = right(name, grad, y_out, out=out, **kwargs)
        return np.multiply(result, 1.02, out=result) if name == "tanh" else result

    monkeypatch.setattr(ops, "activation_backward", tanh_off_by_two_percent)
    errors = fm.gradcheck(model, x, y)
    assert errors["h1/kernel"] > 1e-3 and errors["h2/kernel"] > 1e-3
    assert errors["out/kernel"] < 1e-6  # above the broken layers: still right


def test_gradcheck_needs_a_built_compiled_model():
    unbuilt = fm.Sequential([fm.Dense(2)], backend="numpy")
    unbuilt.compile(optimizer="sgd", loss="mse")
    with pytest.raises(ValueError, match="not built"):
        fm.gradcheck(unbuilt, np.zeros((2, 3)), np.zeros((2, 2)))
    uncompiled = fm.Sequential([fm.Input(shape=(3,)), fm.Dense(2)], backend="numpy")
    with pytest.raises(ValueError, match="not compiled"):
        fm.gradcheck(uncompiled, np.zeros((2, 3)), np.zeros((2, 2)))


def test_gradcheck_bad_arguments():
    model, x, y = two_hidden_layer_model("tanh", "mse", 0)
    with pytest.raises(ValueError, match="eps"):
        fm.gradcheck(model, x, y, eps=0)
    with pytest.raises(ValueError, match="4 samples but y has 3"):
        fm.gradcheck(model, x, y[:3])


def test_gradcheck_takes_image_shaped_input_through_flatten():
    rng = np.random.default_rng(5)
    model = fm.Sequential([fm.Flatten(input_shape=(2, 3)), fm.Dense(4, activation="sigmoid", name="h"),
                           fm.Dense(2, activation="softmax", name="out")], backend="numpy", seed=2)
    model.set_weights([rng.normal(size=w.shape) for w in model.get_weights()])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    errors = fm.gradcheck(model, rng.normal(size=(5, 2, 3)), np.array([0, 1, 1, 0, 1]))
    assert sorted(errors) == ["h/bias", "h/kernel", "out/bias", "out/kernel"]
    assert max(errors.values()) < 1e-5


def test_gradcheck_can_sample_elements_of_large_arrays():
    model, x, y = two_hidden_layer_model("tanh", "mse", well_conditioned("tanh", "mse"))
    full = fm.gradcheck(model, x, y)
    sampled = fm.gradcheck(model, x, y, max_per_array=2, seed=1)
    assert sorted(sampled) == sorted(full)
    assert all(sampled[k] <= full[k] for k in full)  # a subset of the same elements
    assert fm.gradcheck(model, x, y, max_per_array=100) == full  # more than there are: all
    with pytest.raises(ValueError, match="max_per_array"):
        fm.gradcheck(model, x, y, max_per_array=0)


def test_sampled_gradcheck_still_catches_a_wrong_derivative(monkeypatch):
    from fastmlp.backends import numpy as ops

    model, x, y = two_hidden_layer_model("sigmoid", "mse", well_conditioned("sigmoid", "mse"))
    right = ops.activation_backward

    def halved(name, grad, y_out, out=None, **kwargs):
        result = right(name, grad, y_out, out=out, **kwargs)
        return np.multiply(result, 0.5, out=result) if name == "sigmoid" else result

    monkeypatch.setattr(ops, "activation_backward", halved)
    assert fm.gradcheck(model, x, y, max_per_array=3)["h1/kernel"] > 0.1
