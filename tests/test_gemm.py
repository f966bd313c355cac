"""gemm against a float64 formula, on both backends, every SIMD path of the C.

Tolerance: a dot product of length k summed in any order in a precision
with unit roundoff u has error at most gamma_k |a||b| (gamma_k ~ k u, Higham,
"Accuracy and Stability of Numerical Algorithms", sec. 3.5). So each entry of
the result may be off by (k + 3) * eps * (|alpha| |op(a)| @ |op(b)| +
|beta c| + |bias|) (eps = 2u; the + 3 covers rounding of alpha, beta and the
bias add). The activation of the epilogue is 1-Lipschitz for every
activation here, and adds its own few-ulp rounding: 8 eps relative plus
8 eps absolute (softmax and sigmoid outputs are probabilities). This bound
holds for any blocking or summation order, so it does not tie the C to one
loop order, yet it catches any real error (a wrong element is off by O(|a||b|)).
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from fastmlp.backends import ACTIVATIONS

TRANSPOSES = [(False, False), (True, False), (False, True), (True, True)]
TRANS_IDS = ["NN", "TN", "NT", "TT"]

# (m, n, k): ones, primes, empty in each dimension, micro-tile edges,
# a square one (where a wrong transpose keeps every shape right) and
# one product large enough for the blocked, threaded path (>= 512).
SHAPES = [
    (1, 1, 1), (1, 7, 13), (13, 1, 7), (7, 13, 127), (127, 13, 7),
    (0, 5, 3), (5, 0, 3), (5, 3, 0), (0, 0, 0), (33, 17, 65), (16, 16, 16),
    (600, 257, 784),
]


def operands(make, m, n, k, dtype, trans_a, trans_b, layout="c"):
    """a and b stored so that op(a) is m x k and op(b) is k x n."""
    a = make((k, m) if trans_a else (m, k), dtype, layout)
    b = make((n, k) if trans_b else (k, n), dtype, layout)
    return a, b


def act64(act: str, x: np.ndarray, slope: float = 0.01) -> np.ndarray:
    """The activations written directly, in float64."""
    with np.errstate(over="ignore"):  # exp(-x) -> inf gives sigmoid 0, correctly
        if act == "sigmoid":
            return 1.0 / (1.0 + np.exp(-x))
        if act == "tanh":
            return np.tanh(x)
        if act == "relu":
            return np.where(x > 0, x, 0.0)
        if act == "leaky_relu":
            return np.where(x > 0, x, slope * x)
        if act == "softmax":
            e = np.exp(x - x.max(axis=-1, keepdims=True))
            return e / e.sum(axis=-1, keepdims=True)
    return x


def reference(a, b, trans_a=False, trans_b=False, alpha=1.0, beta=0.0, c=None,
              bias=None, act="identity", slope=0.01):
    """(expected result, allowed error) per entry, in float64."""
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    opa = a64.T if trans_a else a64
    opb = b64.T if trans_b else b64
    pre = alpha * (opa @ opb)
    size = abs(alpha) * (np.abs(opa) @ np.abs(opb))
    if beta != 0.0:
        pre += beta * c.astype(np.float64)
        size += abs(beta) * np.abs(c.astype(np.float64))
    if bias is not None:
        pre += bias.astype(np.float64)
        size += np.abs(bias.astype(np.float64))
    k = opa.shape[1]
    e = float(np.finfo(a.dtype).eps)
    err = (k + 3) * e * size
    if act == "softmax" and err.size:
        err = np.broadcast_to(err.max(axis=1, keepdims=True), err.shape)
    expected = act64(act, pre, slope)
    return expected, err + 8 * e * np.abs(expected) + 8 * e


def assert_within(got, expected, err):
    assert got.shape == expected.shape
    bad = ~(np.abs(got.astype(np.float64) - expected) <= err)
    assert not bad.any(), (
        f"{bad.sum()} of {bad.size} entries off; worst excess "
        f"{np.max(np.abs(got - expected) - err)}"
    )


@pytest.mark.parametrize("m,n,k", SHAPES)
@pytest.mark.parametrize("trans_a,trans_b", TRANSPOSES, ids=TRANS_IDS)
def test_gemm_equals_matmul_for_every_transpose(backend, dtype, make, m, n, k, trans_a, trans_b):
    a, b = operands(make, m, n, k, dtype, trans_a, trans_b)
    got = backend.gemm(a, b, trans_a=trans_a, trans_b=trans_b)
    assert got.dtype == dtype and got.shape == (m, n) and got.flags.c_contiguous
    assert_within(got, *reference(a, b, trans_a, trans_b))


def test_gemm_of_empty_inner_dimension_is_bias_only(backend, dtype):
    a, b = np.ones((4, 0), dtype), np.ones((0, 3), dtype)
    bias = np.array([1, -2, 3], dtype)
    np.testing.assert_array_equal(backend.gemm(a, b, bias=bias), np.tile(bias, (4, 1)))
    np.testing.assert_array_equal(backend.gemm(a, b, bias=bias, activation="relu"),
                                  np.tile([1, 0, 3], (4, 1)))


@pytest.mark.parametrize("layout", ["fortran", "strided", "transposed", "reversed"])
@pytest.mark.parametrize("trans_a,trans_b", TRANSPOSES, ids=TRANS_IDS)
def test_gemm_reads_non_contiguous_inputs_right(backend, dtype, make, layout, trans_a, trans_b):
    a, b = operands(make, 13, 7, 127, dtype, trans_a, trans_b, layout)
    assert not (a.flags.c_contiguous and b.flags.c_contiguous)
    got = backend.gemm(a, b, trans_a=trans_a, trans_b=trans_b)
    assert_within(got, *reference(a, b, trans_a, trans_b))


def test_gemm_reads_broadcast_views_right(backend, dtype, make):
    # zero strides: every row of a is the same vector, read-only
    row = make((9,), dtype)
    a = np.broadcast_to(row, (4, 9))
    b = make((9, 5), dtype)
    assert_within(backend.gemm(a, b), *reference(np.array(a), b))


@pytest.mark.parametrize("act", ACTIVATIONS)
@pytest.mark.parametrize("trans_a,trans_b", [(False, False), (True, True)], ids=["NN", "TT"])
@pytest.mark.parametrize("m,n,k", [(7, 13, 127), (64, 65, 33), (1, 1, 1)])
def test_gemm_alpha_beta_bias_and_activation_epilogue(backend, dtype, make, act, trans_a,
                                                      trans_b, m, n, k):
    a, b = operands(make, m, n, k, dtype, trans_a, trans_b)
    c0 = make((m, n), dtype)
    bias = make((n,), dtype)
    out = c0.copy()
    got = backend.gemm(a, b, out, trans_a=trans_a, trans_b=trans_b, alpha=0.7, beta=-1.3,
                       bias=bias, activation=act, slope=0.2)
    assert got is out
    assert_within(got, *reference(a, b, trans_a, trans_b, 0.7, -1.3, c0, bias, act, 0.2))


@pytest.mark.parametrize("act", ACTIVATIONS)
def test_fused_epilogue_equals_gemm_then_activation(backend, dtype, make, act):
    a, b, bias = make((31, 67), dtype), make((67, 29), dtype), make((29,), dtype)
    fused = backend.gemm(a, b, bias=bias, activation=act, slope=0.1)
    separate = backend.activation(act, backend.gemm(a, b, bias=bias), alpha=0.1)
    # both are within the reference's bound, so within twice it of each other
    expected, err = reference(a, b, bias=bias, act=act, slope=0.1)
    assert_within(fused, separate.astype(np.float64), 2 * err)
    assert_within(fused, expected, err)


def test_beta_zero_ignores_nan_in_out(backend, dtype, make):
    a, b = make((9, 5), dtype), make((5, 11), dtype)
    out = np.full((9, 11), np.nan, dtype)
    backend.gemm(a, b, out)
    assert_within(out, *reference(a, b))


def test_out_buffer_reused_holds_only_the_latest_product(backend, dtype, make):
    out = np.empty((8, 6), dtype)
    for _ in range(3):
        a, b = make((8, 10), dtype), make((10, 6), dtype)
        assert backend.gemm(a, b, out) is out
        assert_within(out, *reference(a, b))


def test_beta_accumulates_into_out_over_calls(backend, make):
    a, b = make((5, 4), np.float64), make((4, 3), np.float64)
    out = np.zeros((5, 3))
    for _ in range(3):
        backend.gemm(a, b, out, beta=1.0)
    np.testing.assert_allclose(out, 3 * (a @ b), rtol=1e-13, atol=1e-14)


def test_nan_in_a_row_spreads_to_that_output_row_only(backend, dtype, make):
    a, b = make((6, 5), dtype), make((5, 4), dtype)
    a[2, 3] = np.nan
    got = backend.gemm(a, b)
    assert np.isnan(got[2]).all()
    assert np.isfinite(np.delete(got, 2, axis=0)).all()


def test_large_gemm_is_bit_identical_on_one_and_two_threads(c_backend, dtype, make, threads):
    a, b, bias = make((600, 784), dtype), make((784, 257), dtype), make((257,), dtype)
    results = []
    for n in (1, 2):
        with threads(n):
            results.append(c_backend.gemm(a, b, bias=bias, activation="softmax"))
            results.append(c_backend.gemm(b, a, trans_a=True, trans_b=True))
    np.testing.assert_array_equal(results[0], results[2])
    np.testing.assert_array_equal(results[1], results[3])


@pytest.mark.parametrize("trans_a,trans_b", TRANSPOSES, ids=TRANS_IDS)
def test_every_simd_path_computes_every_transpose_and_epilogue(c_backend, dtype, make, trans_a,
                                                               trans_b):
    archs = c_backend.available_archs()
    assert "generic" in archs
    # sizes around and across the micro-tiles (up to 12 x 32) and cache blocks
    for m, n, k in [(1, 1, 1), (5, 3, 2), (13, 33, 9), (31, 47, 300), (97, 61, 513),
                    (130, 259, 7)]:
        a, b = operands(make, m, n, k, dtype, trans_a, trans_b)
        bias = make((n,), dtype)
        for act in ("identity", "relu", "softmax"):
            expected, err = reference(a, b, trans_a, trans_b, bias=bias, act=act)
            for arch in archs:
                with c_backend.forced_arch(arch):
                    got = c_backend.gemm(a, b, trans_a=trans_a, trans_b=trans_b, bias=bias,
                                         activation=act)
                assert_within(got, expected, err)


def test_forced_arch_restores_the_selected_path(c_backend):
    from fastmlp import _kernels

    before = _kernels.selected_arch()
    with c_backend.forced_arch("generic"):
        assert _kernels.selected_arch() == "generic"
    assert _kernels.selected_arch() == before


def test_c_and_numpy_backends_agree_on_a_large_product(c_backend, numpy_backend, dtype, make):
    a, b, bias = make((600, 784), dtype), make((257, 784), dtype), make((257,), dtype)
    c = c_backend.gemm(a, b, trans_b=True, bias=bias, activation="tanh")
    ref = numpy_backend.gemm(a, b, trans_b=True, bias=bias, activation="tanh")
    _, err = reference(a, b, trans_b=True, bias=bias, act="tanh")
    assert_within(c, ref.astype(np.float64), 2 * err)


@pytest.mark.parametrize("shape", [(1000, 10, 300, True, False), (1000, 10, 300, False, False),
                                   (777, 16, 513, True, True), (130, 9, 1000, False, True)])
def test_narrow_and_transposed_gemm_is_identical_on_1_and_2_threads(c_backend, shape):
    """The narrow-output kernels (the 10-class layer) split work differently
    from the wide ones; every split must still give the same bits."""
    import fastmlp

    m, n, k, ta, tb = shape
    rng = np.random.default_rng(7)
    a = rng.standard_normal((k, m) if ta else (m, k)).astype(np.float32)
    b = rng.standard_normal((n, k) if tb else (k, n)).astype(np.float32)
    before = fastmlp.get_num_threads()
    try:
        for arch in c_backend.available_archs():
            results = []
            with c_backend.forced_arch(arch):
                for threads in (1, 2):
                    fastmlp.set_num_threads(threads)
                    results.append(c_backend.gemm(a, b, trans_a=ta, trans_b=tb, activation="relu"))
            np.testing.assert_array_equal(results[0], results[1], err_msg=arch)
    finally:
        fastmlp.set_num_threads(before)


def gemm_call(a, b, out=None, trans_a=False, trans_b=False, alpha=1.0, beta=0.0, bias=None,
              activation="identity", slope=0.01):
    return dict(a=a, b=b, out=out, trans_a=trans_a, trans_b=trans_b, alpha=alpha, beta=beta,
                bias=bias, activation=activation, slope=slope)


def test_gemm_fast_checks_take_common_calls_and_agree_with_the_full_checks(dtype, make):
    # _checks.gemm_args answers common calls on a short path; anything else
    # goes through the full checks, which also give every error message
    from fastmlp.backends import _checks as chk

    a, b, bias, c0 = make((7, 5), dtype), make((5, 3), dtype), make((3,), dtype), make((7, 3), dtype)
    accepted = [gemm_call(a, b), gemm_call(a, b, c0.copy(), alpha=2, beta=-1, bias=bias,
                                          activation="relu", slope=0),
                gemm_call(a.T.copy(), b.T.copy(), trans_a=True, trans_b=True, activation=None),
                gemm_call(a, b, bias=bias, activation="leaky_relu", slope=0.3),
                gemm_call(make((0, 5), dtype), b), gemm_call(a, make((5, 0), dtype)),
                gemm_call(pickle.loads(pickle.dumps(a)), b)]  # an equal, not identical, dtype
    for call in accepted:
        fast = chk._gemm_args_fast(**call)
        assert fast is not None, call
        full = chk.gemm_args(**{**call, "out": None if call["out"] is None else call["out"].copy()})
        for got, want in zip(fast[:2] + fast[3:4], full[:2] + full[3:4]):
            assert got is want  # a, b and bias are used as given
        assert fast[2].shape == full[2].shape and fast[2].dtype == full[2].dtype
        assert fast[2] is call["out"] or call["out"] is None
        assert fast[4:] == full[4:] and [type(v) for v in fast[4:]] == [type(v) for v in full[4:]]
    other = np.float32 if dtype == np.float64 else np.float64
    readonly = c0.copy()
    readonly.flags.writeable = False
    rejected = [gemm_call(a[:, ::2], b[::2]), gemm_call(a.tolist(), b), gemm_call(a, b.astype(other)),
                gemm_call(a.astype(np.float16), b.astype(np.float16)), gemm_call(a, b, alpha=True),
                gemm_call(a, b, alpha=np.float32(1)), gemm_call(a, b, beta=float("nan")),
                gemm_call(a, b, alpha=2**60), gemm_call(a, b, slope=-1.0),
                gemm_call(a, b, activation="gelu"), gemm_call(a, b, activation=["relu"]),
                gemm_call(a, b, beta=1.0), gemm_call(a, b, readonly),
                gemm_call(a, b, c0[:, :2]), gemm_call(a, b, bias=bias.astype(other)),
                gemm_call(a, b, bias=bias[:2]), gemm_call(a, make((4, 3), dtype)),
                gemm_call(a.view(type("Sub", (np.ndarray,), {})), b),
                gemm_call(a.astype(a.dtype.newbyteorder()), b.astype(b.dtype.newbyteorder()))]
    overlap = np.zeros(7 * 5 + 7 * 3, dtype)
    rejected.append(gemm_call(overlap[:35].reshape(7, 5), b, overlap[14:35].reshape(7, 3)))
    for call in rejected:
        assert chk._gemm_args_fast(**call) is None, call
