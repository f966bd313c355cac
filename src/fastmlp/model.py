"""Sequential: a stack of layers with Keras's compile / fit / evaluate / predict.

How a training step runs (no array is allocated inside it):

* Parameters live in ONE flat buffer ``model.params`` and gradients in one
  ``model.grads``; each layer's kernel and bias are views into them, so the
  optimizer updates every parameter with one fused call.
* Activation, gradient and minibatch buffers are allocated once per batch
  size (a :class:`_Workspace`); a smaller last batch uses views of their
  leading rows. A shuffled minibatch is gathered into the workspace with
  ``np.take(..., out=)``; the dataset itself is never copied per epoch.
* Dense forward is one fused ``ops.gemm`` (matmul + bias + activation).
  Backward goes through each layer's *output*, so only outputs are stored.
* When the output activation is the one a cross-entropy is fused with
  (softmax / sigmoid), the last Dense runs without its activation, the fused
  loss op returns d(loss)/d(logits) directly, and predictions (for metrics)
  are the activation of those logits.
* For plain Dense stacks on the C backend, fit hands whole runs of
  minibatches to one C call (train_loop.py) that computes every element as
  the kernel calls here do, so the weights are bit-identical to this Python
  loop, whatever the thread count.

Determinism: weight initialisation, shuffling and dropout each draw from a
``numpy.random.Generator`` spawned from the model's ``seed``, and the
kernels' reductions have a fixed order, so one seed gives bit-identical
weights run after run and whatever the number of threads.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Optional, Sequence

import numpy as np

from fastmlp import backends
from fastmlp import layers as layers_module
from fastmlp import losses as losses_module
from fastmlp import metrics as metrics_module
from fastmlp import train_loop
from fastmlp.layers import Dense, Flatten, Input, Layer

_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
# How many per-batch-size workspaces to keep (fit, validation, predict sizes).
_MAX_WORKSPACES = 4


class _Workspace:
    """Every buffer one forward/backward pass over ``rows`` samples needs."""

    def __init__(self, model: "Sequential", rows: int) -> None:
        dtype = model.dtype
        dims = model._dims
        self.rows = rows
        self.x = np.empty((rows, dims[0]), dtype=dtype)  # gathered minibatch
        if model._loss is not None and model._loss.sparse:
            self.target = np.empty((rows,), dtype=np.int64)
        else:
            self.target = np.empty((rows, dims[-1]), dtype=dtype)
        self.outs = [np.empty((rows, d), dtype=dtype) for d in dims[1:]]
        self.deltas = [np.empty((rows, d), dtype=dtype) for d in dims[1:]]
        self.work = [layer.workspace(rows, dtype) for layer in model._layers]
        self.logits = np.empty((rows, dims[-1]), dtype=dtype)


class Sequential:
    """A linear stack of layers, as ``keras.Sequential``.

    ``Sequential(layers=None, *, backend="c", dtype="float32", seed=None,
    name=None)``. ``backend`` picks the compute kernels ("c" or "numpy", the
    same model code either way); ``seed`` fixes weight initialisation,
    shuffling and dropout (None draws fresh entropy).
    """

    def __init__(self, layers: Optional[Sequence[object]] = None, *, backend: str = "c",
                 dtype: object = "float32", seed: Optional[int] = None,
                 name: Optional[str] = None) -> None:
        self.ops = backends.get(backend)
        self.backend = backend
        self.dtype = _check_dtype(dtype)
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))
                                 or seed < 0):
            raise ValueError(f"seed must be None or an integer >= 0, got {seed!r}")
        self.seed = None if seed is None else int(seed)
        self.name = name or layers_module.unique_name("sequential")
        init_seq, shuffle_seq, dropout_seq = np.random.SeedSequence(self.seed).spawn(3)
        self._init_rng = np.random.default_rng(init_seq)
        self._shuffle_rng = np.random.default_rng(shuffle_seq)
        self._dropout_rng = np.random.default_rng(dropout_seq)

        self._layers: list[Layer] = []
        self._input_shape: Optional[tuple[int, ...]] = None
        self._sample_shape: tuple[int, ...] = ()  # of the x last prepared
        self.built = False
        self.params = np.empty(0, dtype=self.dtype)
        self.grads = np.empty(0, dtype=self.dtype)
        self._dims: list[int] = []
        self._workspaces: dict[int, _Workspace] = {}

        self.optimizer = None
        self._loss: Optional[losses_module.Loss] = None
        self._loss_identifier: Any = None
        self._metric_identifiers: list = []
        self._metrics: Optional[list] = None  # resolved once built
        self.compiled = False
        self.stop_training = False
        self.history = None

        for layer in layers or []:
            self.add(layer)

    # ---- structure -------------------------------------------------------------------

    @property
    def layers(self) -> list[Layer]:
        """The layers, in order (the Input is not one)."""
        return list(self._layers)

    def add(self, layer: object) -> None:
        """Append a layer (or an ``Input`` first). Adding to a built model
        rebuilds it, keeping the weights of the layers it already had."""
        if isinstance(layer, Input):
            if self._layers or self._input_shape is not None:
                raise ValueError("Input must come first and only once in a Sequential model")
            self._input_shape = layer.shape
            if len(layer.shape) == 1:  # else wait for the Flatten layer
                self.build((None, *layer.shape))
            return
        if not isinstance(layer, Layer):
            hint = " (did you forget the parentheses?)" if isinstance(layer, type) else ""
            raise TypeError(f"Sequential.add expects a fastmlp layer, got {layer!r}{hint}")
        if any(existing is layer for existing in self._layers):
            raise ValueError(f"layer {layer.name!r} is already in this model")
        owner = getattr(layer, "_owner", None)
        if owner is not None and owner is not self:
            # Its weights are views into the other model's buffer.
            raise ValueError(f"layer {layer.name!r} already belongs to model {owner.name!r}; "
                             "layers cannot be shared between models")
        if not self._layers and self._input_shape is None and layer.input_spec is not None:
            self._input_shape = layer.input_spec
        old = self.get_weights() if self.built else None
        self._layers.append(layer)
        if self._input_shape is not None:
            was_built, self.built = self.built, False
            try:
                self.build((None, *self._input_shape))
            except ValueError:
                self._layers.pop()
                self.built = was_built
                raise
            if old is not None:
                kept = sum(len(l.param_shapes(l.input_dim)) for l in self._layers[:-1])
                self._set_flat_weights(old[:kept], self._layers[:-1])

    def pop(self) -> Layer:
        """Remove and return the last layer, keeping the other layers' weights."""
        if not self._layers:
            raise ValueError(f"pop: model {self.name!r} has no layers")
        old = self.get_weights() if self.built else None
        layer = self._layers.pop()
        layer._owner = None
        kept = sum(len(l.param_shapes(l.input_dim)) for l in self._layers) if old else 0
        self.built = False
        self.params = np.empty(0, dtype=self.dtype)
        self.grads = np.empty(0, dtype=self.dtype)
        if old is not None and self._layers:
            self.build()
            self._set_flat_weights(old[:kept], self._layers)
        return layer

    def get_layer(self, name: Optional[str] = None, index: Optional[int] = None) -> Layer:
        """The layer called ``name``, or at position ``index``, as Keras."""
        if (name is None) == (index is None):
            raise ValueError("get_layer: give exactly one of name or index")
        if index is not None:
            if not -len(self._layers) <= index < len(self._layers):
                raise ValueError(f"get_layer: index {index} is out of range for "
                                 f"{len(self._layers)} layers")
            return self._layers[index]
        for layer in self._layers:
            if layer.name == name:
                return layer
        raise ValueError(f"get_layer: no layer named {name!r}; layers are "
                         f"{[l.name for l in self._layers]}")

    def _output_dims(self, input_dim: int) -> list[int]:
        dims = [input_dim]
        for layer in self._layers:
            dims.append(layer.output_dim(dims[-1]))
        return dims

    def build(self, input_shape: object = None) -> None:
        """Allocate the flat parameter and gradient buffers for inputs of
        ``input_shape`` (Keras's (batch, features...), e.g. (None, 784); a
        bare (784,) also works) and draw the starting weights. Called by fit
        when needed."""
        if input_shape is None and self._input_shape is not None:
            input_shape = (None, *self._input_shape)
        sample = _sample_shape(input_shape)
        if self.built:
            if sample != self._input_shape:
                raise ValueError(
                    f"model {self.name!r} was built for input shape {self.input_shape}, "
                    f"got {input_shape}")
            return
        if len(sample) > 1 and not (self._layers and isinstance(self._layers[0], Flatten)):
            raise ValueError(
                f"input shape {sample} is not flat: make Flatten() the first layer, or reshape "
                f"x to (samples, {int(np.prod(sample))})")
        features = int(np.prod(sample))
        dims = self._output_dims(features)
        shapes = [layer.param_shapes(d) for layer, d in zip(self._layers, dims)]
        total = sum(int(np.prod(s)) for layer_shapes in shapes for s in layer_shapes)
        self.params = np.zeros(total, dtype=self.dtype)
        self.grads = np.zeros(total, dtype=self.dtype)
        offset = 0
        for layer, d, layer_shapes in zip(self._layers, dims, shapes):
            layer.input_dim = d
            pviews, gviews = [], []
            for shape in layer_shapes:
                size = int(np.prod(shape))
                pviews.append(self.params[offset:offset + size].reshape(shape))
                gviews.append(self.grads[offset:offset + size].reshape(shape))
                offset += size
            layer.bind(pviews, gviews)
            layer._owner = self
            layer.initialize(self._init_rng)
        self._input_shape = sample
        self._dims = dims
        # Layers before the first one with parameters need no gradients.
        self._first_param = next((i for i, s in enumerate(shapes) if s), len(self._layers))
        self._workspaces.clear()
        self._metrics = None
        self.built = True
        if self.optimizer is not None:
            self.optimizer.build(self.params.size, self.dtype)

    def _require_built(self, what: str) -> None:
        if not self.built:
            raise RuntimeError(
                f"{what}: model {self.name!r} is not built yet; give it an Input(shape=...), "
                "call build((None, features)) or fit it first")

    @property
    def input_shape(self) -> Optional[tuple]:
        return None if self._input_shape is None else (None, *self._input_shape)

    @property
    def output_shape(self) -> Optional[tuple]:
        return (None, self._dims[-1]) if self.built else None

    def count_params(self) -> int:
        """Number of parameters (all trainable)."""
        self._require_built("count_params")
        return int(self.params.size)

    # ---- weights -----------------------------------------------------------------------

    def get_weights(self) -> list[np.ndarray]:
        """Copies of all weights: per layer its kernel (in, out) then bias (out,)."""
        self._require_built("get_weights")
        return [w for layer in self._layers for w in layer.get_weights()]

    def set_weights(self, weights: Sequence[object]) -> None:
        """Copy ``weights`` (as returned by get_weights) into the model; the
        count and every shape are checked before anything is changed."""
        self._require_built("set_weights")
        self._set_flat_weights(list(weights), self._layers)

    def _set_flat_weights(self, weights: list, layers: Sequence[Layer]) -> None:
        expected = [s for layer in layers for s in layer.param_shapes(layer.input_dim)]
        if len(weights) != len(expected):
            raise ValueError(f"set_weights: expected {len(expected)} arrays, got {len(weights)}")
        arrays = [np.asarray(w) for w in weights]
        for i, (w, shape) in enumerate(zip(arrays, expected)):
            if w.shape != tuple(shape):
                raise ValueError(f"set_weights: array {i} has shape {w.shape}; expected {tuple(shape)}")
            if w.dtype.kind not in "fiu":
                raise TypeError(f"set_weights: array {i} has dtype {w.dtype}; expected numbers")
            if not np.all(np.isfinite(w)):
                raise ValueError(f"set_weights: array {i} contains NaN or inf")
        start = 0
        for layer in layers:
            count = len(layer.param_shapes(layer.input_dim))
            layer.set_weights(arrays[start:start + count])
            start += count

    # ---- compile -----------------------------------------------------------------------

    def compile(self, optimizer: object = "rmsprop", loss: object = None,
                metrics: Optional[Sequence[object]] = None) -> None:
        """Configure training: optimizer (name or fastmlp.optimizers object),
        loss (name or fastmlp.losses object) and metrics ("accuracy", "mae",
        "mse", ...). Names are checked now; compiling again starts fresh
        optimizer state, as in Keras."""
        from fastmlp import optimizers

        opt = optimizers.get(optimizer)
        loss_obj = None if loss is None else losses_module.get(loss)
        if metrics is None:
            metric_ids: list = []
        elif isinstance(metrics, (str, metrics_module.Metric)):
            metric_ids = [metrics]
        else:
            metric_ids = list(metrics)
        for m in metric_ids:  # fail now on unknown names, resolve "accuracy" later
            metric = metrics_module.get(m, loss=loss_obj, output_units=2)
            if loss_obj is not None and loss_obj.sparse and not isinstance(
                    metric, (metrics_module.SparseCategoricalAccuracy, metrics_module.BinaryAccuracy)):
                raise ValueError(
                    f"metric {metric.name!r} compares outputs with targets of the same shape, "
                    f"but {loss_obj.name} takes integer labels; use 'accuracy'")
        self.optimizer = opt
        self._loss = loss_obj
        self._loss_identifier = loss
        self._metric_identifiers = metric_ids
        self._metrics = None
        self._workspaces.clear()
        self.compiled = True
        if self.built:
            self.optimizer.build(self.params.size, self.dtype)

    @property
    def loss(self) -> Optional[losses_module.Loss]:
        return self._loss

    def _resolved_metrics(self) -> list:
        if self._metrics is None:
            units = self._dims[-1]
            self._metrics = [metrics_module.get(m, loss=self._loss, output_units=units)
                             for m in self._metric_identifiers]
        return self._metrics

    @property
    def metrics_names(self) -> list[str]:
        """"loss" then the compiled metrics' names."""
        return ["loss"] + [getattr(m, "name", str(m)) for m in self._metric_identifiers]

    def _fused_mode(self) -> Optional[str]:
        """Where the fused loss reads its logits: "dense" (the last Dense
        without its activation), "activation" (the input of a final
        Activation layer), or None (the loss sees the outputs)."""
        loss = self._loss
        if loss is None or loss.from_logits or loss.logits_activation is None or not self._layers:
            return None
        last = self._layers[-1]
        if last.activation != loss.logits_activation:
            return None
        if isinstance(last, Dense):
            return "dense"
        if isinstance(last, layers_module.Activation) and len(self._layers) >= 2:
            return "activation"
        return None

    # ---- the passes ----------------------------------------------------------------------

    def _workspace(self, rows: int) -> _Workspace:
        ws = self._workspaces.get(rows)
        if ws is None:
            if len(self._workspaces) >= _MAX_WORKSPACES:
                self._workspaces.pop(next(iter(self._workspaces)))
            ws = self._workspaces[rows] = _Workspace(self, rows)
        return ws

    def _forward(self, ws: _Workspace, x: np.ndarray, training: bool, *,
                 fused: Optional[str], need_outputs: bool) -> list[np.ndarray]:
        """Run the layers on ``x`` (n rows); return [x, out_1, ..., out_L].
        With a fused loss the last activation is only applied when the
        outputs are needed (metrics, predict)."""
        n = x.shape[0]
        acts = [x]
        last = len(self._layers) - 1
        for i, layer in enumerate(self._layers):
            y = ws.outs[i][:n] if n != ws.rows else ws.outs[i]
            a = acts[-1]
            if i == last and fused == "dense":
                z = ws.logits[:n]
                layer.forward(self.ops, a, z, ws.work[i], training, self._dropout_rng, logits=True)
                if need_outputs:
                    self.ops.activation(layer.activation, z, out=y)
            elif i == last and fused == "activation":
                if need_outputs:
                    layer.forward(self.ops, a, y, ws.work[i], training, self._dropout_rng)
            else:
                y = layer.forward(self.ops, a, y, ws.work[i], training, self._dropout_rng)
            acts.append(y)
        return acts

    def _loss_and_delta(self, ws: _Workspace, acts: list, target: np.ndarray,
                        fused: Optional[str]) -> tuple[float, int]:
        """Return (data loss, index of the layer whose output delta was
        written); the delta is d(loss)/d(logits) when fused."""
        n = acts[0].shape[0]
        last = len(self._layers) - 1
        if fused == "dense":
            loss = self._loss.on_logits(self.ops, ws.logits[:n], target, ws.deltas[last][:n])
            return loss, last
        if fused == "activation":
            loss = self._loss.on_logits(self.ops, acts[last], target, ws.deltas[last - 1][:n])
            return loss, last - 1
        return self._loss.on_outputs(self.ops, acts[-1], target, ws.deltas[last][:n]), last

    def _penalty(self) -> float:
        total = 0.0
        for layer in self._layers:
            if isinstance(layer, Dense) and layer.kernel_regularizer is not None:
                total += layer.penalty(self.ops)
        return total

    def _backward(self, ws: _Workspace, acts: list, start: int, training: bool,
                  fused: Optional[str]) -> None:
        n = acts[0].shape[0]
        first_param = self._first_param
        for i in range(start, -1, -1):
            if i < first_param:
                break  # nothing below has parameters: no input gradient needed
            layer = self._layers[i]
            dy = ws.deltas[i][:n]
            dx = ws.deltas[i - 1][:n] if i > first_param else None
            kwargs = {"logits": True} if (fused == "dense" and i == len(self._layers) - 1) else {}
            layer.backward(self.ops, acts[i], acts[i + 1], dy, dx, ws.work[i], training, **kwargs)

    def _step_loss(self, ws: _Workspace, x: np.ndarray, target: np.ndarray, training: bool,
                   need_outputs: bool, backward: bool,
                   skip_bad: bool = False) -> tuple[float, list]:
        """Forward, loss (+ penalties) and, if asked, backward for one batch.
        With skip_bad, a NaN/inf loss skips the backward pass: that step is
        not applied, so the gradients stay those of the last step that was
        (as in the C loop, which stops before computing them)."""
        fused = self._fused_mode()
        acts = self._forward(ws, x, training, fused=fused, need_outputs=need_outputs)
        loss, start = self._loss_and_delta(ws, acts, target, fused)
        loss += self._penalty()
        if backward and not (skip_bad and not math.isfinite(loss)):
            self._backward(ws, acts, start, training, fused)
        return loss, acts

    def compute_gradients(self, x: object, y: object) -> float:
        """Forward and backward of the compiled loss on one batch, without
        dropout; fills ``model.grads`` and returns the loss (penalties
        included). Used by gradient checks."""
        self._require_compiled("compute_gradients")
        x_arr, y_arr = self._prepare_xy(x, y, "compute_gradients")
        self._ensure_built(self._sample_shape)
        ws = self._workspace(x_arr.shape[0])
        loss, _ = self._step_loss(ws, x_arr, y_arr, training=False, need_outputs=False,
                                  backward=True)
        return loss

    # ---- validation of user data ------------------------------------------------------------

    def _require_compiled(self, what: str) -> None:
        if not self.compiled or self._loss is None:
            raise RuntimeError(
                f"{what}: the model must be compiled with a loss first, e.g. "
                "model.compile(optimizer='adam', loss='mse')")

    def _ensure_built(self, sample_shape: tuple[int, ...]) -> None:
        if not self.built:
            self.build((None, *sample_shape))

    def _prepare_x(self, x: object, what: str, check_finite: bool = True,
                   convert: bool = True) -> np.ndarray:
        """``x`` as a C-contiguous 2-D array of the model dtype (one cast);
        behind a leading Flatten layer, samples of any shape are flattened.
        The model's expected shape is ``self._sample_shape`` afterwards.
        NaN/inf raise unless check_finite is False (the caller checks).
        With convert=False an x that is already C-contiguous and of a dtype
        the C training loop casts row by row (train_loop.X_TYPES) is returned as
        it is, checked as if converted: fit then needs no converted copy."""
        arr = _as_numeric(x, f"{what}: x")
        flatten = bool(self._layers) and isinstance(self._layers[0], Flatten)
        if flatten and arr.ndim > 2 or (flatten and self._input_shape and len(self._input_shape) > 1):
            if self._input_shape is not None and arr.shape[1:] != self._input_shape:
                raise ValueError(
                    f"{what}: x has samples of shape {arr.shape[1:]} (x shape {arr.shape}) but "
                    f"the model expects {self._input_shape}")
            if arr.shape[0] == 0:
                raise ValueError(f"{what}: x has no samples (shape {arr.shape})")
            self._sample_shape = arr.shape[1:]
            arr = arr.reshape(arr.shape[0], -1)
            return _contiguous_finite(arr, self.dtype, f"{what}: x", check_finite, convert)
        expected = self._dims[0] if self.built else (self._input_shape or (None,))[0]
        if arr.ndim == 1 and expected in (None, 1):
            arr = arr.reshape(-1, 1)  # one feature per sample, as Keras accepts
        if arr.ndim != 2:
            raise ValueError(
                f"{what}: x must be 2-D (samples, features), got shape {arr.shape}"
                + ("; flatten it first, e.g. x.reshape(len(x), -1)" if arr.ndim > 2 else ""))
        if arr.shape[0] == 0:
            raise ValueError(f"{what}: x has no samples (shape {arr.shape})")
        if expected is not None and arr.shape[1] != expected:
            raise ValueError(
                f"{what}: x has {arr.shape[1]} features (shape {arr.shape}) but the model "
                f"expects {expected} (input shape (None, {expected}))")
        out = _contiguous_finite(arr, self.dtype, f"{what}: x", check_finite, convert)
        self._sample_shape = (arr.shape[1],)
        return out

    def _prepare_y(self, y: object, rows: int, units: int, what: str) -> np.ndarray:
        """Targets checked against the loss and the output layer's ``units``:
        int64 labels for sparse losses, else (rows, units) in model dtype."""
        if y is None:
            raise ValueError(f"{what}: y is required")
        arr = _as_numeric(y, f"{what}: y")
        if arr.shape[0:1] != (rows,):
            got = arr.shape[0] if arr.ndim else "a scalar"
            raise ValueError(f"{what}: x has {rows} samples but y has {got} (y shape {arr.shape})")
        _check_finite(arr, f"{what}: y")
        loss = self._loss
        name = loss.name if loss is not None else "the loss"
        if loss is not None and loss.sparse:
            return _sparse_labels(arr, units, name, what)
        if arr.ndim == 1 and units == 1:
            arr = arr.reshape(-1, 1)
        if arr.shape != (rows, units):
            hint = ""
            if arr.ndim == 1 and arr.dtype.kind in "iu" and units > 1:
                hint = ("; these look like integer class labels: use "
                        "loss='sparse_categorical_crossentropy' or one-hot encode them "
                        "(fm.utils.to_categorical)")
            raise ValueError(
                f"{what}: y has shape {arr.shape} but the output layer gives {(rows, units)} "
                f"for {name}{hint}")
        if isinstance(loss, (losses_module.BinaryCrossentropy, losses_module.CategoricalCrossentropy)):
            lo, hi = float(arr.min()), float(arr.max())
            if lo < 0.0 or hi > 1.0:
                raise ValueError(
                    f"{what}: targets for {name} must lie in [0, 1], got values in [{lo}, {hi}]")
        if np.can_cast(arr.dtype, self.dtype, "safe"):  # checked above; nothing can overflow
            return np.ascontiguousarray(arr, dtype=self.dtype)
        return _contiguous_finite(arr, self.dtype, f"{what}: y")

    def _prepare_xy(self, x: object, y: object, what: str,
                    convert: bool = True) -> tuple[np.ndarray, np.ndarray]:
        x_arr = self._prepare_x(x, what, convert=convert)
        units = self._output_dims(x_arr.shape[1])[-1]
        return x_arr, self._prepare_y(y, x_arr.shape[0], units, what)

    # ---- fit ----------------------------------------------------------------------------

    def fit(self, x: object = None, y: object = None, batch_size: Optional[int] = 32,
            epochs: int = 1, verbose: object = 1, validation_split: float = 0.0,
            validation_data: Optional[Sequence[object]] = None, shuffle: bool = True,
            callbacks: Optional[Sequence[object]] = None, initial_epoch: int = 0):
        """Train for ``epochs`` passes over (x, y); return the History.

        As Keras: ``validation_split`` holds out the *last* fraction of the
        samples (before shuffling); ``shuffle`` reorders the training samples
        every epoch (from the model's seeded generator); the last batch may be
        smaller; calling fit again continues training. Everything is checked
        before any weight changes.
        """
        from fastmlp.callbacks import CallbackList

        self._require_compiled("fit")
        batch_size = _check_int("fit", "batch_size", 32 if batch_size is None else batch_size, 1)
        epochs = _check_int("fit", "epochs", epochs, 0)
        initial_epoch = _check_int("fit", "initial_epoch", initial_epoch, 0)
        verbose = _check_verbose("fit", verbose)
        split = _check_split(validation_split)
        if not isinstance(shuffle, (bool, np.bool_)):
            raise TypeError(f"fit: shuffle must be True or False, got {shuffle!r}")
        if x is None:
            raise ValueError("fit: x is required")
        # x stays as given if the C loop can cast its rows (see _train)
        x_arr, y_arr = self._prepare_xy(x, y, "fit", convert=False)
        sample_shape = self._sample_shape
        val = None
        if validation_data is not None:
            val = self._prepare_validation(validation_data)
            if self._sample_shape != sample_shape:  # an unbuilt model has no shape to check
                raise ValueError(
                    f"fit: validation_data x has samples of shape {self._sample_shape} but x "
                    f"has {sample_shape}")
        elif split > 0.0:
            x_arr, y_arr, val = _split_last(x_arr, y_arr, split)  # x_val cast by batch
        cbs = CallbackList(callbacks, model=None, add_history=True, add_progbar=verbose != 0,
                           verbose=verbose, epochs=epochs,
                           steps=-(-x_arr.shape[0] // batch_size),
                           batch_size=batch_size, samples=x_arr.shape[0])

        # Everything is valid: from here on the model may change.
        self._ensure_built(sample_shape)
        self.optimizer.build(self.params.size, self.dtype)
        cbs.set_model(self)
        self.stop_training = False
        self._train(x_arr, y_arr, val, batch_size, epochs, initial_epoch, shuffle, cbs)
        return self.history

    def _prepare_validation(self, data: object) -> tuple[np.ndarray, np.ndarray]:
        if not isinstance(data, (tuple, list)) or len(data) != 2:
            n = len(data) if isinstance(data, (tuple, list)) else type(data).__name__
            raise ValueError(
                f"fit: validation_data must be a tuple (x_val, y_val), got {n}"
                + (" items (sample weights are not supported)" if n == 3 else ""))
        # kept as given when _evaluate_arrays can cast it batch by batch
        return self._prepare_xy(data[0], data[1], "fit: validation_data", convert=False)

    def _train(self, x, y, val, batch_size, epochs, initial_epoch, shuffle, cbs) -> None:
        rows = x.shape[0]
        ws = self._workspace(min(batch_size, rows))
        # The C loop over minibatches when it can train this model exactly
        # as the Python loop would (see train_loop.py). It casts each
        # gathered row of an x of another dtype; the Python loop needs x in
        # the model's dtype (the same values: the cast is elementwise).
        chunked = train_loop.plan(self, cbs)
        if chunked is None:
            x = np.ascontiguousarray(x, dtype=self.dtype)
        cbs.on_train_begin()
        for epoch in range(initial_epoch, epochs):
            cbs.on_epoch_begin(epoch)
            # A fresh permutation per epoch (one allocation per epoch, not per
            # step), so the order depends only on the generator's state:
            # fit(2 epochs) twice equals fit(4 epochs) once.
            order = self._shuffle_rng.permutation(rows) if shuffle else None
            where = f"epoch {epoch + 1}/{epochs}"
            if chunked is not None:
                logs = self._chunked_epoch(chunked, x, y, order, batch_size, cbs, where)
            else:
                logs = self._train_epoch(x, y, order, ws, batch_size, cbs, where)
            if val is not None:
                cbs.on_test_begin()
                scores = self._evaluate_arrays(val[0], val[1], batch_size, cbs)
                cbs.on_test_end(scores)
                logs.update({f"val_{k}": v for k, v in scores.items()})
            cbs.on_epoch_end(epoch, logs)
            if self.stop_training:
                break
        cbs.on_train_end()

    def _train_epoch(self, x, y, order, ws, batch_size, cbs, where) -> dict[str, float]:
        """One pass over (x, y) in ``order``; returns the epoch's mean loss
        and metrics (batch means weighted by batch size, as Keras)."""
        rows = x.shape[0]
        steps = -(-rows // batch_size)
        metrics = self._resolved_metrics()
        sums = dict.fromkeys(["loss"] + [m.name for m in metrics], 0.0)
        seen = 0
        for step in range(steps):
            cbs.on_train_batch_begin(step)
            start, stop = step * batch_size, min(rows, (step + 1) * batch_size)
            xb, yb = _batch(x, y, order, start, stop, ws)
            loss, acts = self._step_loss(ws, xb, yb, training=True,
                                         need_outputs=bool(metrics), backward=True,
                                         skip_bad=True)
            # The loss is known before the update: a bad step is never applied.
            if math.isfinite(loss):
                self.optimizer.apply(self.ops, self.params, self.grads)
            elif not cbs.handles_nan:
                raise _nan_loss_error(loss, where, step, steps, self.params)
            n = stop - start
            seen += n
            sums["loss"] += loss * n
            for m in metrics:
                sums[m.name] += m.value(acts[-1], yb) * n
            cbs.on_train_batch_end(step, {k: v / seen for k, v in sums.items()})
            if self.stop_training:
                break
        return {k: v / max(seen, 1) for k, v in sums.items()}

    def _chunked_epoch(self, chunked, x, y, order, batch_size, cbs, where) -> dict[str, float]:
        """The same epoch as _train_epoch, its steps run by the C loop in
        chunks; the callbacks (history and progress bar only, see
        train_loop.plan) hear of the last step of each chunk."""
        rows = x.shape[0]
        # A batch larger than the data is one step of every row, as in the
        # Python loop; the C loop sizes its buffers by the batch, so a
        # batch_size of 2**31 must not ask for them.
        batch_size = min(batch_size, rows)
        steps = -(-rows // batch_size)
        names = [m.name for m in self._resolved_metrics()]
        sums = dict.fromkeys(["loss"] + names, 0.0)
        seen = 0

        def add_chunk(first: int, count: int, losses, values) -> bool:
            nonlocal seen
            # Whole-chunk array operations: a Python loop over the steps cost
            # ~0.7 us a step, 3% of a small net's step (see _weighted_sum).
            bad = np.flatnonzero(~np.isfinite(losses[:count]))
            if bad.size:
                i = int(bad[0])
                raise _nan_loss_error(float(losses[i]), where, first + i, steps, self.params)
            first_rows = np.arange(first, first + count) * batch_size
            sizes = np.minimum(rows, first_rows + batch_size) - first_rows
            seen += int(sizes.sum())
            sums["loss"] = _weighted_sum(sums["loss"], losses[:count], sizes)
            for k, name in enumerate(names):
                sums[name] = _weighted_sum(sums[name], values[:count, k], sizes)
            cbs.on_train_batch_end(first + count - 1, {k: v / seen for k, v in sums.items()})
            return not self.stop_training

        chunked.epoch(x, y, order, batch_size, steps, add_chunk)
        return {k: v / max(seen, 1) for k, v in sums.items()}

    # ---- evaluate / predict ---------------------------------------------------------------

    def _evaluate_arrays(self, x: np.ndarray, y: np.ndarray, batch_size: int,
                         cbs: Any = None) -> dict[str, float]:
        """Loss and metrics over (x, y) in batches, weighted by batch size."""
        metrics = self._resolved_metrics()
        rows = x.shape[0]
        ws = self._workspace(min(batch_size, rows))
        sums = dict.fromkeys(["loss"] + [m.name for m in metrics], 0.0)
        for step, start in enumerate(range(0, rows, batch_size)):
            stop = min(rows, start + batch_size)
            if cbs is not None:
                cbs.on_test_batch_begin(step)
            # an x kept in another dtype (see evaluate) is cast a batch at a time
            xb = np.asarray(x[start:stop], dtype=self.dtype)
            loss, acts = self._step_loss(ws, xb, y[start:stop], training=False,
                                         need_outputs=bool(metrics), backward=False)
            sums["loss"] += loss * (stop - start)
            for m in metrics:
                sums[m.name] += m.value(acts[-1], y[start:stop]) * (stop - start)
            if cbs is not None:
                cbs.on_test_batch_end(step, {k: v / stop for k, v in sums.items()})
        return {k: float(v) / rows for k, v in sums.items()}

    def evaluate(self, x: object = None, y: object = None, batch_size: Optional[int] = 32,
                 verbose: object = 0, callbacks: Optional[Sequence[object]] = None,
                 return_dict: bool = False):
        """Loss (penalties included) on (x, y), or ``[loss, *metrics]`` when
        metrics were compiled, or a dict with ``return_dict=True``, as Keras."""
        from fastmlp.callbacks import CallbackList

        self._require_compiled("evaluate")
        batch_size = _check_int("evaluate", "batch_size", 32 if batch_size is None else batch_size, 1)
        verbose = _check_verbose("evaluate", verbose)
        # x stays as given if of a dtype cast batch by batch: no copy of all of it
        x_arr, y_arr = self._prepare_xy(x, y, "evaluate", convert=False)
        self._ensure_built(self._sample_shape)  # as Keras, an unbuilt model builds here
        cbs = CallbackList(callbacks, model=self, add_progbar=verbose != 0, verbose=verbose,
                           steps=-(-x_arr.shape[0] // batch_size), batch_size=batch_size,
                           samples=x_arr.shape[0])
        cbs.on_test_begin()
        scores = self._evaluate_arrays(x_arr, y_arr, batch_size, cbs)
        cbs.on_test_end(scores)
        if return_dict:
            return scores
        values = list(scores.values())
        return values[0] if len(values) == 1 else values

    def predict(self, x: object, batch_size: Optional[int] = 32, verbose: object = 0,
                callbacks: Optional[Sequence[object]] = None) -> np.ndarray:
        """Outputs of the model for ``x``, a new (samples, units) array
        computed in batches (no dropout)."""
        from fastmlp.callbacks import CallbackList

        batch_size = _check_int("predict", "batch_size", 32 if batch_size is None else batch_size, 1)
        verbose = _check_verbose("predict", verbose)
        if not self._layers:
            raise RuntimeError(f"predict: model {self.name!r} has no layers")
        in_c = verbose == 0 and not callbacks and train_loop.can_predict(self)
        # The C predict learns from its first-layer sums whether x is finite,
        # which saves a pass over x: x is scanned only if they say it may not
        # be. An unbuilt model scans first, so that a bad x leaves it unbuilt.
        scan_after = in_c and self.built
        # x stays as given if the C predict can cast its rows (as in fit)
        x_arr = self._prepare_x(x, "predict", check_finite=not scan_after, convert=not in_c)
        self._ensure_built(self._sample_shape)  # as Keras, an unbuilt model builds here
        rows = x_arr.shape[0]
        if in_c:
            out, suspect = train_loop.predict(self, x_arr, batch_size)
            if scan_after and suspect and _first_nonfinite(x_arr, self.dtype) is not None:
                self._prepare_x(x, "predict")  # raises, naming x's first NaN/inf
            return out
        cbs = CallbackList(callbacks, model=self, add_progbar=verbose != 0, verbose=verbose,
                           steps=-(-rows // batch_size), batch_size=batch_size, samples=rows)
        result = np.empty((rows, self._dims[-1]), dtype=self.dtype)
        ws = self._workspace(min(batch_size, rows))
        cbs.on_predict_begin()
        for step, start in enumerate(range(0, rows, batch_size)):
            stop = min(rows, start + batch_size)
            cbs.on_predict_batch_begin(step)
            acts = self._forward(ws, x_arr[start:stop], False, fused=None, need_outputs=True)
            result[start:stop] = acts[-1]
            cbs.on_predict_batch_end(step)
        cbs.on_predict_end()
        return result

    def __call__(self, x: object, training: bool = False) -> np.ndarray:
        """``model(x)``: the outputs for x, as predict in one batch."""
        return self.predict(x, batch_size=max(1, len(np.asarray(x))))

    # ---- summary and configuration -----------------------------------------------------

    def summary(self, print_fn: Optional[Callable[[str], Any]] = None) -> None:
        """Print layers, output shapes and parameter counts, as Keras does."""
        (print_fn or print)(_summary_text(self))

    def get_config(self) -> dict:
        """JSON-able description of the architecture (no weights)."""
        return {
            "name": self.name,
            "dtype": self.dtype.name,
            "backend": self.backend,
            "seed": self.seed,
            "layers": [layers_module.serialize(layer) for layer in self._layers],
            "input_shape": None if self._input_shape is None else list(self._input_shape),
        }

    @classmethod
    def from_config(cls, config: dict, *, backend: Optional[str] = None) -> "Sequential":
        """Rebuild a model from :meth:`get_config` (built if it has an input
        shape). ``backend`` overrides the one in the config."""
        if not isinstance(config, dict) or not isinstance(config.get("layers"), list):
            raise ValueError("Sequential.from_config: config must be a dict with a 'layers' list")
        model = cls(backend=backend or config.get("backend", "c"),
                    dtype=config.get("dtype", "float32"), seed=config.get("seed"),
                    name=config.get("name"))
        shape = config.get("input_shape")
        if shape is not None:
            model.add(Input(shape=tuple(shape)))
        for layer_cfg in config["layers"]:
            model.add(layers_module.deserialize(layer_cfg))
        return model

    def get_compile_config(self) -> Optional[dict]:
        """What compile was given, JSON-able, or None if not compiled."""
        if not self.compiled:
            return None
        from fastmlp import optimizers

        loss = self._loss_identifier
        if loss is not None and not isinstance(loss, str):
            loss = losses_module.serialize(self._loss)
        metrics = [m if isinstance(m, str) else metrics_module.serialize(m)
                   for m in self._metric_identifiers]
        return {"optimizer": optimizers.serialize(self.optimizer), "loss": loss, "metrics": metrics}

    def compile_from_config(self, config: dict) -> None:
        """Compile from :meth:`get_compile_config` output."""
        if not isinstance(config, dict):
            raise ValueError("compile_from_config: config must be a dict")
        self.compile(optimizer=config.get("optimizer", "rmsprop"), loss=config.get("loss"),
                     metrics=config.get("metrics"))

    def _generators(self) -> dict[str, np.random.Generator]:
        gens = {"init": self._init_rng, "shuffle": self._shuffle_rng, "dropout": self._dropout_rng}
        for layer in self._layers:
            own = getattr(layer, "_rng", None)
            if own is not None:
                gens[f"layer:{layer.name}"] = own
        return gens

    def get_rng_state(self) -> dict:
        """JSON-able state of the model's random generators (initialisation,
        shuffling, dropout), so a saved model resumes training exactly."""
        return {name: gen.bit_generator.state for name, gen in self._generators().items()}

    def set_rng_state(self, state: dict) -> None:
        """Restore :meth:`get_rng_state` output; checked fully before any
        generator changes."""
        gens = self._generators()
        if not isinstance(state, dict) or set(state) != set(gens):
            got = sorted(state) if isinstance(state, dict) else type(state).__name__
            raise ValueError(f"set_rng_state: expected states for {sorted(gens)}, got {got}")
        fresh = {}
        for name, gen in gens.items():
            trial = np.random.default_rng()
            if not isinstance(state[name], dict) or \
                    state[name].get("bit_generator") != type(gen.bit_generator).__name__:
                raise ValueError(f"set_rng_state: state {name!r} is not a "
                                 f"{type(gen.bit_generator).__name__} state")
            try:
                trial.bit_generator.state = state[name]
            except (TypeError, ValueError, KeyError) as err:
                raise ValueError(f"set_rng_state: invalid state {name!r}: {err}") from None
            fresh[name] = trial.bit_generator.state
        for name, gen in gens.items():
            gen.bit_generator.state = fresh[name]

    def save(self, path: object) -> None:
        """Write the model (architecture, weights, compile state, optimizer
        state) to one file; see fastmlp.io."""
        from fastmlp import io

        io.save_model(self, path)

    def __repr__(self) -> str:
        return f"<Sequential name={self.name!r} layers={len(self._layers)} built={self.built}>"


# ---- helpers ---------------------------------------------------------------------------

def _check_dtype(dtype: object) -> np.dtype:
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = None
    if dt not in _DTYPES:
        raise ValueError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
    return dt


def _sample_shape(input_shape: object) -> tuple[int, ...]:
    """The shape of one sample from Keras's (batch, ...) input shape; a bare
    (features,) or an int is accepted too."""
    if input_shape is None:
        raise ValueError("build: input_shape is required, e.g. (None, 784)")
    if isinstance(input_shape, (int, np.integer)):
        input_shape = (input_shape,)
    try:
        dims = tuple(input_shape)  # type: ignore[arg-type]
    except TypeError:
        raise ValueError(f"build: input_shape must be (None, features), got {input_shape!r}") from None
    if len(dims) >= 2:  # Keras: the first entry is the batch size (usually None)
        dims = dims[1:]
    if not dims or any(isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d < 1
                       for d in dims):
        raise ValueError(f"build: input_shape must be (None, features), got {input_shape!r}")
    return tuple(int(d) for d in dims)


def _check_int(op: str, name: str, value: object, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{op}: {name} must be an integer, got {value!r}")
    if value < low:
        raise ValueError(f"{op}: {name} must be >= {low}, got {value}")
    return int(value)


def _check_verbose(op: str, verbose: object) -> int:
    if verbose == "auto":
        return 1
    if isinstance(verbose, bool) or verbose not in (0, 1, 2):
        raise ValueError(f"{op}: verbose must be 0, 1, 2 or 'auto', got {verbose!r}")
    return int(verbose)


def _check_split(split: object) -> float:
    try:
        value = float(split)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise TypeError(f"fit: validation_split must be a number in [0, 1), got {split!r}") from None
    if not 0.0 <= value < 1.0:
        raise ValueError(f"fit: validation_split must be in [0, 1), got {split!r}")
    return value


def _as_numeric(value: object, what: str) -> np.ndarray:
    try:
        arr = np.asarray(value)
    except (ValueError, TypeError) as exc:
        raise TypeError(f"{what} must be a numeric array: {exc}") from None
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{what} must hold numbers, got dtype {arr.dtype} (shape {arr.shape})")
    if arr.ndim == 0:
        raise ValueError(f"{what} must be an array of samples, got a scalar")
    return arr


def _check_finite(arr: np.ndarray, what: str) -> None:
    """Raise naming the first NaN/inf (in C order) of a float array."""
    where = _first_nonfinite(arr)
    if where is not None:
        raise _nonfinite_error(arr, where, what)


def _nonfinite_error(arr: np.ndarray, where: tuple[int, ...], what: str) -> ValueError:
    return ValueError(f"{what} contains NaN or inf (first at index {where}, value {arr[where]})")


def _first_nonfinite(arr: np.ndarray, as_dtype: Optional[np.dtype] = None
                     ) -> Optional[tuple[int, ...]]:
    """Index of the first NaN/inf of a float array (C order), or None; with
    ``as_dtype``, of its values cast to that dtype (float64 to float32 can
    overflow).

    C-contiguous float32/float64 arrays (the usual x and y) are scanned by one
    C pass: no temporary, threads on large arrays. Any other float array goes
    through NumPy in row blocks, so the temporary stays small (~1 MB) however
    large x is. The first bad index is the same either way."""
    if arr.dtype.kind != "f" or arr.size == 0:
        return None
    narrowing = as_dtype is not None and arr.dtype == np.float64 and as_dtype == np.float32
    if (arr.dtype == np.float32 or arr.dtype == np.float64) and arr.flags.c_contiguous:
        try:
            from fastmlp import _kernels  # loaded on first use, as in train_loop
        except ImportError:  # no compiled extension: the NumPy backend still works
            return _first_nonfinite_numpy(arr, as_dtype if narrowing else None)
        first = _kernels.all_finite(arr.reshape(-1), as_float32=narrowing)
        return None if first < 0 else tuple(int(i) for i in np.unravel_index(first, arr.shape))
    return _first_nonfinite_numpy(arr, as_dtype if narrowing else None)


def _contiguous_finite(arr: np.ndarray, dtype: np.dtype, what: str,
                       check: bool = True, convert: bool = True) -> np.ndarray:
    """``arr`` as a C-contiguous array of ``dtype`` (copied only if needed),
    checked for NaN/inf unless ``check`` is False; with convert=False, arr
    itself if it is C-contiguous and of one of train_loop.X_TYPES.

    The values as ``dtype`` are checked (one fast C pass, whatever the
    input's layout), so a finite value that only overflows in the
    conversion (1e39 as float32) is caught too, with its own message."""
    if not convert and arr.dtype in train_loop.X_TYPES and arr.flags.c_contiguous:
        out = arr
        where = _first_nonfinite(arr, as_dtype=dtype) if check else None
    else:
        with np.errstate(over="ignore"):  # reported below, with the index
            out = np.ascontiguousarray(arr, dtype=dtype)
        where = _first_nonfinite(out) if check else None
    if where is None:
        return out
    if arr.dtype.kind in "fiu" and np.isfinite(arr[where]):
        raise ValueError(f"{what} value {arr[where]} at index {where} overflows {dtype}, "
                         f"the model's dtype")
    raise _nonfinite_error(arr, where, what)


def _first_nonfinite_numpy(arr: np.ndarray, as_dtype: Optional[np.dtype] = None
                           ) -> Optional[tuple[int, ...]]:
    """Index of the first NaN/inf of arr (cast to as_dtype if given), or
    None, scanning blocks of ~1 MB of rows."""
    rows = max(1, (1 << 20) // max(1, arr[0].size))
    for start in range(0, arr.shape[0], rows):
        block = arr[start:start + rows]
        if as_dtype is not None:
            with np.errstate(over="ignore"):  # the overflow is what is looked for
                block = block.astype(as_dtype)
        if not np.isfinite(block).all():
            first = np.argwhere(~np.isfinite(block))[0]
            return (start + int(first[0]), *(int(i) for i in first[1:]))
    return None


def _sparse_labels(arr: np.ndarray, units: int, name: str, what: str) -> np.ndarray:
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise ValueError(
            f"{what}: {name} expects integer class labels of shape ({arr.shape[0]},), got y of "
            f"shape {arr.shape}; for one-hot targets use loss='categorical_crossentropy'")
    if arr.dtype.kind == "f":
        if not np.all(arr == np.round(arr)):
            raise ValueError(f"{what}: {name} expects integer class labels, got non-integer values")
    elif arr.dtype.kind == "b":
        arr = arr.astype(np.int64)
    lo, hi = int(arr.min()), int(arr.max())
    if lo < 0 or hi >= units:
        bad = lo if lo < 0 else hi
        raise ValueError(
            f"{what}: label {bad} is out of range for the output layer's {units} units "
            f"(labels must be 0..{units - 1})")
    return np.ascontiguousarray(arr, dtype=np.int64)


def _split_last(x: np.ndarray, y: np.ndarray, split: float):
    """Keras's validation_split: the last fraction, taken before shuffling."""
    rows = x.shape[0]
    split_at = int(math.floor(rows * (1.0 - split)))
    if split_at == 0 or split_at == rows:
        raise ValueError(
            f"fit: validation_split={split} leaves {split_at} training and {rows - split_at} "
            f"validation samples out of {rows}; both need at least one")
    return x[:split_at], y[:split_at], (x[split_at:], y[split_at:])




def _weighted_sum(start: float, values: np.ndarray, sizes: np.ndarray) -> float:
    """start + values[0] * sizes[0] + values[1] * sizes[1] + ..., added left
    to right as a Python loop would (np.sum would add pairwise and round
    differently; an accumulate is sequential), so the C loop's epoch means
    equal the Python loop's bit for bit."""
    terms = np.empty(values.shape[0] + 1, dtype=np.float64)
    terms[0] = start
    np.multiply(values, sizes, out=terms[1:])
    return float(np.add.accumulate(terms)[-1])


def _nan_loss_error(loss: float, where: str, step: int, steps: int,
                    params: Optional[np.ndarray] = None) -> FloatingPointError:
    # An earlier step with a finite loss can still overflow (a huge gradient
    # or step); then the weights were non-finite before this batch began.
    already = params is not None and not np.isfinite(params).all()
    note = (", but the weights had already become NaN or inf in an earlier step (an update "
            "overflowed)" if already else "")
    return FloatingPointError(
        f"fit: the loss became {loss} at {where}, batch {step + 1}/{steps}; training stopped "
        f"and the weights and optimizer state are as before this batch{note} (lower the "
        "learning rate, scale the inputs, or pass fm.callbacks.TerminateOnNaN())")


def _batch(x: np.ndarray, y: np.ndarray, order: Optional[np.ndarray], start: int, stop: int,
           ws: _Workspace) -> tuple[np.ndarray, np.ndarray]:
    """Rows start:stop of the epoch's order: views when not shuffled, else
    gathered into the workspace's preallocated buffers."""
    if order is None:
        return x[start:stop], y[start:stop]
    n = stop - start
    idx = order[start:stop]
    xb, yb = ws.x[:n], ws.target[:n]
    # mode="clip" lets NumPy write straight into out (indices are valid anyway).
    np.take(x, idx, axis=0, out=xb, mode="clip")
    np.take(y, idx, axis=0, out=yb, mode="clip")
    return xb, yb


def _format_bytes(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.2f} {unit}"
        n /= 1024
    return f"{n:.2f} GB"


def _summary_text(model: Sequential) -> str:
    rows = []
    dims = model._dims if model.built else [None] * (len(model._layers) + 1)
    for i, layer in enumerate(model._layers):
        shape = f"(None, {dims[i + 1]})" if model.built else "?"
        params = f"{layer.count_params():,}" if model.built else "0 (unbuilt)"
        rows.append((f"{layer.name} ({type(layer).__name__})", shape, params))
    head = ("Layer (type)", "Output Shape", "Param #")
    widths = [max(len(r[c]) for r in rows + [head]) + 2 for c in range(3)]
    widths = [max(widths[0], 30), max(widths[1], 22), max(widths[2], 12)]
    line = lambda r: f"{r[0]:<{widths[0]}}{r[1]:<{widths[1]}}{r[2]:>{widths[2]}}"  # noqa: E731
    width = sum(widths)
    out = [f'Model: "{model.name}"', "_" * width, line(head), "=" * width]
    for i, r in enumerate(rows):
        out.append(line(r))
        out.append("_" * width if i < len(rows) - 1 else "=" * width)
    if not rows:
        out.append("=" * width)
    total = int(model.params.size) if model.built else 0
    size = _format_bytes(total * model.dtype.itemsize)
    out += [f" Total params: {total:,} ({size})",
            f" Trainable params: {total:,} ({size})",
            f" Non-trainable params: 0 ({_format_bytes(0)})",
            "_" * width]
    return "\n".join(out)
