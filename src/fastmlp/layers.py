"""Layers of a Sequential model: Input, Dense, Activation (and its fixed
forms ReLU, LeakyReLU, Softmax), Dropout, Flatten.

A layer knows its shapes, its configuration and its math; it owns no
buffers. The model allocates every activation and gradient buffer once per
batch size and passes them in (``out`` arrays), and its parameters are views
into the model's one flat parameter buffer, bound by :meth:`Layer.bind`.

Forward and backward use the backend's op contract only::

    Dense forward    y  = act(x @ W + b)             one fused ops.gemm
    Dense backward   dz = act'(.) * dy               through the output y
                     dW = x.T @ dz  (+ penalty grad) ops.gemm(trans_a=True, beta=1)
                     db = sum over rows of dz        ops.column_sum
                     dx = dz @ W.T                   ops.gemm(trans_b=True)
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from types import ModuleType
from typing import Optional, Sequence

import numpy as np

from fastmlp import activations, initializers, regularizers
from fastmlp.activations import LEAKY_RELU_SLOPE

_counters: dict = defaultdict(itertools.count)


def unique_name(prefix: str) -> str:
    """"dense", then "dense_1", "dense_2", ... per process, as Keras names."""
    n = next(_counters[prefix])
    return prefix if n == 0 else f"{prefix}_{n}"


def _shape_tuple(shape: object, what: str) -> tuple[int, ...]:
    """A sample shape as a tuple of positive ints: (features,) or, in front
    of a Flatten layer, any shape such as (28, 28)."""
    if isinstance(shape, (int, np.integer)):
        shape = (int(shape),)
    try:
        dims = tuple(shape)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(f"{what} must be a tuple of ints such as (784,), got {shape!r}") from None
    if not dims or any(isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d < 1
                       for d in dims):
        raise ValueError(f"{what} must be a tuple of positive ints such as (784,), got {shape!r}")
    return tuple(int(d) for d in dims)


class Input:
    """The model's input: ``Input(shape=(features,))``, as ``keras.Input``.

    Also accepts Keras's other spellings, ``batch_shape=(None, features)``
    and the older ``InputLayer(input_shape=(features,))``; ``batch_size`` is
    accepted and ignored (fit's batch_size decides).
    """

    def __init__(self, shape: Optional[Sequence[int]] = None, batch_size: Optional[int] = None,
                 name: Optional[str] = None, *, batch_shape: Optional[Sequence[object]] = None,
                 input_shape: Optional[Sequence[int]] = None) -> None:
        given = [v for v in (shape, batch_shape, input_shape) if v is not None]
        if len(given) != 1:
            raise ValueError("Input needs exactly one of shape=(features,), batch_shape or "
                             f"input_shape; got {len(given)}")
        if batch_shape is not None:
            shape = tuple(batch_shape)[1:]
        elif input_shape is not None:
            shape = input_shape
        self.shape = _shape_tuple(shape, "Input shape")
        self.name = name or unique_name("input_layer")

    def __repr__(self) -> str:
        return f"Input(shape={self.shape})"


InputLayer = Input


class Layer:
    """Base class. ``input_shape=(features,)`` (or ``input_dim``) on the first
    layer gives the model its input shape, as in Keras."""

    prefix = "layer"
    activation = "identity"

    def __init__(self, name: Optional[str] = None, input_shape: Optional[Sequence[int]] = None,
                 input_dim: Optional[int] = None) -> None:
        if name is not None and not isinstance(name, str):
            raise TypeError(f"layer name must be a string, got {type(name).__name__}")
        self.name = name or unique_name(self.prefix)
        self.input_spec: Optional[tuple[int, ...]] = None
        if input_shape is not None:
            self.input_spec = _shape_tuple(input_shape, "input_shape")
        elif input_dim is not None:
            self.input_spec = _shape_tuple((input_dim,), "input_dim")
        self.input_dim: Optional[int] = None  # set when the model is built
        self._owner = None  # the model whose flat buffers hold this layer's weights
        self.units: Optional[int] = None

    # -- shapes and parameters -------------------------------------------------
    def output_dim(self, input_dim: int) -> int:
        """Features out for ``input_dim`` features in."""
        return input_dim

    def param_shapes(self, input_dim: int) -> list[tuple[int, ...]]:
        """Shapes of this layer's parameters, in flat-buffer order."""
        return []

    def bind(self, params: list[np.ndarray], grads: list[np.ndarray]) -> None:
        """Take views into the model's flat parameter and gradient buffers."""

    def initialize(self, rng: np.random.Generator) -> None:
        """Draw starting values into the bound parameter views."""

    def get_weights(self) -> list[np.ndarray]:
        """Copies of this layer's parameters, as Keras's ``layer.get_weights()``."""
        return []

    def set_weights(self, weights: Sequence[object]) -> None:
        """Copy values into this layer's parameters (shapes checked)."""
        if len(weights) != 0:
            raise ValueError(f"layer {self.name!r} has no weights but got {len(weights)} arrays")

    def count_params(self) -> int:
        return sum(int(np.prod(s)) for s in self.param_shapes(self.input_dim or 0))

    # -- math ---------------------------------------------------------------------
    def workspace(self, rows: int, dtype: np.dtype) -> dict:
        """Extra per-batch buffers this layer needs (Dropout: its mask)."""
        return {}

    def forward(self, ops: ModuleType, x: np.ndarray, y: np.ndarray, work: dict,
                training: bool, rng: np.random.Generator) -> np.ndarray:
        """Compute the output into ``y`` (or return another array holding it)."""
        raise NotImplementedError

    def backward(self, ops: ModuleType, x: np.ndarray, y: np.ndarray, dy: np.ndarray,
                 dx: Optional[np.ndarray], work: dict, training: bool) -> None:
        """Fill parameter gradients and, unless ``dx`` is None, d(loss)/d(x).
        ``dy`` may be overwritten."""
        raise NotImplementedError

    # -- configuration ------------------------------------------------------------
    def get_config(self) -> dict:
        cfg: dict = {"name": self.name}
        if self.input_spec is not None:
            cfg["input_shape"] = list(self.input_spec)
        return cfg

    @classmethod
    def from_config(cls, config: dict) -> "Layer":
        return cls(**config)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r}>"


