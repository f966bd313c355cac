"""Layers, activations, initializers and regularizers: the math each one
does (on both backends), their Keras names, and their configs."""

from __future__ import annotations

import json

import numpy as np
import pytest

import fastmlp as fm
from fastmlp import activations, initializers, layers, regularizers

BACKENDS = fm.backends.NAMES

REFERENCE = {
    "identity": lambda z: z,
    "sigmoid": lambda z: 1 / (1 + np.exp(-z)),
    "tanh": np.tanh,
    "relu": lambda z: np.maximum(z, 0),
    "leaky_relu": lambda z: np.where(z > 0, z, 0.2 * z),  # Keras 3's slope
    "softmax": lambda z: np.exp(z) / np.exp(z).sum(axis=1, keepdims=True),
}


def one_layer(backend, layer, features=3):
    return fm.Sequential([fm.Input((features,)), layer], backend=backend, dtype="float64", seed=0)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", list(REFERENCE))
def test_dense_forward_is_activation_of_affine_map(backend, name):
    x = np.random.default_rng(0).normal(size=(5, 3))
    model = one_layer(backend, fm.Dense(4, activation=name))
    kernel, bias = model.get_weights()
    bias[:] = [0.5, -0.5, 0.1, 0.0]
    model.set_weights([kernel, bias])
    np.testing.assert_allclose(model.predict(x), REFERENCE[name](x @ kernel + bias), rtol=1e-12,
                               atol=1e-15)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", list(REFERENCE))
def test_activation_layer_matches_dense_activation(backend, name):
    x = np.random.default_rng(1).normal(size=(4, 3))
    model = one_layer(backend, fm.Activation(name))
    np.testing.assert_allclose(model.predict(x), REFERENCE[name](x), rtol=1e-12, atol=1e-15)


def test_activation_names_follow_keras():
    assert activations.get(None) == "identity"
    assert activations.get("linear") == "identity"
    assert activations.get("ReLU") == "relu"
    assert activations.serialize("identity") == "linear"
    with pytest.raises(ValueError, match="unknown activation 'selu'"):
        activations.get("selu")
    assert activations.get(activations.relu) == "relu"
    assert fm.Dense(2, activation=activations.linear).activation == "identity"
    with pytest.raises(TypeError):
        activations.get(np.tanh)
    np.testing.assert_allclose(activations.leaky_relu([-1.0, 2.0]), [-0.2, 2.0])
    np.testing.assert_allclose(activations.softmax([[0.0, 0.0]]), [[0.5, 0.5]])


@pytest.mark.parametrize("backend", BACKENDS)
def test_dense_without_bias(backend):
    model = one_layer(backend, fm.Dense(2, use_bias=False))
    assert [w.shape for w in model.get_weights()] == [(3, 2)]
    x = np.ones((1, 3))
    np.testing.assert_allclose(model.predict(x), x @ model.get_weights()[0], rtol=1e-12)


def test_dropout_mask_is_inverted_and_reused_in_backward():
    layer = fm.Dropout(0.25)
    fm.Sequential([fm.Input((1000,)), layer], backend="numpy", seed=0)
    work = layer.workspace(4, np.dtype(np.float64))
    ops = fm.backends.get("numpy")
    x = np.ones((4, 1000))
    y = np.empty_like(x)
    out = layer.forward(ops, x, y, work, True, np.random.default_rng(0))
    assert set(np.unique(out)) == {0.0, 1 / 0.75}
    assert 0.2 < np.mean(out == 0) < 0.3
    dx = np.empty_like(x)
    layer.backward(ops, x, out, np.full_like(x, 3.0), dx, work, True)
    np.testing.assert_array_equal(dx, 3.0 * out)
    assert layer.forward(ops, x, y, work, False, None) is x  # inactive: pass-through


def test_dropout_with_own_seed_repeats():
    def masks():
        layer = fm.Dropout(0.5, seed=3)
        fm.Sequential([fm.Input((50,)), layer], backend="numpy")
        work = layer.workspace(2, np.dtype(np.float32))
        x = np.ones((2, 50), np.float32)
        return layer.forward(fm.backends.get("numpy"), x, np.empty_like(x), work, True, None)
    np.testing.assert_array_equal(masks(), masks())


@pytest.mark.parametrize("name, limit", [
    ("glorot_uniform", np.sqrt(6 / (400 + 300))),
    ("he_uniform", np.sqrt(6 / 400)),
    ("lecun_uniform", np.sqrt(3 / 400)),
])
def test_uniform_initializers_use_keras_limits(name, limit):
    w = initializers.get(name)((400, 300), np.random.default_rng(0))
    assert w.dtype == np.float32
    assert np.abs(w).max() <= limit * (1 + 1e-6)
    assert np.abs(w).max() > 0.99 * limit
    assert np.std(w) == pytest.approx(limit / np.sqrt(3), rel=0.02)


