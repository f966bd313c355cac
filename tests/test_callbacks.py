"""Callbacks with Keras semantics, driven by a small stand-in training loop
that calls the CallbackList the way fit does (MODEL_INTERFACE.md).
Tests on a real fit are at the end."""

from __future__ import annotations

import io
import math
import os
import warnings

import numpy as np
import pytest

from fastmlp import callbacks as cb
from fastmlp import optimizers as fm_optimizers


class StandInModel:
    """Has what callbacks touch: weights, stop_training, history, an
    optimizer, save."""

    def __init__(self, learning_rate=0.1):
        self.weights = [np.zeros(2)]
        self.stop_training = False
        self.history = None
        self.optimizer = fm_optimizers.SGD(learning_rate)
        self.saved = []

    def save(self, path):
        self.saved.append((path, self.get_weights()))

    def get_weights(self):
        return [w.copy() for w in self.weights]

    def set_weights(self, weights):
        self.weights = [np.array(w) for w in weights]


def fake_fit(model, epoch_logs, *, callbacks=None, steps=2, verbose=0, initial_epoch=0,
             batch_loss=None, **params):
    """Run epochs whose end-of-epoch logs are given; the 'weights' of epoch
    e are [e, e]. Returns the History, as fit does."""
    epochs = initial_epoch + len(epoch_logs)
    cbs = cb.CallbackList(callbacks, model=model, add_history=True, add_progbar=verbose != 0,
                          verbose=verbose, epochs=epochs, steps=steps, **params)
    model.stop_training = False
    cbs.on_train_begin()
    for epoch, logs in enumerate(epoch_logs, start=initial_epoch):
        cbs.on_epoch_begin(epoch)
        for batch in range(steps):
            cbs.on_train_batch_begin(batch)
            model.weights = [np.full(2, float(epoch))]
            loss = batch_loss(epoch, batch) if batch_loss else logs.get("loss", 1.0)
            cbs.on_train_batch_end(batch, {"loss": loss})
            if model.stop_training:
                break
        cbs.on_epoch_end(epoch, logs)
        if model.stop_training:
            break
    cbs.on_train_end()
    return model.history


class Recorder(cb.Callback):
    def __init__(self):
        super().__init__()
        self.calls = []

    def on_train_begin(self, logs=None):
        self.calls.append(("train_begin",))

    def on_epoch_begin(self, epoch, logs=None):
        self.calls.append(("epoch_begin", epoch))

    def on_batch_begin(self, batch, logs=None):  # the old name still hears train batches
        self.calls.append(("batch_begin", batch))

    def on_train_batch_end(self, batch, logs=None):
        self.calls.append(("batch_end", batch, logs["loss"]))

    def on_epoch_end(self, epoch, logs=None):
        self.calls.append(("epoch_end", epoch, dict(logs)))

    def on_train_end(self, logs=None):
        self.calls.append(("train_end",))


def test_hooks_are_called_in_keras_order_with_model_and_params():
    model, rec = StandInModel(), Recorder()
    fake_fit(model, [{"loss": 0.5}, {"loss": 0.25}], callbacks=[rec], steps=2)
    assert rec.calls == [
        ("train_begin",),
        ("epoch_begin", 0), ("batch_begin", 0), ("batch_end", 0, 0.5),
        ("batch_begin", 1), ("batch_end", 1, 0.5), ("epoch_end", 0, {"loss": 0.5}),
        ("epoch_begin", 1), ("batch_begin", 0), ("batch_end", 0, 0.25),
        ("batch_begin", 1), ("batch_end", 1, 0.25), ("epoch_end", 1, {"loss": 0.25}),
        ("train_end",),
    ]
    assert rec.model is model
    assert rec.params == {"verbose": 0, "epochs": 2, "steps": 2}


def test_base_callback_hooks_all_exist_and_do_nothing():
    c = cb.Callback()
    for hook in ("train", "test", "predict"):
        getattr(c, f"on_{hook}_begin")()
        getattr(c, f"on_{hook}_end")()
        getattr(c, f"on_{hook}_batch_begin")(0)
        getattr(c, f"on_{hook}_batch_end")(0, {"loss": 1.0})
    c.on_epoch_begin(0)
    c.on_epoch_end(0, {})


