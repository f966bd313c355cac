"""One seed gives bit-identical training on each backend, run after run and
whatever the thread count; the C and NumPy backends agree within stated
tolerances.

Tolerances for C vs NumPy. The two backends compute the same formulas but
sum the k products of each GEMM dot product in different orders (C: blocked,
FMA micro-kernels; NumPy: OpenBLAS), so each dot product may differ by up to
k units of roundoff u (u = 1.1e-16 in float64, 6e-8 in float32; k <= 16 in
these nets, so <= 1e-6 relative per product in float32, typically much
less), and training feeds those differences back into the weights.
Measured on this problem (3 epochs of 6 Adam steps, and also 20 epochs):
float64 loss curves and weights agree to ~4e-16 relative, float32 loss
curves to ~2e-8 and weights to ~2e-7 (relative to each array's largest
weight). We assert the issue's 1e-10 for float64, and for float32 1e-5 on
the loss curves and 1e-4 on the weights: the worst-case per-product error
(1e-6) with an order of magnitude for accumulation over the steps, which is
still ~500x above what we observe. These are bounds for short runs; long
float32 runs drift further apart, as any two BLAS libraries do.
"""

from __future__ import annotations

import numpy as np
import pytest

import fastmlp as fm
import fastmlp.optimizers

BACKENDS = fm.backends.NAMES


def problem(seed=0, n=120, features=6, classes=3):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, n)
    x = rng.normal(size=(n, features)) + labels[:, None]
    return x, labels


def train(backend, dtype="float32", seed=42, epochs=3, optimizer="adam", dropout=0.2):
    x, y = problem()
    model = fm.Sequential([fm.Input((6,)), fm.Dense(16, activation="tanh"), fm.Dropout(dropout),
                           fm.Dense(8, activation="relu"), fm.Dense(3, activation="softmax")],
                          backend=backend, dtype=dtype, seed=seed)
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    history = model.fit(x, y, epochs=epochs, batch_size=16, validation_split=0.2, verbose=0)
    return model.get_weights(), history.history


def assert_identical(a, b):
    for wa, wb in zip(a, b):
        np.testing.assert_array_equal(wa, wb)


def relative_gap(a, b):
    """Largest |a - b| over the array's largest |a|, across all arrays."""
    return max(float(np.max(np.abs(wa - wb)) / np.max(np.abs(wa))) for wa, wb in zip(a, b))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_same_seed_gives_bit_identical_training(backend, dtype):
    w1, h1 = train(backend, dtype)
    w2, h2 = train(backend, dtype)
    assert_identical(w1, w2)
    assert h1 == h2


@pytest.mark.parametrize("backend", BACKENDS)
def test_different_seeds_differ(backend):
    w1, _ = train(backend, seed=1, epochs=1)
    w2, _ = train(backend, seed=2, epochs=1)
    assert not np.array_equal(w1[0], w2[0])


def test_no_seed_draws_fresh_weights():
    a = fm.Sequential([fm.Input((3,)), fm.Dense(4)], backend="numpy")
    b = fm.Sequential([fm.Input((3,)), fm.Dense(4)], backend="numpy")
    assert not np.array_equal(a.get_weights()[0], b.get_weights()[0])


def big_run(backend):
    # Sizes past every parallel threshold of the C kernels: GEMMs of 128 x
    # 64 x 1024, tanh over 128 x 1024, column sums of 128 x 1024, a sigmoid
    # BCE over 128 x 128 outputs, an Adam update over 197k parameters.
    rng = np.random.default_rng(3)
    x = rng.normal(size=(256, 64)).astype(np.float32)
    y = (rng.random((256, 128)) < 0.3).astype(np.float32)
    model = fm.Sequential([fm.Input((64,)), fm.Dense(1024, activation="tanh"), fm.Dropout(0.1),
                           fm.Dense(128, activation="sigmoid")], backend=backend, seed=9)
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=2, batch_size=128, verbose=0)
    return model.get_weights(), history.history


def test_c_backend_is_thread_count_independent():
    before = fm.get_num_threads()
    try:
        fm.set_num_threads(1)
        w1, h1 = big_run("c")
        fm.set_num_threads(2)
        w2, h2 = big_run("c")
    finally:
        fm.set_num_threads(before)
    assert_identical(w1, w2)
    assert h1 == h2


