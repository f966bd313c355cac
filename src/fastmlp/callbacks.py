"""Callbacks with Keras semantics: hooks that ``fit`` calls as training runs.

``fit`` wraps the user's callbacks in a ``CallbackList`` that adds a fresh
``History`` (returned by ``fit``) and, when ``verbose != 0``, a
``ProgbarLogger``. Logs are dicts of Python floats: batch logs carry the
running ``loss`` and metrics of the epoch so far, epoch logs add
``val_loss`` and ``val_<metric>`` when there is validation data. A callback
stops training by setting ``self.model.stop_training = True``; ``fit``
finishes the current batch (or epoch) and returns.

Example::

    class PrintLoss(fm.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            print(epoch, logs["loss"])

    stop = fm.callbacks.EarlyStopping(monitor="val_loss", patience=3,
                                      restore_best_weights=True)
    model.fit(x, y, epochs=100, validation_split=0.2, callbacks=[stop, PrintLoss()])
"""

from __future__ import annotations

import csv
import math
import os
import warnings
from typing import Any, Dict, Iterable, Optional

from fastmlp.progbar import Progbar

__all__ = ["Callback", "CallbackList", "History", "EarlyStopping", "TerminateOnNaN",
           "ProgbarLogger", "ModelCheckpoint", "LearningRateScheduler", "ReduceLROnPlateau",
           "CSVLogger", "LambdaCallback"]

Logs = Optional[Dict[str, Any]]


class Callback:
    """Base class: every hook does nothing; override those you need.

    ``self.model`` is the model being trained and ``self.params`` the dict
    of fit parameters (``verbose``, ``epochs``, ``steps`` and, when fit gives
    them, ``batch_size`` and ``samples``). ``on_batch_begin``/``on_batch_end``
    are the older names of ``on_train_batch_begin``/``on_train_batch_end``
    and are called by them, as in Keras.
    """

    def __init__(self) -> None:
        self.model: Any = None
        self.params: dict[str, Any] = {}

    def set_model(self, model: Any) -> None:
        self.model = model

    def set_params(self, params: dict[str, Any]) -> None:
        self.params = dict(params)

    def on_train_begin(self, logs: Logs = None) -> None: ...
    def on_train_end(self, logs: Logs = None) -> None: ...
    def on_epoch_begin(self, epoch: int, logs: Logs = None) -> None: ...
    def on_epoch_end(self, epoch: int, logs: Logs = None) -> None: ...
    def on_batch_begin(self, batch: int, logs: Logs = None) -> None: ...
    def on_batch_end(self, batch: int, logs: Logs = None) -> None: ...

    def on_train_batch_begin(self, batch: int, logs: Logs = None) -> None:
        self.on_batch_begin(batch, logs=logs)

    def on_train_batch_end(self, batch: int, logs: Logs = None) -> None:
        self.on_batch_end(batch, logs=logs)

    def on_test_begin(self, logs: Logs = None) -> None: ...
    def on_test_end(self, logs: Logs = None) -> None: ...
    def on_test_batch_begin(self, batch: int, logs: Logs = None) -> None: ...
    def on_test_batch_end(self, batch: int, logs: Logs = None) -> None: ...
    def on_predict_begin(self, logs: Logs = None) -> None: ...
    def on_predict_end(self, logs: Logs = None) -> None: ...
    def on_predict_batch_begin(self, batch: int, logs: Logs = None) -> None: ...
    def on_predict_batch_end(self, batch: int, logs: Logs = None) -> None: ...


class History(Callback):
    """Records the epoch-end logs: ``history.history["loss"]`` is the list of
    epoch losses, ``history.epoch`` the epoch indices (continuing from
    ``initial_epoch``). ``fit`` creates a fresh one per call and returns it;
    it is also ``model.history``."""

    def __init__(self) -> None:
        super().__init__()
        self.history: dict[str, list[float]] = {}
        self.epoch: list[int] = []

    def set_model(self, model: Any) -> None:
        super().set_model(model)
        if model is not None:
            model.history = self

    def on_train_begin(self, logs: Logs = None) -> None:
        # As Keras: a History passed to several fits restarts its epoch list
        # but keeps appending to .history.
        self.epoch = []

    def on_epoch_end(self, epoch: int, logs: Logs = None) -> None:
        self.epoch.append(epoch)
        for name, value in (logs or {}).items():
            self.history.setdefault(name, []).append(value)