def test_history_records_epoch_logs_as_python_floats_and_is_the_models():
    model = StandInModel()
    hist = fake_fit(model, [{"loss": np.float32(0.5), "val_loss": np.float64(0.75)},
                            {"loss": 0.25, "val_loss": 0.5}])
    assert isinstance(hist, cb.History) and model.history is hist
    assert hist.history == {"loss": [0.5, 0.25], "val_loss": [0.75, 0.5]}
    assert all(type(v) is float for vs in hist.history.values() for v in vs)
    assert hist.epoch == [0, 1]


def test_each_fit_gets_a_fresh_history_and_epochs_continue_from_initial_epoch():
    model = StandInModel()
    first = fake_fit(model, [{"loss": 1.0}, {"loss": 0.5}])
    second = fake_fit(model, [{"loss": 0.25}], initial_epoch=2)
    assert first is not second and model.history is second
    assert first.history == {"loss": [1.0, 0.5]}
    assert second.history == {"loss": [0.25]} and second.epoch == [2]


def test_a_history_passed_by_the_user_is_used_not_duplicated():
    model, mine = StandInModel(), cb.History()
    hist = fake_fit(model, [{"loss": 1.0}], callbacks=[mine])
    assert hist is mine
    cbs = cb.CallbackList([mine], add_history=True)
    assert sum(isinstance(c, cb.History) for c in cbs) == 1


def test_callback_list_adds_a_progbar_only_when_asked_and_absent():
    assert not any(isinstance(c, cb.ProgbarLogger) for c in cb.CallbackList(None, add_progbar=False))
    mine = cb.ProgbarLogger()
    listed = cb.CallbackList([mine], add_progbar=True, verbose=1, epochs=1, steps=1).callbacks
    assert [c for c in listed if isinstance(c, cb.ProgbarLogger)] == [mine]


def test_callback_list_rejects_things_that_are_not_callbacks():
    with pytest.raises(TypeError, match="add the parentheses"):
        cb.CallbackList([cb.EarlyStopping])
    with pytest.raises(TypeError, match="Callback objects"):
        cb.CallbackList(["early_stopping"])
    assert len(cb.CallbackList(cb.History())) == 1  # a lone callback is accepted


def test_callback_list_reports_whether_nan_losses_are_handled():
    assert cb.CallbackList([cb.TerminateOnNaN()]).handles_nan
    assert not cb.CallbackList([cb.History()]).handles_nan


# -- EarlyStopping ----------------------------------------------------------

def losses(*values, key="val_loss"):
    return [{"loss": 1.0, key: v} for v in values]


def test_early_stopping_with_patience_0_stops_at_the_first_epoch_without_improvement():
    model = StandInModel()
    stop = cb.EarlyStopping()
    hist = fake_fit(model, losses(1.0, 0.8, 0.9, 0.5), callbacks=[stop])
    assert hist.epoch == [0, 1, 2]
    assert stop.stopped_epoch == 2 and stop.best == 0.8 and stop.best_epoch == 1


def test_early_stopping_waits_patience_epochs():
    stop = cb.EarlyStopping(monitor="loss", patience=2)
    hist = fake_fit(StandInModel(), losses(1.0, 0.9, 0.95, 0.91, 0.1, 0.05, key="loss"),
                    callbacks=[stop])
    assert hist.epoch == [0, 1, 2, 3]
    assert stop.stopped_epoch == 3


def test_early_stopping_min_delta_makes_small_gains_count_as_none():
    stop = cb.EarlyStopping(min_delta=0.1, patience=2)
    hist = fake_fit(StandInModel(), losses(1.0, 0.95, 0.92, 0.5), callbacks=[stop])
    assert hist.epoch == [0, 1, 2] and stop.best == 1.0


