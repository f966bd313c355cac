"""Weight initializers with Keras's names, arguments and formulas.

An initializer draws the starting values of a kernel or bias. Draws come from
the model's seeded ``numpy.random.Generator`` (so a fixed model seed gives the
same weights every time), unless the initializer was given its own ``seed``.
Values are drawn in float64 and then rounded to the model's dtype, so float32
and float64 models with one seed start from the same numbers.

Fans follow Keras for a Dense kernel of shape (fan_in, fan_out). The
"normal" variance-scaling initializers draw from a normal truncated at two
standard deviations, with the standard deviation divided by 0.8796 so that
the truncated distribution keeps the intended variance (as Keras does).
"""

from __future__ import annotations

import math
from typing import Optional

import numpy as np

# Standard deviation of a unit normal truncated to [-2, 2].
_TRUNCATED_STD = 0.87962566103423978


def _fans(shape: tuple[int, ...]) -> tuple[int, int]:
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    return shape[0], shape[1]


def _truncated_normal(rng: np.random.Generator, shape: tuple[int, ...], stddev: float) -> np.ndarray:
    """Unit normals redrawn until all lie in [-2, 2], times ``stddev``."""
    values = rng.standard_normal(shape)
    bad = np.abs(values) > 2.0
    while bad.any():
        values[bad] = rng.standard_normal(int(bad.sum()))
        bad = np.abs(values) > 2.0
    return values * stddev


class Initializer:
    """Base class: ``init(shape, rng)`` returns float64 starting values."""

    def __init__(self, seed: Optional[int] = None) -> None:
        self.seed = seed
        self._own_rng = None if seed is None else np.random.default_rng(seed)

    def __call__(self, shape: tuple[int, ...], rng: Optional[np.random.Generator] = None,
                 dtype: object = "float32") -> np.ndarray:
        """Return an array of ``shape`` and ``dtype`` with starting values."""
        if self._own_rng is not None:
            rng = self._own_rng
        elif rng is None:
            rng = np.random.default_rng()
        shape = tuple(int(d) for d in shape)
        return np.asarray(self.sample(shape, rng), dtype=np.float64).astype(dtype)

    def sample(self, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError

    def get_config(self) -> dict:
        """Constructor arguments, JSON-able."""
        return {"seed": self.seed}

    @classmethod
    def from_config(cls, config: dict) -> "Initializer":
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class Zeros(Initializer):
    """All zeros (the default bias initializer)."""

    def sample(self, shape, rng):
        return np.zeros(shape)


class Ones(Initializer):
    """All ones."""

    def sample(self, shape, rng):
        return np.ones(shape)


class Constant(Initializer):
    """Every value ``value`` (Keras default 0.0)."""

    def __init__(self, value: float = 0.0) -> None:
        super().__init__(None)
        self.value = float(value)

    def sample(self, shape, rng):
        return np.full(shape, self.value)

    def get_config(self):
        return {"value": self.value}


class TruncatedNormal(Initializer):
    """Normal with ``mean`` and ``stddev``, redrawn beyond two standard
    deviations (Keras defaults 0.0 and 0.05)."""

    def __init__(self, mean: float = 0.0, stddev: float = 0.05, seed: Optional[int] = None) -> None:
        super().__init__(seed)
        self.mean, self.stddev = float(mean), float(stddev)

    def sample(self, shape, rng):
        return self.mean + _truncated_normal(rng, shape, self.stddev)

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev, "seed": self.seed}


class RandomNormal(Initializer):
    """Normal with ``mean`` and ``stddev`` (Keras defaults 0.0 and 0.05)."""

    def __init__(self, mean: float = 0.0, stddev: float = 0.05, seed: Optional[int] = None) -> None:
        super().__init__(seed)
        self.mean, self.stddev = float(mean), float(stddev)

    def sample(self, shape, rng):
        return rng.normal(self.mean, self.stddev, shape)

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev, "seed": self.seed}


