"""fit / evaluate / predict follow Keras's semantics: history keys, running
means weighted by batch size, validation_split from the end, the smaller last
batch, continuing training, stop_training, and the NaN-loss rule."""

from __future__ import annotations

import numpy as np
import pytest

import fastmlp as fm
import fastmlp.optimizers
from fastmlp.callbacks import Callback, TerminateOnNaN
from fastmlp.optimizers import SGD

BACKENDS = fm.backends.NAMES


def blobs(n=60, seed=0, classes=3, features=4):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, n)
    centers = rng.normal(scale=3.0, size=(classes, features))
    x = centers[labels] + rng.normal(size=(n, features))
    return x.astype(np.float32), labels


def classifier(backend, seed=1, lr=0.1, metrics=("accuracy",), **kw):
    model = fm.Sequential([fm.Input((4,)), fm.Dense(8, activation="tanh"),
                           fm.Dense(3, activation="softmax")], backend=backend, seed=seed, **kw)
    model.compile(optimizer=SGD(learning_rate=lr), loss="sparse_categorical_crossentropy",
                  metrics=list(metrics))
    return model


@pytest.mark.parametrize("backend", BACKENDS)
def test_history_has_keras_keys_and_epochs(backend):
    x, labels = blobs()
    y = np.eye(3)[labels]
    model = classifier(backend)
    model.compile(optimizer="sgd", loss="categorical_crossentropy", metrics=["accuracy", "mae"])
    history = model.fit(x, y, epochs=3, batch_size=16, validation_split=0.25, verbose=0)
    assert history is model.history
    assert set(history.history) == {"loss", "accuracy", "mae", "val_loss", "val_accuracy", "val_mae"}
    assert history.epoch == [0, 1, 2]
    assert all(len(v) == 3 for v in history.history.values())
    assert all(isinstance(v, float) for v in history.history["loss"])


