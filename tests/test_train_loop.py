"""The C loop over minibatches (train_loop.py, csrc/train.c) trains exactly
as the Python loop does: same weights bit for bit, same losses, same
optimizer state, same NaN rule; models it cannot run fall back.

The C loop runs a team of threads once a step has enough work (2**18
multiply-adds: csrc/train.c), each thread taking a share of the rows and
then of the parameters. The "team" sizes below are wide enough for that
(61-131-67-5 at batch 37 is ~630k multiply-adds a step), and are run with
1, 2 and 3 threads, so every split of the rows and parameters is compared
with the Python loop, including batches with fewer rows than threads."""

import numpy as np
import pytest

import fastmlp as fm
from fastmlp import backends, train_loop

CASES = [
    # (hidden activation, last activation, loss, metrics, optimizer)
    ("relu", "softmax", "sparse_categorical_crossentropy", ["accuracy"], "adam"),
    ("tanh", "softmax", "categorical_crossentropy", ["accuracy"], "rmsprop"),
    ("sigmoid", "sigmoid", "binary_crossentropy", ["accuracy"], "adagrad"),
    ("leaky_relu", "linear", "mse", ["mae", "mse"], "sgd"),
    ("relu", "tanh", "mae", [], fm.optimizers.SGD(0.05, momentum=0.9, nesterov=True)),
    ("relu", "sigmoid", "sse", ["mse"], fm.optimizers.SGD(0.05, momentum=0.5)),
]


def make_data(loss, rows=203, features=13, classes=5, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, features))
    if loss == "sparse_categorical_crossentropy":
        return x, rng.integers(0, classes, rows)
    if loss == "categorical_crossentropy":
        return x, np.eye(classes)[rng.integers(0, classes, rows)]
    if loss == "binary_crossentropy":
        return x, rng.integers(0, 2, (rows, classes)).astype(float)
    return x, rng.normal(size=(rows, classes))


# (features, hidden widths, rows, batch size): serial steps, and steps a team
# runs, with the first layer split by columns (under 64 rows a thread) or by
# rows (130 rows on 2 threads); 600 features make the first layer's kernel
# deeper than one of the GEMM's K blocks, so the threads' shares of its
# packed copy (gemm_prepacked.h) cross a block boundary. The first layer's
# gradient and optimizer state are kept in that packed layout during the loop
# (from 4096 weights) when its weight-gradient GEMM uses the layout's own
# blocking, and updated by columns or by rows as its forward is split. On
# AVX-512, a first layer 8 wide keeps them row-major in float32 (that GEMM
# takes the transposed narrow kernel) and packed in 8-wide panels in
# float64; 16 wide, packed in float32's 16-wide narrow panels.
SIZES = {"serial": (13, (17, 7), 203, 16), "team": (61, (131, 67), 203, 37),
         "team-wide-batch": (61, (131, 67), 403, 130), "team-deep": (600, (131, 67), 203, 37),
         "team-deep-wide-batch": (600, (131, 67), 403, 130),
         "team-first-8": (600, (8, 67), 203, 64), "team-first-16": (600, (16, 67), 203, 64)}


def train(case, dtype, python_path, monkeypatch, epochs=3, size="serial"):
    hidden, last, loss, metrics, opt = case
    features, widths, rows, batch = SIZES[size]
    if python_path:
        monkeypatch.setattr(train_loop, "plan", lambda model, cbs: None)
    x, y = make_data(loss, rows=rows, features=features)
    model = fm.Sequential([fm.Input(shape=(features,)), fm.Dense(widths[0], activation=hidden),
                           fm.Dense(widths[1], activation=hidden), fm.Dense(5, activation=last)],
                          seed=1, dtype=dtype)
    optimizer = fm.optimizers.get(opt if isinstance(opt, str) else fm.optimizers.serialize(opt))
    model.compile(optimizer=optimizer, loss=loss, metrics=metrics)
    history = model.fit(x, y, batch_size=batch, epochs=epochs, verbose=0)
    monkeypatch.undo()
    return model, history


@pytest.fixture(params=[1, 2, 3], ids=lambda n: f"{n}threads")
def threads(request):
    before = fm.get_num_threads()
    fm.set_num_threads(request.param)
    yield request.param
    fm.set_num_threads(before)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", CASES, ids=[f"{c[2]}-{c[1]}" for c in CASES])
