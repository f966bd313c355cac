"""Save and load models: one file, written atomically, read without running
any code from it.

The file is a ZIP archive (stored, not compressed) holding::

    fastmlp.json             the manifest, see below
    weights/0000.npy ...     model.get_weights(), in order
    optimizer/<name>.npy     model.optimizer.variables() (slots, iterations)

The manifest is JSON::

    {"format": "fastmlp", "format_version": 1, "fastmlp_version": "...",
     "model": model.get_config(), "compile": model.get_compile_config(),
     "weights": [{"name": "dense/kernel", "file": "weights/0000.npy",
                  "shape": [784, 256], "dtype": "float32"}, ...],
     "optimizer_variables": [{"name": "m", "file": "optimizer/m.npy", ...}, ...],
     "rng_state": model.get_rng_state() or null}

Arrays are ``.npy`` files read with ``allow_pickle=False``; the manifest is
parsed with ``json``; layers, losses and optimizers are rebuilt from their
configs by name from fixed registries. The ZIP's CRC-32 of every member
catches flipped bytes; sizes, shapes and dtypes are checked against the
rebuilt model before any array is read into it. Anything wrong raises
``ValueError`` naming the file and the problem.

Saving writes a temporary file in the target directory, flushes it to disk
and renames it over the target, so a crash never leaves a half-written
model under the real name.
"""

from __future__ import annotations

import io
import json
import os
import secrets
import zipfile
from typing import Any, Optional

import numpy as np

__all__ = ["save_model", "load_model", "FORMAT", "FORMAT_VERSION"]

FORMAT = "fastmlp"
FORMAT_VERSION = 1
MANIFEST = "fastmlp.json"
_MAX_MANIFEST_BYTES = 64 << 20
_NPY_HEADER_ALLOWANCE = 64 << 10  # an .npy header is far smaller than this
_DTYPES = ("float32", "float64", "int64")
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # fixed, so the same model gives the same bytes


class ModelFileError(ValueError):
    """A model file that cannot be loaded; the message names the file."""


# ---- save ---------------------------------------------------------------------------

def save_model(model: Any, path: str | os.PathLike, *, metadata: Optional[dict] = None) -> None:
    """Write ``model`` (architecture, weights, compile settings, optimizer
    state and, when the model exposes it, its random generator state) to
    ``path`` as one file, atomically. ``fastmlp.load_model(path)`` reads it
    back and training resumes where it stopped.

    ``metadata``: a JSON-serialisable dict kept in the file (the command
    line stores its preprocessing there); ``load_model`` returns it as
    ``model.metadata``."""
    path = os.fspath(path)
    if not callable(getattr(model, "get_config", None)):
        raise TypeError(f"save_model: expected a fastmlp model, got {type(model).__name__}")
    if metadata is not None:
        if not isinstance(metadata, dict):
            raise TypeError(f"save_model: metadata must be a dict, got {type(metadata).__name__}")
        try:
            json.dumps(metadata, allow_nan=False)
        except (TypeError, ValueError) as err:
            raise ValueError(f"save_model: metadata is not JSON-serialisable ({err})") from None
    manifest, arrays = _collect(model)
    manifest["metadata"] = metadata if metadata is not None else getattr(model, "metadata", {})
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"save_model: cannot write {path}: directory {directory} does not exist")
    fd, tmp = _create_temp(directory, os.path.basename(path))
    try:
        with os.fdopen(fd, "wb") as f:
            _write_zip(f, manifest, arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_directory(directory)


def _collect(model: Any) -> tuple[dict, dict[str, np.ndarray]]:
    """The manifest and the arrays to write, named by their member path."""
    from fastmlp import __version__

    arrays: dict[str, np.ndarray] = {}
    weights = []
    if model.built:
        for i, (name, arr) in enumerate(_named_weights(model)):
            member = f"weights/{i:04d}.npy"
            arrays[member] = arr
            weights.append(_entry(name, member, arr))
    compile_config = model.get_compile_config()
    opt_vars = []
    if compile_config is not None and model.built:
        # A compiled, built model always has optimizer state, even before fit.
        model.optimizer.build(model.params.size, model.dtype)
        for name, arr in model.optimizer.variables().items():
            member = f"optimizer/{name}.npy"
            arrays[member] = np.asarray(arr)
            opt_vars.append(_entry(name, member, arrays[member]))
    get_rng_state = getattr(model, "get_rng_state", None)
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "fastmlp_version": __version__,
        "model": model.get_config(),
        "compile": compile_config,
        "weights": weights,
        "optimizer_variables": opt_vars,
        "rng_state": get_rng_state() if callable(get_rng_state) else None,
    }
    return manifest, arrays


