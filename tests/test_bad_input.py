"""Bad input gets a clear TypeError or ValueError that names the argument and
the shapes, the same message from both backends, and never a crash."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import fastmlp

f32, f64 = np.float32, np.float64


def m(*shape, dtype=f64):
    """A small float array of the given shape."""
    return np.arange(int(np.prod(shape)), dtype=dtype).reshape(shape) / 10


def read_only(arr):
    arr.flags.writeable = False
    return arr


ADAM = dict(step=1, learning_rate=0.1, beta_1=0.9, beta_2=0.999, epsilon=1e-7)

# (id, op, positional-args factory, keyword args, exception, message pattern)
CASES = [
    # ---- gemm
    ("gemm-int", "gemm", lambda: (np.ones((2, 2), int), m(2, 2)), {}, TypeError,
     r"gemm: a has dtype int64 \(shape \(2, 2\)\); expected float32 or float64"),
    ("gemm-float16", "gemm", lambda: (m(2, 2), m(2, 2, dtype=np.float16)), {}, TypeError,
     r"gemm: b has dtype float16"),
    ("gemm-mixed", "gemm", lambda: (m(2, 2, dtype=f32), m(2, 2)), {}, TypeError,
     r"gemm: b has dtype float64 but a has float32"),
    ("gemm-inner", "gemm", lambda: (m(3, 4), m(5, 2)), {}, ValueError,
     r"op\(a\) is 3x4 \(a \(3, 4\), trans_a=False\) but op\(b\) is 5x2 "
     r"\(b \(5, 2\), trans_b=False\)"),
    ("gemm-inner-trans", "gemm", lambda: (m(3, 4), m(3, 2)), {"trans_a": True, "trans_b": True},
     ValueError, r"op\(a\) is 4x3 .*trans_a=True.* op\(b\) is 2x3 .*trans_b=True"),
    ("gemm-1d", "gemm", lambda: (m(3), m(3, 2)), {}, ValueError,
     r"gemm: a must be 2-D, got shape \(3,\)"),
    ("gemm-beta-no-out", "gemm", lambda: (m(2, 2), m(2, 2)), {"beta": 1.0}, ValueError,
     r"beta != 0 needs out"),
    ("gemm-bias-shape", "gemm", lambda: (m(2, 3), m(3, 4)), {"bias": m(3)}, ValueError,
     r"bias has shape \(3,\); expected \(4,\)"),
    ("gemm-bias-2d", "gemm", lambda: (m(2, 3), m(3, 4)), {"bias": m(1, 4)}, ValueError,
     r"bias has shape \(1, 4\); expected \(4,\)"),
    ("gemm-bias-dtype", "gemm", lambda: (m(2, 3), m(3, 4)), {"bias": m(4, dtype=f32)},
     TypeError, r"bias has dtype float32 but a has float64"),
    ("gemm-out-shape", "gemm", lambda: (m(3, 2), m(2, 2), m(2, 2)), {}, ValueError,
     r"gemm: out has shape \(2, 2\); expected \(3, 2\)"),
    ("gemm-out-dtype", "gemm", lambda: (m(2, 2), m(2, 2), m(2, 2, dtype=f32)), {}, TypeError,
     r"gemm: out has dtype float32; expected float64"),
    ("gemm-out-strided", "gemm", lambda: (m(2, 2), m(2, 2), m(2, 4)[:, ::2]), {}, ValueError,
     r"gemm: out must be C-contiguous"),
    ("gemm-out-fortran", "gemm", lambda: (m(2, 3), m(3, 2), np.asfortranarray(m(2, 2))), {},
     ValueError, r"gemm: out must be C-contiguous"),
    ("gemm-out-read-only", "gemm", lambda: (m(2, 2), m(2, 2), read_only(m(2, 2))), {},
     ValueError, r"gemm: out is read-only"),
    ("gemm-out-list", "gemm", lambda: (m(2, 2), m(2, 2), [[0.0, 0.0], [0.0, 0.0]]), {},
     TypeError, r"gemm: out must be a numpy.ndarray, got list"),
    ("gemm-out-is-a", "gemm", lambda: (lambda a: (a, m(2, 2), a))(m(2, 2)), {}, ValueError,
     r"gemm: out must not share memory with a"),
    ("gemm-activation", "gemm", lambda: (m(2, 2), m(2, 2)), {"activation": "gelu"},
     ValueError, r"unknown activation 'gelu'; expected one of"),
    ("gemm-slope", "gemm", lambda: (m(2, 2), m(2, 2)), {"slope": -0.1}, ValueError,
     r"gemm: slope must be >= 0"),
    ("gemm-alpha-nan", "gemm", lambda: (m(2, 2), m(2, 2)), {"alpha": float("nan")},
     ValueError, r"gemm: alpha must be finite, got nan"),
    ("gemm-alpha-str", "gemm", lambda: (m(2, 2), m(2, 2)), {"alpha": "big"}, TypeError,
     r"gemm: alpha must be a number, got 'big'"),
    # ---- activations
    ("relu-int", "relu", lambda: (np.ones(3, int),), {}, TypeError,
     r"relu: x has dtype int64 \(shape \(3,\)\)"),
    ("sigmoid-bool", "sigmoid", lambda: (np.ones(3, bool),), {}, TypeError,
     r"sigmoid: x has dtype bool"),
    ("tanh-object", "tanh", lambda: (np.array(["a"], object),), {}, TypeError,
     r"tanh: x has dtype object"),
    ("softmax-0d", "softmax", lambda: (np.float64(1.0),), {}, ValueError,
     r"softmax: x must have at least 1 dimension"),
    ("leaky-alpha", "leaky_relu", lambda: (m(3),), {"alpha": -1.0}, ValueError,
     r"leaky_relu: alpha must be >= 0"),
    ("leaky-alpha-nan", "leaky_relu", lambda: (m(3),), {"alpha": float("nan")}, ValueError,
     r"leaky_relu: alpha must be finite"),
    ("relu-out-shape", "relu", lambda: (m(2, 3), m(3, 2)), {}, ValueError,
     r"relu: out has shape \(3, 2\); expected \(2, 3\)"),
    ("relu-out-read-only", "relu", lambda: (m(4), read_only(m(4))), {}, ValueError,
     r"relu: out is read-only"),
    ("sigmoid-out-dtype", "sigmoid", lambda: (m(4), m(4, dtype=f32)), {}, TypeError,
     r"sigmoid: out has dtype float32; expected float64"),
    ("activation-name", "activation", lambda: ("swish", m(3)), {}, ValueError,
     r"activation: unknown activation 'swish'"),
    ("backward-shapes", "tanh_backward", lambda: (m(2, 3), m(3, 2)), {}, ValueError,
     r"tanh_backward: grad has shape \(2, 3\) but y has shape \(3, 2\)"),
    ("backward-mixed", "sigmoid_backward", lambda: (m(3), m(3, dtype=f32)), {}, TypeError,
     r"sigmoid_backward: y has dtype float32 but grad has float64"),
    ("backward-out-is-y", "softmax_backward", lambda: (lambda y: (m(2, 3), y, y))(m(2, 3)), {},
     ValueError, r"softmax_backward: out must not share memory with y"),
    ("backward-name", "activation_backward", lambda: ("gelu", m(3), m(3)), {}, ValueError,
     r"unknown activation 'gelu'"),
    # ---- column sums
    ("column-sum-1d", "column_sum", lambda: (m(5),), {}, ValueError,
     r"column_sum: x must be 2-D, got shape \(5,\)"),
    ("column-sum-out", "column_sum", lambda: (m(3, 4), m(3)), {}, ValueError,
     r"column_sum: out has shape \(3,\); expected \(4,\)"),
    # ---- losses
    ("xent-shapes", "softmax_cross_entropy", lambda: (m(4, 3), m(4, 2)), {}, ValueError,
     r"softmax_cross_entropy: logits has shape \(4, 3\) but target has shape \(4, 2\)"),
    ("xent-1d", "softmax_cross_entropy", lambda: (m(3), m(3)), {}, ValueError,
     r"softmax_cross_entropy: logits must be 2-D, got shape \(3,\)"),
    ("xent-empty", "softmax_cross_entropy", lambda: (m(0, 3), m(0, 3)), {}, ValueError,
     r"logits is empty \(shape \(0, 3\)\)"),
    ("xent-int-target", "softmax_cross_entropy", lambda: (m(2, 2), np.eye(2, dtype=int)), {},
     TypeError, r"target has dtype int64"),
    ("xent-grad-is-logits", "softmax_cross_entropy",
     lambda: (lambda z: (z, m(2, 3), z))(m(2, 3)), {}, ValueError,
     r"must not share memory with logits"),
    ("sparse-range", "sparse_softmax_cross_entropy", lambda: (m(3, 3), [0, 3, 1]), {},
     ValueError, r"label 3 is out of range for 3 classes \(expected 0..2\)"),
    ("sparse-negative", "sparse_softmax_cross_entropy", lambda: (m(3, 3), [0, -1, 1]), {},
     ValueError, r"label -1 is out of range"),
    ("sparse-float", "sparse_softmax_cross_entropy", lambda: (m(2, 3), [0.5, 1.0]), {},
     TypeError, r"labels must be integers, got dtype float64 \(shape \(2,\)\)"),
    ("sparse-nan-label", "sparse_softmax_cross_entropy", lambda: (m(2, 3), [np.nan, 1.0]), {},
     TypeError, r"labels must be integers"),
    ("sparse-bool", "sparse_softmax_cross_entropy", lambda: (m(2, 3), [True, False]), {},
     TypeError, r"labels must be integers, got dtype bool"),
    ("sparse-length", "sparse_softmax_cross_entropy", lambda: (m(3, 3), [0, 1]), {},
     ValueError, r"labels has shape \(2,\); expected \(3,\)"),
    ("sparse-grad-shape", "sparse_softmax_cross_entropy", lambda: (m(2, 3), [0, 1], m(3, 2)),
     {}, ValueError, r"grad has shape \(3, 2\); expected \(2, 3\)"),
    ("bce-shapes", "sigmoid_binary_cross_entropy", lambda: (m(4), m(5)), {}, ValueError,
     r"logits has shape \(4,\) but target has shape \(5,\)"),
    ("mse-mixed", "mean_squared_error", lambda: (m(4, dtype=f32), m(4)), {}, TypeError,
     r"mean_squared_error: target has dtype float64 but y has float32"),
    ("mae-empty", "mean_absolute_error", lambda: (m(0), m(0)), {}, ValueError,
     r"mean_absolute_error: y is empty"),
    ("mse-grad-read-only", "mean_squared_error", lambda: (m(3), m(3), read_only(m(3))), {},
     ValueError, r"grad is read-only"),
    ("sse-3d", "sum_squared_error", lambda: (m(2, 2, 2), m(2, 2, 2)), {}, ValueError,
     r"sum_squared_error: y must be 2-D, got shape \(2, 2, 2\)"),
    # ---- optimizers
    ("sgd-list", "sgd_update", lambda: ([1.0, 2.0], m(2)), {"learning_rate": 0.1}, TypeError,
     r"sgd_update: params must be a numpy.ndarray, got list"),
    ("sgd-int", "sgd_update", lambda: (np.ones(3, int), m(3)), {"learning_rate": 0.1},
     TypeError, r"sgd_update: params has dtype int64"),
    ("sgd-2d", "sgd_update", lambda: (m(2, 3), m(6)), {"learning_rate": 0.1}, ValueError,
     r"sgd_update: params has shape \(2, 3\); expected \(6,\)"),
    ("sgd-read-only", "sgd_update", lambda: (read_only(m(3)), m(3)), {"learning_rate": 0.1},
     ValueError, r"sgd_update: params is read-only"),
    ("sgd-strided", "sgd_update", lambda: (m(6)[::2], m(3)), {"learning_rate": 0.1},
     ValueError, r"sgd_update: params must be C-contiguous"),
    ("sgd-grads-size", "sgd_update", lambda: (m(5), m(4)), {"learning_rate": 0.1}, ValueError,
     r"sgd_update: grads has shape \(4,\); expected \(5,\)"),
    ("sgd-grads-dtype", "sgd_update", lambda: (m(3), m(3, dtype=f32)), {"learning_rate": 0.1},
     TypeError, r"grads has dtype float32 but params has float64"),
    ("sgd-lr-nan", "sgd_update", lambda: (m(3), m(3)), {"learning_rate": float("nan")},
     ValueError, r"sgd_update: learning_rate must be finite, got nan"),
    ("sgd-lr-negative", "sgd_update", lambda: (m(3), m(3)), {"learning_rate": -1.0},
     ValueError, r"sgd_update: learning_rate must be >= 0"),
    ("sgd-wd-inf", "sgd_update", lambda: (m(3), m(3)),
     {"learning_rate": 0.1, "weight_decay": float("inf")}, ValueError,
     r"weight_decay must be finite"),
    ("momentum-negative", "momentum_update", lambda: (m(3), m(3), m(3)),
     {"learning_rate": 0.1, "momentum": -0.5}, ValueError, r"momentum must be >= 0"),
    ("momentum-velocity-size", "momentum_update", lambda: (m(3), m(3), m(4)),
     {"learning_rate": 0.1, "momentum": 0.9}, ValueError,
     r"velocity has shape \(4,\); expected \(3,\)"),
    ("adagrad-eps-negative", "adagrad_update", lambda: (m(3), m(3), m(3)),
     {"learning_rate": 0.1, "epsilon": -1e-7}, ValueError, r"epsilon must be >= 0"),
    ("adagrad-acc-dtype", "adagrad_update", lambda: (m(3), m(3), m(3, dtype=f32)),
     {"learning_rate": 0.1, "epsilon": 1e-7}, TypeError, r"accumulator has dtype float32"),
    ("rmsprop-rho-one", "rmsprop_update", lambda: (m(3), m(3), m(3)),
     {"learning_rate": 0.1, "rho": 1.0, "epsilon": 1e-7}, ValueError, r"rho must be < 1"),
    ("rmsprop-rho-nan", "rmsprop_update", lambda: (m(3), m(3), m(3)),
     {"learning_rate": 0.1, "rho": float("nan"), "epsilon": 1e-7}, ValueError,
     r"rho must be finite"),
    ("adam-beta-one", "adam_update", lambda: (m(3), m(3), m(3), m(3)),
     {**ADAM, "beta_1": 1.0}, ValueError, r"adam_update: beta_1 must be < 1"),
    ("adam-beta2-negative", "adam_update", lambda: (m(3), m(3), m(3), m(3)),
     {**ADAM, "beta_2": -0.1}, ValueError, r"beta_2 must be >= 0"),
    ("adam-step-zero", "adam_update", lambda: (m(3), m(3), m(3), m(3)), {**ADAM, "step": 0},
     ValueError, r"adam_update: step must be >= 1, got 0"),
    ("adam-step-float", "adam_update", lambda: (m(3), m(3), m(3), m(3)), {**ADAM, "step": 1.5},
     TypeError, r"step must be an integer >= 1, got 1.5"),
    ("adam-m-is-v", "adam_update", lambda: (lambda s: (m(3), m(3), s, s))(m(3)), ADAM,
     ValueError, r"adam_update: m must not share memory with v"),
    ("adam-v-read-only", "adam_update", lambda: (m(3), m(3), m(3), read_only(m(3))), ADAM,
     ValueError, r"v is read-only"),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input_raises_a_clear_error(backend, case):
    _, op, args, kwargs, exc, pattern = case
    with pytest.raises(exc, match=pattern):
        getattr(backend, op)(*args(), **kwargs)


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_both_backends_fail_with_the_same_message(case, c_backend, numpy_backend):
    _, op, args, kwargs, exc, _ = case
    messages = []
    for backend in (c_backend, numpy_backend):
        with pytest.raises(exc) as info:
            getattr(backend, op)(*args(), **kwargs)
        messages.append(str(info.value))
    assert messages[0] == messages[1]


def test_failed_calls_leave_out_and_params_untouched(backend):
    out = np.full((2, 2), 7.0)
    with pytest.raises(ValueError):
        backend.gemm(m(2, 3), m(2, 2), out)
    np.testing.assert_array_equal(out, 7.0)
    params = m(3)
    with pytest.raises(ValueError):
        backend.adam_update(params, m(3), m(3), m(3), **{**ADAM, "beta_1": 2.0})
    np.testing.assert_array_equal(params, m(3))


# A battery run in a child process: a crash (segfault, abort) would kill the
# child, not pytest, and show up as a non-zero exit status.
BATTERY = textwrap.dedent("""
    import sys, warnings
    import numpy as np
    from fastmlp import backends
    sys.path.insert(0, sys.argv[2])
    from test_bad_input import CASES, ADAM

    warnings.simplefilter("ignore")  # NaN data may warn in NumPy; it must not crash
    be = backends.get(sys.argv[1])
    caught = 0
    for _, op, args, kwargs, exc, _ in CASES:
        try:
            getattr(be, op)(*args(), **kwargs)
        except (TypeError, ValueError):
            caught += 1
    nan = np.full((37, 19), np.nan)
    inf = np.full((37, 19), np.inf)
    for dtype in (np.float32, np.float64):
        for bad in (nan.astype(dtype), inf.astype(dtype), -inf.astype(dtype)):
            ok = np.ones_like(bad)
            results = [
                be.gemm(bad, ok.T), be.gemm(ok, bad, trans_b=True, activation="softmax",
                                            bias=bad[:, 0]),
                be.gemm(bad, bad, trans_a=True, out=bad.T @ bad, beta=1.0),
                be.column_sum(bad),
                *[be.activation(a, bad) for a in backends.ACTIVATIONS],
                *[np.array(f(bad, ok)[0]) for f in (be.softmax_cross_entropy,
                                                   be.sigmoid_binary_cross_entropy,
                                                   be.mean_squared_error,
                                                   be.mean_absolute_error,
                                                   be.sum_squared_error)],
                np.array(be.sparse_softmax_cross_entropy(bad, np.zeros(37, int))[0]),
            ]
            # backward ops and loss gradients: run, no NaN promise (relu's
            # derivative at NaN is 0, as np.where(y > 0, ...) gives)
            for a in backends.ACTIVATIONS:
                be.activation_backward(a, bad, bad)
                be.activation_backward(a, ok, bad)
            w = bad.ravel().copy()
            be.sgd_update(w, w.copy(), learning_rate=0.1)
            be.momentum_update(w, ok.ravel(), bad.ravel().copy(), learning_rate=0.1,
                               momentum=0.9, nesterov=True)
            be.adagrad_update(w, ok.ravel(), bad.ravel().copy(), learning_rate=0.1,
                              epsilon=0.0)
            be.rmsprop_update(w, bad.ravel(), ok.ravel().copy(), learning_rate=0.1, rho=0.9,
                              epsilon=1e-7)
            be.adam_update(w, bad.ravel(), ok.ravel().copy(), ok.ravel().copy(), **ADAM)
            if dtype == np.float32 and np.isnan(bad).all():
                # NaN in gives NaN out, as in NumPy, for every op
                assert all(np.isnan(r).any() for r in results), "NaN vanished"
                assert np.isnan(w).all(), "NaN vanished from params"
    print("caught", caught, "of", len(CASES))
