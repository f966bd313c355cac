"""The NaN/inf check of user data: the C kernel (csrc/finite.c, bound as
_kernels.all_finite) names the same first bad element as NumPy for every
size, position, dtype and thread count, and fit/evaluate/predict report it
with the same message whichever route (C or NumPy) the array takes."""

from __future__ import annotations

import numpy as np
import pytest

import fastmlp as fm
from fastmlp import _kernels
from fastmlp import model as model_module

DTYPES = (np.float32, np.float64)
BAD = (np.nan, np.inf, -np.inf)
# 0, 1, small primes, primes around the 4 KiB blocks of the kernel (1024
# floats, 512 doubles), and primes above the parallel threshold (256 KiB:
# 65536 floats, 32768 doubles), where two threads split the array.
SIZES = (0, 1, 2, 7, 13, 509, 1021, 1031, 4099, 65537, 300007)


@pytest.fixture(params=[1, 2], ids=["1thread", "2threads"])
def threads(request):
    before = fm.get_num_threads()
    fm.set_num_threads(request.param)
    yield request.param
    fm.set_num_threads(before)


def reference(a: np.ndarray) -> int:
    """NumPy's answer: the flat index of the first non-finite element, or -1."""
    bad = np.flatnonzero(~np.isfinite(a))
    return int(bad[0]) if bad.size else -1


