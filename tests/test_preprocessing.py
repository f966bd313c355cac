"""Scalers, train_test_split and to_categorical behave like their usual models."""

import json

import numpy as np
import pytest

from fastmlp.preprocessing import (
    MinMaxScaler,
    NotFittedError,
    StandardScaler,
    scaler_from_dict,
    train_test_split,
)
from fastmlp.utils import to_categorical

RNG = np.random.default_rng(0)
X = RNG.normal(5.0, 3.0, size=(200, 4))


def test_standard_scaler_gives_zero_mean_unit_variance():
    s = StandardScaler()
    z = s.fit_transform(X)
    np.testing.assert_allclose(z.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(z.std(axis=0), 1, atol=1e-12)
    np.testing.assert_allclose(s.mean_, X.mean(axis=0))
    np.testing.assert_allclose(s.scale_, X.std(axis=0))
    np.testing.assert_allclose(s.inverse_transform(z), X)


def test_scaler_fitted_on_train_is_applied_unchanged_to_test():
    s = StandardScaler().fit(X[:100])
    np.testing.assert_allclose(s.transform(X[100:]), (X[100:] - X[:100].mean(0)) / X[:100].std(0))


def test_minmax_scaler_maps_to_feature_range():
    s = MinMaxScaler(feature_range=(-1, 2))
    z = s.fit_transform(X)
    np.testing.assert_allclose(z.min(axis=0), -1)
    np.testing.assert_allclose(z.max(axis=0), 2)
    np.testing.assert_allclose(s.inverse_transform(z), X)
    np.testing.assert_allclose(s.data_range_, X.max(0) - X.min(0))


@pytest.mark.parametrize("cls", [StandardScaler, MinMaxScaler])
def test_constant_column_does_not_divide_by_zero(cls):
    x = np.column_stack([np.full(10, 7.0), np.arange(10.0)])
    z = cls().fit_transform(x)
    assert np.all(np.isfinite(z))
    np.testing.assert_array_equal(z[:, 0], 0.0)
    np.testing.assert_allclose(cls().fit(x).inverse_transform(z), x)


@pytest.mark.parametrize("cls", [StandardScaler, MinMaxScaler])
def test_float32_stays_float32(cls):
    z = cls().fit(X).transform(X.astype(np.float32))
    assert z.dtype == np.float32


@pytest.mark.parametrize("cls", [StandardScaler, MinMaxScaler])
@pytest.mark.parametrize("method", ["transform", "inverse_transform"])
def test_unfitted_scaler_raises_not_fitted_error(cls, method):
    with pytest.raises(NotFittedError, match="not fitted yet"):
        getattr(cls(), method)(X)
    assert issubclass(NotFittedError, ValueError) and issubclass(NotFittedError, AttributeError)


@pytest.mark.parametrize("cls", [StandardScaler, MinMaxScaler])
def test_wrong_width_names_both_widths(cls):
    s = cls().fit(X)
    with pytest.raises(ValueError, match="x has 3 features .* fitted on 4"):
        s.transform(X[:, :3])


def test_bad_inputs_are_explained():
    with pytest.raises(ValueError, match="reshape"):
        StandardScaler().fit(np.arange(5.0))
    with pytest.raises(ValueError, match="NaN"):
        StandardScaler().fit(np.array([[1.0], [np.nan]]))
    with pytest.raises(ValueError, match="min < max"):
        MinMaxScaler(feature_range=(1, 1))


@pytest.mark.parametrize("scaler", [StandardScaler(), MinMaxScaler((0, 10)), StandardScaler(with_mean=False)])
def test_scaler_round_trips_through_json(scaler):
    scaler.fit(X)
    again = scaler_from_dict(json.loads(json.dumps(scaler.to_dict())))
    np.testing.assert_allclose(again.transform(X), scaler.transform(X))


def test_train_test_split_partitions_consistently():
    x = np.arange(100).reshape(50, 2)
    y = np.arange(50)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=0.2, seed=1)
    assert len(x_te) == 10 and len(x_tr) == 40
    np.testing.assert_array_equal(x_tr[:, 0] // 2, y_tr)  # rows stay paired
    assert sorted(np.concatenate([y_tr, y_te]).tolist()) == list(range(50))
    again = train_test_split(x, y, test_size=0.2, seed=1)
    np.testing.assert_array_equal(again[3], y_te)


def test_integer_test_size_and_no_shuffle():
    a_tr, a_te = train_test_split(np.arange(10), test_size=3, shuffle=False)
    np.testing.assert_array_equal(a_te, [7, 8, 9])


def test_stratify_keeps_class_shares():
    y = np.repeat([0, 1, 2], [60, 30, 10])
    _, y_te = train_test_split(y, test_size=0.3, seed=0, stratify=y)
    np.testing.assert_array_equal(np.bincount(y_te), [18, 9, 3])
    _, y_te = train_test_split(y, test_size=0.2, seed=0, stratify=to_categorical(y))
    np.testing.assert_array_equal(np.bincount(y_te), [12, 6, 2])  # one-hot labels work too


@pytest.mark.parametrize(
    "args, kwargs, message",
    [((np.arange(5), np.arange(4)), {}, "same length"),
     ((np.arange(5),), {"test_size": 1.5}, "fraction"),
     ((np.arange(5),), {"test_size": 5}, "both must be > 0"),
     ((), {}, "at least one"),
     ((np.arange(4),), {"stratify": np.array([0, 0, 0, 1])}, "only 1 member")],
)
def test_split_errors(args, kwargs, message):
    with pytest.raises(ValueError, match=message):
        train_test_split(*args, **kwargs)


def test_to_categorical_like_keras():
    out = to_categorical([0, 2, 1])
    np.testing.assert_array_equal(out, np.eye(3)[[0, 2, 1]])
    assert out.dtype == np.float32
    assert to_categorical(np.array([[1], [0]]), num_classes=3).shape == (2, 3)
    assert to_categorical(np.zeros((2, 5), dtype=int), 4).shape == (2, 5, 4)
    np.testing.assert_array_equal(to_categorical([1.0, 0.0]), [[0, 1], [1, 0]])


@pytest.mark.parametrize(
    "y, n, message",
    [([0, 3], 3, "num_classes=3"), ([-1, 0], None, ">= 0"), ([0.5], None, "integer"),
     ([0], 0, "positive")],
)
def test_to_categorical_errors(y, n, message):
    with pytest.raises(ValueError, match=message):
        to_categorical(y, n)