def test_early_stopping_auto_mode_maximizes_accuracy():
    stop = cb.EarlyStopping(monitor="val_accuracy")
    assert stop.maximize and not cb.EarlyStopping(monitor="val_mae").maximize
    hist = fake_fit(StandInModel(), losses(0.5, 0.7, 0.6, 0.9, key="val_accuracy"),
                    callbacks=[stop])
    assert hist.epoch == [0, 1, 2] and stop.best == 0.7


def test_early_stopping_explicit_mode_overrides_the_name():
    stop = cb.EarlyStopping(monitor="val_accuracy", mode="min")
    hist = fake_fit(StandInModel(), losses(0.5, 0.7, 0.6, key="val_accuracy"), callbacks=[stop])
    assert hist.epoch == [0, 1]


def test_early_stopping_restores_the_best_weights_at_the_end():
    model = StandInModel()
    stop = cb.EarlyStopping(patience=2, restore_best_weights=True)
    fake_fit(model, losses(1.0, 0.5, 0.6, 0.7, 0.1), callbacks=[stop])
    assert stop.stopped_epoch == 3
    np.testing.assert_array_equal(model.weights[0], [1.0, 1.0])  # epoch 1's


def test_early_stopping_keeps_last_weights_by_default():
    model = StandInModel()
    fake_fit(model, losses(1.0, 0.5, 0.6), callbacks=[cb.EarlyStopping()])
    np.testing.assert_array_equal(model.weights[0], [2.0, 2.0])


def test_early_stopping_baseline_must_be_beaten_to_reset_the_wait():
    stop = cb.EarlyStopping(monitor="loss", baseline=0.5, patience=1)
    hist = fake_fit(StandInModel(), losses(0.9, 0.95, 0.3, key="loss"), callbacks=[stop])
    assert hist.epoch == [0, 1] and stop.stopped_epoch == 1


def test_early_stopping_ignores_epochs_before_start_from_epoch():
    stop = cb.EarlyStopping(start_from_epoch=2)
    hist = fake_fit(StandInModel(), losses(1.0, 2.0, 3.0, 2.5, 4.0), callbacks=[stop])
    assert hist.epoch == [0, 1, 2, 3, 4]


def test_early_stopping_can_be_reused_across_fits():
    stop = cb.EarlyStopping()
    model = StandInModel()
    fake_fit(model, losses(1.0, 2.0), callbacks=[stop])
    assert stop.stopped_epoch == 1
    hist = fake_fit(model, losses(5.0, 4.0, 3.0), callbacks=[stop])
    assert hist.epoch == [0, 1, 2] and stop.stopped_epoch == 0 and stop.best == 3.0


def test_early_stopping_warns_when_the_monitor_is_missing():
    stop = cb.EarlyStopping(monitor="val_loss")
    with pytest.warns(UserWarning, match=r"'val_loss', which is not in the logs; available: \['loss'\]"):
        hist = fake_fit(StandInModel(), [{"loss": 1.0}, {"loss": 2.0}], callbacks=[stop])
    assert hist.epoch == [0, 1]


def test_early_stopping_verbose_says_when_it_stops(capsys):
    fake_fit(StandInModel(), losses(1.0, 2.0),
             callbacks=[cb.EarlyStopping(verbose=1, restore_best_weights=True)])
    out = capsys.readouterr().out
    assert "Epoch 2: early stopping" in out
    assert "best epoch: 1" in out


@pytest.mark.parametrize("kwargs,message", [
    ({"mode": "maximum"}, "mode"), ({"patience": -1}, "patience"), ({"patience": 1.5}, "patience"),
    ({"min_delta": "a"}, "min_delta"), ({"baseline": "x"}, "baseline"), ({"monitor": ""}, "monitor"),
])
def test_early_stopping_bad_arguments_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        cb.EarlyStopping(**kwargs)


# -- TerminateOnNaN -----------------------------------------------------------