def _named_weights(model: Any) -> list[tuple[str, np.ndarray]]:
    out = []
    for layer in model.layers:
        ws = layer.get_weights()
        kinds = ["kernel", "bias"] if len(ws) <= 2 else [str(i) for i in range(len(ws))]
        out.extend((f"{layer.name}/{kind}", w) for kind, w in zip(kinds, ws))
    return out


def _entry(name: str, member: str, arr: np.ndarray) -> dict:
    return {"name": name, "file": member, "shape": list(arr.shape), "dtype": arr.dtype.name}


def _write_zip(f: Any, manifest: dict, arrays: dict[str, np.ndarray]) -> None:
    with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_STORED) as zf:
        zf.writestr(zipfile.ZipInfo(MANIFEST, _ZIP_DATE),
                    json.dumps(manifest, indent=1, allow_nan=False).encode("utf-8"))
        for member, arr in arrays.items():
            buf = io.BytesIO()
            np.save(buf, np.asarray(arr, dtype=arr.dtype.newbyteorder("<"), order="C"),
                    allow_pickle=False)
            zf.writestr(zipfile.ZipInfo(member, _ZIP_DATE), buf.getvalue())


def _create_temp(directory: str, base: str) -> tuple[int, str]:
    """A new file beside the target, created with the usual permissions
    (0666 less the umask), unlike tempfile's private 0600."""
    for _ in range(100):
        tmp = os.path.join(directory, f".{base}.{secrets.token_hex(6)}.tmp")
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"could not create a temporary file in {directory}")