class RandomUniform(Initializer):
    """Uniform on [minval, maxval) (Keras defaults -0.05 and 0.05)."""

    def __init__(self, minval: float = -0.05, maxval: float = 0.05, seed: Optional[int] = None) -> None:
        super().__init__(seed)
        self.minval, self.maxval = float(minval), float(maxval)

    def sample(self, shape, rng):
        return rng.uniform(self.minval, self.maxval, shape)

    def get_config(self):
        return {"minval": self.minval, "maxval": self.maxval, "seed": self.seed}


class _VarianceScaling(Initializer):
    """Variance ``scale / fan`` where fan is fan_in or the mean of both fans."""

    scale = 1.0
    mode = "fan_in"
    distribution = "uniform"

    def sample(self, shape, rng):
        fan_in, fan_out = _fans(shape)
        fan = fan_in if self.mode == "fan_in" else (fan_in + fan_out) / 2.0
        variance = self.scale / max(1.0, fan)
        if self.distribution == "uniform":
            limit = math.sqrt(3.0 * variance)
            return rng.uniform(-limit, limit, shape)
        return _truncated_normal(rng, shape, math.sqrt(variance) / _TRUNCATED_STD)


class GlorotUniform(_VarianceScaling):
    """Xavier uniform: U(-l, l), l = sqrt(6 / (fan_in + fan_out)). Dense default."""

    mode, distribution = "fan_avg", "uniform"


class GlorotNormal(_VarianceScaling):
    """Xavier normal: truncated normal, stddev sqrt(2 / (fan_in + fan_out))."""

    mode, distribution = "fan_avg", "normal"


class HeUniform(_VarianceScaling):
    """He uniform: U(-l, l), l = sqrt(6 / fan_in); suits relu."""

    scale, mode, distribution = 2.0, "fan_in", "uniform"


class HeNormal(_VarianceScaling):
    """He normal: truncated normal, stddev sqrt(2 / fan_in); suits relu."""

    scale, mode, distribution = 2.0, "fan_in", "normal"


class LecunUniform(_VarianceScaling):
    """LeCun uniform: U(-l, l), l = sqrt(3 / fan_in)."""

    scale, mode, distribution = 1.0, "fan_in", "uniform"


class LecunNormal(_VarianceScaling):
    """LeCun normal: truncated normal, stddev sqrt(1 / fan_in)."""

    scale, mode, distribution = 1.0, "fan_in", "normal"


_CLASSES = {
    cls.__name__: cls
    for cls in (Zeros, Ones, Constant, RandomNormal, RandomUniform, TruncatedNormal,
                GlorotUniform, GlorotNormal, HeUniform, HeNormal, LecunUniform, LecunNormal)
}
_NAMES = {
    "zeros": Zeros, "ones": Ones, "constant": Constant, "random_normal": RandomNormal,
    "truncated_normal": TruncatedNormal,
    "random_uniform": RandomUniform, "glorot_uniform": GlorotUniform,
    "glorot_normal": GlorotNormal, "xavier_uniform": GlorotUniform,
    "xavier_normal": GlorotNormal, "he_uniform": HeUniform, "he_normal": HeNormal,
    "lecun_uniform": LecunUniform, "lecun_normal": LecunNormal,
}


def get(identifier: object) -> Initializer:
    """Return an Initializer from a name ("glorot_uniform", "he_normal", ...,
    also the class name), an instance, or a ``{"class_name", "config"}`` dict."""
    if isinstance(identifier, Initializer):
        return identifier
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str):
        cls = _NAMES.get(identifier.lower()) or _CLASSES.get(identifier)
        if cls is None:
            raise ValueError(
                f"unknown initializer {identifier!r}; expected one of {sorted(_NAMES)}"
            )
        return cls()
    raise TypeError(
        f"initializer must be a name, an Initializer or a config dict, got {type(identifier).__name__}"
    )


def serialize(init: Initializer) -> dict:
    """``{"class_name", "config"}`` for ``init``."""
    return {"class_name": type(init).__name__, "config": init.get_config()}


def deserialize(config: dict) -> Initializer:
    """Rebuild an initializer from :func:`serialize` output."""
    cls = _CLASSES.get(config.get("class_name")) if isinstance(config, dict) else None
    if cls is None:
        raise ValueError(f"unknown initializer config {config!r}")
    return cls.from_config(dict(config.get("config") or {}))
