"""The textbook cases, on both backends: XOR, logistic regression, linear
regression, a softmax classifier, and every optimizer lowering the loss."""

from __future__ import annotations

import numpy as np
import pytest

import fastmlp as fm
import fastmlp.optimizers as optimizers

BACKENDS = fm.backends.NAMES

XOR_X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
XOR_Y = np.array([0, 1, 1, 0], dtype=np.float32)


def two_blobs(n=100, seed=0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    centers = np.array([[-2.0, 1.0], [2.0, -1.0]])
    return centers[labels] + rng.normal(scale=0.5, size=(n, 2)), labels


def blobs(n=150, classes=3, features=4, seed=0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, n)
    centers = rng.normal(scale=4.0, size=(classes, features))
    return centers[labels] + rng.normal(size=(n, features)), labels


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("hidden, units", [("sigmoid", 4), ("tanh", 3)])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_xor_is_learned_exactly(backend, hidden, units, seed):
    # Two hidden units can solve XOR but often stall in a local minimum
    # (loss ~0.35) from a random start; three or four reach it from every
    # seed we tried (12 of 12), so the test does not depend on a lucky seed.
    model = fm.Sequential([fm.Input((2,)), fm.Dense(units, activation=hidden),
                           fm.Dense(1, activation="sigmoid")], backend=backend, seed=seed)
    model.compile(optimizer=optimizers.Adam(learning_rate=0.05), loss="binary_crossentropy",
                  metrics=["accuracy"])
    history = model.fit(XOR_X, XOR_Y, epochs=600, batch_size=4, verbose=0)
    assert history.history["accuracy"][-1] == 1.0
    predictions = model.predict(XOR_X)[:, 0]
    np.testing.assert_array_equal(predictions > 0.5, XOR_Y > 0.5)
    assert history.history["loss"][-1] < 0.1


@pytest.mark.parametrize("backend", BACKENDS)
def test_logistic_regression_separates_two_blobs(backend):
    x, y = two_blobs()
    model = fm.Sequential([fm.Input((2,)), fm.Dense(1, activation="sigmoid")], backend=backend,
                          seed=0)
    model.compile(optimizer=optimizers.SGD(learning_rate=0.5), loss="binary_crossentropy",
                  metrics=["accuracy"])
    model.fit(x, y, epochs=20, batch_size=16, verbose=0)
    loss, accuracy = model.evaluate(x, y)
    assert accuracy == 1.0
    kernel = model.get_weights()[0][:, 0]
    direction = np.array([4.0, -2.0]) / np.linalg.norm([4.0, -2.0])  # center 1 - center 0
    assert kernel @ direction / np.linalg.norm(kernel) > 0.9


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_linear_regression_recovers_coefficients(backend, dtype):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(200, 3))
    coef, intercept = np.array([2.0, -3.0, 0.5]), 1.0
    y = x @ coef + intercept
    model = fm.Sequential([fm.Input((3,)), fm.Dense(1)], backend=backend, dtype=dtype, seed=0)
    model.compile(optimizer=optimizers.SGD(learning_rate=0.1), loss="mse", metrics=["mae"])
    model.fit(x, y, epochs=40, batch_size=20, verbose=0)
    kernel, bias = model.get_weights()
    np.testing.assert_allclose(kernel[:, 0], coef, atol=1e-2)
    assert bias[0] == pytest.approx(intercept, abs=1e-2)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("loss", ["sparse_categorical_crossentropy", "categorical_crossentropy"])
def test_softmax_classifier_on_blobs(backend, loss):
    x_all, l_all = blobs(n=210)
    x, labels, xt, lt = x_all[:150], l_all[:150], x_all[150:], l_all[150:]
    y = labels if loss.startswith("sparse") else np.eye(3)[labels]
    yt = lt if loss.startswith("sparse") else np.eye(3)[lt]
    model = fm.Sequential([fm.Input((4,)), fm.Dense(16, activation="relu"),
                           fm.Dense(3, activation="softmax")], backend=backend, seed=0)
    model.compile(optimizer="adam", loss=loss, metrics=["accuracy"])
    history = model.fit(x, y, epochs=30, batch_size=16, validation_split=0.2, verbose=0)
    assert history.history["val_accuracy"][-1] >= 0.95
    _, accuracy = model.evaluate(xt, yt)
    assert accuracy >= 0.95
    probabilities = model.predict(xt)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    assert np.mean(probabilities.argmax(axis=1) == lt) == accuracy


OPTIMIZERS = {
    "sgd": lambda: "sgd",
    "momentum": lambda: optimizers.SGD(learning_rate=0.01, momentum=0.9),
    "nesterov": lambda: optimizers.SGD(learning_rate=0.01, momentum=0.9, nesterov=True),
    "adagrad": lambda: "adagrad",
    "rmsprop": lambda: "rmsprop",
    "adam": lambda: "adam",
}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_every_optimizer_lowers_the_loss(backend, name):
    x, labels = blobs()
    model = fm.Sequential([fm.Input((4,)), fm.Dense(8, activation="tanh"),
                           fm.Dense(3, activation="softmax")], backend=backend, seed=0)
    model.compile(optimizer=OPTIMIZERS[name](), loss="sparse_categorical_crossentropy")
    before = model.evaluate(x, labels)
    history = model.fit(x, labels, epochs=5, batch_size=16, verbose=0)
    after = model.evaluate(x, labels)
    losses = history.history["loss"]
    assert after < before
    assert all(b < a for a, b in zip(losses, losses[1:]))
