"""Save/load: exact round trips, training that resumes bit for bit, atomic
writes, and damaged or mismatched files that must fail with a clear
ValueError naming the file."""

from __future__ import annotations

import io
import json
import os
import zipfile

import numpy as np
import pytest

from fastmlp import io as fmio
from fastmlp import optimizers
from fastmlp.callbacks import Callback
from fastmlp.layers import Dense, Dropout, Input
from fastmlp.model import Sequential
from fastmlp.regularizers import l2

RNG = np.random.default_rng(42)
X = RNG.normal(size=(90, 4))
LABELS = (X[:, 0] + X[:, 1] * X[:, 2] > 0).astype(np.int64)


def make_model(optimizer="adam", *, seed=3, dtype="float32", dropout=0.0):
    # The second Dropout has its own seeded generator, which must be saved too.
    model = Sequential([Input(shape=(4,)),
                        Dense(8, activation="relu", kernel_regularizer=l2(1e-3), name="hidden1"),
                        Dropout(dropout), Dense(6, activation="tanh", name="hidden2"),
                        Dropout(dropout / 2, seed=11, name="seeded_dropout"),
                        Dense(2, activation="softmax", name="out")],
                       backend="numpy", dtype=dtype, seed=seed)
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def assert_same_state(a, b, *, same_config=True):
    if same_config:  # two models built apart differ at least in their names
        assert a.get_config() == b.get_config()
    assert a.get_compile_config() == b.get_compile_config()
    assert len(a.get_weights()) == len(b.get_weights())
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        assert wa.dtype == wb.dtype
        np.testing.assert_array_equal(wa, wb)
    va, vb = a.optimizer.variables(), b.optimizer.variables()
    assert sorted(va) == sorted(vb)
    for name in va:
        np.testing.assert_array_equal(va[name], vb[name])


@pytest.fixture
def saved(tmp_path):
    model = make_model()
    model.fit(X, LABELS, epochs=2, batch_size=16, verbose=0)
    path = tmp_path / "model.fmlp"
    model.save(path)
    return model, path


# ---- round trips ---------------------------------------------------------------------

@pytest.mark.parametrize("optimizer", [optimizers.SGD(0.1, momentum=0.9, nesterov=True),
                                       optimizers.Adagrad(0.05), optimizers.RMSprop(weight_decay=1e-4),
                                       optimizers.Adam(0.01), "sgd"], ids=repr)
def test_round_trip_restores_everything(tmp_path, optimizer):
    model = make_model(optimizer, dtype="float64")
    model.fit(X, LABELS, epochs=1, batch_size=32, verbose=0)
    path = tmp_path / "m.fmlp"
    fmio.save_model(model, path)
    loaded = fmio.load_model(path)
    assert_same_state(model, loaded)
    assert loaded.optimizer.iterations == 3
    np.testing.assert_array_equal(model.predict(X), loaded.predict(X))
    assert model.evaluate(X, LABELS) == loaded.evaluate(X, LABELS)


@pytest.mark.parametrize("random", [False, True], ids=["deterministic", "shuffle+dropout"])
@pytest.mark.parametrize("optimizer", ["sgd", "adam", "rmsprop", "adagrad"])
def test_training_resumes_bit_for_bit(tmp_path, optimizer, random):
    """fit 2 epochs, save, load, fit 1 more == fit 3 epochs straight."""
    dropout = 0.25 if random else 0.0
    straight = make_model(optimizer, dropout=dropout)
    straight.fit(X, LABELS, epochs=3, batch_size=16, shuffle=random, verbose=0)

    first = make_model(optimizer, dropout=dropout)
    first.fit(X, LABELS, epochs=2, batch_size=16, shuffle=random, verbose=0)
    first.save(tmp_path / "half.fmlp")
    resumed = fmio.load_model(tmp_path / "half.fmlp")
    history = resumed.fit(X, LABELS, epochs=3, initial_epoch=2, batch_size=16, shuffle=random,
                          verbose=0)
    assert history.epoch == [2]
    assert resumed.optimizer.iterations == straight.optimizer.iterations == 18
    assert_same_state(straight, resumed, same_config=False)


def test_saving_an_unfitted_compiled_model_keeps_fresh_optimizer_state(tmp_path):
    model = make_model()
    fmio.save_model(model, tmp_path / "fresh.fmlp")
    loaded = fmio.load_model(tmp_path / "fresh.fmlp")
    assert_same_state(model, loaded)
    assert loaded.optimizer.iterations == 0