@pytest.mark.parametrize("backend", BACKENDS)
def test_epoch_loss_is_batch_size_weighted_mean(backend):
    # With a 1e-30 learning rate the weights do not move (the biases move by
    # ~1e-30, far below the tolerance), so the epoch's
    # running mean over batches of 16, 16, 16 and 12 rows must equal
    # evaluate's, which weights batches by size the same way, and the
    # held-out last quarter is exactly what validation_split scores.
    x, y = blobs(n=80)
    model = classifier(backend, lr=1e-30)
    history = model.fit(x, y, epochs=1, batch_size=16, validation_split=0.25, shuffle=False,
                        verbose=0)
    train_loss, train_acc = model.evaluate(x[:60], y[:60], batch_size=16)
    val_loss, val_acc = model.evaluate(x[60:], y[60:], batch_size=16)
    assert history.history["loss"][0] == pytest.approx(train_loss, rel=1e-12)
    assert history.history["accuracy"][0] == pytest.approx(train_acc, rel=1e-12)
    assert history.history["val_loss"][0] == pytest.approx(val_loss, rel=1e-12)
    assert history.history["val_accuracy"][0] == pytest.approx(val_acc, rel=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
def test_smaller_last_batch_is_one_step(backend):
    x, y = blobs(n=50)
    model = classifier(backend)
    model.fit(x, y, epochs=2, batch_size=16, verbose=0)  # 16+16+16+2
    assert model.optimizer.iterations == 8


@pytest.mark.parametrize("backend", BACKENDS)
def test_fit_again_continues_training(backend):
    x, y = blobs()
    once = classifier(backend, seed=5)
    once.fit(x, y, epochs=4, batch_size=8, verbose=0)
    twice = classifier(backend, seed=5)
    twice.fit(x, y, epochs=2, batch_size=8, verbose=0)
    twice.fit(x, y, epochs=2, batch_size=8, verbose=0)
    assert twice.optimizer.iterations == once.optimizer.iterations
    for a, b in zip(once.get_weights(), twice.get_weights()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("backend", BACKENDS)
def test_initial_epoch_numbers_epochs(backend):
    x, y = blobs()
    model = classifier(backend)
    history = model.fit(x, y, epochs=5, initial_epoch=3, verbose=0)
    assert history.epoch == [3, 4]
    before = model.get_weights()
    assert model.fit(x, y, epochs=0, verbose=0).history == {}
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("backend", BACKENDS)
def test_validation_data_is_scored(backend):
    x, y = blobs(n=60)
    xv, yv = blobs(n=20, seed=9)
    model = classifier(backend, lr=1e-30)
    history = model.fit(x, y, epochs=1, validation_data=(xv, yv), verbose=0)
    assert history.history["val_loss"][0] == pytest.approx(model.evaluate(xv, yv)[0], rel=1e-12)


class StopAfter(Callback):
    def __init__(self, batches):
        super().__init__()
        self.batches = batches
        self.seen = 0

    def on_train_batch_end(self, batch, logs=None):
        self.seen += 1
        if self.seen == self.batches:
            self.model.stop_training = True


@pytest.mark.parametrize("backend", BACKENDS)
def test_stop_training_from_a_callback_stops_after_that_batch(backend):
    x, y = blobs(n=64)
    model = classifier(backend)
    history = model.fit(x, y, epochs=10, batch_size=16, callbacks=[StopAfter(6)], verbose=0)
    assert model.optimizer.iterations == 6
    assert history.epoch == [0, 1]


class Sabotage(Callback):
    """After the first batch, put an inf into the first bias (as a diverging
    step would) and remember the state the next batch starts from."""

    def on_train_batch_end(self, batch, logs=None):
        if batch == 0:
            self.model.layers[0].bias[0] = np.inf
            self.weights = self.model.get_weights()
            self.slots = {k: v.copy() for k, v in self.model.optimizer.variables().items()}


def nan_model(backend):
    x, y = blobs(n=32)
    model = fm.Sequential([fm.Input((4,)), fm.Dense(3)], backend=backend, seed=0)
    model.compile(optimizer=fm.optimizers.Adam(), loss="mse")
    return model, x, np.ones((32, 3), np.float32)


def assert_state_is(model, sabotage):
    assert model.optimizer.iterations == 1
    for a, b in zip(sabotage.weights, model.get_weights()):
        np.testing.assert_array_equal(a, b)
    for name, value in model.optimizer.variables().items():
        np.testing.assert_array_equal(value, sabotage.slots[name])


@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")
@pytest.mark.parametrize("backend", BACKENDS)
def test_nan_loss_raises_naming_epoch_and_batch_and_keeps_weights(backend):
    model, x, y = nan_model(backend)
    sabotage = Sabotage()
    with pytest.raises(FloatingPointError, match=r"epoch 1/3, batch 2/4"):
        model.fit(x, y, epochs=3, batch_size=8, callbacks=[sabotage], verbose=0)
    assert_state_is(model, sabotage)


@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")
@pytest.mark.parametrize("backend", BACKENDS)
def test_terminate_on_nan_stops_without_applying_the_bad_step(backend, capsys):
    model, x, y = nan_model(backend)
    sabotage = Sabotage()
    history = model.fit(x, y, epochs=3, batch_size=8, callbacks=[sabotage, TerminateOnNaN()],
                        verbose=0)
    assert_state_is(model, sabotage)
    assert history.epoch == [0]
    assert "Invalid loss" in capsys.readouterr().out


@pytest.mark.parametrize("backend", BACKENDS)
def test_evaluate_returns_loss_or_list_like_keras(backend):
    x, y = blobs()
    plain = classifier(backend, metrics=())
    assert isinstance(plain.evaluate(x, y), float)
    scores = classifier(backend).evaluate(x, y)
    assert isinstance(scores, list) and len(scores) == 2
    assert set(classifier(backend).evaluate(x, y, return_dict=True)) == {"loss", "accuracy"}


@pytest.mark.parametrize("backend", BACKENDS)
def test_predict_is_batch_size_independent_and_a_new_array(backend):
    x, y = blobs(n=37)
    model = classifier(backend)
    model.fit(x, y, epochs=1, verbose=0)
    a = model.predict(x, batch_size=5)
    b = model.predict(x, batch_size=64)
    assert a.shape == (37, 3) and a.dtype == np.float32
    np.testing.assert_allclose(a, b, rtol=1e-6)
    np.testing.assert_allclose(a.sum(axis=1), 1.0, rtol=1e-5)
    c = model.predict(x, batch_size=5)
    assert not np.shares_memory(a, c)
    np.testing.assert_array_equal(a, c)


@pytest.mark.parametrize("backend", BACKENDS)
def test_predict_matches_a_numpy_forward_pass(backend):
    x, _ = blobs(n=10)
    model = fm.Sequential([fm.Input((4,)), fm.Dense(5, activation="relu"), fm.Dropout(0.5),
                           fm.Dense(2, activation="sigmoid")], backend=backend, dtype="float64",
                          seed=2)
    w1, b1, w2, b2 = model.get_weights()
    h = np.maximum(x @ w1 + b1, 0)
    expected = 1 / (1 + np.exp(-(h @ w2 + b2)))
    np.testing.assert_allclose(model.predict(x), expected, rtol=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
def test_dropout_only_acts_in_fit(backend):
    x = np.ones((200, 4), np.float32)
    model = fm.Sequential([fm.Input((4,)), fm.Dropout(0.5)], backend=backend, seed=0)
    np.testing.assert_array_equal(model.predict(x), x)
    ws = model._workspace(200)
    out = model._forward(ws, x, True, fused=None, need_outputs=True)[-1]
    assert set(np.unique(out)) == {0.0, 2.0}  # inverted dropout scales kept units
    assert 0.4 < np.mean(out == 0) < 0.6


@pytest.mark.parametrize("backend", BACKENDS)
def test_weights_round_trip_and_are_views_of_one_buffer(backend):
    model = classifier(backend)
    weights = model.get_weights()
    assert [w.shape for w in weights] == [(4, 8), (8,), (8, 3), (3,)]
    assert model.params.size == sum(w.size for w in weights)
    dense = model.layers[0]
    assert np.shares_memory(dense.kernel, model.params)
    assert np.shares_memory(dense.kernel_grad, model.grads)
    new = [np.full_like(w, i) for i, w in enumerate(weights)]
    model.set_weights(new)
    np.testing.assert_array_equal(model.params[:32], 0)
    np.testing.assert_array_equal(model.get_weights()[3], 3)
    assert [w.tolist() for w in model.layers[1].get_weights()] == [w.tolist() for w in new[2:]]


@pytest.mark.parametrize("backend", BACKENDS)
def test_float64_model(backend):
    x, y = blobs()
    model = classifier(backend, dtype="float64")
    model.fit(x, y, epochs=1, verbose=0)
    assert model.params.dtype == np.float64
    assert model.predict(x).dtype == np.float64


@pytest.mark.parametrize("backend", BACKENDS)
def test_model_builds_on_first_fit_and_add_keeps_weights(backend):
    x, y = blobs()
    model = fm.Sequential(backend=backend, seed=0)
    model.add(fm.Dense(8, activation="relu"))
    assert not model.built
    model.add(fm.Dense(3, activation="softmax"))
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=1, verbose=0)
    assert model.built and model.input_shape == (None, 4) and model.output_shape == (None, 3)
    first = model.get_weights()
    model.add(fm.Dense(2))
    assert [w.shape for w in model.get_weights()][:4] == [w.shape for w in first]
    for a, b in zip(first, model.get_weights()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("backend", BACKENDS)
def test_first_layer_input_shape_builds_like_keras(backend):
    model = fm.Sequential([fm.Dense(2, input_shape=(3,)), fm.Dense(1)], backend=backend)
    assert model.built and model.count_params() == 3 * 2 + 2 + 2 + 1


@pytest.mark.parametrize("backend", BACKENDS)
def test_one_dimensional_x_is_one_feature(backend):
    # The "hello world" of Keras tutorials: y = 2x - 1 from a 1-D x.
    x = np.array([-1.0, 0.0, 1.0, 2.0, 3.0, 4.0])
    model = fm.Sequential([fm.Dense(1, input_shape=[1])], backend=backend, seed=0)
    model.compile(optimizer=SGD(learning_rate=0.05), loss="mean_squared_error")
    model.fit(x, 2 * x - 1, epochs=300, verbose=0)
    assert model.predict(np.array([10.0]))[0, 0] == pytest.approx(19.0, abs=0.1)


def test_summary_lists_layers_and_totals(capsys):
    model = fm.Sequential([fm.Input((784,)), fm.Dense(256, activation="relu", name="hidden"),
                           fm.Dense(10, activation="softmax", name="out")], backend="numpy")
    model.summary()
    text = capsys.readouterr().out
    assert "hidden (Dense)" in text and "(None, 256)" in text and "200,960" in text
    assert "out (Dense)" in text and "2,570" in text
    assert "Total params: 203,530" in text
    assert "Trainable params: 203,530" in text
    assert "Non-trainable params: 0" in text


def test_config_round_trip_rebuilds_the_same_model():
    model = fm.Sequential([fm.Input((4,)), fm.Dense(8, activation="leaky_relu",
                                                    kernel_regularizer=fm.regularizers.l2(0.01)),
                           fm.Dropout(0.2), fm.Dense(3, activation="softmax")],
                          backend="numpy", seed=11)
    model.compile(optimizer=fm.optimizers.Adam(learning_rate=0.01),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    import json

    config = json.loads(json.dumps(model.get_config()))
    clone = fm.Sequential.from_config(config)
    clone.compile_from_config(json.loads(json.dumps(model.get_compile_config())))
    assert clone.get_config()["layers"] == config["layers"]
    assert clone.optimizer.learning_rate == 0.01
    clone.set_weights(model.get_weights())
    x, y = blobs()
    np.testing.assert_array_equal(clone.predict(x), model.predict(x))
    assert clone.evaluate(x, y) == model.evaluate(x, y)


def test_fit_allocates_no_batch_sized_arrays_after_the_first_call():
    # The workspace (activations, deltas, gathered minibatch) is made once per
    # batch size; a second fit must not allocate anything the size of one
    # batch's activations (256 x 256 float32 = 256 KiB). What remains are
    # per-fit checks (isfinite over x: 128 KiB of bools) and per-epoch
    # permutations (16 KiB).
    import tracemalloc

    rng = np.random.default_rng(0)
    x = rng.normal(size=(2048, 64)).astype(np.float32)
    y = rng.integers(0, 10, 2048)
    model = fm.Sequential([fm.Input((64,)), fm.Dense(256, activation="relu",
                                                     kernel_regularizer=fm.regularizers.l2(1e-4)),
                           fm.Dropout(0.2), fm.Dense(10, activation="softmax")], seed=0)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=1, batch_size=256, verbose=0)
    tracemalloc.start()
    try:
        model.fit(x, y, epochs=2, batch_size=256, verbose=0)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 200 * 1024


@pytest.mark.parametrize("backend", BACKENDS)
def test_save_and_load_resume_shuffling_and_dropout_exactly(backend, tmp_path):
    x, y = blobs(n=80)

    def make():
        model = fm.Sequential([fm.Input((4,)), fm.Dense(8, activation="relu"), fm.Dropout(0.3),
                               fm.Dense(3, activation="softmax")], backend=backend, seed=1)
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        return model

    straight = make()
    straight.fit(x, y, epochs=4, batch_size=16, verbose=0)
    first = make()
    first.fit(x, y, epochs=2, batch_size=16, verbose=0)
    first.save(tmp_path / "model.fmlp")
    resumed = fm.load_model(tmp_path / "model.fmlp")
    resumed.fit(x, y, epochs=2, batch_size=16, verbose=0)
    for a, b in zip(straight.get_weights(), resumed.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_rng_state_is_checked_before_it_is_set():
    model = fm.Sequential([fm.Input((2,)), fm.Dense(1)], backend="numpy", seed=0)
    state = model.get_rng_state()
    bad = dict(state, shuffle={"bit_generator": "MT19937"})
    with pytest.raises(ValueError, match="shuffle"):
        model.set_rng_state(bad)
    assert model.get_rng_state() == state


@pytest.mark.parametrize("input_shape", [(None, 4), (32, 4), (4,), 4])
def test_build_takes_keras_input_shapes(input_shape):
    model = fm.Sequential([fm.Dense(2)], backend="numpy")
    model.build(input_shape)
    assert model.input_shape == (None, 4)
    images = fm.Sequential([fm.Flatten(), fm.Dense(2)], backend="numpy")
    images.build((None, 3, 5))
    assert images.input_shape == (None, 3, 5) and images.count_params() == 15 * 2 + 2
    images.build()  # already built: nothing to do


def test_the_issue_example_runs_as_written(capsys):
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, 300)
    x_train = (rng.random((300, 784)) + labels[:, None] / 10).astype(np.float32)
    y_train = fm.utils.to_categorical(labels, 10)
    x_test, y_test = x_train[:50], y_train[:50]

    model = fm.Sequential([fm.Input(shape=(784,)),
                           fm.Dense(256, activation="relu"),
                           fm.Dense(10, activation="softmax")])
    model.compile(optimizer=fm.optimizers.Adam(learning_rate=1e-3),
                  loss="categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x_train, y_train, epochs=5, batch_size=128, validation_split=0.2)
    loss, acc = model.evaluate(x_test, y_test)
    probs = model.predict(x_test)
    model.summary()

    out = capsys.readouterr().out
    assert "Epoch 5/5" in out and "val_accuracy" in out and "Total params: 203,530" in out
    assert len(history.history["val_loss"]) == 5
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert probs.shape == (50, 10) and 0.0 <= acc <= 1.0 and loss > 0


@pytest.mark.parametrize("backend", BACKENDS)
def test_pop_and_get_layer(backend):
    model = classifier(backend)
    first = model.get_weights()
    hidden = model.get_layer(index=0)
    assert model.get_layer(name=hidden.name) is hidden
    last = model.pop()
    assert last.units == 3 and model.output_shape == (None, 8)
    for a, b in zip(first[:2], model.get_weights()):
        np.testing.assert_array_equal(a, b)
    model.add(fm.Dense(2, activation="softmax"))
    assert [w.shape for w in model.get_weights()] == [(4, 8), (8,), (8, 2), (2,)]
    np.testing.assert_array_equal(model.get_weights()[0], first[0])
    with pytest.raises(ValueError, match="no layer named 'nope'"):
        model.get_layer("nope")
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    x, y = blobs()
    model.fit(x, y % 2, epochs=1, verbose=0)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("backend", BACKENDS)
def test_nan_error_says_when_weights_were_already_broken(backend):
    # The first loss is finite, but a huge step makes the weights inf, so the
    # weights are broken before the next batch's loss is.
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4)).astype(np.float32)
    y = np.full((64, 1), 1e4, np.float32)
    model = fm.Sequential([fm.Input((4,)), fm.Dense(1)], backend=backend, seed=0)
    model.compile(optimizer=SGD(learning_rate=1e36), loss="mse")
    with pytest.raises(FloatingPointError, match="already become NaN or inf in an earlier step"):
        model.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0)
    assert model.optimizer.iterations == 1