class EarlyStopping(Callback):
    """Stop training when a monitored quantity has stopped improving.

    Keras's rules: after each epoch, a value counts as an improvement when
    it beats the best so far by more than ``min_delta`` (``current <
    best - min_delta`` in "min" mode, ``current > best + min_delta`` in
    "max"). ``patience`` epochs in a row without one stop training (never
    after the first epoch). ``mode="auto"`` maximizes names containing
    "acc" and minimizes everything else. With ``baseline``, the wait counter
    only restarts when the value also beats the baseline. With
    ``restore_best_weights=True`` the weights of the best epoch are put back
    when training ends. Epochs before ``start_from_epoch`` are ignored.
    A monitor missing from the logs gives a warning and no action.

    Attributes after training: ``stopped_epoch`` (0 if it never stopped),
    ``best``, ``best_epoch``, ``wait``.
    """

    def __init__(self, monitor: str = "val_loss", min_delta: float = 0, patience: int = 0,
                 verbose: int = 0, mode: str = "auto", baseline: float | None = None,
                 restore_best_weights: bool = False, start_from_epoch: int = 0) -> None:
        super().__init__()
        if not isinstance(monitor, str) or not monitor:
            raise ValueError(f"EarlyStopping: monitor must be a metric name, got {monitor!r}")
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"EarlyStopping: mode must be 'auto', 'min' or 'max', got {mode!r}")
        for name, value in (("patience", patience), ("start_from_epoch", start_from_epoch)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"EarlyStopping: {name} must be an integer >= 0, got {value!r}")
        if not _is_number(min_delta) or not math.isfinite(min_delta):
            raise ValueError(f"EarlyStopping: min_delta must be a finite number, got {min_delta!r}")
        if baseline is not None and not _is_number(baseline):
            raise ValueError(f"EarlyStopping: baseline must be a number or None, got {baseline!r}")
        self.monitor = monitor
        self.min_delta = abs(float(min_delta))
        self.patience = patience
        self.verbose = verbose
        self.mode = mode
        self.baseline = baseline
        self.restore_best_weights = bool(restore_best_weights)
        self.start_from_epoch = start_from_epoch
        self._reset()

    def _reset(self) -> None:
        self.wait = 0
        self.stopped_epoch = 0
        self.best: float | None = None
        self.best_epoch = 0
        self.best_weights: list | None = None

    @property
    def maximize(self) -> bool:
        """True when larger monitored values are better."""
        return _maximize(self.monitor, self.mode)

    def _is_improvement(self, value: float, reference: float | None) -> bool:
        return _better(value, reference, self.maximize, self.min_delta)

    def on_train_begin(self, logs: Logs = None) -> None:
        self._reset()

    def on_epoch_end(self, epoch: int, logs: Logs = None) -> None:
        current = (logs or {}).get(self.monitor)
        if current is None:
            warnings.warn(f"EarlyStopping is conditioned on {self.monitor!r}, which is not in the "
                          f"logs; available: {sorted(logs or {})}", stacklevel=2)
            return
        if epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights = self.model.get_weights()
            self.best_epoch = epoch
        self.wait += 1
        if self._is_improvement(current, self.best):
            self.best, self.best_epoch = current, epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            if self.baseline is None or self._is_improvement(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs: Logs = None) -> None:
        if self.stopped_epoch > 0 and self.verbose > 0:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                print(f"Restoring model weights from the end of the best epoch: {self.best_epoch + 1}.")
            self.model.set_weights(self.best_weights)


class TerminateOnNaN(Callback):
    """Stop training (after the current batch) when the loss is NaN or inf.

    ``fit`` without this callback raises ``FloatingPointError`` on a
    non-finite loss instead, leaving the weights as before the bad step.
    With ``raise_error=True`` it raises ``RuntimeError`` at once, so the
    other callbacks' ``on_train_end`` does not run (Keras's option).
    """

    def __init__(self, raise_error: bool = False) -> None:
        super().__init__()
        self.raise_error = bool(raise_error)

    def on_batch_end(self, batch: int, logs: Logs = None) -> None:
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(loss):
            if self.raise_error:
                raise RuntimeError(f"NaN or Inf loss encountered at batch {batch}. "
                                   f"Loss value: {loss}. Terminating training immediately.")
            print(f"Batch {batch}: Invalid loss, terminating training")
            self.model.stop_training = True