@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_terminate_on_nan_stops_after_the_bad_batch(bad, capsys):
    rec = Recorder()
    hist = fake_fit(StandInModel(), [{"loss": 1.0}] * 3, callbacks=[cb.TerminateOnNaN(), rec],
                    steps=3, batch_loss=lambda e, b: bad if (e, b) == (1, 1) else 0.5)
    assert hist.epoch == [0, 1]
    assert ("batch_end", 2, 0.5) not in rec.calls[rec.calls.index(("epoch_begin", 1)):]
    assert "Batch 1: Invalid loss, terminating training" in capsys.readouterr().out


def test_terminate_on_nan_lets_finite_losses_through():
    hist = fake_fit(StandInModel(), [{"loss": 1.0}] * 3, callbacks=[cb.TerminateOnNaN()])
    assert hist.epoch == [0, 1, 2]


# -- ProgbarLogger ------------------------------------------------------------

def test_progbar_logger_prints_one_line_per_epoch_when_not_a_terminal(capsys):
    fake_fit(StandInModel(), [{"loss": 0.5, "accuracy": 0.75}, {"loss": 0.25, "accuracy": 0.875}],
             steps=4, verbose=1, batch_size=32, samples=100)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("Epoch 1/2 4/4 - ")
    assert lines[0].endswith("/step - loss: 0.5000 - accuracy: 0.7500 - "
                             + lines[0].rsplit(" - ", 1)[1])
    assert lines[1].startswith("Epoch 2/2 4/4 - ") and "loss: 0.2500" in lines[1]
    assert all(line.endswith("samples/s") for line in lines)


def test_progbar_logger_single_epoch_has_no_epoch_prefix(capsys):
    fake_fit(StandInModel(), [{"loss": 0.5}], steps=3, verbose=2)
    out = capsys.readouterr().out
    assert out.startswith("3/3 - ") and out.count("\n") == 1


def test_progbar_logger_draws_a_live_bar_on_a_terminal(monkeypatch):
    class Tty(io.StringIO):
        def isatty(self):
            return True

    tty = Tty()
    monkeypatch.setattr("sys.stdout", tty)
    fake_fit(StandInModel(), [{"loss": 0.5}, {"loss": 0.25}], steps=3, verbose=1)
    text = tty.getvalue()
    assert text.count("\n") == 2
    assert "\rEpoch 1/2 1/3 [" in text  # the first batch is drawn at once
    assert "ETA:" in text
    assert text.endswith("loss: 0.2500\n")


def test_verbose_0_prints_nothing(capsys):
    fake_fit(StandInModel(), [{"loss": 0.5}, {"loss": 0.25}], verbose=0)
    logger = cb.ProgbarLogger()
    fake_fit(StandInModel(), [{"loss": 0.5}], callbacks=[logger], verbose=0)
    assert capsys.readouterr().out == ""


def test_progbar_logger_is_silent_during_validation_inside_fit(capsys):
    logger = cb.ProgbarLogger()
    cbs = cb.CallbackList([logger], verbose=1, epochs=1, steps=2)
    cbs.on_train_begin()
    cbs.on_epoch_begin(0)
    cbs.on_train_batch_end(0, {"loss": 1.0})
    cbs.on_test_begin()
    cbs.on_test_batch_end(0, {"loss": 2.0})
    cbs.on_test_end({"loss": 2.0})
    cbs.on_train_batch_end(1, {"loss": 1.0})
    cbs.on_epoch_end(0, {"loss": 1.0, "val_loss": 2.0})
    cbs.on_train_end()
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1 and lines[0].endswith("loss: 1.0000 - val_loss: 2.0000")


def test_progbar_logger_shows_evaluate_outside_fit(capsys):
    cbs = cb.CallbackList(None, add_progbar=True, verbose=1, epochs=1, steps=2)
    cbs.on_test_begin()
    cbs.on_test_batch_end(0, {"loss": 2.0})
    cbs.on_test_batch_end(1, {"loss": 3.0})
    cbs.on_test_end({"loss": 3.0})
    out = capsys.readouterr().out
    assert out.startswith("2/2 - ") and out.endswith("loss: 3.0000\n")