def test_uncompiled_and_unbuilt_models_round_trip(tmp_path):
    plain = Sequential([Input(shape=(3,)), Dense(2)], backend="numpy", seed=1)
    fmio.save_model(plain, tmp_path / "plain.fmlp")
    loaded = fmio.load_model(tmp_path / "plain.fmlp")
    assert loaded.get_compile_config() is None
    np.testing.assert_array_equal(loaded.get_weights()[0], plain.get_weights()[0])

    unbuilt = Sequential([Dense(2, activation="sigmoid")], backend="numpy", seed=1)
    unbuilt.compile(optimizer="sgd", loss="binary_crossentropy")
    fmio.save_model(unbuilt, tmp_path / "unbuilt.fmlp")
    loaded = fmio.load_model(tmp_path / "unbuilt.fmlp")
    assert not loaded.built and loaded.get_compile_config() == unbuilt.get_compile_config()


def test_load_without_compiling(saved):
    _, path = saved
    assert fmio.load_model(path, compile=False).get_compile_config() is None


def test_load_on_another_backend(saved):
    model, path = saved
    loaded = fmio.load_model(path, backend="numpy")
    assert loaded.backend == "numpy"
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


def test_the_same_model_always_gives_the_same_bytes(tmp_path, saved):
    model, path = saved
    fmio.save_model(model, tmp_path / "again.fmlp")
    assert (tmp_path / "again.fmlp").read_bytes() == path.read_bytes()


def test_the_file_holds_a_json_manifest_and_npy_arrays(saved):
    _, path = saved
    with zipfile.ZipFile(path) as zf:
        manifest = json.loads(zf.read("fastmlp.json"))
        assert manifest["format"] == "fastmlp" and manifest["format_version"] == 1
        assert [w["name"] for w in manifest["weights"]] == [
            f"{layer}/{kind}" for layer in ("hidden1", "hidden2", "out")
            for kind in ("kernel", "bias")]
        first = manifest["weights"][0]
        arr = np.load(io.BytesIO(zf.read(first["file"])), allow_pickle=False)
        assert list(arr.shape) == first["shape"] == [4, 8] and arr.dtype.name == "float32"
        assert sorted(v["name"] for v in manifest["optimizer_variables"]) == ["iterations", "m", "v"]


# ---- atomic writes -------------------------------------------------------------------

def test_save_replaces_atomically_and_leaves_no_temporary_file(tmp_path, saved):
    model, path = saved
    model.fit(X, LABELS, epochs=1, verbose=0)
    model.save(path)
    assert os.listdir(tmp_path) == ["model.fmlp"]
    assert_same_state(model, fmio.load_model(path))


