"""Optimizers with Keras 3's argument names, defaults and update rules.

Each optimizer says only two things: which state arrays ("slots") it keeps
and which fused backend op updates the parameters. The model holds all its
parameters in one flat buffer, so ``apply`` is a single call over every
parameter at once (``ops.adam_update`` etc., see ``fastmlp.backends``).

Names and defaults follow ``keras.optimizers``::

    SGD(learning_rate=0.01, momentum=0.0, nesterov=False)
    Adagrad(learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7)
    RMSprop(learning_rate=0.001, rho=0.9, epsilon=1e-7)
    Adam(learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7)

Every optimizer also takes ``weight_decay`` (default None = off). It is the
*coupled* L2 term of PyTorch's ``weight_decay``: the gradient becomes
``g + weight_decay * w`` before the update, for every parameter (biases
too). Keras 3's ``weight_decay`` is *decoupled* instead
(``w -= learning_rate * weight_decay * w`` beside the update, as AdamW):
for plain SGD the two coincide, for momentum and the adaptive optimizers
they differ, and Keras's form is not provided. On kernels only,
``weight_decay=wd`` equals the regularizer ``fm.regularizers.l2(wd / 2)``
(which adds ``wd * w`` to the gradient) in fastmlp and in Keras alike.

Each class docstring gives the exact formula and where PyTorch's optimizer
of the same name differs. Not supported (Keras has them): learning-rate
schedules, ``clipnorm``/``clipvalue``, EMA, RMSprop's ``momentum`` and
``centered``, Adam's ``amsgrad``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["Optimizer", "SGD", "Adagrad", "RMSprop", "Adam", "get", "serialize", "deserialize"]


def _number(owner: str, name: str, value: object, *, low: float, high: float = math.inf,
            low_open: bool = False, high_open: bool = False) -> float:
    """Return ``value`` as a finite float in the given interval, else raise
    naming the optimizer and the argument."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        hint = ""
        if callable(value):
            hint = " (learning-rate schedules are not supported; pass a number)"
        raise TypeError(f"{owner}: {name} must be a number, got {value!r}{hint}")
    x = float(value)
    too_low = x <= low if low_open else x < low
    too_high = x >= high if high_open else x > high
    if not math.isfinite(x) or too_low or too_high:
        lo = "(" if low_open else "["
        hi = ")" if high_open or high == math.inf else "]"
        raise ValueError(f"{owner}: {name} must be in {lo}{low}, {high}{hi}, got {value!r}")
    return x