class Dense(Layer):
    """Fully connected layer: ``y = activation(x @ kernel + bias)``.

    ``kernel`` has shape (input features, units), as in Keras.
    """

    prefix = "dense"

    def __init__(self, units: int, activation: object = None, use_bias: bool = True,
                 kernel_initializer: object = "glorot_uniform", bias_initializer: object = "zeros",
                 kernel_regularizer: object = None, *, name: Optional[str] = None,
                 input_shape: Optional[Sequence[int]] = None, input_dim: Optional[int] = None) -> None:
        if isinstance(units, bool) or not isinstance(units, (int, np.integer)) or units < 1:
            raise ValueError(f"Dense units must be a positive integer, got {units!r}")
        super().__init__(name, input_shape, input_dim)
        self.units = int(units)
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.kernel: Optional[np.ndarray] = None
        self.bias: Optional[np.ndarray] = None
        self.kernel_grad: Optional[np.ndarray] = None
        self.bias_grad: Optional[np.ndarray] = None

    def output_dim(self, input_dim: int) -> int:
        return self.units

    def param_shapes(self, input_dim: int) -> list[tuple[int, ...]]:
        shapes = [(input_dim, self.units)]
        if self.use_bias:
            shapes.append((self.units,))
        return shapes

    def bind(self, params, grads):
        self.kernel, self.kernel_grad = params[0], grads[0]
        if self.use_bias:
            self.bias, self.bias_grad = params[1], grads[1]

    def initialize(self, rng):
        self.kernel[...] = self.kernel_initializer(self.kernel.shape, rng, np.float64)
        if self.use_bias:
            self.bias[...] = self.bias_initializer(self.bias.shape, rng, np.float64)

    def get_weights(self):
        if self.kernel is None:
            return []
        return [self.kernel.copy()] + ([self.bias.copy()] if self.use_bias else [])

    def set_weights(self, weights):
        if self.kernel is None:
            raise RuntimeError(f"layer {self.name!r} is not built yet; build the model first")
        targets = [self.kernel] + ([self.bias] if self.use_bias else [])
        if len(weights) != len(targets):
            raise ValueError(
                f"layer {self.name!r} expects {len(targets)} weight arrays, got {len(weights)}"
            )
        arrays = [np.asarray(w) for w in weights]
        for w, t in zip(arrays, targets):
            if w.shape != t.shape:
                raise ValueError(
                    f"layer {self.name!r}: weight of shape {w.shape} does not fit shape {t.shape}"
                )
            if w.dtype.kind not in "fiu" or not np.all(np.isfinite(w)):
                raise ValueError(f"layer {self.name!r}: weights must be finite numbers")
        for w, t in zip(arrays, targets):
            t[...] = w

    def penalty(self, ops: ModuleType) -> float:
        """The kernel regularizer's contribution to the loss (0 without one)."""
        if self.kernel_regularizer is None:
            return 0.0
        return self.kernel_regularizer.penalty(ops, self.kernel)

    def forward(self, ops, x, y, work, training, rng, *, logits=False):
        """``logits=True`` skips the activation (the model applies a fused loss)."""
        ops.gemm(x, self.kernel, out=y, bias=self.bias,
                 activation="identity" if logits else self.activation, slope=LEAKY_RELU_SLOPE)
        return y

    def backward(self, ops, x, y, dy, dx, work, training, *, logits=False):
        """``logits=True``: ``dy`` is already d(loss)/d(pre-activation)."""
        if not logits and self.activation != "identity":
            ops.activation_backward(self.activation, dy, y, out=dy, alpha=LEAKY_RELU_SLOPE)
        beta = 0.0
        if self.kernel_regularizer is not None:
            self.kernel_regularizer.write_gradient(self.kernel, self.kernel_grad)
            beta = 1.0  # the GEMM adds x.T @ dz onto the penalty gradient
        ops.gemm(x, dy, out=self.kernel_grad, trans_a=True, beta=beta)
        if self.use_bias:
            ops.column_sum(dy, out=self.bias_grad)
        if dx is not None:
            ops.gemm(dy, self.kernel, out=dx, trans_b=True)

    def get_config(self):
        cfg = super().get_config()
        cfg.update(
            units=self.units,
            activation=activations.serialize(self.activation),
            use_bias=self.use_bias,
            kernel_initializer=initializers.serialize(self.kernel_initializer),
            bias_initializer=initializers.serialize(self.bias_initializer),
            kernel_regularizer=regularizers.serialize(self.kernel_regularizer),
        )
        return cfg


