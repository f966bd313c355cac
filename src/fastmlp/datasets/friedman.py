"""Friedman's #1 regression benchmark (Friedman, 1991).

``y = 10 sin(pi x0 x1) + 20 (x2 - 0.5)^2 + 10 x3 + 5 x4 + noise * N(0, 1)``
with every feature uniform on [0, 1]; features past the fifth are pure
distractors. The noise-free part has variance about 24, so with noise 1.0
the best possible R^2 is about 0.96.
"""

from __future__ import annotations

from typing import Optional

import numpy as np


def friedman1(
    n_samples: int,
    n_features: int = 10,
    noise: float = 1.0,
    seed: Optional[int] = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Generate Friedman #1 data: ``X`` (n_samples, n_features), ``y`` (n_samples,).

    Both are float64. The same ``seed`` gives the same data.
    """
    if isinstance(n_samples, bool) or not isinstance(n_samples, (int, np.integer)) or n_samples < 1:
        raise ValueError(f"friedman1: n_samples must be a positive integer, got {n_samples!r}")
    if isinstance(n_features, bool) or not isinstance(n_features, (int, np.integer)) \
            or n_features < 5:
        raise ValueError(f"friedman1: n_features must be an integer >= 5, got {n_features!r}")
    if not np.isfinite(noise) or noise < 0:
        raise ValueError(f"friedman1: noise must be a finite number >= 0, got {noise!r}")
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.0, 1.0, size=(int(n_samples), int(n_features)))
    y = (
        10.0 * np.sin(np.pi * x[:, 0] * x[:, 1])
        + 20.0 * (x[:, 2] - 0.5) ** 2
        + 10.0 * x[:, 3]
        + 5.0 * x[:, 4]
        + noise * rng.standard_normal(int(n_samples))
    )
    return x, y
