"""Bad input to Sequential raises a clear exception naming the problem and
the shapes, and leaves the model exactly as it was: nothing built, nothing
trained, no optimizer step."""

from __future__ import annotations

import numpy as np
import pytest

import fastmlp as fm
import fastmlp.callbacks
import fastmlp.optimizers

BACKENDS = fm.backends.NAMES


def data(n=20, features=4, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, features)).astype(np.float32), rng.integers(0, classes, n)


def compiled(backend, loss="sparse_categorical_crossentropy", units=3, activation="softmax"):
    model = fm.Sequential([fm.Input((4,)), fm.Dense(5, activation="relu"),
                           fm.Dense(units, activation=activation)], backend=backend, seed=0)
    model.compile(optimizer="adam", loss=loss, metrics=["accuracy"])
    return model


def assert_fit_fails(model, exc, match, *args, **kwargs):
    before = model.get_weights() if model.built else None
    with pytest.raises(exc, match=match):
        model.fit(*args, **{"verbose": 0, **kwargs})
    if before is None:
        assert not model.built
    else:
        for a, b in zip(before, model.get_weights()):
            np.testing.assert_array_equal(a, b)
    if model.optimizer is not None:
        assert model.optimizer.iterations == 0


@pytest.mark.parametrize("backend", BACKENDS)
def test_x_and_y_lengths_must_match(backend):
    x, y = data()
    assert_fit_fails(compiled(backend), ValueError, r"x has 20 samples but y has 19", x, y[:19])


@pytest.mark.parametrize("backend", BACKENDS)
def test_wrong_feature_count_names_both_shapes(backend):
    x, y = data(features=5)
    assert_fit_fails(compiled(backend), ValueError, r"5 features \(shape \(20, 5\)\).*expects 4",
                     x, y)
    with pytest.raises(ValueError, match="expects 4"):
        compiled(backend).predict(x)
    with pytest.raises(ValueError, match="expects 4"):
        compiled(backend).evaluate(x, y)


@pytest.mark.parametrize("backend", BACKENDS)
def test_labels_out_of_range_for_the_output_layer(backend):
    x, y = data()
    y[3] = 3
    assert_fit_fails(compiled(backend), ValueError, r"label 3 is out of range .* 3 units", x, y)
    y[3] = -1
    assert_fit_fails(compiled(backend), ValueError, r"label -1 is out of range", x, y)


@pytest.mark.parametrize("backend", BACKENDS)
def test_one_hot_width_must_match_units(backend):
    x, labels = data()
    model = compiled(backend, loss="categorical_crossentropy")
    assert_fit_fails(model, ValueError, r"y has shape \(20, 4\).*\(20, 3\)", x, np.eye(4)[labels])
    assert_fit_fails(model, ValueError, "sparse_categorical_crossentropy", x, labels)


@pytest.mark.parametrize("backend", BACKENDS)
def test_sparse_loss_rejects_one_hot_and_fractional_labels(backend):
    x, labels = data()
    model = compiled(backend)
    assert_fit_fails(model, ValueError, "categorical_crossentropy", x, np.eye(3)[labels])
    assert_fit_fails(model, ValueError, "integer class labels", x, labels + 0.5)


@pytest.mark.parametrize("backend", BACKENDS)
def test_binary_targets_must_be_in_unit_interval(backend):
    x, _ = data()
    model = compiled(backend, loss="binary_crossentropy", units=1, activation="sigmoid")
    assert_fit_fails(model, ValueError, r"\[0, 1\]", x, np.full(20, 2.0))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_or_inf_in_x_or_y(backend, bad):
    x, y = data()
    x[2, 1] = bad
    assert_fit_fails(compiled(backend), ValueError, r"x contains NaN or inf .*\(2, 1\)", x, y)
    x, _ = data()
    target = np.zeros((20, 3))
    target[5, 0] = bad
    assert_fit_fails(compiled(backend, loss="mse"), ValueError, r"y contains NaN or inf", x, target)


@pytest.mark.parametrize("backend", BACKENDS)
def test_fit_before_compile(backend):
    x, y = data()
    model = fm.Sequential([fm.Dense(3)], backend=backend)
    assert_fit_fails(model, RuntimeError, r"compile", x, y)
    with pytest.raises(RuntimeError, match="compile"):
        model.evaluate(x, y)
    model.compile(optimizer="sgd")  # no loss yet
    assert_fit_fails(model, RuntimeError, r"with a loss", x, y)


@pytest.mark.parametrize("backend", BACKENDS)
def test_predict_builds_an_unbuilt_model_like_keras(backend):
    model = fm.Sequential([fm.Dense(3)], backend=backend, seed=0)
    assert model.predict(np.zeros((2, 4))).shape == (2, 3)
    assert model.input_shape == (None, 4)
    with pytest.raises(RuntimeError, match="not built"):
        fm.Sequential([fm.Dense(3)], backend=backend).get_weights()
    with pytest.raises(RuntimeError, match="no layers"):
        fm.Sequential(backend=backend).predict(np.zeros((2, 4)))


