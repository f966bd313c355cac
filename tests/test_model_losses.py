"""Losses and metrics as a model sees them: Keras's names, formulas and
reductions, "accuracy" resolved as Keras resolves it, and from_logits."""

from __future__ import annotations

import json

import numpy as np
import pytest

import fastmlp as fm
import fastmlp.optimizers
from fastmlp import losses, metrics

BACKENDS = fm.backends.NAMES


def test_loss_objects_compute_keras_formulas():
    t = np.array([[0.0, 1.0], [1.0, 0.0]])
    p = np.array([[0.2, 0.8], [0.6, 0.4]])
    assert losses.MeanSquaredError()(t, p) == pytest.approx(np.mean((t - p) ** 2))
    assert losses.get("mae")(t, p) == pytest.approx(np.mean(np.abs(t - p)))
    assert losses.get("sse")(t, p) == pytest.approx(0.5 * np.sum((t - p) ** 2) / 2)
    bce = -np.mean(t * np.log(p) + (1 - t) * np.log(1 - p))
    assert losses.BinaryCrossentropy()(t, p) == pytest.approx(bce)
    cce = -np.mean(np.sum(t * np.log(p), axis=1))
    assert losses.CategoricalCrossentropy()(t, p) == pytest.approx(cce)
    assert losses.SparseCategoricalCrossentropy()([1, 0], p) == pytest.approx(cce)


def test_crossentropy_from_logits_equals_on_probabilities():
    z = np.array([[1.0, -2.0, 0.5], [0.0, 3.0, -1.0]])
    probabilities = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    labels = np.array([2, 1])
    assert losses.SparseCategoricalCrossentropy(from_logits=True)(labels, z) == pytest.approx(
        losses.SparseCategoricalCrossentropy()(labels, probabilities), rel=1e-12)


def test_probabilities_are_clipped_like_keras():
    t = np.array([[1.0, 0.0]])
    p = np.array([[0.0, 1.0]])  # confidently wrong: log(0) without the clip
    assert losses.CategoricalCrossentropy()(t, p) == pytest.approx(-np.log(1e-7), rel=1e-6)
    assert np.isfinite(losses.BinaryCrossentropy()(t, p))


def test_categorical_crossentropy_normalises_probabilities():
    t = np.array([[0.0, 1.0]])
    assert losses.CategoricalCrossentropy()(t, np.array([[1.0, 3.0]])) == pytest.approx(-np.log(0.75))


def test_loss_names_and_configs():
    assert isinstance(losses.get("mean_squared_error"), losses.MeanSquaredError)
    assert isinstance(losses.get("BinaryCrossentropy"), losses.BinaryCrossentropy)
    loss = losses.CategoricalCrossentropy(from_logits=True)
    clone = losses.get(json.loads(json.dumps(losses.serialize(loss))))
    assert clone.from_logits and isinstance(clone, losses.CategoricalCrossentropy)
    with pytest.raises(ValueError, match="unknown loss 'hinge'"):
        losses.get("hinge")
    with pytest.raises(TypeError, match="custom loss functions"):
        losses.get(lambda t, p: 0.0)


@pytest.mark.parametrize("loss, units, expected", [
    ("binary_crossentropy", 3, metrics.BinaryAccuracy),
    ("mse", 1, metrics.BinaryAccuracy),
    ("sparse_categorical_crossentropy", 4, metrics.SparseCategoricalAccuracy),
    ("categorical_crossentropy", 4, metrics.CategoricalAccuracy),
    ("mse", 4, metrics.CategoricalAccuracy),
])
def test_accuracy_is_resolved_like_keras(loss, units, expected):
    metric = metrics.get("accuracy", loss=losses.get(loss), output_units=units)
    assert type(metric) is expected and metric.name == "accuracy"
    assert metrics.get("acc", loss=losses.get(loss), output_units=units).name == "acc"