""")


def test_battery_of_bad_input_and_nan_data_never_crashes_the_process(backend, tmp_path):
    script = tmp_path / "battery.py"
    script.write_text(BATTERY)
    src = os.path.dirname(os.path.dirname(fastmlp.__file__))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([src, os.environ.get("PYTHONPATH", "")]))
    done = subprocess.run(
        [sys.executable, str(script), backend.name, os.path.dirname(__file__)],
        capture_output=True, text=True, env=env, timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"caught {len(CASES)} of {len(CASES)}" in done.stdout


@pytest.mark.parametrize("op", ["relu", "sigmoid", "softmax"])
def test_partly_overlapping_out_is_rejected_exact_alias_allowed(backend, op):
    x = np.linspace(-1, 1, 12).reshape(3, 4)
    fn = getattr(backend, op)
    with pytest.raises(ValueError, match=f"{op}: out partly overlaps x"):
        fn(x.reshape(-1)[:8].reshape(2, 4), out=x.reshape(-1)[4:].reshape(2, 4))
    expected = fn(x.copy())
    assert fn(x, out=x) is x
    np.testing.assert_array_equal(x, expected)
    grad = np.ones((3, 4))
    with pytest.raises(ValueError, match=f"{op}_backward: out partly overlaps grad"):
        getattr(backend, f"{op}_backward")(grad[:2], x[1:], out=grad[1:])
