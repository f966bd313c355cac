"""Backpropagation through Sequential matches central differences of the
loss, for every loss/activation pairing the model handles differently:
fused logits (Dense or Activation last), from_logits, the clipped NumPy
fallback, plain regression losses, Dropout (inactive) and an L2 penalty."""

from __future__ import annotations

import numpy as np
import pytest

import fastmlp.backends
from fastmlp.layers import Activation, Dense, Dropout, Input
from fastmlp.losses import BinaryCrossentropy, CategoricalCrossentropy
from fastmlp.model import Sequential
from fastmlp.regularizers import l2

BACKENDS = fastmlp.backends.NAMES


def numerical_grads(model: Sequential, x, y, h: float = 1e-6) -> np.ndarray:
    out = np.empty_like(model.params)
    for i in range(model.params.size):
        keep = model.params[i]
        model.params[i] = keep + h
        up = model.compute_gradients(x, y)
        model.params[i] = keep - h
        down = model.compute_gradients(x, y)
        model.params[i] = keep
        out[i] = (up - down) / (2 * h)
    return out


def check(model: Sequential, x, y, rtol: float = 1e-6) -> None:
    model.compute_gradients(x, y)
    analytic = model.grads.copy()
    numeric = numerical_grads(model, x, y)
    scale = np.maximum(np.abs(numeric), 1e-3)
    assert np.max(np.abs(analytic - numeric) / scale) < rtol


def net(backend, layers, loss, inputs=3, **kw):
    model = Sequential([Input((inputs,)), *layers], backend=backend, dtype="float64", seed=3, **kw)
    model.compile(optimizer="sgd", loss=loss)
    return model


@pytest.fixture
def data():
    rng = np.random.default_rng(7)
    x = rng.normal(size=(6, 3))
    return rng, x


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("hidden", ["sigmoid", "tanh", "relu", "leaky_relu", "softmax", None])
def test_softmax_crossentropy_fused_on_dense(backend, hidden, data):
    rng, x = data
    y = np.eye(4)[rng.integers(0, 4, 6)]
    model = net(backend, [Dense(5, activation=hidden), Dense(4, activation="softmax")],
                "categorical_crossentropy")
    check(model, x, y)


@pytest.mark.parametrize("backend", BACKENDS)
def test_sparse_crossentropy_with_dropout_and_l2(backend, data):
    rng, x = data
    labels = rng.integers(0, 4, 6)
    model = net(backend, [Dense(5, activation="tanh", kernel_regularizer=l2(0.05)),
                          Dropout(0.5), Dense(4, activation="softmax")],
                "sparse_categorical_crossentropy")
    check(model, x, labels)


@pytest.mark.parametrize("backend", BACKENDS)
def test_softmax_as_separate_activation_layer(backend, data):
    rng, x = data
    labels = rng.integers(0, 3, 6)
    model = net(backend, [Dense(4, activation="relu"), Dense(3), Activation("softmax")],
                "sparse_categorical_crossentropy")
    assert model._fused_mode() == "activation"
    check(model, x, labels)


@pytest.mark.parametrize("backend", BACKENDS)
def test_sigmoid_binary_crossentropy(backend, data):
    rng, x = data
    y = rng.integers(0, 2, (6, 2)).astype(float)
    model = net(backend, [Dense(4, activation="sigmoid"), Dense(2, activation="sigmoid")],
                "binary_crossentropy")
    assert model._fused_mode() == "dense"
    check(model, x, y)


@pytest.mark.parametrize("backend", BACKENDS)
def test_from_logits_uses_linear_outputs(backend, data):
    rng, x = data
    y = np.eye(3)[rng.integers(0, 3, 6)]
    model = net(backend, [Dense(4, activation="tanh"), Dense(3)],
                CategoricalCrossentropy(from_logits=True))
    assert model._fused_mode() is None
    check(model, x, y)


@pytest.mark.parametrize("backend", BACKENDS)
def test_crossentropy_on_unmatched_activation_takes_clipped_path(backend, data):
    rng, x = data
    y = np.eye(3)[rng.integers(0, 3, 6)]
    model = net(backend, [Dense(3, activation="sigmoid")], "categorical_crossentropy")
    assert model._fused_mode() is None
    check(model, x, y, rtol=1e-5)
    bce = net(backend, [Dense(2, activation="softmax")], BinaryCrossentropy())
    check(bce, x, rng.integers(0, 2, (6, 2)).astype(float), rtol=1e-5)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("loss", ["mse", "sse", "mae"])
def test_regression_losses(backend, loss, data):
    rng, x = data
    y = rng.normal(size=(6, 2))
    model = net(backend, [Dense(4, activation="tanh"), Dense(2)], loss)
    check(model, x, y, rtol=1e-5)


@pytest.mark.parametrize("backend", BACKENDS)
def test_no_bias_and_linear_hidden(backend, data):
    rng, x = data
    model = net(backend, [Dense(4, use_bias=False), Dense(1, activation="relu")], "mse")
    assert model.params.size == 3 * 4 + 4 + 1
    check(model, x, rng.normal(size=6) + 1.0, rtol=1e-5)


@pytest.mark.parametrize("backend", BACKENDS)
def test_loss_includes_l2_penalty(backend, data):
    rng, x = data
    y = rng.normal(size=(6, 1))
    plain = net(backend, [Dense(1)], "mse")
    reg = net(backend, [Dense(1, kernel_regularizer=l2(0.1))], "mse")
    reg.set_weights(plain.get_weights())
    kernel = plain.get_weights()[0]
    expected = plain.compute_gradients(x, y) + 0.1 * float(np.sum(kernel ** 2))
    assert reg.compute_gradients(x, y) == pytest.approx(expected, rel=1e-12)
