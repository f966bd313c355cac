"""Friedman #1 follows its formula, is reproducible and validates arguments."""

import numpy as np
import pytest

from fastmlp.datasets import friedman1


def formula(x):
    return (10 * np.sin(np.pi * x[:, 0] * x[:, 1]) + 20 * (x[:, 2] - 0.5) ** 2
            + 10 * x[:, 3] + 5 * x[:, 4])


def test_noise_free_targets_follow_the_formula():
    x, y = friedman1(200, n_features=7, noise=0.0, seed=3)
    assert x.shape == (200, 7) and y.shape == (200,)
    assert x.dtype == y.dtype == np.float64
    assert x.min() >= 0 and x.max() < 1
    np.testing.assert_allclose(y, formula(x))


def test_noise_has_the_requested_scale():
    x, y = friedman1(20000, noise=2.0, seed=0)
    resid = y - formula(x)
    assert abs(resid.std() - 2.0) < 0.05
    assert abs(resid.mean()) < 0.05


def test_same_seed_same_data_other_seed_other_data():
    a = friedman1(50, seed=1)
    b = friedman1(50, seed=1)
    c = friedman1(50, seed=2)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])


@pytest.mark.parametrize(
    "args, message",
    [((0,), "n_samples"), ((10, 4), "n_features"), ((10, 10, -1.0), "noise"),
     ((2.5,), "n_samples"), ((10, 10, float("nan")), "noise")],
)
def test_bad_arguments_are_named(args, message):
    with pytest.raises(ValueError, match=message):
        friedman1(*args)