class Optimizer:
    """Base class: hyperparameters, slot arrays over the flat parameter
    buffer, the step counter, and (de)serialization.

    Subclasses define ``_slot_init`` (slot name -> initial value) and
    ``_update(ops, params, grads)``, one fused backend call.
    """

    def __init__(self, learning_rate: float, weight_decay: float | None = None,
                 name: str | None = None, **kwargs: Any) -> None:
        _reject_unknown(type(self).__name__, kwargs)
        self.learning_rate = learning_rate
        if weight_decay is not None:
            weight_decay = _number(type(self).__name__, "weight_decay", weight_decay, low=0.0)
        self.weight_decay = weight_decay
        if name is not None and not isinstance(name, str):
            raise TypeError(f"{type(self).__name__}: name must be a string, got {name!r}")
        self.name = name or type(self).__name__.lower()
        self.iterations = 0
        self.built = False
        self._size = 0
        self._dtype: np.dtype | None = None
        self._slots: dict[str, np.ndarray] = {}

    # -- hyperparameters -------------------------------------------------

    @property
    def learning_rate(self) -> float:
        """The step size (>= 0; 0 moves nothing, e.g. the first epoch of a
        warm-up schedule); may be changed between steps (validated)."""
        return self._learning_rate

    @learning_rate.setter
    def learning_rate(self, value: float) -> None:
        self._learning_rate = _number(type(self).__name__, "learning_rate", value, low=0.0)

    def _decay(self) -> float:
        return 0.0 if self.weight_decay is None else self.weight_decay

    # -- state -------------------------------------------------------------

    def _slot_init(self) -> dict[str, float]:
        """Slot name -> initial value of every element (no slots by default)."""
        return {}

    def build(self, size: int, dtype: object) -> None:
        """Allocate the slot arrays for a flat buffer of ``size`` parameters.

        Building again with the same size and dtype keeps the state;
        a different size or dtype starts the state afresh.
        """
        if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 0:
            raise ValueError(f"{type(self).__name__}.build: size must be an integer >= 0, got {size!r}")
        dtype = np.dtype(dtype)
        if dtype not in (np.dtype(np.float32), np.dtype(np.float64)):
            raise TypeError(f"{type(self).__name__}.build: dtype must be float32 or float64, got {dtype}")
        if self.built and self._size == int(size) and self._dtype == dtype:
            return
        self._size, self._dtype = int(size), dtype
        self._slots = {name: np.full(self._size, value, dtype=dtype)
                       for name, value in self._slot_init().items()}
        self.iterations = 0
        self.built = True

    def apply(self, ops: Any, params: np.ndarray, grads: np.ndarray) -> None:
        """Take one step: update ``params`` in place from ``grads``.

        ``params`` and ``grads`` are the model's flat buffers; the optimizer
        is built on first use if needed. ``iterations`` counts the steps
        taken (it is the Adam step ``t`` minus one before the call).
        """
        if not isinstance(params, np.ndarray) or params.ndim != 1:
            raise ValueError(f"{type(self).__name__}.apply: params must be a flat 1-D ndarray, "
                             f"got {getattr(params, 'shape', type(params).__name__)}")
        if not self.built:
            self.build(params.size, params.dtype)
        if params.size != self._size or params.dtype != self._dtype:
            raise ValueError(
                f"{type(self).__name__}.apply: params has {params.size} elements of {params.dtype} "
                f"but the optimizer was built for {self._size} of {self._dtype}")
        self._update(ops, params, grads)
        # Counted after the op succeeded, so a rejected call changes nothing.
        self.iterations += 1

    def _update(self, ops: Any, params: np.ndarray, grads: np.ndarray) -> None:
        raise NotImplementedError

    def variables(self) -> dict[str, np.ndarray]:
        """Copies of the optimizer's state: each slot array, and
        ``"iterations"`` as a 0-d int64 array. Used by save/load."""
        out = {name: arr.copy() for name, arr in self._slots.items()}
        out["iterations"] = np.array(self.iterations, dtype=np.int64)
        return out

    def set_variables(self, variables: dict[str, np.ndarray]) -> None:
        """Restore state saved by ``variables()``.

        The optimizer must be built (the model's ``compile`` does it). Names,
        shapes and dtypes must match exactly; nothing changes on error.
        """
        owner = f"{type(self).__name__}.set_variables"
        if not self.built:
            raise RuntimeError(f"{owner}: build the optimizer first (model.compile does it)")
        if not isinstance(variables, dict):
            raise TypeError(f"{owner}: expected a dict of arrays, got {type(variables).__name__}")
        expected = self.variables()
        if set(variables) != set(expected):
            raise ValueError(f"{owner}: expected variables {sorted(expected)}, got {sorted(variables)}")
        for name, want in expected.items():
            got = np.asarray(variables[name])
            if got.shape != want.shape or got.dtype != want.dtype:
                raise ValueError(f"{owner}: {name!r} has shape {got.shape} and dtype {got.dtype}; "
                                 f"expected shape {want.shape} and dtype {want.dtype}")
        iterations = int(variables["iterations"])
        if iterations < 0:
            raise ValueError(f"{owner}: iterations must be >= 0, got {iterations}")
        for name in self._slots:
            self._slots[name][...] = variables[name]
        self.iterations = iterations

    # -- serialization -----------------------------------------------------

    def get_config(self) -> dict[str, Any]:
        """The constructor arguments as a JSON-able dict (Keras style)."""
        return {"name": self.name, "learning_rate": self.learning_rate,
                "weight_decay": self.weight_decay}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "Optimizer":
        """Create an optimizer from ``get_config()`` output.

        A ``"class_name"`` key, if present, is ignored.
        """
        if not isinstance(config, dict):
            raise TypeError(f"{cls.__name__}.from_config: expected a dict, got {type(config).__name__}")
        return cls(**{k: v for k, v in config.items() if k != "class_name"})

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items() if k != "name")
        return f"{type(self).__name__}({args})"


def _reject_unknown(owner: str, kwargs: dict[str, Any]) -> None:
    if not kwargs:
        return
    if "lr" in kwargs:
        raise TypeError(f"{owner}: 'lr' was renamed; use learning_rate=...")
    raise TypeError(f"{owner}: unsupported argument(s) {sorted(kwargs)} "
                    "(schedules, clipping and EMA are not implemented)")