class ProgbarLogger(Callback):
    """Prints progress: during ``fit`` one line per epoch (a live bar on a
    terminal with ``verbose=1``, see ``fastmlp.progbar``); during
    ``evaluate``/``predict`` called outside fit, one line per call.
    ``fit`` adds it when ``verbose != 0``."""

    def __init__(self) -> None:
        super().__init__()
        self.progbar: Progbar | None = None
        self._in_fit = False
        self._seen = 0

    @property
    def verbose(self) -> int:
        verbose = self.params.get("verbose", 1)
        return 1 if verbose == "auto" else int(verbose)

    def _start(self, prefix: str = "") -> None:
        self._seen = 0
        self.progbar = Progbar(self.params.get("steps"), verbose=self.verbose, prefix=prefix)

    def _samples(self, steps: int) -> int | None:
        batch_size, samples = self.params.get("batch_size"), self.params.get("samples")
        if batch_size is None:
            return None
        seen = steps * int(batch_size)
        return seen if samples is None else min(seen, int(samples))

    def _step(self, batch: int, logs: Logs) -> None:
        if self.progbar is None:
            self._start()
        self._seen = batch + 1
        self.progbar.update(self._seen, logs or {}, samples=self._samples(self._seen),
                            finalize=False)

    def _finish(self, logs: Logs) -> None:
        if self.progbar is None:
            return
        target = self.progbar.target
        # The full count, unless training stopped part-way through the pass.
        done = self._seen if target is None or 0 < self._seen < target else target
        self.progbar.update(done, logs or {}, samples=self._samples(done), finalize=True)
        self.progbar = None

    def on_train_begin(self, logs: Logs = None) -> None:
        self._in_fit = True

    def on_train_end(self, logs: Logs = None) -> None:
        self._in_fit = False

    def on_epoch_begin(self, epoch: int, logs: Logs = None) -> None:
        epochs = self.params.get("epochs", 1)
        self._start(f"Epoch {epoch + 1}/{epochs} " if epochs and epochs > 1 else "")

    def on_train_batch_end(self, batch: int, logs: Logs = None) -> None:
        self._step(batch, logs)

    def on_epoch_end(self, epoch: int, logs: Logs = None) -> None:
        self._finish(logs)

    # Validation inside fit is silent; evaluate/predict on their own show progress.
    def on_test_begin(self, logs: Logs = None) -> None:
        if not self._in_fit:
            self._start()

    def on_test_batch_end(self, batch: int, logs: Logs = None) -> None:
        if not self._in_fit:
            self._step(batch, logs)

    def on_test_end(self, logs: Logs = None) -> None:
        if not self._in_fit:
            self._finish(logs)

    def on_predict_begin(self, logs: Logs = None) -> None:
        self._start()

    def on_predict_batch_end(self, batch: int, logs: Logs = None) -> None:
        self._step(batch, None)  # predictions are no values to show

    def on_predict_end(self, logs: Logs = None) -> None:
        self._finish(None)