def test_progbar_logger_counts_a_pass_cut_short():
    logger = cb.ProgbarLogger()
    logger.set_params({"verbose": 2, "epochs": 1, "steps": 10})
    out = io.StringIO()
    logger.on_epoch_begin(0)
    logger.progbar.stream = out
    for b in range(3):
        logger.on_train_batch_end(b, {"loss": 1.0})
    logger.on_epoch_end(0, {"loss": 1.0})
    assert out.getvalue().startswith(" 3/10 - ")


def test_no_warnings_from_a_plain_run():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fake_fit(StandInModel(), losses(1.0, 0.5), callbacks=[cb.EarlyStopping()])


# ---- on a real fit ---------------------------------------------------------------------

import fastmlp as fm  # noqa: E402

RNG = np.random.default_rng(7)
X = RNG.normal(size=(120, 3))
Y = (X @ np.array([1.0, -2.0, 0.5]) + 0.1 * RNG.normal(size=120))[:, None]


def regression_model(lr=0.05, seed=1):
    model = fm.Sequential([fm.Input(shape=(3,)), fm.Dense(8, activation="tanh"), fm.Dense(1)],
                          backend="numpy", dtype="float64", seed=seed)
    model.compile(optimizer=fm.optimizers.SGD(lr), loss="mse", metrics=["mae"])
    return model


def test_fit_history_has_keras_keys_and_epochs():
    model = regression_model()
    hist = model.fit(X, Y, epochs=3, batch_size=32, validation_split=0.25, verbose=0)
    assert hist is model.history
    assert set(hist.history) == {"loss", "mae", "val_loss", "val_mae"}
    assert all(len(v) == 3 for v in hist.history.values()) and hist.epoch == [0, 1, 2]
    assert hist.history["loss"][-1] < hist.history["loss"][0]
    again = model.fit(X, Y, epochs=5, initial_epoch=3, batch_size=32, verbose=0)
    assert again.epoch == [3, 4] and again is not hist


