"""fit takes x in float32, float64 or uint8 as it is: the C loop casts each
gathered row to the model's dtype, so a float64 or uint8 dataset costs no
converted copy; the weights are those of fitting the converted x, bit for
bit, on both loops and both backends, and bad values are still refused
before any weight changes."""

import tracemalloc

import numpy as np
import pytest

import fastmlp as fm
from fastmlp import _kernels, train_loop

X_DTYPES = ["uint8", "float32", "float64"]


def make_model(dtype, backend="c", features=12, built=True):
    head = [fm.Input(shape=(features,))] if built else []  # without: built by its first x
    model = fm.Sequential(head + [fm.Dense(23, activation="relu"),
                                  fm.Dense(4, activation="softmax")], seed=3, dtype=dtype,
                          backend=backend)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def make_data(x_dtype, rows=157, features=12, seed=0):
    rng = np.random.default_rng(seed)
    if x_dtype == "uint8":
        x = rng.integers(0, 256, (rows, features)).astype(np.uint8)
    else:  # float64 values not all representable in float32, to exercise the rounding
        x = rng.normal(size=(rows, features)).astype(x_dtype)
    return x, rng.integers(0, 4, rows)


def fit(model, x, y, **kwargs):
    history = model.fit(x, y, batch_size=16, epochs=2, verbose=0, **kwargs)
    return model.params.copy(), history.history


@pytest.mark.parametrize("backend", ["c", "numpy"])
@pytest.mark.parametrize("python_loop", [False, True], ids=["c-loop", "python-loop"])
@pytest.mark.parametrize("x_dtype", X_DTYPES)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_fit_on_x_as_given_equals_fit_on_converted_x(dtype, x_dtype, python_loop, backend,
                                                     monkeypatch):
    x, y = make_data(x_dtype)
    if python_loop:
        monkeypatch.setattr(train_loop, "plan", lambda model, cbs: None)
    seen = []  # the dtypes of the x the C loop is handed
    run = train_loop.ChunkedTrainer.run
    monkeypatch.setattr(train_loop.ChunkedTrainer, "run",
                        lambda self, x, *rest: seen.append(x.dtype) or run(self, x, *rest))
    got = fit(make_model(dtype, backend), x, y)
    monkeypatch.undo()
    want = fit(make_model(dtype, backend), x.astype(dtype), y)
    np.testing.assert_array_equal(got[0], want[0])
    assert got[1] == want[1]
    c_loop = backend == "c" and not python_loop
    assert set(seen) == ({np.dtype(x_dtype)} if c_loop else set())  # x as given, uncopied


@pytest.mark.parametrize("x_dtype", X_DTYPES)
def test_validation_of_x_as_given_equals_that_of_converted_x(x_dtype):
    x, y = make_data(x_dtype)
    got = fit(make_model("float32"), x, y, validation_split=0.25)
    want = fit(make_model("float32"), x.astype(np.float32), y, validation_split=0.25)
    np.testing.assert_array_equal(got[0], want[0])
    assert got[1] == want[1] and "val_loss" in got[1]
    got = fit(make_model("float32"), x[:100], y[:100], validation_data=(x[100:], y[100:]))
    want = fit(make_model("float32"), x[:100].astype(np.float32), y[:100],
               validation_data=(x[100:].astype(np.float32), y[100:]))
    np.testing.assert_array_equal(got[0], want[0])
    assert got[1] == want[1] and "val_loss" in got[1]


@pytest.mark.parametrize("how", ["validation_split", "validation_data"])
def test_validation_makes_no_converted_copy_either(how):
    x, y = make_data("float64", rows=40_000, features=100)
    model = make_model("float32", features=100)
    fit(model, x[:64], y[:64], validation_data=(x[64:128], y[64:128]))  # buffers first
    extra = ({"validation_split": 0.5} if how == "validation_split"
             else {"validation_data": (x[20_000:], y[20_000:])})
    tracemalloc.start()
    try:
        model.fit(x if how == "validation_split" else x[:20_000],
                  y if how == "validation_split" else y[:20_000],
                  batch_size=128, epochs=1, verbose=0, **extra)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    copy = 20_000 * x.shape[1] * 4  # the validation half as float32
    assert peak < copy / 8, f"fit allocated {peak} bytes; a converted copy is {copy}"


@pytest.mark.parametrize("dtype,x_dtype", [("float32", "uint8"), ("float32", "float64"),
                                           ("float64", "uint8"), ("float64", "float32")])
def test_fit_makes_no_converted_copy_of_x(dtype, x_dtype):
    # 40,000 x 100: a converted copy would be 16 or 32 MB; NumPy reports its
    # buffers to tracemalloc, so a copy would show in the peak
    x, y = make_data(x_dtype, rows=40_000, features=100)
    model = make_model(dtype, features=100)
    fit(model, x[:64], y[:64])  # builds the model and its buffers first
    tracemalloc.start()
    try:
        model.fit(x, y, batch_size=128, epochs=1, verbose=0)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    copy = x.shape[0] * x.shape[1] * np.dtype(dtype).itemsize
    assert peak < copy / 8, f"fit allocated {peak} bytes; a converted copy is {copy}"