class ModelCheckpoint(Callback):
    """Save the model (``fastmlp.io.save_model``, atomic) after each epoch.

    ``filepath`` may hold ``{epoch}`` (1-based) and log names, e.g.
    ``"ckpt-{epoch:02d}-{val_loss:.3f}.fmlp"``. With ``save_best_only`` the
    file is written only when ``monitor`` improves on the best value so far
    (direction by ``mode`` as in EarlyStopping; ``initial_value_threshold``
    is the value to beat first). Only ``save_freq="epoch"`` is supported,
    and only whole models (no ``save_weights_only``).
    """

    def __init__(self, filepath: str | os.PathLike, monitor: str = "val_loss", verbose: int = 0,
                 save_best_only: bool = False, save_weights_only: bool = False,
                 mode: str = "auto", save_freq: str = "epoch",
                 initial_value_threshold: float | None = None) -> None:
        super().__init__()
        if save_weights_only:
            raise ValueError("ModelCheckpoint: save_weights_only is not supported; the whole model "
                             "is saved (fm.load_model reads it back)")
        if save_freq != "epoch":
            raise ValueError(f"ModelCheckpoint: only save_freq='epoch' is supported, got {save_freq!r}")
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"ModelCheckpoint: mode must be 'auto', 'min' or 'max', got {mode!r}")
        self.filepath = os.fspath(filepath)
        self.monitor = monitor
        self.verbose = verbose
        self.save_best_only = bool(save_best_only)
        self.mode = mode
        self.best = initial_value_threshold

    def on_epoch_end(self, epoch: int, logs: Logs = None) -> None:
        logs = logs or {}
        try:
            path = self.filepath.format(epoch=epoch + 1, **logs)
        except (KeyError, IndexError, ValueError) as err:
            raise ValueError(f"ModelCheckpoint: cannot fill in filepath {self.filepath!r} from "
                             f"epoch and logs {sorted(logs)}: {err}") from None
        if self.save_best_only:
            current = logs.get(self.monitor)
            if current is None:
                warnings.warn(f"ModelCheckpoint: can save the best model only with "
                              f"{self.monitor!r} in the logs; available: {sorted(logs)}", stacklevel=2)
                return
            maximize = _maximize(self.monitor, self.mode)
            best = self.best if self.best is not None else (-math.inf if maximize else math.inf)
            if not _better(current, self.best, maximize):
                if self.verbose > 0:
                    print(f"Epoch {epoch + 1}: {self.monitor} did not improve from {best}")
                return
            if self.verbose > 0:
                print(f"Epoch {epoch + 1}: {self.monitor} improved from {best} to "
                      f"{current}, saving model to {path}")
            self.best = current
        elif self.verbose > 0:
            print(f"Epoch {epoch + 1}: saving model to {path}")
        self.model.save(path)


class LearningRateScheduler(Callback):
    """Set the learning rate at the start of each epoch to
    ``schedule(epoch, current_lr)`` (or ``schedule(epoch)``); the rate used
    is logged as ``"learning_rate"`` at the end of the epoch, as Keras does."""

    def __init__(self, schedule: Any, verbose: int = 0) -> None:
        super().__init__()
        if not callable(schedule):
            raise TypeError(f"LearningRateScheduler: schedule must be callable, got {schedule!r}")
        self.schedule = schedule
        self.verbose = verbose

    def on_epoch_begin(self, epoch: int, logs: Logs = None) -> None:
        optimizer = self.model.optimizer
        try:
            lr = self.schedule(epoch, float(optimizer.learning_rate))
        except TypeError:  # a schedule of the epoch only
            lr = self.schedule(epoch)
        optimizer.learning_rate = lr  # validated by the optimizer
        if self.verbose > 0:
            print(f"Epoch {epoch + 1}: LearningRateScheduler setting learning rate to {lr}.")

    def on_epoch_end(self, epoch: int, logs: Logs = None) -> None:
        if logs is not None:
            logs["learning_rate"] = float(self.model.optimizer.learning_rate)


class ReduceLROnPlateau(Callback):
    """Multiply the learning rate by ``factor`` once ``monitor`` has not
    improved (by more than ``min_delta``) for ``patience`` epochs; then wait
    ``cooldown`` epochs before counting again; never go below ``min_lr``.
    Logs the rate as ``"learning_rate"``. Keras's rules and defaults."""

    def __init__(self, monitor: str = "val_loss", factor: float = 0.1, patience: int = 10,
                 verbose: int = 0, mode: str = "auto", min_delta: float = 1e-4,
                 cooldown: int = 0, min_lr: float = 0.0) -> None:
        super().__init__()
        if not _is_number(factor) or not 0.0 <= float(factor) < 1.0:
            raise ValueError(f"ReduceLROnPlateau: factor must be in [0, 1), got {factor!r}")
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"ReduceLROnPlateau: mode must be 'auto', 'min' or 'max', got {mode!r}")
        for name, value in (("patience", patience), ("cooldown", cooldown)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"ReduceLROnPlateau: {name} must be an integer >= 0, got {value!r}")
        self.monitor, self.factor, self.patience = monitor, float(factor), patience
        self.verbose, self.mode, self.min_delta = verbose, mode, abs(float(min_delta))
        self.cooldown, self.min_lr = cooldown, float(min_lr)
        self._reset()

    def _reset(self) -> None:
        self.best: float | None = None
        self.wait = 0
        self.cooldown_counter = 0

    def on_train_begin(self, logs: Logs = None) -> None:
        self._reset()

    def on_epoch_end(self, epoch: int, logs: Logs = None) -> None:
        logs = logs if logs is not None else {}
        optimizer = self.model.optimizer
        logs["learning_rate"] = float(optimizer.learning_rate)
        current = logs.get(self.monitor)
        if current is None:
            warnings.warn(f"ReduceLROnPlateau is conditioned on {self.monitor!r}, which is not in "
                          f"the logs; available: {sorted(logs)}", stacklevel=2)
            return
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        maximize = _maximize(self.monitor, self.mode)
        if self.best is None or _better(current, self.best, maximize, self.min_delta):
            self.best, self.wait = current, 0
        elif self.cooldown_counter == 0:
            self.wait += 1
            if self.wait >= self.patience:
                old = float(optimizer.learning_rate)
                if old > self.min_lr:
                    new = max(old * self.factor, self.min_lr)
                    optimizer.learning_rate = new
                    if self.verbose > 0:
                        print(f"Epoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {new}.")
                    self.cooldown_counter = self.cooldown
                    self.wait = 0