def test_c_loop_equals_python_loop_bit_for_bit(case, dtype, monkeypatch):
    assert_same_training(case, dtype, monkeypatch, "serial")


C_OPS = backends.get("c")


@pytest.mark.parametrize("size", ["team", "team-wide-batch", "team-deep",
                                  "team-deep-wide-batch", "team-first-8", "team-first-16"])
@pytest.mark.parametrize("arch", C_OPS.available_archs())
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", CASES, ids=[f"{c[2]}-{c[1]}" for c in CASES])
def test_team_c_loop_equals_python_loop_bit_for_bit(case, dtype, threads, arch, size,
                                                    monkeypatch):
    with C_OPS.forced_arch(arch):  # every SIMD path's GEMM tiles, split among threads
        assert_same_training(case, dtype, monkeypatch, size)


def assert_same_training(case, dtype, monkeypatch, size):
    fast, h_fast = train(case, dtype, python_path=False, monkeypatch=monkeypatch, size=size)
    slow, h_slow = train(case, dtype, python_path=True, monkeypatch=monkeypatch, size=size)
    assert train_loop.plan(fast, fm.callbacks.CallbackList([])) is not None
    np.testing.assert_array_equal(fast.params, slow.params)
    np.testing.assert_array_equal(fast.grads, slow.grads)  # the last step's
    for name, values in h_slow.history.items():
        if name == "loss" or "accuracy" in name:
            assert h_fast.history[name] == values  # sums of exact values in the same order
        else:  # mae/mse metrics: float sums in another order, last bits may differ
            np.testing.assert_allclose(h_fast.history[name], values, rtol=1e-12)
    assert fast.optimizer.iterations == slow.optimizer.iterations
    for a, b in zip(fast.optimizer.variables().values(), slow.optimizer.variables().values()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("size", ["team", "team-deep-wide-batch"],
                         ids=["first-layer-by-columns", "first-layer-by-rows"])
def test_without_gemm_workspaces_the_c_loop_still_trains_as_the_python_loop(size, dtype, threads,
                                                                           monkeypatch):
    # Denied their packing buffers (as when memory runs out), the GEMMs fall
    # back to plain loops, and the first layer's gradient reaches its packed
    # copy by way of the row-major one: both loops still agree bit for bit.
    with C_OPS.refused_workspaces():
        assert_same_training(CASES[0], dtype, monkeypatch, size)
        model, _ = train(CASES[0], dtype, False, monkeypatch, epochs=1, size=size)
        x, _ = make_data(CASES[0][2], rows=500, features=SIZES[size][0])
        monkeypatch.setattr(train_loop, "can_predict", lambda model: False)
        slow = model.predict(x, verbose=0)
        monkeypatch.undo()
        np.testing.assert_array_equal(model.predict(x, verbose=0), slow)


def test_models_the_c_loop_cannot_run_fall_back():
    model = fm.Sequential([fm.Input(shape=(4,)), fm.Dense(3, activation="relu"),
                           fm.Dropout(0.5), fm.Dense(2, activation="softmax")])
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    assert train_loop.plan(model, fm.callbacks.CallbackList([])) is None
    numpy_model = fm.Sequential([fm.Input(shape=(4,)), fm.Dense(2)], backend="numpy")
    numpy_model.compile(optimizer="sgd", loss="mse")
    assert train_loop.plan(numpy_model, fm.callbacks.CallbackList([])) is None


def test_a_callback_with_batch_hooks_sees_every_batch():
    class Count(fm.callbacks.Callback):
        batches = 0

        def on_train_batch_end(self, batch, logs=None):
            Count.batches += 1

    x, y = make_data("mse")
    model = fm.Sequential([fm.Input(shape=(13,)), fm.Dense(5)], seed=0)
    model.compile(optimizer="sgd", loss="mse")
    model.fit(x, y, batch_size=16, epochs=2, verbose=0, callbacks=[Count()])
    assert Count.batches == 2 * 13


def on_both_loops(monkeypatch, run):
    """run() with fit's C loop, then with the Python loop; both results."""
    results = [run()]
    monkeypatch.setattr(train_loop, "plan", lambda model, cbs: None)
    results.append(run())
    monkeypatch.undo()
    return results


@pytest.mark.parametrize("arch", C_OPS.available_archs())
@pytest.mark.parametrize("units", [5, 20])
@pytest.mark.parametrize("width", [13, 4099], ids=["serial", "team"])
def test_nan_loss_in_the_c_loop_stops_where_the_python_loop_does(width, units, arch, threads,
                                                                monkeypatch):
    # 4099 x 20 keeps the layer's state packed on every SIMD path, 4099 x 5
    # on all but AVX-512 (see SIZES)
    x, y = make_data("mse", features=width, classes=units)

    def run():
        model = fm.Sequential([fm.Input(shape=(width,)), fm.Dense(units)], seed=0)
        model.compile(optimizer=fm.optimizers.SGD(learning_rate=1e12), loss="mse")
        with pytest.raises(FloatingPointError, match=r"weights and optimizer state are as before") as err:
            model.fit(x, y, batch_size=16, epochs=3, verbose=0)
        return str(err.value), model.params.copy(), model.grads.copy(), model.optimizer.iterations

    with C_OPS.forced_arch(arch):
        (msg_c, params_c, grads_c, it_c), (msg_py, params_py, grads_py, it_py) = \
            on_both_loops(monkeypatch, run)
    assert msg_c == msg_py
    assert it_c == it_py
    np.testing.assert_array_equal(params_c, params_py)
    np.testing.assert_array_equal(grads_c, grads_py)  # the last applied step's


@pytest.mark.parametrize("rows, batch", [(301, 64), (1, 64), (1031, 300), (1031, 2000)])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("last", ["softmax", "sigmoid", "linear", "leaky_relu"])
def test_c_predict_equals_python_predict_bit_for_bit(last, dtype, rows, batch, threads,
                                                     monkeypatch):
    # 1031 rows of a 13-31-17-5 net is enough work for a team; 1 and 301 rows are not
    x, _ = make_data("mse", rows=rows)
    layers = [fm.Input(shape=(13,)), fm.Dense(31, activation="tanh"),
              fm.Dense(17, activation="relu", use_bias=False), fm.Dense(5, activation=last)]
    model = fm.Sequential(layers, seed=3, dtype=dtype)
    fast = model.predict(x, batch_size=batch)
    monkeypatch.setattr(train_loop, "can_predict", lambda model: False)
    slow = model.predict(x, batch_size=batch)
    np.testing.assert_array_equal(fast, slow)
    assert fast.dtype == np.dtype(dtype) and fast.shape == (rows, 5)


@pytest.mark.parametrize("arch", C_OPS.available_archs())
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_c_predict_equals_python_predict_on_every_simd_path(dtype, arch, threads, monkeypatch):
    # 600 features: the first kernel spans several of the GEMM's K blocks,
    # and each thread packs its share of it (gemm_prepacked.h) for all
    x = np.random.default_rng(5).standard_normal((1031, 600))
    model = fm.Sequential([fm.Input(shape=(600,)), fm.Dense(131, activation="relu"),
                           fm.Dense(5, activation="softmax")], seed=3, dtype=dtype)
    with C_OPS.forced_arch(arch):
        fast = model.predict(x, batch_size=300)
        monkeypatch.setattr(train_loop, "can_predict", lambda model: False)
        slow = model.predict(x, batch_size=300)
    np.testing.assert_array_equal(fast, slow)


def test_c_predict_of_a_single_layer_model():
    model = fm.Sequential([fm.Input(shape=(3,)), fm.Dense(2)], seed=0)
    x = np.arange(12.0).reshape(4, 3)
    expected = x @ model.get_weights()[0] + model.get_weights()[1]
    np.testing.assert_allclose(model.predict(x), expected, rtol=1e-6)


def test_a_leading_flatten_still_takes_the_c_loop(monkeypatch):
    rng = np.random.default_rng(0)
    images, labels = rng.random((90, 4, 5)), rng.integers(0, 3, 90)
    results = []
    for python_path in (False, True):
        if python_path:
            monkeypatch.setattr(train_loop, "plan", lambda model, cbs: None)
            monkeypatch.setattr(train_loop, "can_predict", lambda model: False)
        model = fm.Sequential([fm.Flatten(input_shape=(4, 5)), fm.Dense(6, activation="relu"),
                               fm.Dense(3, activation="softmax")], seed=0)
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        if not python_path:
            assert train_loop.plan(model, fm.callbacks.CallbackList([])) is not None
        model.fit(images, labels, batch_size=16, epochs=2, verbose=0)
        results.append((model.params.copy(), model.predict(images)))
    np.testing.assert_array_equal(results[0][0], results[1][0])
    np.testing.assert_array_equal(results[0][1], results[1][1])


@pytest.mark.parametrize("last, loss", [("softmax", "sparse_categorical_crossentropy"),
                                        ("softmax", "mse"), ("sigmoid", "binary_crossentropy")])
@pytest.mark.parametrize("arch", C_OPS.available_archs())
def test_a_single_layer_team_trains_as_the_python_loop(last, loss, arch, threads, monkeypatch):
    """One Dense layer wide enough for a team (4099 x 5 at batch 16): the
    top layer is also the first (its state kept packed on all but AVX-512,
    see SIZES), and softmax without its fused loss needs whole rows."""
    x, y = make_data(loss, features=4099)
    if loss == "mse":
        y = np.eye(5)[np.arange(len(x)) % 5]

    def run():
        model = fm.Sequential([fm.Input(shape=(4099,)), fm.Dense(5, activation=last)], seed=2)
        model.compile(optimizer="adam", loss=loss, metrics=["accuracy"])
        history = model.fit(x, y, batch_size=16, epochs=2, verbose=0)
        return model.params.copy(), history.history

    with C_OPS.forced_arch(arch):
        (params_c, hist_c), (params_py, hist_py) = on_both_loops(monkeypatch, run)
    np.testing.assert_array_equal(params_c, params_py)
    assert hist_c == hist_py


@pytest.mark.parametrize("bad", [-1, 203, 2**40], ids=["negative", "rows", "huge"])
@pytest.mark.parametrize("where", ["order", "labels"])
def test_the_c_loop_refuses_indices_out_of_range(where, bad):
    # fit validates labels before this; the plan guards its own memory
    # reads as well, since a bad index would read outside x
    x, y = make_data("sparse_categorical_crossentropy")
    model = fm.Sequential([fm.Input(shape=(13,)), fm.Dense(5, activation="softmax")], seed=0)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    trainer = train_loop.plan(model, fm.callbacks.CallbackList([]))
    trainer._buffers(16, 13)
    x = np.ascontiguousarray(x, dtype=np.float32)
    labels = y.astype(np.int64)
    order = np.arange(203, dtype=np.int64)
    at = 202 if where == "order" else 0  # the last element, or the first
    (order if where == "order" else labels)[at] = bad
    with pytest.raises(ValueError, match=f"train_steps: {'order index' if where == 'order' else 'label'} out of range"):
        trainer.run(x, labels, order, 16, 0, 13)
    assert model.optimizer.iterations == 0


@pytest.mark.parametrize("batch", [2**31, 2**62, 2**63 - 1])
def test_a_batch_size_beyond_the_data_is_one_step_of_every_row(batch, monkeypatch):
    # the C loop sizes its buffers by the batch: it must take min(batch, rows)
    # as the Python loop does, not ask for 2**31 rows of memory or overflow
    x, y = make_data("mse", rows=10)

    def run():
        model = fm.Sequential([fm.Input(shape=(13,)), fm.Dense(4), fm.Dense(5)], seed=0)
        model.compile(optimizer="adam", loss="mse")
        history = model.fit(x, y, batch_size=batch, epochs=2, verbose=0)
        return model.params.copy(), history.history["loss"], model.optimizer.iterations

    (p_c, h_c, it_c), (p_py, h_py, it_py) = on_both_loops(monkeypatch, run)
    whole = fm.Sequential([fm.Input(shape=(13,)), fm.Dense(4), fm.Dense(5)], seed=0)
    whole.compile(optimizer="adam", loss="mse")
    h_whole = whole.fit(x, y, batch_size=10, epochs=2, verbose=0).history["loss"]
    assert it_c == it_py == 2
    np.testing.assert_array_equal(p_c, p_py)
    np.testing.assert_array_equal(p_c, whole.params)
    assert h_c == h_py == h_whole