class SGD(Optimizer):
    """Stochastic gradient descent, optionally with (Nesterov) momentum.

    Keras's rule, with ``g`` the gradient (plus ``weight_decay * w``)::

        momentum == 0:  w = w - lr * g
        otherwise:      v = momentum * v - lr * g          (v starts at 0)
                        w = w + v                           (classic)
                        w = w + momentum * v - lr * g       (nesterov=True)

    PyTorch's ``torch.optim.SGD`` keeps ``b = momentum * b + g`` (no learning
    rate inside, first step ``b = g``) and steps ``w -= lr * b`` (Nesterov:
    ``w -= lr * (g + momentum * b)``). With a constant learning rate and
    ``dampening=0`` this is the same trajectory (``v = -lr * b``); they part
    when the learning rate changes mid-training, since Keras's velocity
    already carries the old rate.
    """

    def __init__(self, learning_rate: float = 0.01, momentum: float = 0.0,
                 nesterov: bool = False, weight_decay: float | None = None,
                 name: str | None = None, **kwargs: Any) -> None:
        super().__init__(learning_rate, weight_decay, name, **kwargs)
        self.momentum = _number("SGD", "momentum", momentum, low=0.0, high=1.0, high_open=True)
        if not isinstance(nesterov, (bool, np.bool_)):
            raise TypeError(f"SGD: nesterov must be True or False, got {nesterov!r}")
        self.nesterov = bool(nesterov)

    def _slot_init(self) -> dict[str, float]:
        return {"velocity": 0.0} if self.momentum > 0 else {}

    def _update(self, ops: Any, params: np.ndarray, grads: np.ndarray) -> None:
        if self.momentum > 0:
            if "velocity" not in self._slots:  # momentum was switched on after build
                self._slots["velocity"] = np.zeros_like(params)
            ops.momentum_update(params, grads, self._slots["velocity"],
                                learning_rate=self.learning_rate, momentum=self.momentum,
                                nesterov=self.nesterov, weight_decay=self._decay())
        else:
            ops.sgd_update(params, grads, learning_rate=self.learning_rate,
                           weight_decay=self._decay())

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}


class Adagrad(Optimizer):
    """Adagrad (Duchi et al., 2011) as Keras 3 computes it::

        acc = acc + g * g                 (acc starts at initial_accumulator_value)
        w   = w - lr * g / sqrt(acc + epsilon)

    PyTorch's ``torch.optim.Adagrad`` differs in three defaults/placements:
    its accumulator starts at 0 (``initial_accumulator_value=0``), its
    epsilon (1e-10) is added *outside* the root, ``g / (sqrt(acc) + eps)``,
    and it has an ``lr_decay`` (default 0). With Keras's 0.1 start the
    first steps are much smaller than PyTorch's ``lr * sign(g)``.
    """

    def __init__(self, learning_rate: float = 0.001, initial_accumulator_value: float = 0.1,
                 epsilon: float = 1e-7, weight_decay: float | None = None,
                 name: str | None = None, **kwargs: Any) -> None:
        super().__init__(learning_rate, weight_decay, name, **kwargs)
        self.initial_accumulator_value = _number("Adagrad", "initial_accumulator_value",
                                                 initial_accumulator_value, low=0.0)
        self.epsilon = _number("Adagrad", "epsilon", epsilon, low=0.0, low_open=True)

    def _slot_init(self) -> dict[str, float]:
        return {"accumulator": self.initial_accumulator_value}

    def _update(self, ops: Any, params: np.ndarray, grads: np.ndarray) -> None:
        ops.adagrad_update(params, grads, self._slots["accumulator"],
                           learning_rate=self.learning_rate, epsilon=self.epsilon,
                           weight_decay=self._decay())

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(),
                "initial_accumulator_value": self.initial_accumulator_value,
                "epsilon": self.epsilon}


class RMSprop(Optimizer):
    """RMSprop (Hinton, 2012) as Keras 3 computes it (uncentered, no momentum)::

        ms = rho * ms + (1 - rho) * g * g          (ms starts at 0)
        w  = w - lr * g / sqrt(ms + epsilon)

    PyTorch's ``torch.optim.RMSprop`` calls ``rho`` ``alpha`` with default
    0.99 (Keras 0.9), defaults ``lr=0.01`` and ``eps=1e-8``, and adds epsilon
    *outside* the root: ``g / (sqrt(ms) + eps)``. Keras's form is gentler on
    the first steps, when ``ms`` is still tiny.
    """

    def __init__(self, learning_rate: float = 0.001, rho: float = 0.9, epsilon: float = 1e-7,
                 weight_decay: float | None = None, name: str | None = None,
                 **kwargs: Any) -> None:
        super().__init__(learning_rate, weight_decay, name, **kwargs)
        self.rho = _number("RMSprop", "rho", rho, low=0.0, high=1.0, high_open=True)
        self.epsilon = _number("RMSprop", "epsilon", epsilon, low=0.0, low_open=True)

    def _slot_init(self) -> dict[str, float]:
        return {"mean_square": 0.0}

    def _update(self, ops: Any, params: np.ndarray, grads: np.ndarray) -> None:
        ops.rmsprop_update(params, grads, self._slots["mean_square"],
                           learning_rate=self.learning_rate, rho=self.rho,
                           epsilon=self.epsilon, weight_decay=self._decay())

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "rho": self.rho, "epsilon": self.epsilon}


