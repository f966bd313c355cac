"""Activations forward and backward, and column sums (the bias gradient),
against direct float64 formulas on both backends.

Tolerances, in units of the dtype's machine epsilon eps:
- identity, relu and the relu backward select or copy values: exact.
- leaky_relu multiplies by the slope once: 2 eps relative.
- sigmoid, tanh and softmax call exp/tanh (correctly rounded to within an
  ulp or two) and a few arithmetic operations, and their outputs are bounded
  by 1: 16 eps absolute + 16 eps relative. The float64 reference uses
  different formulas (1/(1+exp(-x)), exp/sum) on the same input values, so
  this checks the maths, not just the code path.
- backwards: a handful of products of bounded values with grad: 16 eps
  relative to |grad| (softmax: to the row's sum of |grad|, as it subtracts
  the dot product <grad, y>).
- column_sum: rows added in some order; |error| <= rows * eps * sum|x|.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from fastmlp.backends import ACTIVATIONS

SLOPE = 0.2

# shapes: scalar, ones, primes, empty, a 3-D batch (softmax over the last
# axis) and one large enough for the threaded path (>= 512 rows)
SHAPES = [(), (1,), (7,), (1, 1), (13, 127), (0, 5), (5, 0), (2, 3, 7), (600, 257)]


def forward64(act, x):
    """The activations written directly, in float64."""
    x = x.astype(np.float64)
    with np.errstate(over="ignore"):
        if act == "sigmoid":
            return 1.0 / (1.0 + np.exp(-x))
        if act == "tanh":
            return (np.exp(2 * x) - 1) / (np.exp(2 * x) + 1)  # for |x| <= 6 as used here
        if act == "relu":
            return np.where(x > 0, x, 0.0)
        if act == "leaky_relu":
            return np.where(x > 0, x, SLOPE * x)
        if act == "softmax":
            if x.shape[-1] == 0:
                return x
            e = np.exp(x - x.max(axis=-1, keepdims=True))
            return e / e.sum(axis=-1, keepdims=True)
    return x


def backward64(act, grad, y):
    """grad times the derivative, from the output y, in float64."""
    g, y = grad.astype(np.float64), y.astype(np.float64)
    if act == "sigmoid":
        return g * y * (1 - y)
    if act == "tanh":
        return g * (1 - y**2)
    if act == "relu":
        return np.where(y > 0, g, 0.0)
    if act == "leaky_relu":
        return np.where(y > 0, g, SLOPE * g)
    if act == "softmax":
        # the Jacobian diag(y) - y y^T applied row by row
        out = np.empty_like(g)
        for idx in np.ndindex(g.shape[:-1]):
            jac = np.diag(y[idx]) - np.outer(y[idx], y[idx])
            out[idx] = jac.T @ g[idx]
        return out
    return g


def forward_tolerance(act, dtype):
    e = float(np.finfo(dtype).eps)
    if act in ("identity", "relu"):
        return dict(rtol=0, atol=0)
    if act == "leaky_relu":
        return dict(rtol=2 * e, atol=0)
    return dict(rtol=16 * e, atol=16 * e)


def call_forward(backend, act, x, out=None):
    if act == "leaky_relu":
        return getattr(backend, act)(x, SLOPE, out=out)
    return getattr(backend, act)(x, out=out)


def call_backward(backend, act, grad, y, out=None):
    if act == "leaky_relu":
        return backend.leaky_relu_backward(grad, y, SLOPE, out=out)
    return getattr(backend, f"{act}_backward")(grad, y, out=out)


def assert_backward_close(got, act, grad, y):
    expected = backward64(act, grad, y)
    e = float(np.finfo(got.dtype).eps)
    g = np.abs(grad.astype(np.float64))
    scale = g.sum(axis=-1, keepdims=True) if act == "softmax" and g.size else g
    err = np.abs(got - expected)
    assert np.all(err <= 16 * e * scale + 16 * e * np.abs(expected)), np.max(err)


# softmax needs an axis: its 0-d case is in test_bad_input.py
FORWARD_CASES = [(act, shape) for act in ACTIVATIONS for shape in SHAPES
                 if not (act == "softmax" and shape == ())]


@pytest.mark.parametrize("act,shape", FORWARD_CASES, ids=str)
def test_forward_matches_formula(backend, dtype, make, act, shape):
    x = make(shape, dtype, low=-6, high=6)
    y = call_forward(backend, act, x)
    assert y.dtype == dtype and y.shape == x.shape
    np.testing.assert_allclose(y, forward64(act, x), **forward_tolerance(act, dtype))


@pytest.mark.parametrize("act", ACTIVATIONS)
def test_activation_by_name_equals_the_named_function(backend, dtype, make, act):
    x = make((9, 11), dtype, low=-4, high=4)
    by_name = backend.activation(act, x, alpha=SLOPE)
    np.testing.assert_array_equal(by_name, call_forward(backend, act, x))
    g = make((9, 11), dtype)
    np.testing.assert_array_equal(backend.activation_backward(act, g, by_name, alpha=SLOPE),
                                  call_backward(backend, act, g, by_name))


@pytest.mark.parametrize("layout", ["fortran", "strided", "transposed", "reversed"])
@pytest.mark.parametrize("act", ACTIVATIONS)
def test_forward_and_backward_read_non_contiguous_inputs_right(backend, dtype, make, act, layout):
    x = make((13, 7), dtype, layout, low=-3, high=3)
    y = call_forward(backend, act, x)
    np.testing.assert_allclose(y, forward64(act, x), **forward_tolerance(act, dtype))
    g = make((13, 7), dtype, layout)
    y_view = np.asfortranarray(y) if layout == "fortran" else y
    assert_backward_close(call_backward(backend, act, g, y_view), act, g, y)


@pytest.mark.parametrize("act", ACTIVATIONS)
def test_forward_in_place_and_into_a_reused_out(backend, dtype, make, act):
    out = np.empty((6, 10), dtype)
    for _ in range(2):
        x = make((6, 10), dtype, low=-3, high=3)
        assert call_forward(backend, act, x, out=out) is out
        np.testing.assert_allclose(out, forward64(act, x), **forward_tolerance(act, dtype))
    expected = forward64(act, x)
    assert call_forward(backend, act, x, out=x) is x
    np.testing.assert_allclose(x, expected, **forward_tolerance(act, dtype))


@pytest.mark.parametrize("shape", [(1,), (7,), (1, 1), (13, 127), (0, 5), (5, 0), (2, 3, 7),
                                   (600, 257)], ids=str)
@pytest.mark.parametrize("act", ACTIVATIONS)
def test_backward_matches_the_jacobian(backend, dtype, make, act, shape):
    x = make(shape, dtype, low=-3, high=3)
    y = call_forward(backend, act, x)
    g = make(shape, dtype)
    got = call_backward(backend, act, g, y)
    assert got.dtype == dtype and got.shape == shape
    if act == "softmax" and shape == (600, 257):
        return  # the per-row Jacobian reference is slow here; the next test covers it
    assert_backward_close(got, act, g, y)


def test_large_softmax_backward_matches_the_closed_form(backend, dtype, make):
    y = call_forward(backend, "softmax", make((600, 257), dtype, low=-3, high=3))
    g = make((600, 257), dtype)
    g64, y64 = g.astype(np.float64), y.astype(np.float64)
    expected = y64 * (g64 - (g64 * y64).sum(axis=1, keepdims=True))
    e = float(np.finfo(dtype).eps)
    scale = np.abs(g64).sum(axis=1, keepdims=True)
    assert np.all(np.abs(backend.softmax_backward(g, y) - expected) <= 16 * e * scale)


@pytest.mark.parametrize("act", ACTIVATIONS)
def test_backward_in_place_into_grad(backend, dtype, make, act):
    y = call_forward(backend, act, make((5, 8), dtype, low=-3, high=3))
    g = make((5, 8), dtype)
    g0 = g.copy()
    assert call_backward(backend, act, g, y, out=g) is g
    assert_backward_close(g, act, g0, y)


@pytest.mark.parametrize("act", ["sigmoid", "tanh", "softmax", "relu", "leaky_relu"])
def test_huge_inputs_saturate_without_overflow_warnings(backend, dtype, act):
    x = np.array([[-1e4, -100.0, 0.0, 100.0, 1e4]], dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = call_forward(backend, act, x)
    assert np.isfinite(y).all()
    expected = {
        "sigmoid": [0, 0, 0.5, 1, 1],
        "tanh": [-1, -1, 0, 1, 1],
        "softmax": [0, 0, 0, 0, 1],
        "relu": [0, 0, 0, 100, 1e4],
        "leaky_relu": [-SLOPE * 1e4, -SLOPE * 100, 0, 100, 1e4],
    }[act]
    np.testing.assert_allclose(y[0], expected, rtol=1e-6, atol=1e-30)


def test_softmax_of_a_row_of_equal_huge_values_is_uniform(backend, dtype):
    y = backend.softmax(np.full((2, 4), 1e4, dtype))
    np.testing.assert_allclose(y, 0.25, rtol=4 * np.finfo(dtype).eps)


@pytest.mark.parametrize("act", ["sigmoid", "tanh", "relu", "leaky_relu", "softmax"])
def test_nan_propagates_through_activations(backend, dtype, act):
    x = np.array([[1.0, np.nan, -1.0]], dtype)
    y = call_forward(backend, act, x)
    if act == "softmax":
        assert np.isnan(y).all()  # one NaN poisons the row's normaliser
    else:
        assert np.isnan(y[0, 1]) and np.isfinite(y[0, [0, 2]]).all()


def test_derivatives_at_zero_are_the_relu_convention(backend, dtype):
    # relu and leaky_relu backward take the derivative at 0 from the left:
    # y == 0 selects the negative side (0, or alpha).
    y = np.zeros((1, 3), dtype)
    g = np.ones((1, 3), dtype)
    np.testing.assert_array_equal(backend.relu_backward(g, y), 0)
    np.testing.assert_allclose(backend.leaky_relu_backward(g, y, SLOPE), SLOPE)


# ---- column sums -------------------------------------------------------------

@pytest.mark.parametrize("shape", [(1, 1), (7, 13), (127, 1), (0, 5), (5, 0), (600, 300),
                                   (513, 1031)], ids=str)
@pytest.mark.parametrize("layout", ["c", "fortran", "transposed"])
def test_column_sum_matches_sum_over_rows(backend, dtype, make, shape, layout):
    x = make(shape, dtype, layout)
    got = backend.column_sum(x)
    assert got.dtype == dtype and got.shape == (shape[1],)
    x64 = x.astype(np.float64)
    bound = max(shape[0], 1) * float(np.finfo(dtype).eps) * np.abs(x64).sum(axis=0)
    assert np.all(np.abs(got - x64.sum(axis=0)) <= bound)


def test_column_sum_of_no_rows_is_zero_and_out_is_overwritten(backend, dtype, make):
    out = np.full(5, np.nan, dtype)
    assert backend.column_sum(np.empty((0, 5), dtype), out=out) is out
    np.testing.assert_array_equal(out, 0)
    x = make((4, 5), dtype)
    backend.column_sum(x, out=out)
    np.testing.assert_allclose(out, x.astype(np.float64).sum(axis=0),
                               rtol=8 * np.finfo(dtype).eps, atol=8 * np.finfo(dtype).eps)


def test_threads_do_not_change_column_sums_or_activations(c_backend, dtype, make, threads):
    x = make((2000, 700), dtype, low=-3, high=3)
    results = []
    for n in (1, 2):
        with threads(n):
            y = c_backend.softmax(x)
            results.append((c_backend.column_sum(x), y, c_backend.softmax_backward(x, y),
                            c_backend.sigmoid(x)))
    for one, two in zip(*results):
        np.testing.assert_array_equal(one, two)


@pytest.mark.parametrize("op", ["activations", "column_sum"])
def test_c_and_numpy_backends_agree(c_backend, numpy_backend, dtype, make, op):
    x = make((300, 37), dtype, low=-5, high=5)
    e = float(np.finfo(dtype).eps)
    if op == "column_sum":
        np.testing.assert_allclose(c_backend.column_sum(x), numpy_backend.column_sum(x),
                                   rtol=0, atol=300 * e * np.abs(x).sum(axis=0).max())
        return
    g = make((300, 37), dtype)
    for act in ACTIVATIONS:
        yc, yn = call_forward(c_backend, act, x), call_forward(numpy_backend, act, x)
        np.testing.assert_allclose(yc, yn, **forward_tolerance(act, dtype))
        gc = call_backward(c_backend, act, g, yn)
        gn = call_backward(numpy_backend, act, g, yn)
        np.testing.assert_allclose(gc, gn, rtol=16 * e, atol=16 * e * 37)


# widths around the column sums' 16-column blocks and the vectors' 4 and 8
# lanes, a long row, and one large enough for threads
ARCH_SHAPES = [(1, 1), (7, 13), (3, 16), (5, 17), (31, 33), (2, 250), (1, 1000), (600, 257)]
SPECIAL = [np.nan, -np.nan, np.inf, -np.inf, -0.0, 0.0, 1e-40, -1e-40, 100.0, -100.0, 90.0,
           -90.0]


@pytest.mark.parametrize("shape", ARCH_SHAPES, ids=str)
@pytest.mark.parametrize("layout", ["c", "strided"])
def test_every_simd_path_gives_the_generic_bits(c_backend, dtype, make, shape, layout):
    # elementwise_loops.h is compiled once per SIMD path; its wider vectors
    # must not change a bit (no FMA contraction, same order of sums)
    x = make(shape, dtype, layout, low=-6, high=6)
    x.flat[:len(SPECIAL)] = np.array(SPECIAL, dtype)[:x.size]
    g = make(shape, dtype, layout)
    g.flat[:3] = np.array([-np.nan, np.nan, np.nan], dtype)[:g.size]  # NaN times NaN, too

    def run():
        out = []
        for act in ACTIVATIONS:
            y = call_forward(c_backend, act, x)
            out += [y, call_backward(c_backend, act, g, y)]
        return out + [c_backend.column_sum(x), c_backend.column_sum(g)]

    results = {}
    for arch in c_backend.available_archs():
        with c_backend.forced_arch(arch), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # inf - inf in the NumPy checks
            results[arch] = run()
    for arch, got in results.items():
        for i, (a, b) in enumerate(zip(got, results["generic"])):
            assert_same_bits_but_nan(a, b, f"{arch}, result {i}")


def assert_same_bits_but_nan(a, b, what):
    """Equal bit for bit (so -0.0 differs from 0.0), except that a NaN may
    have another sign or payload (elementwise_loops.h says why)."""
    nan = np.isnan(a)
    np.testing.assert_array_equal(nan, np.isnan(b), err_msg=what)
    uint = np.uint32 if a.dtype == np.float32 else np.uint64
    np.testing.assert_array_equal(a.view(uint)[~nan], b.view(uint)[~nan], err_msg=what)


@pytest.mark.parametrize("act", ACTIVATIONS)
@pytest.mark.parametrize("m,n", [(1, 1), (7, 9), (13, 33), (31, 64), (50, 257)])
def test_gemm_write_back_equals_bias_then_activation_bit_for_bit(c_backend, dtype, make, act,
                                                                 m, n):
    # the GEMM adds the bias and applies the activation in one pass per row
    # panel (elementwise_loops.h, bias_act_row): the same operations as the
    # sum, stored, then the activation
    a, b, bias = make((m, 23), dtype), make((23, n), dtype), make((n,), dtype, low=-2, high=2)
    for arch in c_backend.available_archs():
        with c_backend.forced_arch(arch):
            fused = c_backend.gemm(a, b, bias=bias, activation=act, slope=0.1)
            plain = c_backend.gemm(a, b)
            separate = c_backend.activation(act, plain + bias, alpha=0.1)
        assert_same_bits_but_nan(fused, separate, arch)


@pytest.mark.parametrize("shape", [(1, 1), (7, 13), (3, 16), (31, 33), (600, 257), (2048, 200),
                                   (40, 5000)], ids=str)
@pytest.mark.parametrize("layout", ["c", "strided"])
def test_column_sums_add_the_rows_in_order_in_double(c_backend, dtype, make, shape, layout):
    # the C sums each column down the rows in order, in double, from +0.0,
    # whichever of its two loops runs (in cache or not), on every path: the
    # bits of a sequential float64 accumulate rounded to the dtype
    x = make(shape, dtype, layout, low=-1e3, high=1e3)
    x[:, 0] = -0.0  # a column of -0.0 sums to +0.0, as NumPy's sum gives
    start = np.zeros((1, shape[1]))
    expected = np.add.accumulate(np.vstack([start, x.astype(np.float64)]), axis=0)[-1]
    expected = expected.astype(dtype)
    for arch in c_backend.available_archs():
        with c_backend.forced_arch(arch):
            assert_same_bits_but_nan(c_backend.column_sum(x), expected, arch)