def test_early_stopping_on_a_real_fit_stops_and_restores_the_best_weights():
    model = regression_model(lr=0.05)
    # Validation targets unrelated to the inputs: val_loss soon stops improving.
    x_val = RNG.normal(size=(40, 3))
    y_val = RNG.normal(size=(40, 1)) * 3
    record = []

    class Snapshot(fm.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            record.append((logs["val_loss"], model.get_weights()))

    stop = fm.callbacks.EarlyStopping(monitor="val_loss", patience=2, restore_best_weights=True)
    hist = model.fit(X, Y, epochs=200, batch_size=16, validation_data=(x_val, y_val), verbose=0,
                     callbacks=[Snapshot(), stop])
    assert 0 < stop.stopped_epoch < 199 and len(hist.epoch) == stop.stopped_epoch + 1
    best = int(np.argmin([v for v, _ in record]))
    assert stop.best_epoch == best and stop.stopped_epoch == best + 2
    for got, want in zip(model.get_weights(), record[best][1]):
        np.testing.assert_array_equal(got, want)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # overflow: the divergence itself
def test_terminate_on_nan_on_a_real_fit(capsys):
    model = regression_model(lr=1e6)  # diverges within a few steps
    hist = model.fit(X * 100, Y, epochs=50, batch_size=8, verbose=0,
                     callbacks=[fm.callbacks.TerminateOnNaN()])
    assert len(hist.epoch) < 50
    assert "Invalid loss, terminating training" in capsys.readouterr().out


def test_a_callback_stopping_mid_epoch_ends_fit_after_that_batch():
    seen = []

    class StopAtBatch2(fm.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen.append(batch)
            if batch == 2:
                self.model.stop_training = True

    hist = regression_model().fit(X, Y, epochs=4, batch_size=10, verbose=0,
                                  callbacks=[StopAtBatch2()])
    assert seen == [0, 1, 2] and hist.epoch == [0]


def test_real_fit_prints_one_line_per_epoch_when_not_a_terminal(capsys):
    regression_model().fit(X, Y, epochs=2, batch_size=32, validation_split=0.25, verbose=1)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("Epoch 1/2 3/3 - ") and lines[1].startswith("Epoch 2/2 3/3 - ")
    for line in lines:
        for part in ("loss: ", "mae: ", "val_loss: ", "val_mae: ", "samples/s"):
            assert part in line


def test_real_fit_with_verbose_0_prints_nothing(capsys):
    regression_model().fit(X, Y, epochs=2, verbose=0)
    assert capsys.readouterr().out == ""


# ---- the other Keras callbacks learners reach for ---------------------------------------

def test_model_checkpoint_saves_every_epoch_with_a_formatted_name():
    model = StandInModel()
    fake_fit(model, [{"loss": 0.5}, {"loss": 0.25}],
             callbacks=[cb.ModelCheckpoint("ck-{epoch:02d}-{loss:.2f}.fmlp")])
    assert [p for p, _ in model.saved] == ["ck-01-0.50.fmlp", "ck-02-0.25.fmlp"]


def test_model_checkpoint_save_best_only_follows_the_monitor(capsys):
    model = StandInModel()
    fake_fit(model, losses(1.0, 0.5, 0.7, 0.4, key="val_loss"),
             callbacks=[cb.ModelCheckpoint("best.fmlp", save_best_only=True, verbose=1)])
    saved_epochs = [int(w[0][0]) for _, w in model.saved]
    assert saved_epochs == [0, 1, 3]
    out = capsys.readouterr().out
    assert "Epoch 3: val_loss did not improve from 0.5" in out
    assert "Epoch 4: val_loss improved from 0.5 to 0.4, saving model to best.fmlp" in out


def test_model_checkpoint_maximizes_accuracy_and_respects_a_threshold():
    model = StandInModel()
    fake_fit(model, losses(0.6, 0.8, 0.7, 0.9, key="val_accuracy"),
             callbacks=[cb.ModelCheckpoint("b.fmlp", monitor="val_accuracy", save_best_only=True,
                                           initial_value_threshold=0.75)])
    assert [int(w[0][0]) for _, w in model.saved] == [1, 3]


def test_model_checkpoint_rejects_what_it_cannot_do():
    with pytest.raises(ValueError, match="save_weights_only"):
        cb.ModelCheckpoint("w.fmlp", save_weights_only=True)
    with pytest.raises(ValueError, match="save_freq"):
        cb.ModelCheckpoint("w.fmlp", save_freq=100)
    with pytest.raises(ValueError, match="cannot fill in filepath"):
        fake_fit(StandInModel(), [{"loss": 1.0}], callbacks=[cb.ModelCheckpoint("{val_loss}.fmlp")])


def test_learning_rate_scheduler_sets_the_rate_each_epoch_and_logs_it(capsys):
    model = StandInModel(learning_rate=0.4)
    hist = fake_fit(model, [{"loss": 1.0}] * 3,
                    callbacks=[cb.LearningRateScheduler(lambda epoch, lr: lr / 2, verbose=1)])
    assert hist.history["learning_rate"] == [0.2, 0.1, 0.05]
    assert model.optimizer.learning_rate == 0.05
    assert "Epoch 2: LearningRateScheduler setting learning rate to 0.1." in capsys.readouterr().out


def test_learning_rate_scheduler_takes_an_epoch_only_schedule_and_a_warm_up_from_zero():
    model = StandInModel()
    hist = fake_fit(model, [{"loss": 1.0}] * 3,
                    callbacks=[cb.LearningRateScheduler(lambda epoch: 0.01 * epoch)])
    assert hist.history["learning_rate"] == [0.0, 0.01, 0.02]


def test_learning_rate_scheduler_rejects_a_negative_rate():
    with pytest.raises(ValueError, match="learning_rate"):
        fake_fit(StandInModel(), [{"loss": 1.0}],
                 callbacks=[cb.LearningRateScheduler(lambda epoch: -1.0)])


def test_reduce_lr_on_plateau_follows_keras_patience_cooldown_and_floor(capsys):
    model = StandInModel(learning_rate=1.0)
    plateau = cb.ReduceLROnPlateau(factor=0.5, patience=2, cooldown=1, min_lr=0.2, verbose=1)
    hist = fake_fit(model, losses(1.0, 0.9, *[0.95] * 8), callbacks=[plateau])
    assert hist.history["learning_rate"] == [1.0, 1.0, 1.0, 1.0, 0.5, 0.5, 0.25, 0.25, 0.2, 0.2]
    assert "Epoch 4: ReduceLROnPlateau reducing learning rate to 0.5." in capsys.readouterr().out


def test_reduce_lr_on_plateau_bad_arguments():
    with pytest.raises(ValueError, match="factor"):
        cb.ReduceLROnPlateau(factor=1.0)
    with pytest.raises(ValueError, match="cooldown"):
        cb.ReduceLROnPlateau(cooldown=-1)


def test_csv_logger_writes_a_row_per_epoch_and_can_append(tmp_path):
    path = tmp_path / "log.csv"
    fake_fit(StandInModel(), [{"loss": 0.5, "accuracy": 0.25}, {"loss": 0.25, "accuracy": 0.5}],
             callbacks=[cb.CSVLogger(path)])
    assert path.read_text().splitlines() == ["epoch,accuracy,loss", "0,0.25,0.5", "1,0.5,0.25"]
    fake_fit(StandInModel(), [{"loss": 0.125, "accuracy": 0.75}], initial_epoch=2,
             callbacks=[cb.CSVLogger(path, append=True)])
    assert path.read_text().splitlines()[-1] == "2,0.75,0.125"
    assert path.read_text().count("epoch") == 1


def test_lambda_callback_calls_the_given_functions():
    seen = []
    hooks = cb.LambdaCallback(on_train_begin=lambda logs: seen.append("begin"),
                              on_epoch_end=lambda epoch, logs: seen.append((epoch, logs["loss"])),
                              on_batch_end=lambda batch, logs: seen.append(batch))
    fake_fit(StandInModel(), [{"loss": 0.5}, {"loss": 0.25}], callbacks=[hooks], steps=2)
    assert seen == ["begin", 0, 1, (0, 0.5), 0, 1, (1, 0.25)]
    with pytest.raises(TypeError, match="unknown hook 'on_epoch_finish'"):
        cb.LambdaCallback(on_epoch_finish=print)


def test_checkpoint_scheduler_and_csv_on_a_real_fit(tmp_path):
    model = regression_model()
    callbacks = [cb.ModelCheckpoint(str(tmp_path / "ep{epoch}.fmlp")),
                 cb.LearningRateScheduler(lambda epoch: 0.05 / (epoch + 1)),
                 cb.CSVLogger(tmp_path / "log.csv")]
    hist = model.fit(X, Y, epochs=3, batch_size=30, validation_split=0.25, verbose=0,
                     callbacks=callbacks)
    assert hist.history["learning_rate"] == [0.05, 0.025, 0.05 / 3]
    assert sorted(os.listdir(tmp_path)) == ["ep1.fmlp", "ep2.fmlp", "ep3.fmlp", "log.csv"]
    last = fm.load_model(tmp_path / "ep3.fmlp")
    for got, want in zip(last.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(got, want)
    assert last.optimizer.learning_rate == pytest.approx(0.05 / 3)
    header = (tmp_path / "log.csv").read_text().splitlines()[0]
    assert header == "epoch,learning_rate,loss,mae,val_loss,val_mae"


def test_terminate_on_nan_can_raise_at_once():
    rec = Recorder()
    with pytest.raises(RuntimeError, match="NaN or Inf loss encountered at batch 1"):
        fake_fit(StandInModel(), [{"loss": 1.0}] * 2, steps=3,
                 callbacks=[cb.TerminateOnNaN(raise_error=True), rec],
                 batch_loss=lambda e, b: math.nan if b == 1 else 0.5)
    assert ("train_end",) not in rec.calls