def test_numpy_backend_barely_depends_on_the_blas_thread_count():
    # Bit-identity across BLAS thread counts is OpenBLAS's to give, not ours:
    # its SkylakeX kernels give it, but its Haswell kernels (also picked on
    # AMD Zen) split a GEMM's sums differently on 1 and 2 threads. What the
    # reference backend itself must not add is any drift of its own, so the
    # two runs agree as two float32 BLAS orderings do (the C-vs-NumPy bound
    # below), and each thread count repeats itself bit for bit.
    from threadpoolctl import threadpool_limits

    runs = {}
    for n in (1, 2, 1):
        with threadpool_limits(limits=n, user_api="blas"):
            w, h = big_run("numpy")
        if n in runs:
            assert_identical(runs[n][0], w)
            assert runs[n][1] == h
        runs[n] = (w, h)
    (w1, h1), (w2, h2) = runs[1], runs[2]
    assert relative_gap(w1, w2) < 1e-4
    np.testing.assert_allclose(h1["loss"], h2["loss"], rtol=1e-5)


@pytest.mark.parametrize("optimizer", [
    "adam", "rmsprop", "adagrad",
    fm.optimizers.SGD(learning_rate=0.05, momentum=0.9, nesterov=True),
])
def test_c_and_numpy_agree_in_float64(optimizer):
    import copy

    wc, hc = train("c", "float64", optimizer=copy.deepcopy(optimizer))
    wn, hn = train("numpy", "float64", optimizer=copy.deepcopy(optimizer))
    np.testing.assert_allclose(hc["loss"], hn["loss"], rtol=1e-10)
    np.testing.assert_allclose(hc["val_loss"], hn["val_loss"], rtol=1e-10)
    assert hc["accuracy"] == hn["accuracy"]
    assert relative_gap(wc, wn) < 1e-10


def test_c_and_numpy_agree_in_float32():
    wc, hc = train("c", "float32")
    wn, hn = train("numpy", "float32")
    np.testing.assert_allclose(hc["loss"], hn["loss"], rtol=1e-5)
    np.testing.assert_allclose(hc["val_loss"], hn["val_loss"], rtol=1e-5)
    assert relative_gap(wc, wn) < 1e-4


def test_float32_and_float64_models_start_from_the_same_weights():
    a = fm.Sequential([fm.Input((5,)), fm.Dense(7)], backend="numpy", seed=4)
    b = fm.Sequential([fm.Input((5,)), fm.Dense(7)], backend="numpy", seed=4, dtype="float64")
    np.testing.assert_array_equal(a.get_weights()[0], b.get_weights()[0].astype(np.float32))


class _Listener(fm.callbacks.Callback):
    """A callback with batch hooks: fit must then run its Python step loop."""

    def on_train_batch_end(self, batch, logs=None):
        self.last = batch


@pytest.mark.parametrize("loss, activation, optimizer", [
    ("sparse_categorical_crossentropy", "softmax", "adam"),
    ("categorical_crossentropy", "softmax", "rmsprop"),
    ("mse", "linear", fm.optimizers.SGD(learning_rate=0.01, momentum=0.9, nesterov=True)),
    ("binary_crossentropy", "sigmoid", "adagrad"),
])
def test_c_step_loop_and_python_step_loop_train_identically(loss, activation, optimizer):
    # For plain Dense stacks the C backend may run whole runs of minibatches
    # in one C call (train_loop.py); it must give the Python loop's weights.
    import copy

    x, labels = problem()
    y = labels if loss.startswith("sparse") else np.eye(3)[labels]

    def run(callbacks):
        model = fm.Sequential([fm.Input((6,)), fm.Dense(16, activation="relu"),
                               fm.Dense(3, activation=activation)], backend="c", seed=5)
        model.compile(optimizer=copy.deepcopy(optimizer), loss=loss, metrics=["accuracy"])
        history = model.fit(x, y, epochs=3, batch_size=16, validation_split=0.2, verbose=0,
                            callbacks=callbacks)
        return model.get_weights(), history.history

    w_fast, h_fast = run(None)
    listener = _Listener()
    w_python, h_python = run([listener])
    assert listener.last == 5  # the Python loop did run, step by step
    assert_identical(w_fast, w_python)
    assert h_fast["loss"] == h_python["loss"]
    assert h_fast["accuracy"] == h_python["accuracy"]