class CSVLogger(Callback):
    """Write each epoch's logs as a row of a CSV file (columns: epoch, then
    the log names in sorted order), as Keras does. ``append=True`` adds to
    an existing file without repeating its header."""

    def __init__(self, filename: str | os.PathLike, separator: str = ",",
                 append: bool = False) -> None:
        super().__init__()
        self.filename = os.fspath(filename)
        self.separator = separator
        self.append = bool(append)
        self._file: Any = None
        self._writer: Any = None
        self._keys: list[str] | None = None

    def on_train_begin(self, logs: Logs = None) -> None:
        has_rows = self.append and os.path.exists(self.filename) and os.path.getsize(self.filename) > 0
        self._file = open(self.filename, "a" if self.append else "w", newline="")
        self._keys = None
        self._header_written = has_rows

    def on_epoch_end(self, epoch: int, logs: Logs = None) -> None:
        logs = logs or {}
        if self._keys is None:
            self._keys = sorted(logs)
            self._writer = csv.writer(self._file, delimiter=self.separator)
            if not self._header_written:
                self._writer.writerow(["epoch", *self._keys])
        self._writer.writerow([epoch, *(logs.get(k, "NA") for k in self._keys)])
        self._file.flush()

    def on_train_end(self, logs: Logs = None) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


class LambdaCallback(Callback):
    """A callback from plain functions, as Keras's::

        LambdaCallback(on_epoch_end=lambda epoch, logs: print(epoch, logs["loss"]))

    Accepts on_{train,epoch,train_batch,batch,test,predict,...}_{begin,end};
    epoch and batch hooks take (index, logs), the others (logs).
    """

    def __init__(self, **hooks: Any) -> None:
        super().__init__()
        for name, fn in hooks.items():
            if not (name.startswith("on_") and callable(getattr(Callback, name, None))):
                raise TypeError(f"LambdaCallback: unknown hook {name!r}")
            if not callable(fn):
                raise TypeError(f"LambdaCallback: {name} must be callable, got {fn!r}")
            setattr(self, name, _positional(fn))


def _positional(fn: Any) -> Any:
    # CallbackList passes logs positionally; user lambdas take (index, logs) or (logs).
    return lambda *args, logs=None: fn(*args) if logs is None else fn(*args, logs)


def _maximize(monitor: str, mode: str) -> bool:
    """Direction of a monitored quantity: "auto" maximizes names that
    contain "acc" (accuracy) and minimizes the rest, as Keras."""
    if mode == "auto":
        return "acc" in monitor
    return mode == "max"


def _better(value: float, reference: float | None, maximize: bool, delta: float = 0.0) -> bool:
    if reference is None:
        return True
    return value - delta > reference if maximize else value + delta < reference