@pytest.mark.parametrize("name, std", [
    ("glorot_normal", np.sqrt(2 / (400 + 300))),
    ("he_normal", np.sqrt(2 / 400)),
    ("lecun_normal", np.sqrt(1 / 400)),
])
def test_normal_initializers_are_truncated_with_keras_variance(name, std):
    w = initializers.get(name)((400, 300), np.random.default_rng(0), np.float64)
    assert np.std(w) == pytest.approx(std, rel=0.02)
    assert np.abs(w).max() <= 2 * std / 0.87962566103423978 + 1e-12


def test_simple_initializers():
    rng = np.random.default_rng(0)
    np.testing.assert_array_equal(initializers.get("zeros")((3,), rng), 0)
    np.testing.assert_array_equal(initializers.get("ones")((2, 2), rng), 1)
    w = initializers.RandomNormal(stddev=0.05)((200, 200), rng, np.float64)
    assert np.std(w) == pytest.approx(0.05, rel=0.02)
    assert isinstance(initializers.get("GlorotUniform"), initializers.GlorotUniform)
    a = initializers.HeNormal(seed=5)((3, 3))
    b = initializers.HeNormal(seed=5)((3, 3))
    np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="unknown initializer"):
        initializers.get("orthogonal")
    np.testing.assert_array_equal(initializers.Constant(0.1)((3,), rng), np.float32(0.1))
    w = initializers.get("truncated_normal")((300, 300), rng, np.float64)
    assert np.abs(w).max() <= 0.1 and np.std(w) == pytest.approx(0.05 * 0.8796, rel=0.02)


def test_dense_initializers_are_used():
    model = fm.Sequential([fm.Input((3,)), fm.Dense(2, kernel_initializer="ones",
                                                    bias_initializer="random_normal")],
                          backend="numpy", seed=0)
    kernel, bias = model.get_weights()
    np.testing.assert_array_equal(kernel, 1)
    assert np.all(bias != 0)


def test_l2_penalty_and_gradient_follow_keras():
    ops = fm.backends.get("numpy")
    w = np.array([[1.0, -2.0], [3.0, 0.5]])
    reg = regularizers.l2(0.1)
    assert reg.penalty(ops, w) == pytest.approx(0.1 * (1 + 4 + 9 + 0.25))
    grad = np.empty_like(w)
    reg.write_gradient(w, grad)
    np.testing.assert_allclose(grad, 0.2 * w)
    assert isinstance(regularizers.get("l2"), regularizers.L2)
    assert regularizers.get(None) is None
    with pytest.raises(ValueError, match="l2"):
        regularizers.L2(-1.0)


def test_l1_and_l1_l2_penalties_and_gradients():
    ops = fm.backends.get("numpy")
    w = np.array([[1.0, -2.0], [3.0, 0.5]])
    grad = np.empty_like(w)
    l1 = regularizers.l1(0.1)
    assert l1.penalty(ops, w) == pytest.approx(0.1 * 6.5)
    l1.write_gradient(w, grad)
    np.testing.assert_allclose(grad, 0.1 * np.sign(w))
    both = regularizers.l1_l2(l1=0.1, l2=0.2)
    assert both.penalty(ops, w) == pytest.approx(0.1 * 6.5 + 0.2 * 14.25)
    both.write_gradient(w, grad)
    np.testing.assert_allclose(grad, 0.1 * np.sign(w) + 0.4 * w)
    for reg in (l1, both, regularizers.get("l1_l2")):
        clone = regularizers.get(json.loads(json.dumps(regularizers.serialize(reg))))
        assert type(clone) is type(reg) and clone.get_config() == reg.get_config()


@pytest.mark.parametrize("backend", BACKENDS)
def test_regularized_gradients_match_numerical(backend):
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(6, 3)), rng.normal(size=(6, 2))
    model = fm.Sequential([fm.Input((3,)),
                           fm.Dense(4, activation="tanh", kernel_regularizer=regularizers.l1(0.05)),
                           fm.Dense(2, kernel_regularizer=regularizers.l1_l2(0.02, 0.03))],
                          backend=backend, dtype="float64", seed=0)
    model.compile(optimizer="sgd", loss="mse")
    assert max(fm.gradcheck(model, x, y).values()) < 1e-6