class Activation(Layer):
    """Applies an activation by name: ``Activation("relu")``."""

    prefix = "activation"
    slope = LEAKY_RELU_SLOPE  # leaky_relu's negative slope

    def __init__(self, activation: object, *, name: Optional[str] = None,
                 input_shape: Optional[Sequence[int]] = None, input_dim: Optional[int] = None) -> None:
        super().__init__(name, input_shape, input_dim)
        self.activation = activations.get(activation)

    def forward(self, ops, x, y, work, training, rng):
        ops.activation(self.activation, x, out=y, alpha=self.slope)
        return y

    def backward(self, ops, x, y, dy, dx, work, training):
        if dx is not None:
            ops.activation_backward(self.activation, dy, y, out=dx, alpha=self.slope)

    def get_config(self):
        cfg = super().get_config()
        cfg["activation"] = activations.serialize(self.activation)
        return cfg


class ReLU(Activation):
    """``keras.layers.ReLU()``: max(x, 0)."""

    prefix = "re_lu"

    def __init__(self, **kwargs) -> None:
        super().__init__("relu", **kwargs)

    def get_config(self):
        cfg = super().get_config()
        del cfg["activation"]
        return cfg


class Softmax(Activation):
    """``keras.layers.Softmax()``: softmax over the features."""

    prefix = "softmax"

    def __init__(self, **kwargs) -> None:
        super().__init__("softmax", **kwargs)

    def get_config(self):
        cfg = super().get_config()
        del cfg["activation"]
        return cfg