def test_metric_values():
    p = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]])
    assert metrics.SparseCategoricalAccuracy()(np.array([0, 1]), p) == 0.5
    assert metrics.CategoricalAccuracy()(np.eye(3)[[0, 2]], p) == 1.0
    assert metrics.BinaryAccuracy()(np.array([1.0, 0.0, 1.0]), np.array([0.9, 0.4, 0.5])) == pytest.approx(2 / 3)
    # Keras compares the thresholded prediction to the target exactly.
    assert metrics.BinaryAccuracy()(np.array([0.9]), np.array([0.95])) == 0.0
    assert metrics.get("mae")(np.zeros((2, 3)), p) == pytest.approx(np.mean(p))
    assert metrics.get("mse")(np.zeros((2, 3)), p) == pytest.approx(np.mean(p ** 2))
    with pytest.raises(ValueError, match="unknown metric 'f1'"):
        metrics.get("f1")


@pytest.mark.parametrize("backend", BACKENDS)
def test_from_logits_model_predicts_logits_and_trains(backend):
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 90)
    x = np.eye(3)[labels] * 3 + rng.normal(size=(90, 3))
    model = fm.Sequential([fm.Input((3,)), fm.Dense(3)], backend=backend, seed=0)
    model.compile(optimizer=fm.optimizers.Adam(learning_rate=0.05),
                  loss=losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    history = model.fit(x, labels, epochs=20, verbose=0)
    assert history.history["accuracy"][-1] > 0.9
    outputs = model.predict(x)
    kernel, bias = model.get_weights()
    np.testing.assert_allclose(outputs, x @ kernel + bias, rtol=1e-5, atol=1e-5)  # logits


@pytest.mark.parametrize("backend", BACKENDS)
def test_regression_metrics_in_history_match_evaluate(backend):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 2))
    y = x @ np.array([1.0, -1.0])
    model = fm.Sequential([fm.Input((2,)), fm.Dense(1)], backend=backend, dtype="float64", seed=0)
    model.compile(optimizer=fm.optimizers.SGD(learning_rate=1e-30), loss="mse",
                  metrics=["mae", "mse"])
    history = model.fit(x, y, epochs=1, batch_size=7, shuffle=False, verbose=0)
    prediction = model.predict(x)[:, 0]
    assert history.history["mae"][0] == pytest.approx(np.mean(np.abs(prediction - y)), rel=1e-9)
    assert history.history["mse"][0] == pytest.approx(np.mean((prediction - y) ** 2), rel=1e-9)
    assert history.history["loss"][0] == pytest.approx(history.history["mse"][0], rel=1e-9)


def test_loss_functions_give_per_sample_losses_and_compile():
    t = np.array([[0.0, 1.0], [1.0, 0.0]])
    p = np.array([[0.2, 0.8], [0.6, 0.4]])
    np.testing.assert_allclose(losses.mse(t, p), np.mean((t - p) ** 2, axis=1))
    np.testing.assert_allclose(losses.mean_absolute_error(t, p), np.mean(np.abs(t - p), axis=1))
    np.testing.assert_allclose(losses.categorical_crossentropy(t, p), -np.log([0.8, 0.6]))
    np.testing.assert_allclose(losses.sparse_categorical_crossentropy([1, 0], p), -np.log([0.8, 0.6]))
    z = np.array([[2.0, -1.0]])
    np.testing.assert_allclose(losses.binary_crossentropy([[1.0, 0.0]], z, from_logits=True),
                               losses.binary_crossentropy([[1.0, 0.0]], 1 / (1 + np.exp(-z))),
                               rtol=1e-6)
    for function, cls in [(losses.mse, losses.MeanSquaredError),
                          (losses.categorical_crossentropy, losses.CategoricalCrossentropy)]:
        model = fm.Sequential([fm.Input((2,)), fm.Dense(2, activation="softmax")], backend="numpy")
        model.compile(optimizer="sgd", loss=function)
        assert type(model.loss) is cls
        # the mean of the per-sample losses is what the model reports
        assert model.evaluate(t, t) == pytest.approx(float(np.mean(function(t, model.predict(t)))),
                                                     rel=1e-5)