@pytest.mark.parametrize("kind, make", [
    ("activation", lambda: fm.Dense(3, activation="swish")),
    ("activation", lambda: fm.Activation("gelu")),
    ("initializer", lambda: fm.Dense(3, kernel_initializer="orthogonal_ish")),
    ("regularizer", lambda: fm.Dense(3, kernel_regularizer="l3")),
])
def test_unknown_layer_names(kind, make):
    with pytest.raises(ValueError, match=f"unknown {kind}"):
        make()


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kwargs, match", [
    ({"optimizer": "adamw2"}, "adamw2"),
    ({"loss": "hinge_loss"}, "unknown loss"),
    ({"loss": "mse", "metrics": ["f1"]}, "unknown metric"),
    ({"loss": "sparse_categorical_crossentropy", "metrics": ["mae"]}, "integer labels"),
])
def test_unknown_compile_names_change_nothing(backend, kwargs, match):
    model = compiled(backend)
    optimizer = model.optimizer
    with pytest.raises(ValueError, match=match):
        model.compile(**{"optimizer": "sgd", "loss": "mse", **kwargs})
    assert model.optimizer is optimizer and model.loss.name == "sparse_categorical_crossentropy"


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kwargs, exc, match", [
    ({"batch_size": 0}, ValueError, "batch_size must be >= 1"),
    ({"batch_size": 2.5}, TypeError, "batch_size must be an integer"),
    ({"epochs": -1}, ValueError, "epochs must be >= 0"),
    ({"validation_split": 1.0}, ValueError, r"validation_split must be in \[0, 1\)"),
    ({"validation_split": -0.1}, ValueError, r"validation_split must be in \[0, 1\)"),
    ({"validation_split": 0.99}, ValueError, "leaves 0 training and 20 validation"),
    ({"validation_data": ([[1.0]],)}, ValueError, r"validation_data must be a tuple"),
    ({"verbose": 3}, ValueError, "verbose"),
    ({"callbacks": [fm.callbacks.EarlyStopping]}, TypeError, "parentheses"),
])
def test_bad_fit_arguments(backend, kwargs, exc, match):
    x, y = data()
    assert_fit_fails(compiled(backend), exc, match, x, y, **kwargs)


@pytest.mark.parametrize("backend", BACKENDS)
def test_bad_validation_data_is_caught_before_training(backend):
    x, y = data()
    xv, yv = data(features=3)
    assert_fit_fails(compiled(backend), ValueError, "validation_data: x has 3 features", x, y,
                     validation_data=(xv, yv))


@pytest.mark.parametrize("backend", BACKENDS)
def test_unbuilt_model_stays_unbuilt_after_a_bad_fit(backend):
    x, y = data()
    model = fm.Sequential([fm.Dense(5), fm.Dense(3, activation="softmax")], backend=backend)
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    y[0] = 7
    assert_fit_fails(model, ValueError, "label 7", x, y)
    y[0] = 0
    xv, yv = data(features=3)
    assert_fit_fails(model, ValueError, r"validation_data x has samples of shape \(3,\) but x "
                     r"has \(4,\)", x, y, validation_data=(xv, yv))


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match="backend"):
        fm.Sequential(backend="cuda")
    with pytest.raises(ValueError, match="dtype"):
        fm.Sequential(dtype="float16")
    with pytest.raises(ValueError, match="seed"):
        fm.Sequential(seed=-1)
    with pytest.raises(ValueError, match="units"):
        fm.Dense(0)
    with pytest.raises(ValueError, match="rate"):
        fm.Dropout(1.0)
    with pytest.raises(TypeError, match="parentheses"):
        fm.Sequential([fm.Dense])
    with pytest.raises(ValueError, match="Input must come first"):
        fm.Sequential([fm.Dense(2), fm.Input((3,))])
    with pytest.raises(ValueError, match=r"input shape \(28, 28\) is not flat: make Flatten"):
        fm.Sequential([fm.Input((28, 28)), fm.Dense(3)])
    with pytest.raises(ValueError, match="positive ints"):
        fm.Input((28, 0))
    shared = fm.Dense(2)
    fm.Sequential([fm.Input((3,)), shared], name="first")
    with pytest.raises(ValueError, match="already belongs to model 'first'"):
        fm.Sequential([fm.Input((3,)), shared])


@pytest.mark.parametrize("backend", BACKENDS)
def test_set_weights_checks_before_writing(backend):
    model = compiled(backend)
    before = model.get_weights()
    bad = [w.copy() for w in before]
    bad[3] = np.zeros(4)
    with pytest.raises(ValueError, match=r"array 3 has shape \(4,\); expected \(3,\)"):
        model.set_weights([np.ones_like(w) for w in before[:3]] + [bad[3]])
    with pytest.raises(ValueError, match="expected 4 arrays, got 2"):
        model.set_weights(before[:2])
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("backend", BACKENDS)
def test_non_numeric_input(backend):
    model = compiled(backend)
    with pytest.raises(TypeError, match="numbers"):
        model.predict(np.array([["a", "b", "c", "d"]]))
    with pytest.raises(ValueError, match="2-D"):
        model.predict(np.zeros((2, 2, 2)))
    with pytest.raises(ValueError, match="no samples"):
        model.predict(np.zeros((0, 4)))
