"""The GEMM's fast binding, _kernels.gemm_plain, against the checks it stands in for.

backends.c.gemm hands every call to gemm_plain first; it runs the common
call (checked in C: 0.64 us a public call against 2.8 before) and
declines anything else, which then goes
through _checks.gemm_args and the general binding. It must decline exactly
what the Python fast path (_checks._gemm_args_fast) declines, and also
unaligned arrays (the general binding takes those), and when it runs it must
write what the general path writes, bit for bit, and touch nothing when it
declines.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from fastmlp import _kernels
from fastmlp.backends import ACTIVATIONS as ACT_NAMES
from fastmlp.backends import _checks as chk
from fastmlp.backends import c as c_backend

KEYWORDS = ("out", "trans_a", "trans_b", "alpha", "beta", "bias", "activation", "slope")


def _operands(dtype, m=5, n=3, k=7, trans_a=False, trans_b=False, seed=0):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((k, m) if trans_a else (m, k)).astype(dtype)
    b = rng.standard_normal((n, k) if trans_b else (k, n)).astype(dtype)
    return a, b


def _unaligned(arr: np.ndarray) -> np.ndarray:
    """A C-contiguous copy of arr whose data starts one byte off alignment."""
    raw = np.zeros(arr.nbytes + 1, dtype=np.uint8)
    out = raw[1:].view(arr.dtype).reshape(arr.shape)
    out[...] = arr
    return out


def _readonly(arr: np.ndarray) -> np.ndarray:
    arr = arr.copy()
    arr.flags.writeable = False
    return arr


class _Sub(np.ndarray):
    pass


def _case(label: str | None) -> dict:
    """Fresh arrays for the case named label: gemm's arguments, a and b
    included, as keywords (label None: every case's changes, by label)."""
    f32, f64 = np.float32, np.float64
    a, b = _operands(f32)
    a64, b64 = _operands(f64)
    out = np.zeros((5, 3), f32)
    bias = np.arange(3, dtype=f32)
    ta, tb = _operands(f32, trans_a=True, trans_b=True)
    shared = np.zeros((5, 7), f32)
    changes = {
        "plain": {},
        "float64": dict(a=a64, b=b64, out=np.zeros((5, 3), f64)),
        "transposes": dict(a=ta, b=tb, trans_a=True, trans_b=True),
        "numpy bool flags": dict(a=ta, trans_a=np.bool_(True)),
        "out None": dict(out=None),
        "out None, beta 1": dict(out=None, beta=1.0),
        "bias": dict(bias=bias),
        "every option": dict(alpha=0.5, beta=2, bias=bias, activation="leaky_relu", slope=0.2),
        "activation None": dict(activation=None),
        "softmax": dict(activation="softmax"),
        "int alpha": dict(alpha=3),
        "alpha 2**53": dict(alpha=2**53),
        "alpha 2**53 + 1": dict(alpha=2**53 + 1),
        "bool alpha": dict(alpha=True),
        "numpy float alpha": dict(alpha=np.float32(2.0)),
        "inf beta": dict(beta=float("inf")),
        "nan slope": dict(slope=float("nan")),
        "negative slope": dict(slope=-1.0),
        "string slope": dict(slope="0.1"),
        "unknown activation": dict(activation="gelu"),
        "mixed dtypes": dict(b=b64),
        "float64 out": dict(out=np.zeros((5, 3), f64)),
        "float16": dict(a=a.astype(np.float16), b=b.astype(np.float16), out=None),
        "int a": dict(a=a.astype(np.int32)),
        "big-endian a": dict(a=a.astype(">f4")),
        "object a": dict(a=a.astype(object)),
        "datetime a": dict(a=np.zeros((5, 7), "datetime64[s]")),
        "list a": dict(a=a.tolist()),
        "subclass a": dict(a=a.view(_Sub)),
        "1-D a": dict(a=a.reshape(-1)),
        "3-D b": dict(b=b.reshape(1, 7, 3)),
        "strided a": dict(a=np.repeat(a, 2, axis=1)[:, ::2]),
        "Fortran b": dict(b=np.asfortranarray(b)),
        "unaligned a": dict(a=_unaligned(a)),
        "unaligned out": dict(out=_unaligned(out)),
        "inner mismatch": dict(b=_operands(f32, k=6)[1]),
        "out wrong shape": dict(out=np.zeros((3, 5), f32)),
        "readonly out": dict(out=_readonly(out)),
        "readonly a": dict(a=_readonly(a)),
        "out is a view of a": dict(a=shared, out=shared.reshape(-1)[:15].reshape(5, 3)),
        "bias wrong length": dict(bias=np.arange(4, dtype=f32)),
        "bias 2-D": dict(bias=bias.reshape(1, 3)),
        "bias float64": dict(bias=bias.astype(f64)),
        "bias overlaps out": dict(bias=out[0]),
        "empty m": dict(a=np.zeros((0, 7), f32), out=np.zeros((0, 3), f32)),
        "empty k": dict(a=np.zeros((5, 0), f32), b=np.zeros((0, 3), f32), bias=bias),
    }
    base = dict(a=a, b=b, out=out, trans_a=False, trans_b=False, alpha=1.0, beta=0.0,
                bias=None, activation="identity", slope=0.01)
    return changes if label is None else dict(base, **changes[label])


LABELS = list(_case(None))


def _python_fast_accepts(case: dict) -> bool:
    return chk._gemm_args_fast(case["a"], case["b"], case["out"], case["trans_a"], case["trans_b"],
                               case["alpha"], case["beta"], case["bias"], case["activation"],
                               case["slope"]) is not None


def _plain(case: dict):
    act = case["activation"]
    code = 0 if act is None else ACT_NAMES.index(act) if act in ACT_NAMES else -1
    if code < 0:
        return None
    return _kernels.gemm_plain(case["a"], case["b"], case["out"], case["trans_a"], case["trans_b"],
                               case["alpha"], case["beta"], case["bias"], code, case["slope"])


def _aligned(case: dict) -> bool:
    return all(not isinstance(x, np.ndarray) or x.size == 0 or x.ctypes.data % x.itemsize == 0
               for x in (case["a"], case["b"], case["out"], case["bias"]))


@pytest.mark.parametrize("label", LABELS)
def test_it_runs_exactly_the_calls_the_python_fast_path_takes(label):
    expected = _python_fast_accepts(_case(label)) and _aligned(_case(label))
    case = _case(label)
    before = case["out"].copy() if isinstance(case["out"], np.ndarray) else None
    done = _plain(case)
    assert (done is not None) == expected
    if done is None and before is not None:  # declined: nothing written
        np.testing.assert_array_equal(case["out"], before)


@pytest.mark.parametrize("label", LABELS)
def test_the_public_gemm_gives_the_same_bits_or_error_either_way(label):
    """backends.c.gemm (gemm_plain first) against the full checks and the
    general binding alone."""
    def public(c):
        return c_backend.gemm(c["a"], c["b"], **{k: c[k] for k in KEYWORDS})

    def general(c):
        a, b, out, bias, alpha, beta, act, slope = chk.gemm_args(
            c["a"], c["b"], c["out"], c["trans_a"], c["trans_b"], c["alpha"], c["beta"],
            c["bias"], c["activation"], c["slope"])
        _kernels.gemm(bool(c["trans_a"]), bool(c["trans_b"]), alpha, a, b, beta, out, bias,
                      ACT_NAMES.index(act), slope)
        return out

    outcomes = []
    for run in (public, general):
        c = _case(label)
        try:
            outcomes.append(("ok", np.array(run(c))))
        except Exception as exc:  # noqa: BLE001 - the same error either way is the point
            outcomes.append((type(exc), str(exc)))
    (kind1, got), (kind2, want) = outcomes
    assert kind1 == kind2, outcomes
    if kind1 == "ok":
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)
    else:
        assert got == want


@pytest.mark.parametrize("m,n,k", [(1, 1, 1), (0, 4, 3), (4, 0, 3), (3, 4, 0), (13, 10, 128),
                                   (128, 10, 128), (67, 131, 257)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("trans_a,trans_b", list(itertools.product([False, True], repeat=2)))
def test_it_matches_the_general_binding_on_odd_shapes(m, n, k, dtype, trans_a, trans_b):
    a, b = _operands(dtype, m, n, k, trans_a, trans_b, seed=m + n + k)
    bias = np.linspace(-1, 1, n).astype(dtype)
    for act in (0, 3, 5):
        want = np.full((m, n), 0.5, dtype)
        _kernels.gemm(trans_a, trans_b, 0.5, a, b, 2.0, want, bias, act, 0.01)
        got = np.full((m, n), 0.5, dtype)
        assert _kernels.gemm_plain(a, b, got, trans_a, trans_b, 0.5, 2.0, bias, act, 0.01) is got
        np.testing.assert_array_equal(got, want)