class CallbackList(Callback):
    """Calls every hook on each callback in order; what ``fit`` talks to.

    ``CallbackList(callbacks, model=model, add_history=True,
    add_progbar=verbose != 0, verbose=verbose, epochs=epochs, steps=steps)``;
    any further keyword (``batch_size``, ``samples``, ...) joins ``params``.
    A History and a ProgbarLogger are added only when the list has none.
    Logs are converted to dicts of Python floats before callbacks see them.
    """

    def __init__(self, callbacks: Iterable[Callback] | None = None, *, model: Any = None,
                 add_history: bool = False, add_progbar: bool = False,
                 **params: Any) -> None:
        super().__init__()
        self.callbacks = _as_list(callbacks)
        self.history = next((c for c in self.callbacks if isinstance(c, History)), None)
        if self.history is None and add_history:
            self.history = History()
            self.callbacks.append(self.history)
        if add_progbar and not any(isinstance(c, ProgbarLogger) for c in self.callbacks):
            self.callbacks.append(ProgbarLogger())
        self.set_params(params)
        if model is not None:
            self.set_model(model)

    @property
    def handles_nan(self) -> bool:
        """True when a TerminateOnNaN is in the list: fit should then report
        a non-finite loss to the callbacks rather than raise."""
        return any(isinstance(c, TerminateOnNaN) for c in self.callbacks)

    def set_model(self, model: Any) -> None:
        super().set_model(model)
        for c in self.callbacks:
            c.set_model(model)
        if self.history is not None and model is not None:
            model.history = self.history

    def set_params(self, params: dict[str, Any]) -> None:
        super().set_params(params)
        for c in self.callbacks:
            c.set_params(params)

    def _call(self, hook: str, *args: Any, logs: Logs = None) -> None:
        logs = _python_floats(logs)
        for c in self.callbacks:
            getattr(c, hook)(*args, logs)

    def on_train_begin(self, logs: Logs = None) -> None: self._call("on_train_begin", logs=logs)
    def on_train_end(self, logs: Logs = None) -> None: self._call("on_train_end", logs=logs)
    def on_epoch_begin(self, epoch: int, logs: Logs = None) -> None:
        self._call("on_epoch_begin", epoch, logs=logs)
    def on_epoch_end(self, epoch: int, logs: Logs = None) -> None:
        self._call("on_epoch_end", epoch, logs=logs)
    def on_batch_begin(self, batch: int, logs: Logs = None) -> None:
        self._call("on_batch_begin", batch, logs=logs)
    def on_batch_end(self, batch: int, logs: Logs = None) -> None:
        self._call("on_batch_end", batch, logs=logs)
    def on_train_batch_begin(self, batch: int, logs: Logs = None) -> None:
        self._call("on_train_batch_begin", batch, logs=logs)
    def on_train_batch_end(self, batch: int, logs: Logs = None) -> None:
        self._call("on_train_batch_end", batch, logs=logs)
    def on_test_begin(self, logs: Logs = None) -> None: self._call("on_test_begin", logs=logs)
    def on_test_end(self, logs: Logs = None) -> None: self._call("on_test_end", logs=logs)
    def on_test_batch_begin(self, batch: int, logs: Logs = None) -> None:
        self._call("on_test_batch_begin", batch, logs=logs)
    def on_test_batch_end(self, batch: int, logs: Logs = None) -> None:
        self._call("on_test_batch_end", batch, logs=logs)
    def on_predict_begin(self, logs: Logs = None) -> None: self._call("on_predict_begin", logs=logs)
    def on_predict_end(self, logs: Logs = None) -> None: self._call("on_predict_end", logs=logs)
    def on_predict_batch_begin(self, batch: int, logs: Logs = None) -> None:
        self._call("on_predict_batch_begin", batch, logs=logs)
    def on_predict_batch_end(self, batch: int, logs: Logs = None) -> None:
        self._call("on_predict_batch_end", batch, logs=logs)

    def __iter__(self):
        return iter(self.callbacks)

    def __len__(self) -> int:
        return len(self.callbacks)


def _as_list(callbacks: Iterable[Callback] | Callback | None) -> list[Callback]:
    if callbacks is None:
        return []
    if isinstance(callbacks, Callback):
        callbacks = [callbacks]
    try:
        items = list(callbacks)
    except TypeError:
        raise TypeError(f"callbacks must be a list of Callback objects, got {callbacks!r}") from None
    for item in items:
        if not isinstance(item, Callback):
            hint = " (pass an instance: add the parentheses)" if isinstance(item, type) else ""
            raise TypeError(f"callbacks must be Callback objects, got {item!r}{hint}")
    return items


def _python_floats(logs: Logs) -> dict[str, Any]:
    """Copy of ``logs`` with NumPy scalars as Python floats, so callbacks
    that store them (History) hold plain numbers."""
    out: dict[str, Any] = {}
    for key, value in (logs or {}).items():
        try:
            out[key] = float(value)
        except (TypeError, ValueError):
            out[key] = value
    return out


def _is_number(value: object) -> bool:
    if isinstance(value, bool):
        return False
    try:
        float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False
    return True
