"""Run runs of training steps in one C call (csrc/train.c).

At small sizes a training step costs more in Python between kernels than in
the kernels: an 8-64-64-1 regression net at batch 32 does ~0.1 MFLOP a step.
So for the common case (Dense layers only, no regularizer, a loss, metrics
and optimizer C knows, C backend) fit hands the C code a whole run of
minibatches at a time. The C runs them on one team of threads, each keeping
its rows of the batch and then its slice of the parameters (csrc/train.c),
and computes every element as the Python path's kernel calls do, so the
weights and losses come out bit-identical; model.py falls back to the Python
path for everything else. Metric values that are sums of
floats (mae, mse) may differ from the Python path in the last bits.
"""

from __future__ import annotations

import time
from typing import Any, Optional

import numpy as np

from fastmlp import callbacks as callbacks_module
from fastmlp import losses as losses_module
from fastmlp import metrics as metrics_module
from fastmlp import optimizers as optimizers_module
from fastmlp.activations import LEAKY_RELU_SLOPE
from fastmlp.backends import ACTIVATIONS
from fastmlp.layers import Dense, Flatten

_LOSS_CODES = {
    losses_module.CategoricalCrossentropy: 0,
    losses_module.SparseCategoricalCrossentropy: 1,
    losses_module.BinaryCrossentropy: 2,
    losses_module.MeanSquaredError: 3,
    losses_module.MeanAbsoluteError: 4,
    losses_module.SumSquaredError: 5,
}
_METRIC_CODES = {
    metrics_module.SparseCategoricalAccuracy: 0,
    metrics_module.CategoricalAccuracy: 1,
    metrics_module.BinaryAccuracy: 2,
    metrics_module.MeanAbsoluteError: 3,
    metrics_module.MeanSquaredError: 4,
}
# Callbacks whose batch hooks the chunked loop serves (History has none;
# the progress bar is updated once per chunk, which it throttles anyway).
_CHUNK_SAFE_CALLBACKS = (callbacks_module.History, callbacks_module.ProgbarLogger,
                         callbacks_module.EarlyStopping)
_MAX_LAYERS = 64
# The dtypes of x the C loop and predict cast row by row, in fm_x_type order
# (csrc/fastmlp.h; _kernels.X_TYPES is the bindings' copy): fit, evaluate and
# predict keep such an x as given rather than convert all of it, which would
# cost a second copy of the data (188 MB for Fashion-MNIST's images as
# float64 or uint8) and a pass over it per call.
X_TYPES = (np.dtype(np.float32), np.dtype(np.float64), np.dtype(np.uint8))
_CHUNK_SECONDS = 0.1  # how often control returns to Python (progress bar, Ctrl-C)


def _optimizer_spec(opt: Any) -> Optional[tuple[int, dict]]:
    """(code, hyperparameters) of a built-in optimizer, or None."""
    hyper = dict(lr=opt.learning_rate, momentum=0.0, rho=0.0, beta_1=0.0, beta_2=0.0,
                 epsilon=0.0, weight_decay=opt._decay(), nesterov=False)
    kind = type(opt)
    if kind is optimizers_module.SGD:
        hyper.update(momentum=opt.momentum, nesterov=opt.nesterov)
        return (1 if opt.momentum > 0 else 0), hyper
    if kind is optimizers_module.Adagrad:
        return 2, {**hyper, "epsilon": opt.epsilon}
    if kind is optimizers_module.RMSprop:
        return 3, {**hyper, "rho": opt.rho, "epsilon": opt.epsilon}
    if kind is optimizers_module.Adam:
        return 4, {**hyper, "beta_1": opt.beta_1, "beta_2": opt.beta_2, "epsilon": opt.epsilon}
    return None


def _metric_codes(metrics: list) -> Optional[list[int]]:
    codes = []
    for m in metrics:
        code = _METRIC_CODES.get(type(m))
        if code is None or (code == 2 and m.threshold != 0.5):
            return None
        codes.append(code)
    return codes


def plan(model: Any, callbacks: Any) -> Optional["ChunkedTrainer"]:
    """A ChunkedTrainer for ``model`` if the C loop can train it exactly as
    the Python path would, else None."""
    dense = _dense_layers(model)
    if dense is None or any(l.kernel_regularizer is not None for l in dense[0]):
        return None
    loss_code = _LOSS_CODES.get(type(model.loss))
    fused = model._fused_mode()
    if loss_code is None or fused not in ("dense", None):
        return None
    if fused is None and loss_code <= 2 and not model.loss.from_logits:
        return None  # cross-entropy on probabilities: the NumPy fallback path
    metrics = _metric_codes(model._resolved_metrics())
    opt = _optimizer_spec(model.optimizer)
    if metrics is None or opt is None:
        return None
    if not all(isinstance(c, _CHUNK_SAFE_CALLBACKS) for c in callbacks.callbacks):
        return None
    return ChunkedTrainer(model, loss_code, fused == "dense", metrics, *opt)


def _dense_layers(model: Any) -> Optional[tuple[list, list]]:
    """(Dense layers, widths) if the model is Dense-only on the C backend,
    after any leading Flatten (x reaches fit already flattened), else None."""
    layers, dims = list(model.layers), list(model._dims)
    while layers and type(layers[0]) is Flatten:
        layers, dims = layers[1:], dims[1:]
    if (model.backend != "c" or not 0 < len(layers) <= _MAX_LAYERS
            or not all(type(l) is Dense for l in layers)):
        return None
    return layers, dims