@pytest.mark.parametrize("layer", [
    fm.Dense(5, activation="tanh", use_bias=False, kernel_initializer="he_normal",
             kernel_regularizer=fm.regularizers.l2(0.01), name="d"),
    fm.Activation("softmax", name="a"),
    fm.Dropout(0.3, seed=4, name="drop"),
])
def test_layer_config_round_trips_through_json(layer):
    config = json.loads(json.dumps(layers.serialize(layer)))
    clone = layers.deserialize(config)
    assert type(clone) is type(layer)
    assert clone.get_config() == layer.get_config()


def test_layer_names_are_unique_like_keras():
    a, b = fm.Dense(1), fm.Dense(1)
    assert a.name != b.name and a.name.startswith("dense")
    assert fm.Dense(1, name="out").name == "out"


def test_layer_weights_require_build():
    layer = fm.Dense(2)
    assert layer.get_weights() == []
    with pytest.raises(RuntimeError, match="not built"):
        layer.set_weights([np.zeros((3, 2)), np.zeros(2)])


@pytest.mark.parametrize("backend", BACKENDS)
def test_flatten_first_takes_images(backend):
    rng = np.random.default_rng(0)
    images = rng.random((12, 4, 5))
    labels = rng.integers(0, 3, 12)
    model = fm.Sequential([fm.Flatten(input_shape=(4, 5)), fm.Dense(3, activation="softmax")],
                          backend=backend, dtype="float64", seed=0)
    assert model.input_shape == (None, 4, 5) and model.count_params() == 20 * 3 + 3
    kernel, bias = model.get_weights()
    flat = images.reshape(12, 20)
    np.testing.assert_allclose(model.predict(images), REFERENCE["softmax"](flat @ kernel + bias),
                               rtol=1e-12)
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    model.fit(images, labels, epochs=1, verbose=0)
    with pytest.raises(ValueError, match=r"samples of shape \(5, 4\).*expects \(4, 5\)"):
        model.predict(images.reshape(12, 5, 4))
    clone = fm.Sequential.from_config(json.loads(json.dumps(model.get_config())))
    assert clone.input_shape == (None, 4, 5)


@pytest.mark.parametrize("backend", BACKENDS)
def test_flatten_inside_is_identity_for_gradients(backend):
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(5, 3)), rng.normal(size=(5, 2))
    plain = fm.Sequential([fm.Input((3,)), fm.Dense(4, activation="tanh"), fm.Dense(2)],
                          backend=backend, dtype="float64", seed=0)
    flat = fm.Sequential([fm.Input((3,)), fm.Dense(4, activation="tanh"), fm.Flatten(),
                          fm.Dense(2)], backend=backend, dtype="float64", seed=0)
    for model in (plain, flat):
        model.compile(optimizer="sgd", loss="mse")
    flat.set_weights(plain.get_weights())
    assert flat.compute_gradients(x, y) == plain.compute_gradients(x, y)
    np.testing.assert_array_equal(flat.grads, plain.grads)


@pytest.mark.parametrize("backend", BACKENDS)
def test_keras_activation_layers(backend):
    x = np.array([[-2.0, 0.5, 3.0]])
    for layer, expected in [
        (layers.ReLU(), np.maximum(x, 0)),
        (layers.LeakyReLU(), np.where(x > 0, x, 0.3 * x)),  # the layer's Keras default
        (layers.LeakyReLU(negative_slope=0.1), np.where(x > 0, x, 0.1 * x)),
        (layers.Softmax(), REFERENCE["softmax"](x)),
    ]:
        np.testing.assert_allclose(one_layer(backend, layer).predict(x), expected, rtol=1e-12)
        clone = layers.deserialize(json.loads(json.dumps(layers.serialize(layer))))
        assert clone.get_config() == layer.get_config() and clone.slope == layer.slope


@pytest.mark.parametrize("backend", BACKENDS)
def test_leaky_relu_layer_gradient(backend):
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(6, 3)), rng.normal(size=(6, 2))
    model = fm.Sequential([fm.Input((3,)), fm.Dense(4), layers.LeakyReLU(0.1), fm.Dense(2)],
                          backend=backend, dtype="float64", seed=0)
    model.compile(optimizer="sgd", loss="mse")
    errors = fm.gradcheck(model, x, y)
    assert max(errors.values()) < 1e-6


def test_input_spellings_from_keras():
    assert fm.Input((5,)).shape == (5,)
    assert fm.Input(shape=[5]).shape == (5,)
    assert fm.Input(batch_shape=(None, 5)).shape == (5,)
    assert layers.InputLayer(input_shape=(5,)).shape == (5,)
    assert fm.Input(5).shape == (5,)
    with pytest.raises(ValueError, match="exactly one"):
        fm.Input()