def _fsync_directory(directory: str) -> None:
    """Make the rename itself durable (POSIX); best effort elsewhere."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# ---- load ---------------------------------------------------------------------------

def load_model(path: str | os.PathLike, *, compile: bool = True,
               backend: Optional[str] = None) -> Any:
    """Rebuild a model saved by ``model.save(path)`` / ``save_model``.

    With ``compile=True`` (the default) the model comes back compiled with its
    optimizer state, so ``fit`` continues exactly where it stopped.
    ``backend`` ("c" or "numpy") overrides the saved backend.

    Raises ``FileNotFoundError`` for a missing file and ``ValueError``
    naming the file and the problem for anything that is not an intact
    fastmlp model file (truncated, corrupted, other format or version,
    missing arrays, wrong shapes or dtypes).
    """
    path = os.fspath(path)
    with open(path, "rb") as f:
        try:
            return _load(f, path, compile, backend)
        except ModelFileError:
            raise
        except Exception as err:  # zipfile/zlib/json/numpy internals on damaged bytes
            raise ModelFileError(
                f"{path}: not a readable fastmlp model file; it may be truncated or "
                f"corrupted ({type(err).__name__}: {err})") from err


def _load(f: Any, path: str, compile: bool, backend: Optional[str]) -> Any:
    if not zipfile.is_zipfile(f):
        raise ModelFileError(f"{path}: not a fastmlp model file (not a ZIP archive; "
                             "it may be truncated or another format)")
    f.seek(0)
    with zipfile.ZipFile(f) as zf:
        reader = _Reader(zf, path)
        manifest = reader.manifest()
        model = _build_model(manifest, path, backend)
        _restore_weights(model, manifest, reader, path)
        if compile and manifest.get("compile") is not None:
            _restore_compile(model, manifest, reader, path)
        _restore_rng(model, manifest, path)
        model.metadata = _metadata(manifest, path)
    return model


def _metadata(manifest: dict, path: str) -> dict:
    metadata = manifest.get("metadata", {})
    if metadata is None:
        return {}
    if not isinstance(metadata, dict):
        raise ModelFileError(f"{path}: metadata must be a JSON object, got {type(metadata).__name__}")
    return metadata


class _Reader:
    """Reads members of the archive with size checks before any read."""

    def __init__(self, zf: zipfile.ZipFile, path: str) -> None:
        self.zf, self.path = zf, path

    def _info(self, member: str) -> zipfile.ZipInfo:
        try:
            return self.zf.getinfo(member)
        except KeyError:
            raise ModelFileError(f"{self.path}: the file has no member {member!r} "
                                 "(it is missing, or the archive is corrupted)") from None

    def manifest(self) -> dict:
        info = self._info(MANIFEST)
        if info.file_size > _MAX_MANIFEST_BYTES:
            raise ModelFileError(f"{self.path}: {MANIFEST} is {info.file_size} bytes, too large")
        try:
            manifest = json.loads(self.zf.read(info).decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise ModelFileError(f"{self.path}: {MANIFEST} is not valid JSON ({err})") from None
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise ModelFileError(f"{self.path}: not a fastmlp model file "
                                 f"(its manifest does not say format {FORMAT!r})")
        version = manifest.get("format_version")
        if type(version) is not int or version != FORMAT_VERSION:  # not true, not 1.0
            raise ModelFileError(f"{self.path}: format_version {version!r} is not supported; "
                                 f"this fastmlp reads version {FORMAT_VERSION}")
        return manifest

    def array(self, entry: object, what: str, shape: tuple, dtype: np.dtype) -> np.ndarray:
        """Read the array ``entry`` describes, after checking that entry
        against the ``shape`` and ``dtype`` the model needs."""
        if not isinstance(entry, dict) or not isinstance(entry.get("file"), str):
            raise ModelFileError(f"{self.path}: manifest entry for {what} is malformed: {entry!r}")
        if entry.get("dtype") not in _DTYPES or entry.get("shape") != list(shape) \
                or np.dtype(entry["dtype"]) != dtype:
            raise ModelFileError(
                f"{self.path}: {what} is recorded with shape {entry.get('shape')} and dtype "
                f"{entry.get('dtype')}; the model needs shape {list(shape)} and dtype {dtype}")
        info = self._info(entry["file"])
        if info.file_size > dtype.itemsize * int(np.prod(shape)) + _NPY_HEADER_ALLOWANCE:
            raise ModelFileError(f"{self.path}: member {entry['file']!r} is {info.file_size} bytes, "
                                 f"too large for {what}")
        arr = np.load(io.BytesIO(self.zf.read(info)), allow_pickle=False)
        if arr.shape != tuple(shape) or arr.dtype.name != dtype.name:
            raise ModelFileError(f"{self.path}: member {entry['file']!r} holds shape {arr.shape} "
                                 f"and dtype {arr.dtype}; expected {tuple(shape)} and {dtype}")
        return arr


def _build_model(manifest: dict, path: str, backend: Optional[str]) -> Any:
    from fastmlp.model import Sequential

    config = manifest.get("model")
    if not isinstance(config, dict):
        raise ModelFileError(f"{path}: the manifest has no model config")
    try:
        model = Sequential.from_config(config, backend=backend)
    except ImportError as err:  # the file is fine; this machine lacks the backend
        raise ImportError(f"{path}: the model uses backend {config.get('backend')!r}, which cannot "
                          f"be loaded here ({err}); pass backend='numpy' to load_model") from err
    except Exception as err:  # layer or model validation: a config we cannot rebuild
        raise ModelFileError(f"{path}: invalid model config ({type(err).__name__}: {err})") from err
    return model


def _restore_weights(model: Any, manifest: dict, reader: _Reader, path: str) -> None:
    entries = manifest.get("weights")
    if not isinstance(entries, list):
        raise ModelFileError(f"{path}: the manifest has no weights list")
    expected = _named_weights(model) if model.built else []
    if len(entries) != len(expected):
        raise ModelFileError(f"{path}: the file has {len(entries)} weight arrays but the model "
                             f"described in it needs {len(expected)}")
    arrays = [reader.array(entry, f"weight {name!r}", w.shape, w.dtype)
              for entry, (name, w) in zip(entries, expected)]
    if arrays:
        try:
            model.set_weights(arrays)
        except (ValueError, TypeError) as err:  # e.g. NaN written into a weight
            raise ModelFileError(f"{path}: bad weights ({err})") from err


def _restore_compile(model: Any, manifest: dict, reader: _Reader, path: str) -> None:
    try:
        model.compile_from_config(manifest["compile"])
    except Exception as err:
        raise ModelFileError(f"{path}: invalid compile config ({type(err).__name__}: {err})") from err
    entries = manifest.get("optimizer_variables")
    if not isinstance(entries, list):
        raise ModelFileError(f"{path}: the manifest has no optimizer_variables list")
    if not model.built:
        if entries:
            raise ModelFileError(f"{path}: optimizer state saved for a model without weights")
        return
    model.optimizer.build(model.params.size, model.dtype)
    expected = model.optimizer.variables()
    names = [e.get("name") if isinstance(e, dict) else None for e in entries]
    if sorted(map(str, names)) != sorted(expected):
        raise ModelFileError(f"{path}: the file has optimizer variables {names}; "
                             f"{type(model.optimizer).__name__} needs {sorted(expected)}")
    values = {name: reader.array(entry, f"optimizer variable {name!r}", expected[name].shape,
                                 expected[name].dtype)
              for name, entry in zip(names, entries)}
    if int(values["iterations"]) < 0:
        raise ModelFileError(f"{path}: optimizer iterations is negative")
    model.optimizer.set_variables(values)


def _restore_rng(model: Any, manifest: dict, path: str) -> None:
    state = manifest.get("rng_state")
    set_rng_state = getattr(model, "set_rng_state", None)
    if state is None or not callable(set_rng_state):
        return
    try:
        set_rng_state(state)
    except Exception as err:
        raise ModelFileError(f"{path}: invalid rng_state ({type(err).__name__}: {err})") from err