class LeakyReLU(Activation):
    """``keras.layers.LeakyReLU(negative_slope=0.3)``: x, or slope * x below 0
    (0.3 is the Keras layer's default; the "leaky_relu" name uses 0.2)."""

    prefix = "leaky_re_lu"

    def __init__(self, negative_slope: float = 0.3, **kwargs) -> None:
        super().__init__("leaky_relu", **kwargs)
        slope = float(negative_slope)
        if not np.isfinite(slope) or slope < 0:
            raise ValueError(f"LeakyReLU negative_slope must be a number >= 0, got {negative_slope!r}")
        self.slope = slope

    def get_config(self):
        cfg = super().get_config()
        del cfg["activation"]
        cfg["negative_slope"] = self.slope
        return cfg


class Flatten(Layer):
    """Flattens each sample to a vector, as ``keras.layers.Flatten``.

    As the first layer it lets the model take samples of any shape, e.g.
    ``Flatten(input_shape=(28, 28))`` for images: the model reshapes x to
    (samples, 784) when it casts it (a view, no copy), so the layer itself
    does no work. Elsewhere every activation is already flat.
    """

    prefix = "flatten"

    def forward(self, ops, x, y, work, training, rng):
        return x

    def backward(self, ops, x, y, dy, dx, work, training):
        if dx is not None:
            np.copyto(dx, dy)


class Dropout(Layer):
    """Inverted dropout: in training, zero each input with probability
    ``rate`` and scale the rest by 1 / (1 - rate); identity otherwise.

    The mask comes from the model's seeded generator (or from the layer's own
    when ``seed`` is given), so a fixed seed gives the same masks every run.
    """

    prefix = "dropout"

    def __init__(self, rate: float, seed: Optional[int] = None, *, name: Optional[str] = None,
                 input_shape: Optional[Sequence[int]] = None, input_dim: Optional[int] = None) -> None:
        try:
            value = float(rate)
        except (TypeError, ValueError):
            raise TypeError(f"Dropout rate must be a number in [0, 1), got {rate!r}") from None
        if not 0.0 <= value < 1.0:
            raise ValueError(f"Dropout rate must be in [0, 1), got {rate!r}")
        super().__init__(name, input_shape, input_dim)
        self.rate = value
        self.seed = seed
        self._rng = None if seed is None else np.random.default_rng(seed)

    def _active(self, training: bool) -> bool:
        return training and self.rate > 0.0

    def workspace(self, rows, dtype):
        shape = (rows, self.input_dim)
        return {"mask": np.empty(shape, dtype=dtype), "keep": np.empty(shape, dtype=bool)}

    def forward(self, ops, x, y, work, training, rng):
        if not self._active(training):
            return x  # identity: pass the input buffer on, no copy
        rows = x.shape[0]
        mask, keep = work["mask"][:rows], work["keep"][:rows]
        (self._rng or rng).random(out=mask, dtype=mask.dtype)
        np.greater_equal(mask, self.rate, out=keep)
        # copyto then scale in place: multiplying the bool array by a float
        # directly would make NumPy allocate a cast buffer of the full size.
        np.copyto(mask, keep)
        np.multiply(mask, 1.0 / (1.0 - self.rate), out=mask)
        np.multiply(x, mask, out=y)
        return y

    def backward(self, ops, x, y, dy, dx, work, training):
        if dx is None:
            return
        if self._active(training):
            np.multiply(dy, work["mask"][: dy.shape[0]], out=dx)
        else:
            np.copyto(dx, dy)

    def get_config(self):
        cfg = super().get_config()
        cfg.update(rate=self.rate, seed=self.seed)
        return cfg


_CLASSES = {cls.__name__: cls
            for cls in (Dense, Activation, ReLU, LeakyReLU, Softmax, Dropout, Flatten)}


def deserialize(config: dict) -> Layer:
    """Rebuild a layer from ``{"class_name", "config"}``."""
    if not isinstance(config, dict) or config.get("class_name") not in _CLASSES:
        raise ValueError(f"unknown layer config {config!r}; expected one of {sorted(_CLASSES)}")
    cfg = dict(config.get("config") or {})
    return _CLASSES[config["class_name"]].from_config(cfg)


def serialize(layer: Layer) -> dict:
    """``{"class_name", "config"}`` for ``layer``."""
    return {"class_name": type(layer).__name__, "config": layer.get_config()}
