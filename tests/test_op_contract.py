"""Both backends expose the same op contract: the same names, the same call
signatures, new arrays without out=, the out buffer itself with it."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

from fastmlp import backends


def call_signature(fn) -> inspect.Signature:
    """The signature without annotations: what a caller depends on is the
    parameter names, kinds and defaults; annotations are documentation."""
    sig = inspect.signature(fn)
    params = [p.replace(annotation=inspect.Parameter.empty) for p in sig.parameters.values()]
    return sig.replace(parameters=params, return_annotation=inspect.Signature.empty)


def test_get_returns_each_backend_module_named_for_itself():
    for name in backends.NAMES:
        module = backends.get(name)
        assert module.name == name
        assert module.__name__ == f"fastmlp.backends.{name}"


def test_get_rejects_an_unknown_backend_naming_the_choices():
    with pytest.raises(ValueError, match=r"unknown backend 'cuda'.*'c', 'numpy'"):
        backends.get("cuda")


@pytest.mark.parametrize("op", backends.OPS)
def test_every_op_exists_in_both_backends_with_one_signature(op):
    c, ref = backends.get("c"), backends.get("numpy")
    assert callable(getattr(c, op)) and callable(getattr(ref, op))
    assert call_signature(getattr(c, op)) == call_signature(getattr(ref, op))


@pytest.mark.parametrize("op", backends.OPS)
def test_every_op_has_a_docstring(backend, op):
    assert getattr(backend, op).__doc__


def test_ops_list_names_each_activation_forward_and_backward():
    for act in backends.ACTIVATIONS:
        assert act in backends.OPS
        assert f"{act}_backward" in backends.OPS


def test_ops_return_new_arrays_without_out_and_out_itself_with_it(backend):
    x = np.linspace(-2, 2, 12).reshape(3, 4)
    before = x.copy()
    y = backend.relu(x)
    assert y is not x and not np.shares_memory(y, x)
    np.testing.assert_array_equal(x, before)  # the input is not touched
    out = np.empty_like(x)
    assert backend.relu(x, out=out) is out
    assert backend.gemm(x, x.T, out=np.empty((3, 3))).shape == (3, 3)
    loss, grad = backend.mean_squared_error(x, before)
    assert isinstance(loss, float) and grad.shape == x.shape
    g = np.empty_like(x)
    assert backend.mean_squared_error(x, before, grad=g)[1] is g


def test_optimizer_updates_return_none_and_change_params_in_place(backend):
    params = np.ones(5)
    backup = params
    assert backend.sgd_update(params, np.ones(5), learning_rate=0.5) is None
    assert params is backup
    np.testing.assert_array_equal(params, np.full(5, 0.5))