def test_non_contiguous_or_other_dtypes_are_converted_and_train_the_same():
    x, y = make_data("float64")
    want = fit(make_model("float32"), x.astype(np.float32), y)
    for other in (np.asfortranarray(x), x.astype(np.float16).astype(np.float64),
                  (x * 10).astype(np.int16)):
        expected = fit(make_model("float32"), np.ascontiguousarray(other, np.float32), y)
        np.testing.assert_array_equal(fit(make_model("float32"), other, y)[0], expected[0])
    np.testing.assert_array_equal(fit(make_model("float32"), np.asfortranarray(x), y)[0],
                                  want[0])


@pytest.mark.parametrize("bad,message", [(np.nan, "contains NaN or inf"),
                                         (np.inf, "contains NaN or inf"),
                                         (1e39, "overflows float32")])
def test_a_bad_float64_value_is_refused_before_any_weight_changes(bad, message):
    x, y = make_data("float64")
    x[151, 7] = bad
    model = make_model("float32")
    fit(model, x[:100], y[:100])
    before = model.params.copy()
    with pytest.raises(ValueError, match=message) as err:
        model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    assert "(151, 7)" in str(err.value)
    np.testing.assert_array_equal(model.params, before)


def test_the_python_and_the_bindings_list_the_same_x_types():
    # train_loop.X_TYPES decides what stays uncopied; the bindings' copy
    # indexes the C's fm_x_type: one order for both
    assert train_loop.X_TYPES == _kernels.X_TYPES


def test_all_finite_as_float32_flags_exactly_the_doubles_that_overflow():
    edge = 2.0**128 - 2.0**103  # FLT_MAX + half an ulp: rounds (to even) to inf
    below = np.nextafter(edge, 0)
    values = np.array([0.0, 1.0, float(np.finfo(np.float32).max), below, -below, edge, -edge,
                       1e300, np.inf, -np.inf, np.nan, 5e-324])
    with np.errstate(over="ignore"):
        as32 = values.astype(np.float32)
    assert list(np.isfinite(as32)) == [True] * 5 + [False] * 6 + [True]
    # 80,000 doubles (625 KiB): two threads from 256 KiB (csrc/finite.c)
    for i, value in enumerate(values):
        x = np.zeros(80_000)
        x[50_000 + i * 700] = value  # in the second half: the second thread's share
        want = -1 if np.isfinite(as32[i]) else 50_000 + i * 700
        assert _kernels.all_finite(x, as_float32=True) == want, value
    x = np.zeros(80_000)
    x[70_000], x[45_000], x[20_000] = np.inf, edge, below
    assert _kernels.all_finite(x, as_float32=True) == 45_000  # the first, whichever thread
    with pytest.raises(ValueError, match="as_float32"):
        _kernels.all_finite(np.zeros(3, np.float32), as_float32=True)


@pytest.mark.parametrize("in_c", [True, False], ids=["c-predict", "python-predict"])
@pytest.mark.parametrize("x_dtype", X_DTYPES)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_predict_and_evaluate_on_x_as_given_equal_those_on_converted_x(dtype, x_dtype, in_c):
    x, y = make_data(x_dtype, rows=613)  # predict's blocks of 240 rows, and a remainder
    model = make_model(dtype)
    fit(model, x.astype(dtype), y)
    verbose = 0 if in_c else 2  # a progress bar takes predict's Python path
    got = model.predict(x, batch_size=1000, verbose=verbose)
    want = model.predict(x.astype(dtype), batch_size=1000, verbose=verbose)
    np.testing.assert_array_equal(got, want)
    assert model.evaluate(x, y, return_dict=True) == \
        model.evaluate(x.astype(dtype), y, return_dict=True)


@pytest.mark.parametrize("bad,message", [(np.nan, "contains NaN or inf"),
                                         (1e39, "overflows float32")])
@pytest.mark.parametrize("built", [True, False])
def test_predict_refuses_a_bad_float64_value_it_would_cast(bad, message, built):
    x, y = make_data("float64", rows=613)
    model = make_model("float32", built=built)
    if built:
        fit(model, x, y)
    x[500, 2] = bad
    for call in (lambda: model.predict(x, batch_size=1000),
                 lambda: model.evaluate(x, y)):
        with pytest.raises(ValueError, match=message) as err:
            call()
        assert "(500, 2)" in str(err.value)
        assert model.built == built  # a bad x leaves an unbuilt model unbuilt


def test_predict_and_evaluate_make_no_converted_copy_of_x():
    x, y = make_data("float64", rows=40_000, features=100)
    model = make_model("float32", features=100)
    fit(model, x[:64], y[:64])
    model.predict(x[:300], batch_size=1000)  # the workspaces first
    model.evaluate(x[:300], y[:300], batch_size=1000)
    copy = x.shape[0] * x.shape[1] * 4
    for call in (lambda: model.predict(x, batch_size=1000),
                 lambda: model.evaluate(x, y, batch_size=1000)):
        tracemalloc.start()
        try:
            call()
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert peak < copy / 8, f"{peak} bytes allocated; a converted copy is {copy}"
