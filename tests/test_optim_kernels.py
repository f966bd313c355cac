"""Optimizer updates over flat buffers, on both backends, against the Keras
update rules written out in float64 (csrc/fastmlp.h states the same rules).

Tolerance: five steps, each a dozen operations in the dtype on values of
order one, so params and state may drift by at most a few hundred eps
relative: rtol 1e-5 (about 80 eps) for float32 and 1e-12 for float64, with
the same absolute floor for entries near zero.
"""

from __future__ import annotations

import numpy as np
import pytest

OPTIMIZERS = ["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam"]
SIZES = [0, 1, 7, 127, 100_003]
STEPS = 5


def state_names(opt):
    return {"sgd": [], "momentum": ["velocity"], "nesterov": ["velocity"],
            "adagrad": ["accumulator"], "rmsprop": ["mean_square"], "adam": ["m", "v"]}[opt]


def hyper(opt, weight_decay):
    h = {"learning_rate": 0.05, "weight_decay": weight_decay}
    h.update({"momentum": {"momentum": 0.9}, "nesterov": {"momentum": 0.9},
              "adagrad": {"epsilon": 1e-7}, "rmsprop": {"rho": 0.9, "epsilon": 1e-7},
              "adam": {"beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7}}.get(opt, {}))
    return h


def step(backend, opt, params, grads, state, h, t):
    """One update with backend's op, state buffers by name."""
    if opt == "sgd":
        return backend.sgd_update(params, grads, **h)
    if opt in ("momentum", "nesterov"):
        return backend.momentum_update(params, grads, state["velocity"],
                                       nesterov=opt == "nesterov", **h)
    if opt == "adagrad":
        return backend.adagrad_update(params, grads, state["accumulator"], **h)
    if opt == "rmsprop":
        return backend.rmsprop_update(params, grads, state["mean_square"], **h)
    return backend.adam_update(params, grads, state["m"], state["v"], step=t, **h)


def reference_step(opt, w, g, s, h, t):
    """The same update in float64, written from the Keras formulas."""
    lr, wd = h["learning_rate"], h["weight_decay"]
    g = g + wd * w  # coupled L2 weight decay
    if opt == "sgd":
        return w - lr * g
    if opt in ("momentum", "nesterov"):
        s["velocity"] = h["momentum"] * s["velocity"] - lr * g
        if opt == "nesterov":
            return w + h["momentum"] * s["velocity"] - lr * g
        return w + s["velocity"]
    if opt == "adagrad":
        s["accumulator"] = s["accumulator"] + g**2
        return w - lr * g / np.sqrt(s["accumulator"] + h["epsilon"])
    if opt == "rmsprop":
        s["mean_square"] = h["rho"] * s["mean_square"] + (1 - h["rho"]) * g**2
        return w - lr * g / np.sqrt(s["mean_square"] + h["epsilon"])
    b1, b2 = h["beta_1"], h["beta_2"]
    s["m"] = b1 * s["m"] + (1 - b1) * g
    s["v"] = b2 * s["v"] + (1 - b2) * g**2
    m_hat = s["m"] / (1 - b1**t)
    v_hat = s["v"] / (1 - b2**t)
    # Kingma & Ba's bias-corrected form with Keras's epsilon, which is added
    # to sqrt(v) before correction: lr * m_hat / (sqrt(v_hat) + eps / sqrt(1 - b2^t))
    # equals the header's lr * sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps)
    return w - lr * m_hat / (np.sqrt(v_hat) + h["epsilon"] / np.sqrt(1 - b2**t))


def rtol_for(dtype):
    return 1e-5 if np.dtype(dtype) == np.float32 else 1e-12


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("weight_decay", [0.0, 0.01])
@pytest.mark.parametrize("opt", OPTIMIZERS)
def test_update_follows_the_keras_rule_over_several_steps(backend, dtype, rng, opt, weight_decay,
                                                          size):
    h = hyper(opt, weight_decay)
    params = rng.uniform(-1, 1, size).astype(dtype)
    state = {k: np.zeros(size, dtype) for k in state_names(opt)}
    w64 = params.astype(np.float64)
    s64 = {k: np.zeros(size) for k in state}
    for t in range(1, STEPS + 1):
        grads = rng.uniform(-1, 1, size).astype(dtype)
        assert step(backend, opt, params, grads, state, h, t) is None
        w64 = reference_step(opt, w64, grads.astype(np.float64), s64, h, t)
    rtol = rtol_for(dtype)
    np.testing.assert_allclose(params, w64, rtol=rtol, atol=rtol)
    for k in state:
        np.testing.assert_allclose(state[k], s64[k], rtol=rtol, atol=rtol)


@pytest.mark.parametrize("weight_decay", [0.0, 0.01])
@pytest.mark.parametrize("opt", OPTIMIZERS)
def test_every_simd_path_gives_the_portable_bits(c_backend, dtype, rng, opt, weight_decay):
    # The optimizers' loops are built once per SIMD path (csrc/optim_ranges.h);
    # wider vectors must not change a bit. Sizes around the vector widths
    # and one large enough to be split among threads.
    h = hyper(opt, weight_decay)
    for size in (1, 7, 17, 127, 100_003):
        start = rng.uniform(-1, 1, size).astype(dtype)
        grads = [rng.uniform(-1, 1, size).astype(dtype) for _ in range(STEPS)]
        results = {}
        for arch in c_backend.available_archs():
            params = start.copy()
            state = {k: np.zeros(size, dtype) for k in state_names(opt)}
            with c_backend.forced_arch(arch):
                for t, g in enumerate(grads, start=1):
                    step(c_backend, opt, params, g, state, h, t)
            results[arch] = [params] + [state[k] for k in state_names(opt)]
        for arch, got in results.items():
            for a, b in zip(got, results["generic"]):
                np.testing.assert_array_equal(a, b, err_msg=f"{opt} on {arch}, size {size}")


def test_adam_first_step_moves_each_weight_by_the_learning_rate(backend, dtype, rng):
    # Bias correction makes m_hat / sqrt(v_hat) = g / |g| on step 1, so every
    # weight moves by lr against its gradient's sign whatever the gradient's
    # size: the property that tells a corrected Adam from an uncorrected one.
    params = np.zeros(6, dtype)
    grads = np.array([3.0, -2.0, 1e-3, -1e-3, 50.0, -0.5], dtype)
    m, v = np.zeros(6, dtype), np.zeros(6, dtype)
    backend.adam_update(params, grads, m, v, step=1, learning_rate=0.01, beta_1=0.9,
                        beta_2=0.999, epsilon=1e-12)
    np.testing.assert_allclose(params, -0.01 * np.sign(grads), rtol=1e-4)


def test_nesterov_looks_ahead_by_one_momentum_step(backend):
    # Hand-computed: v = 0.9*1 - 0.1*2 = 0.7; plain w = 1 + 0.7 = 1.7;
    # Nesterov w = 1 + 0.9*0.7 - 0.1*2 = 1.43.
    for nesterov, expected in ((False, 1.7), (True, 1.43)):
        w, v = np.ones(1), np.ones(1)
        backend.momentum_update(w, np.full(1, 2.0), v, learning_rate=0.1, momentum=0.9,
                                nesterov=nesterov)
        assert v[0] == pytest.approx(0.7) and w[0] == pytest.approx(expected)


def test_weight_decay_is_added_to_the_gradient(backend, dtype):
    w = np.array([2.0, -4.0], dtype)
    backend.sgd_update(w, np.zeros(2, dtype), learning_rate=0.5, weight_decay=0.1)
    np.testing.assert_allclose(w, [2.0 - 0.5 * 0.2, -4.0 + 0.5 * 0.4], rtol=1e-6)


def test_zero_learning_rate_keeps_params_and_still_updates_state(backend, dtype, rng):
    w = rng.uniform(-1, 1, 50).astype(dtype)
    w0 = w.copy()
    g = rng.uniform(-1, 1, 50).astype(dtype)
    acc = np.zeros(50, dtype)
    backend.adagrad_update(w, g, acc, learning_rate=0.0, epsilon=1e-7)
    np.testing.assert_array_equal(w, w0)
    np.testing.assert_allclose(acc, g.astype(np.float64) ** 2, rtol=rtol_for(dtype))


def test_non_contiguous_grads_are_read_right(backend, dtype, rng):
    w = np.zeros(20, dtype)
    g = rng.uniform(-1, 1, 40).astype(dtype)[::2]
    backend.sgd_update(w, g, learning_rate=1.0)
    np.testing.assert_array_equal(w, -g)


@pytest.mark.parametrize("opt", OPTIMIZERS)
def test_c_and_numpy_backends_agree(c_backend, numpy_backend, dtype, rng, opt):
    h = hyper(opt, 0.01)
    size = 100_003
    w0 = rng.uniform(-1, 1, size).astype(dtype)
    runs = []
    for backend in (c_backend, numpy_backend):
        params = w0.copy()
        state = {k: np.zeros(size, dtype) for k in state_names(opt)}
        grads_rng = np.random.default_rng(7)
        for t in range(1, STEPS + 1):
            step(backend, opt, params, grads_rng.uniform(-1, 1, size).astype(dtype), state, h, t)
        runs.append((params, state))
    (pc, sc), (pn, sn) = runs
    rtol = rtol_for(dtype)
    np.testing.assert_allclose(pc, pn, rtol=rtol, atol=rtol)
    for k in sc:
        np.testing.assert_allclose(sc[k], sn[k], rtol=rtol, atol=rtol)


@pytest.mark.parametrize("opt", OPTIMIZERS)
def test_threads_do_not_change_updates(c_backend, dtype, rng, opt, threads):
    h = hyper(opt, 0.01)
    size = 300_007  # past the kernels' threshold for going parallel
    w0, g = rng.uniform(-1, 1, size).astype(dtype), rng.uniform(-1, 1, size).astype(dtype)
    runs = []
    for n in (1, 2):
        params = w0.copy()
        state = {k: np.full(size, 0.5, dtype) for k in state_names(opt)}
        with threads(n):
            step(c_backend, opt, params, g, state, h, 3)
        runs.append((params, state))
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    for k in runs[0][1]:
        np.testing.assert_array_equal(runs[0][1][k], runs[1][1][k])