def test_a_failed_save_keeps_the_old_file_and_cleans_up(tmp_path, saved, monkeypatch):
    model, path = saved
    before = path.read_bytes()

    def fail(*args):
        raise OSError("disk full")

    monkeypatch.setattr(fmio, "_write_zip", fail)
    model.fit(X, LABELS, epochs=1, verbose=0)
    with pytest.raises(OSError, match="disk full"):
        model.save(path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["model.fmlp"]


def test_saved_file_gets_ordinary_permissions(tmp_path, saved):
    _, path = saved
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


def test_saving_into_a_missing_directory_names_it(tmp_path, saved):
    model, _ = saved
    with pytest.raises(FileNotFoundError, match="directory .*nowhere does not exist"):
        model.save(tmp_path / "nowhere" / "m.fmlp")


def test_saving_something_that_is_not_a_model():
    with pytest.raises(TypeError, match="expected a fastmlp model, got dict"):
        fmio.save_model({}, "x.fmlp")


def test_saving_onto_a_directory_fails_cleanly(tmp_path, saved):
    model, _ = saved
    (tmp_path / "adir").mkdir()
    with pytest.raises(OSError):
        model.save(tmp_path / "adir")
    assert sorted(os.listdir(tmp_path)) == ["adir", "model.fmlp"]


# ---- damaged and mismatched files ----------------------------------------------------

def rewrite(src, dst, *, manifest=None, members=None, drop=()):
    """Copy the archive ``src`` to ``dst`` changing the manifest (a function
    of the parsed JSON) and members (name -> bytes), dropping some."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for name in zin.namelist():
            if name in drop:
                continue
            data = zin.read(name)
            if name == "fastmlp.json" and manifest is not None:
                data = json.dumps(manifest(json.loads(data))).encode()
            if members and name in members:
                data = members[name]
            zout.writestr(name, data)
    return dst


def npy(arr, allow_pickle=False):
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=allow_pickle)
    return buf.getvalue()


def expect_error(path, message):
    with pytest.raises(ValueError, match=message) as info:
        fmio.load_model(path)
    assert str(path) in str(info.value)


def test_bad_rng_state(tmp_path, saved):
    def scramble(m):
        m["rng_state"]["shuffle"] = {"bit_generator": "MT19937"}
        return m
    expect_error(rewrite(saved[1], tmp_path / "r.fmlp", manifest=scramble), "invalid rng_state")


def test_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        fmio.load_model(tmp_path / "nope.fmlp")


@pytest.mark.parametrize("fraction", [0.0, 0.02, 0.25, 0.5, 0.75, 0.98, 0.999])
def test_truncated_file(tmp_path, saved, fraction):
    _, path = saved
    data = path.read_bytes()
    bad = tmp_path / "cut.fmlp"
    bad.write_bytes(data[: int(len(data) * fraction)])
    expect_error(bad, "truncated")


def test_every_flipped_byte_is_caught_or_harmless(tmp_path, saved):
    """Flip bytes all over the file: loading either fails with a ValueError
    naming the file or gives back exactly the saved model (the byte was in a
    field nobody reads, such as a timestamp)."""
    model, path = saved
    data = path.read_bytes()
    bad = tmp_path / "flipped.fmlp"
    harmless = tried = 0
    for pos in range(0, len(data), max(1, len(data) // 400)):
        tried += 1
        flipped = bytearray(data)
        flipped[pos] ^= 0x5A
        bad.write_bytes(bytes(flipped))
        try:
            loaded = fmio.load_model(bad)
        except ValueError as err:
            assert str(bad) in str(err)
            continue
        assert_same_state(model, loaded)
        harmless += 1
    assert harmless < tried // 4  # most bytes matter


def test_not_a_zip(tmp_path):
    bad = tmp_path / "text.fmlp"
    bad.write_text("hello, I am not a model\n" * 20)
    expect_error(bad, "not a fastmlp model file")


def test_a_zip_that_is_not_a_model(tmp_path):
    bad = tmp_path / "other.zip"
    with zipfile.ZipFile(bad, "w") as zf:
        zf.writestr("config.json", "{}")
    expect_error(bad, "no member 'fastmlp.json'")


def test_a_keras_like_manifest_is_not_a_fastmlp_file(tmp_path, saved):
    expect_error(rewrite(saved[1], tmp_path / "k.fmlp", manifest=lambda m: {**m, "format": "keras"}),
                 "not a fastmlp model file")


def test_manifest_that_is_not_json(tmp_path, saved):
    expect_error(rewrite(saved[1], tmp_path / "j.fmlp", members={"fastmlp.json": b"{nope"}),
                 "not valid JSON")


@pytest.mark.parametrize("version", [2, 0, "1", None, True, 1.0])
def test_unsupported_format_version(tmp_path, saved, version):
    bad = rewrite(saved[1], tmp_path / "v.fmlp", manifest=lambda m: {**m, "format_version": version})
    expect_error(bad, f"format_version {version!r} is not supported")


def test_missing_array(tmp_path, saved):
    expect_error(rewrite(saved[1], tmp_path / "m.fmlp", drop={"weights/0003.npy"}),
                 "no member 'weights/0003.npy'")


def test_missing_weight_entry(tmp_path, saved):
    bad = rewrite(saved[1], tmp_path / "w.fmlp",
                  manifest=lambda m: {**m, "weights": m["weights"][:-1]})
    expect_error(bad, "has 5 weight arrays but the model described in it needs 6")


def test_wrong_shape_in_the_manifest(tmp_path, saved):
    def widen(m):
        m["weights"][0]["shape"] = [5, 8]
        return m
    expect_error(rewrite(saved[1], tmp_path / "s.fmlp", manifest=widen),
                 r"weight 'hidden1/kernel' is recorded with shape \[5, 8\].*needs shape \[4, 8\]")


def test_array_whose_shape_disagrees_with_the_manifest(tmp_path, saved):
    bad = rewrite(saved[1], tmp_path / "a.fmlp",
                  members={"weights/0000.npy": npy(np.zeros((8, 4), np.float32))})
    expect_error(bad, r"holds shape \(8, 4\)")


def test_array_of_the_wrong_dtype(tmp_path, saved):
    bad = rewrite(saved[1], tmp_path / "d.fmlp",
                  members={"weights/0000.npy": npy(np.zeros((4, 8), np.float64))})
    expect_error(bad, "dtype float64")


def test_model_config_whose_layers_changed(tmp_path, saved):
    def grow(m):
        m["model"]["layers"][0]["config"]["units"] = 9
        return m
    expect_error(rewrite(saved[1], tmp_path / "g.fmlp", manifest=grow), "needs shape")


def test_pickled_array_is_refused(tmp_path, saved):
    bad = rewrite(saved[1], tmp_path / "p.fmlp",
                  members={"weights/0001.npy": npy(np.array([os.system] * 8, dtype=object),
                                                   allow_pickle=True)})
    expect_error(bad, "fastmlp model file")


def test_non_finite_weights_are_refused(tmp_path, saved):
    bad = rewrite(saved[1], tmp_path / "n.fmlp",
                  members={"weights/0001.npy": npy(np.full(8, np.nan, np.float32))})
    expect_error(bad, "bad weights")


def test_unknown_layer_class_is_not_imported(tmp_path, saved):
    def evil(m):
        m["model"]["layers"][0]["class_name"] = "os.system"
        return m
    expect_error(rewrite(saved[1], tmp_path / "e.fmlp", manifest=evil), "invalid model config")


def test_unknown_optimizer_class(tmp_path, saved):
    def evil(m):
        m["compile"]["optimizer"]["class_name"] = "Lion"
        return m
    expect_error(rewrite(saved[1], tmp_path / "o.fmlp", manifest=evil), "invalid compile config")


def test_missing_optimizer_variable(tmp_path, saved):
    def drop_v(m):
        m["optimizer_variables"] = [v for v in m["optimizer_variables"] if v["name"] != "v"]
        return m
    expect_error(rewrite(saved[1], tmp_path / "ov.fmlp", manifest=drop_v),
                 r"optimizer variables .* Adam needs \['iterations', 'm', 'v'\]")


def test_optimizer_state_of_the_wrong_size(tmp_path, saved):
    bad = rewrite(saved[1], tmp_path / "os.fmlp", members={"optimizer/m.npy": npy(np.zeros(3, np.float32))})
    expect_error(bad, r"optimizer/m.npy' holds shape \(3,\)")


def test_a_member_claiming_a_huge_size_is_not_read(tmp_path, saved):
    bad = rewrite(saved[1], tmp_path / "big.fmlp",
                  members={"weights/0000.npy": b"\0" * (1 << 20)})
    expect_error(bad, "too large")


# ---- with callbacks: EarlyStopping's restored weights are what gets saved ----------------

def test_model_saved_from_a_callback_loads(tmp_path):
    class SaveEachEpoch(Callback):
        def on_epoch_end(self, epoch, logs=None):
            self.model.save(tmp_path / f"epoch{epoch}.fmlp")

    model = make_model()
    model.fit(X, LABELS, epochs=2, batch_size=30, verbose=0, callbacks=[SaveEachEpoch()])
    assert fmio.load_model(tmp_path / "epoch1.fmlp").optimizer.iterations == 6


def test_c_backend_model_round_trips_and_loads_on_numpy(tmp_path):
    pytest.importorskip("fastmlp._kernels", exc_type=ImportError)
    model = Sequential([Input(shape=(4,)), Dense(5, activation="relu"), Dense(2, activation="softmax")],
                       backend="c", seed=4)
    model.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy")
    model.fit(X, LABELS, epochs=1, verbose=0)
    model.save(tmp_path / "c.fmlp")
    again = fmio.load_model(tmp_path / "c.fmlp")
    assert again.backend == "c"
    assert_same_state(model, again)
    on_numpy = fmio.load_model(tmp_path / "c.fmlp", backend="numpy")
    np.testing.assert_allclose(on_numpy.predict(X), model.predict(X), rtol=1e-5, atol=1e-6)


def test_metadata_round_trips_and_is_validated(tmp_path):
    model = Sequential([Input(shape=(3,)), Dense(2)], backend="numpy", seed=0)
    path = tmp_path / "m.fmlp"
    fmio.save_model(model, path, metadata={"scaler": {"mean": [1.0, 2.0]}, "task": "regression"})
    loaded = fmio.load_model(path)
    assert loaded.metadata == {"scaler": {"mean": [1.0, 2.0]}, "task": "regression"}
    assert fmio.load_model(path).metadata == loaded.metadata
    with pytest.raises(ValueError, match="metadata is not JSON-serialisable"):
        fmio.save_model(model, path, metadata={"bad": object()})
    with pytest.raises(TypeError, match="metadata must be a dict"):
        fmio.save_model(model, path, metadata=[1, 2])
    model.save(tmp_path / "plain.fmlp")
    assert fmio.load_model(tmp_path / "plain.fmlp").metadata == {}