def finite_array(n: int, dtype, seed: int = 0) -> np.ndarray:
    """n finite values spanning many magnitudes, both signs, zeros included."""
    rng = np.random.default_rng(seed)
    a = (rng.standard_normal(n) * 10.0 ** rng.integers(-30, 30, n)).astype(dtype)
    a[::97] = 0.0
    return a


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("n", SIZES)
def test_all_finite_array_gives_minus_one(threads, dtype, n):
    a = finite_array(n, dtype)
    assert reference(a) == -1
    assert _kernels.all_finite(a) == -1


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("n", [n for n in SIZES if n > 0])
@pytest.mark.parametrize("bad", BAD, ids=["nan", "inf", "-inf"])
@pytest.mark.parametrize("where", ["first", "middle", "last"])
def test_first_bad_index_matches_numpy(threads, dtype, n, bad, where):
    a = finite_array(n, dtype)
    i = {"first": 0, "middle": n // 2, "last": n - 1}[where]
    a[i] = bad
    assert _kernels.all_finite(a) == reference(a) == i


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("n", [n for n in SIZES if n >= 2])
def test_the_first_of_several_bad_elements_is_named(threads, dtype, n):
    # Bad elements on both sides of the middle (where two threads' shares
    # meet) and in the last block: the earliest one wins, whichever thread
    # sees it.
    rng = np.random.default_rng(n)
    for trial in range(5):
        a = finite_array(n, dtype, seed=trial)
        picks = rng.choice(n, size=min(n, 4), replace=False)
        a[picks] = rng.choice(np.array(BAD), size=picks.size)
        assert _kernels.all_finite(a) == reference(a) == int(picks.min())


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("n", [65537, 300007])
def test_bad_elements_at_the_thread_share_boundary(threads, dtype, n):
    # With two threads the shares are [0, n//2) and [n//2, n).
    for i in (n // 2 - 1, n // 2, n // 2 + 1):
        a = finite_array(n, dtype)
        a[i] = np.nan
        a[n - 1] = np.inf  # a later bad element the second thread finds too
        assert _kernels.all_finite(a) == reference(a) == i


@pytest.mark.parametrize("dtype, uint, finite_bits, bad_bits", [
    (np.float32, np.uint32,
     [0x7F7FFFFF, 0xFF7FFFFF, 0x00000001, 0x80000001, 0x00800000, 0x80000000, 0x3F800000],
     [0x7F800000, 0xFF800000, 0x7FC00000, 0xFFC00000, 0x7F800001, 0xFF800001, 0x7FFFFFFF,
      0xFFFFFFFF]),
    (np.float64, np.uint64,
     [0x7FEFFFFFFFFFFFFF, 0xFFEFFFFFFFFFFFFF, 0x0000000000000001, 0x8000000000000001,
      0x0010000000000000, 0x8000000000000000, 0x3FF0000000000000],
     [0x7FF0000000000000, 0xFFF0000000000000, 0x7FF8000000000000, 0xFFF8000000000000,
      0x7FF0000000000001, 0xFFF0000000000001, 0x7FFFFFFFFFFFFFFF, 0xFFFFFFFFFFFFFFFF]),
], ids=["f32", "f64"])
def test_every_nan_and_inf_bit_pattern_and_no_finite_one(threads, dtype, uint, finite_bits,
                                                         bad_bits):
    # Largest finite, smallest subnormal, smallest normal, -0 and 1 are finite;
    # +-inf, quiet and signalling NaNs of either sign, any payload, are not.
    n = 300007
    for bits in finite_bits:
        a = finite_array(n, dtype)
        a.view(uint)[::1000] = bits
        assert _kernels.all_finite(a) == reference(a) == -1
    for bits in bad_bits:
        a = finite_array(n, dtype)
        a.view(uint)[123457] = bits
        assert _kernels.all_finite(a) == reference(a) == 123457


def test_all_finite_reads_unaligned_and_read_only_buffers():
    raw = np.zeros(4 * 1000 + 1, dtype=np.uint8)
    a = raw[1:].view(np.float32)
    assert not a.flags.aligned
    a[777] = np.inf
    a.flags.writeable = False
    assert _kernels.all_finite(a) == 777


def test_all_finite_takes_only_contiguous_float32_and_float64():
    with pytest.raises(ValueError, match="not C-contiguous"):
        _kernels.all_finite(np.zeros(10)[::2])
    with pytest.raises(TypeError):
        _kernels.all_finite(np.zeros(10, dtype=np.float16))


# ---- the model's check: same message on the C and the NumPy routes --------------------------


def layouts(a: np.ndarray) -> dict[str, np.ndarray]:
    """Equal arrays that take each route of _check_finite: C-contiguous (C),
    Fortran-ordered, strided and big-endian (NumPy)."""
    strided = np.empty((a.shape[0], 2 * a.shape[1]), dtype=a.dtype)[:, ::2]
    strided[...] = a
    return {"c": a, "fortran": np.asfortranarray(a), "strided": strided,
            "big-endian": a.astype(a.dtype.newbyteorder(">"))}


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("bad", BAD, ids=["nan", "inf", "-inf"])
def test_check_finite_message_is_the_same_on_every_route(threads, dtype, bad):
    a = finite_array(600 * 300, dtype).reshape(600, 300)
    a[417, 3] = bad
    a[417, 200] = np.nan
    a[599, 299] = np.inf
    value = "nan" if np.isnan(bad) else str(bad)
    expected = f"x contains NaN or inf (first at index (417, 3), value {value})"
    for name, arr in layouts(a).items():
        with pytest.raises(ValueError) as info:
            model_module._check_finite(arr, "x")
        assert str(info.value) == expected, name


@pytest.mark.parametrize("shape, index", [((10,), (9,)), ((3, 4, 5), (2, 0, 4)),
                                          ((1, 1), (0, 0))])
def test_check_finite_names_the_index_in_the_array_shape(shape, index):
    a = np.ones(shape, dtype=np.float32)
    a[index] = -np.inf
    with pytest.raises(ValueError, match=rf"first at index \({', '.join(map(str, index))},?\), "
                                         r"value -inf\)"):
        model_module._check_finite(a, "x")
    model_module._check_finite(np.ones(shape, dtype=np.float64), "x")  # finite: no error


def classifier(backend: str, dtype) -> fm.Sequential:
    model = fm.Sequential([fm.Input((6,)), fm.Dense(5, activation="relu"),
                           fm.Dense(3, activation="softmax")], backend=backend, seed=0,
                          dtype=dtype)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    return model


@pytest.mark.parametrize("backend", fm.backends.NAMES)
@pytest.mark.parametrize("model_dtype", ["float32", "float64"])
@pytest.mark.parametrize("x_dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("layout", ["c", "fortran", "strided"])
def test_fit_evaluate_predict_name_the_first_bad_x(threads, backend, model_dtype, x_dtype,
                                                   layout):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(40, 6)).astype(x_dtype)
    y = rng.integers(0, 3, 40)
    x[13, 4] = np.nan
    x[30, 0] = np.inf
    x = layouts(x)[layout]
    model = classifier(backend, model_dtype)
    before = model.get_weights()
    message = r"x contains NaN or inf \(first at index \(13, 4\), value nan\)$"
    with pytest.raises(ValueError, match="^fit: " + message):
        model.fit(x, y, epochs=1, verbose=0)
    with pytest.raises(ValueError, match="^evaluate: " + message):
        model.evaluate(x, y, verbose=0)
    with pytest.raises(ValueError, match="^predict: " + message):
        model.predict(x, verbose=0)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert model.optimizer.iterations == 0
    model.fit(np.nan_to_num(x, posinf=0.0), y, epochs=1, verbose=0)  # the same x, made finite
    assert model.optimizer.iterations > 0


@pytest.mark.parametrize("backend", fm.backends.NAMES)
@pytest.mark.parametrize("y_dtype", [np.float32, np.float64])
def test_fit_names_the_first_bad_y(threads, backend, y_dtype):
    rng = np.random.default_rng(2)
    x = rng.normal(size=(40, 6)).astype(np.float32)
    y = np.eye(3, dtype=y_dtype)[rng.integers(0, 3, 40)]
    y[25, 2] = -np.inf
    model = fm.Sequential([fm.Input((6,)), fm.Dense(3)], backend=backend, seed=0)
    model.compile(optimizer="sgd", loss="mse")
    with pytest.raises(ValueError, match=r"^fit: y contains NaN or inf \(first at index "
                                         r"\(25, 2\), value -inf\)$"):
        model.fit(x, y, epochs=1, verbose=0)
    assert model.optimizer.iterations == 0


def test_fit_checks_a_large_x_across_threads(threads):
    # Fashion-MNIST-like width, more than the parallel threshold: the NaN in
    # the second half is named, and the finite data trains.
    rng = np.random.default_rng(3)
    x = rng.random((200, 784), dtype=np.float32)
    y = rng.integers(0, 10, 200)
    model = fm.Sequential([fm.Input((784,)), fm.Dense(10, activation="softmax")], seed=0)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    bad = x.copy()
    bad[150, 700] = np.nan
    bad[199, 783] = np.nan
    with pytest.raises(ValueError, match=r"first at index \(150, 700\), value nan\)"):
        model.fit(bad, y, epochs=1, verbose=0)
    model.fit(x, y, epochs=1, verbose=0)
    assert model.optimizer.iterations > 0


@pytest.mark.parametrize("layout", ["c", "fortran"])
def test_a_flatten_model_names_the_index_in_the_flattened_x(threads, layout):
    rng = np.random.default_rng(4)
    x = rng.random((30, 4, 5), dtype=np.float32)
    x[7, 2, 3] = np.inf
    if layout == "fortran":
        x = np.asfortranarray(x)
    model = fm.Sequential([fm.Input((4, 5)), fm.Flatten(), fm.Dense(2, activation="softmax")],
                          seed=0)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    # samples are flattened first, so element (2, 3) of sample 7 is column 13
    with pytest.raises(ValueError, match=r"^fit: x contains NaN or inf \(first at index "
                                         r"\(7, 13\), value inf\)$"):
        model.fit(x, rng.integers(0, 2, 30), epochs=1, verbose=0)


@pytest.mark.parametrize("backend", ["c", "numpy"])
def test_a_finite_value_that_overflows_the_model_dtype_is_named(backend):
    """1e39 is finite as float64 but inf as float32: fit must say so, not
    train on inf, and must leave the weights alone."""
    model = fm.Sequential([fm.Input(shape=(3,)), fm.Dense(2)], seed=0, backend=backend)
    model.compile(optimizer="sgd", loss="mse")
    before = model.params.copy()
    x = np.ones((5, 3))
    x[3, 2] = -1e39
    with pytest.raises(ValueError, match=r"fit: x value -1e\+39 at index \(3, 2\) overflows "
                                         r"float32, the model's dtype"):
        model.fit(x, np.ones((5, 2)), verbose=0)
    np.testing.assert_array_equal(model.params, before)


def test_a_target_that_overflows_the_model_dtype_is_named():
    model = fm.Sequential([fm.Input(shape=(3,)), fm.Dense(2)], seed=0)
    model.compile(optimizer="sgd", loss="mse")
    y = np.ones((5, 2))
    y[4, 1] = 3e38 * 10
    with pytest.raises(ValueError, match=r"fit: y value 3(\.0*)?e\+39 at index \(4, 1\) overflows "
                                         r"float32"):
        model.fit(np.ones((5, 3)), y, verbose=0)


def test_the_numpy_backend_checks_input_without_the_compiled_extension():
    """The NumPy backend must not need the C extension, for the input check
    included: run where importing fastmlp._kernels fails."""
    import subprocess
    import sys

    code = (
        "import sys, numpy as np\n"
        "sys.modules['fastmlp._kernels'] = None\n"
        "import fastmlp as fm\n"
        "m = fm.Sequential([fm.Input(shape=(3,)), fm.Dense(2)], backend='numpy', seed=0)\n"
        "m.compile(optimizer='sgd', loss='mse')\n"
        "m.fit(np.ones((4, 3), np.float32), np.ones((4, 2), np.float32), verbose=0)\n"
        "x = np.ones((4, 3), np.float32); x[2, 1] = np.nan\n"
        "try:\n"
        "    m.fit(x, np.ones((4, 2)), verbose=0)\n"
        "except ValueError as e:\n"
        "    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert "fit: x contains NaN or inf (first at index (2, 1), value nan)" in out.stdout


# predict on the C backend does not scan x up front: its first GEMM tells it
# whether x is finite (a NaN or inf in a row makes that row's sums NaN or
# inf), and x is scanned only when they say it may not be. These tests
# place single bad values where each path of that GEMM meets them.
C_OPS = fm.backends.get("c")
PREDICT_ROWS = 1031  # > 240 rows: several blocks, shared by the threads


def predict_model(dtype, features=37, first_act="relu", last="softmax") -> fm.Sequential:
    return fm.Sequential([fm.Input((features,)), fm.Dense(19, activation=first_act),
                          fm.Dense(3, activation=last)], seed=0, dtype=dtype)


@pytest.mark.parametrize("arch", C_OPS.available_archs())
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("batch", [1, 32, 240, 5000])
@pytest.mark.parametrize("bad", BAD, ids=["nan", "inf", "-inf"])
def test_predict_finds_every_bad_x_from_its_sums(threads, arch, dtype, batch, bad):
    x = finite_array(PREDICT_ROWS * 37, np.float64, seed=5).reshape(PREDICT_ROWS, 37) * 1e-25
    model = predict_model(dtype)
    # first and last element, a last-column one, the last row of a block,
    # a row of the second thread's share, and the rows past the last full
    # kernel tile (1031 = 85 * 12 + 11)
    for index in [(0, 0), (PREDICT_ROWS - 1, 36), (3, 36), (239, 5), (700, 20), (1025, 0)]:
        x_bad = x.copy()
        x_bad[index] = bad
        with C_OPS.forced_arch(arch):
            with pytest.raises(ValueError, match=rf"^predict: x contains NaN or inf \(first at "
                                                 rf"index \({index[0]}, {index[1]}\)"):
                model.predict(x_bad, batch_size=batch)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_predict_finds_an_inf_that_meets_zero_weights(threads, dtype):
    # inf * 0 is NaN: a first layer whose kernel is all zeros, under
    # activations that would turn inf or NaN into a finite output
    for act in ["sigmoid", "tanh", "relu"]:
        model = predict_model(dtype, first_act=act)
        weights = model.get_weights()
        weights[0][:] = 0.0
        model.set_weights(weights)
        x = np.ones((PREDICT_ROWS, 37))
        x[800, 11] = -np.inf
        with pytest.raises(ValueError, match=r"first at index \(800, 11\), value -inf\)"):
            model.predict(x)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_predict_of_a_finite_x_whose_sums_overflow_returns_them(threads, dtype, monkeypatch):
    # The sums say "maybe not finite", the scan finds x finite: predict
    # returns the outputs, the same as the Python path's, infinities and all.
    from fastmlp import train_loop

    scans = []
    scan = model_module._first_nonfinite
    monkeypatch.setattr(model_module, "_first_nonfinite",
                        lambda a, *rest: scans.append(a) or scan(a, *rest))
    x = np.full((PREDICT_ROWS, 37), np.finfo(dtype).max / 4)
    model = predict_model(dtype, first_act="linear", last="linear")
    weights = model.get_weights()
    weights[0][:, 0] = 1.0  # column 0's sums: 37 * max / 4
    model.set_weights(weights)
    fast = model.predict(x)
    assert len(scans) == 1 and not np.isfinite(fast).all()
    model.predict(np.ones((PREDICT_ROWS, 37)))
    assert len(scans) == 1  # finite sums: no scan

    monkeypatch.setattr(train_loop, "can_predict", lambda model: False)
    np.testing.assert_array_equal(fast, model.predict(x))


def test_predict_with_nan_weights_returns_nan_outputs(threads):
    model = predict_model("float32")
    weights = model.get_weights()
    weights[0][5, 0] = np.nan
    model.params[: weights[0].size] = weights[0].reshape(-1)  # set_weights refuses NaN
    out = model.predict(np.ones((PREDICT_ROWS, 37), np.float32))
    assert np.isnan(out).all()


def test_predict_names_a_value_that_overflows_the_model_dtype():
    # 1e39 becomes inf as float32: the sums catch it like any inf, and the
    # scan then names the original value, as fit does
    x = np.ones((PREDICT_ROWS, 37))
    x[700, 3] = 1e39
    with pytest.raises(ValueError, match=r"^predict: x value 1e\+39 at index \(700, 3\) "
                                         r"overflows float32, the model's dtype"):
        predict_model("float32").predict(x)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_predict_of_a_single_block_still_finds_bad_x(threads, dtype):
    # rows <= batch_size (and model(x), whose batch is all of x): one block,
    # whose GEMM does not look at its sums, so x is always scanned
    x = np.ones((10, 37))
    x[9, 36] = np.nan
    model = predict_model(dtype)
    with pytest.raises(ValueError, match=r"first at index \(9, 36\), value nan\)"):
        model.predict(x)
    with pytest.raises(ValueError, match=r"first at index \(9, 36\), value nan\)"):
        model(x)


@pytest.mark.parametrize("arch", C_OPS.available_archs())
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_predict_finds_bad_x_in_every_depth_block(threads, arch, dtype):
    # 784 features: the first GEMM adds K in several depth blocks, so a bad
    # value is found in the last block's sums wherever it sits
    x = np.ones((PREDICT_ROWS, 784))
    model = predict_model(dtype, features=784)
    for index in [(5, 0), (600, 255), (1000, 300), (17, 700), (1030, 783)]:
        x_bad = x.copy()
        x_bad[index] = -np.inf
        with C_OPS.forced_arch(arch):
            with pytest.raises(ValueError, match=rf"first at index \({index[0]}, {index[1]}\)"):
                model.predict(x_bad)


def test_a_failed_predict_leaves_an_unbuilt_model_unbuilt():
    model = fm.Sequential([fm.Dense(4, activation="relu"), fm.Dense(2)], seed=0)
    x = np.ones((PREDICT_ROWS, 5))
    x[3, 2] = np.nan
    with pytest.raises(ValueError, match=r"first at index \(3, 2\)"):
        model.predict(x)
    assert not model.built
    assert model.predict(np.ones((PREDICT_ROWS, 6))).shape == (PREDICT_ROWS, 2)