def _layer_plan(model: Any, loss_code: int = 0, fused: bool = False,
                metric_codes: tuple = (), opt_code: int = 0, hyper: Optional[dict] = None):
    from fastmlp import _kernels

    layers, widths = _dense_layers(model)
    h = hyper or dict(lr=0.0, momentum=0.0, rho=0.0, beta_1=0.0, beta_2=0.0, epsilon=0.0,
                      weight_decay=0.0, nesterov=False)
    dims = np.array(widths, dtype=np.intp)
    acts = np.array([ACTIVATIONS.index(l.activation) for l in layers], dtype=np.intc)
    bias = np.array([int(l.use_bias) for l in layers], dtype=np.intc)
    return _kernels.TrainPlan(
        dims, acts, bias, LEAKY_RELU_SLOPE, loss_code, fused,
        np.array(metric_codes, dtype=np.intc), opt_code, h["lr"], h["momentum"], h["rho"],
        h["beta_1"], h["beta_2"], h["epsilon"], h["weight_decay"], h["nesterov"])


def can_predict(model: Any) -> bool:
    """Whether :func:`predict` serves the model (Dense-only on C)."""
    return _dense_layers(model) is not None


def predict(model: Any, x: np.ndarray, batch_size: int) -> tuple[np.ndarray, bool]:
    """The outputs for x computed by one C call (same kernels and results
    as the Python path), for a model :func:`can_predict` serves; and whether
    x may hold a NaN or inf (False: it is known to be finite)."""
    plan = _layer_plan(model)
    dtype = model.dtype
    batch = max(1, min(batch_size, x.shape[0]))
    work = np.empty(-(-plan.predict_work_bytes(batch, dtype == np.float64) // dtype.itemsize),
                    dtype=dtype)
    out = np.empty((x.shape[0], model._dims[-1]), dtype=dtype)
    suspect = plan.predict(model.params, *_x_arg(np.ascontiguousarray(x)), batch, work, out)
    return out, suspect


def _x_arg(x: np.ndarray) -> tuple[np.ndarray, int]:
    """x (C-contiguous, of one of X_TYPES) as the C takes it: its bytes and
    its fm_x_type, so that it need not have the model's dtype."""
    return x.view(np.uint8), X_TYPES.index(x.dtype)


class ChunkedTrainer:
    """Holds the C plan and the buffers of one fit call."""

    def __init__(self, model: Any, loss_code: int, fused: bool, metric_codes: list[int],
                 opt_code: int, hyper: dict) -> None:
        self.model = model
        self.plan = _layer_plan(model, loss_code, fused, tuple(metric_codes), opt_code, hyper)
        self.n_metrics = len(metric_codes)
        self.sparse = loss_code == 1
        slots = list(model.optimizer._slots.values())
        self.slot1 = slots[0] if slots else None
        self.slot2 = slots[1] if len(slots) > 1 else None
        self.iterations = np.zeros(1, dtype=np.int64)
        self.work: Optional[np.ndarray] = None
        self.chunk = 1

    def _buffers(self, batch: int, steps: int) -> None:
        dtype = self.model.dtype
        size = -(-self.plan.work_bytes(batch, dtype == np.float64) // dtype.itemsize)
        if self.work is None or self.work.size < size:
            self.work = np.empty(size, dtype=dtype)
        self.losses = np.empty(steps, dtype=np.float64)
        self.metrics = np.empty(max(steps * self.n_metrics, 1), dtype=np.float64)

    def run(self, x: np.ndarray, y: np.ndarray, order: Optional[np.ndarray], batch: int,
            first: int, count: int) -> int:
        """Run ``count`` steps from step ``first``; return how many finished."""
        opt = self.model.optimizer
        self.iterations[0] = opt.iterations
        labels, targets = (y, None) if self.sparse else (None, y)
        try:
            done = self.plan.run(self.model.params, *_x_arg(x), targets, labels, order, batch,
                                 first, count, self.model.grads, self.slot1, self.slot2,
                                 self.iterations, self.work, self.losses, self.metrics)
        finally:
            opt.iterations = int(self.iterations[0])
        return done

    def epoch(self, x: np.ndarray, y: np.ndarray, order: Optional[np.ndarray], batch: int,
              steps: int, on_chunk) -> None:
        """Run an epoch in chunks of about _CHUNK_SECONDS, calling
        ``on_chunk(first, done, losses, metrics)`` after each; it returns
        False to stop early."""
        self._buffers(batch, steps)
        first = 0
        while first < steps:
            count = min(self.chunk, steps - first)
            start = time.perf_counter()
            done = self.run(x, y, order, batch, first, count)
            elapsed = time.perf_counter() - start
            if done == count and elapsed > 0:
                self.chunk = max(1, min(steps, int(count * _CHUNK_SECONDS / elapsed)))
            finished = done + (done < count)  # include the step whose loss was not finite
            metrics = self.metrics[: finished * self.n_metrics].reshape(finished, self.n_metrics)
            if not on_chunk(first, finished, self.losses[:finished], metrics) or done < count:
                return
            first += done