class Adam(Optimizer):
    """Adam (Kingma & Ba, 2015) as Keras 3 computes it, step ``t = 1, 2, ...``::

        m = m + (1 - beta_1) * (g - m)              (m, v start at 0)
        v = v + (1 - beta_2) * (g * g - v)
        w = w - lr * sqrt(1 - beta_2**t) / (1 - beta_1**t) * m / (sqrt(v) + epsilon)

    This is the paper's "epsilon hat" form (the formula before its
    Section 2.1). PyTorch's ``torch.optim.Adam`` uses Algorithm 1 instead:
    ``w -= lr / (1 - beta_1**t) * m / (sqrt(v / (1 - beta_2**t)) + eps)``,
    i.e. its epsilon is added to the bias-corrected root. The two agree when
    ``eps_torch = eps_keras * sqrt(1 - beta_2**t)`` at every step, and
    whenever epsilon is negligible beside ``sqrt(v)``. PyTorch's default eps
    is 1e-8 (Keras 1e-7).
    """

    def __init__(self, learning_rate: float = 0.001, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float = 1e-7, weight_decay: float | None = None,
                 name: str | None = None, **kwargs: Any) -> None:
        super().__init__(learning_rate, weight_decay, name, **kwargs)
        self.beta_1 = _number("Adam", "beta_1", beta_1, low=0.0, high=1.0, high_open=True)
        self.beta_2 = _number("Adam", "beta_2", beta_2, low=0.0, high=1.0, high_open=True)
        self.epsilon = _number("Adam", "epsilon", epsilon, low=0.0, low_open=True)

    def _slot_init(self) -> dict[str, float]:
        return {"m": 0.0, "v": 0.0}

    def _update(self, ops: Any, params: np.ndarray, grads: np.ndarray) -> None:
        ops.adam_update(params, grads, self._slots["m"], self._slots["v"],
                        step=self.iterations + 1, learning_rate=self.learning_rate,
                        beta_1=self.beta_1, beta_2=self.beta_2, epsilon=self.epsilon,
                        weight_decay=self._decay())

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2,
                "epsilon": self.epsilon}


_CLASSES: dict[str, type[Optimizer]] = {
    "sgd": SGD,
    "adagrad": Adagrad,
    "rmsprop": RMSprop,
    "adam": Adam,
}


def serialize(optimizer: Optimizer) -> dict[str, Any]:
    """``{"class_name": ..., "config": optimizer.get_config()}``, JSON-able."""
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"serialize: expected an Optimizer, got {type(optimizer).__name__}")
    return {"class_name": type(optimizer).__name__, "config": optimizer.get_config()}


def deserialize(config: dict[str, Any]) -> Optimizer:
    """Inverse of ``serialize``. Also accepts a flat config with a
    ``"class_name"`` key beside the arguments. Only the four built-in
    classes can be named; nothing is imported from the config."""
    if not isinstance(config, dict) or not isinstance(config.get("class_name"), str):
        raise ValueError(f"optimizer config must be a dict with a 'class_name' string, got {config!r}")
    cls = _lookup(config["class_name"])
    args = config.get("config")
    if args is None:
        args = {k: v for k, v in config.items() if k != "class_name"}
    if not isinstance(args, dict):
        raise ValueError(f"optimizer config['config'] must be a dict, got {type(args).__name__}")
    return cls.from_config(args)


def _lookup(name: str) -> type[Optimizer]:
    cls = _CLASSES.get(name.lower())
    if cls is None:
        raise ValueError(f"unknown optimizer {name!r}; expected one of {sorted(_CLASSES)}")
    return cls


def get(identifier: str | Optimizer | dict[str, Any]) -> Optimizer:
    """Resolve what ``compile(optimizer=...)`` accepts.

    A name ("sgd", "adam", "rmsprop", "adagrad", any case) gives a new
    optimizer with Keras's defaults; an ``Optimizer`` is returned as is;
    an ``Optimizer`` subclass is instantiated with its defaults; a config
    dict is deserialized.
    """
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Optimizer):
        return identifier()  # the class itself, e.g. optimizer=fm.optimizers.Adam
    if isinstance(identifier, str):
        return _lookup(identifier)()
    if isinstance(identifier, dict):
        return deserialize(identifier)
    raise ValueError(f"could not interpret optimizer {identifier!r}; pass one of "
                     f"{sorted(_CLASSES)} or an fm.optimizers.Optimizer instance")

