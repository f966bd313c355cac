"""Read IDX files, the format of MNIST and Fashion-MNIST.

An IDX file is a 4-byte magic number ``0x00 0x00 <type> <ndim>``, then
``ndim`` big-endian uint32 sizes, then the data, big-endian, C order.
Files ending in ``.gz`` are decompressed on the fly.

The loader trusts nothing in the header: the data length is checked against
what the header promises before any array of that size is allocated, and a
gzip stream is decompressed in bounded chunks, stopping one byte past the
promised size, so a lying header or a gzip bomb cannot exhaust memory.
"""

from __future__ import annotations

import gzip
import math
import os
import struct
import zlib
from typing import BinaryIO, Union

import numpy as np

PathLike = Union[str, "os.PathLike[str]"]

# Type byte -> element type (big-endian, as stored).
DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

# Refuse headers that promise more than this many data bytes (4 GiB); the
# largest IDX file in common use (MNIST train images) is 47 MB.
MAX_BYTES = 1 << 32

_CHUNK = 1 << 20


def load_idx(path: PathLike, *, max_bytes: int = MAX_BYTES) -> np.ndarray:
    """Read one IDX file (raw or ``.gz``) into a NumPy array.

    Returns an array of the shape the header gives, in native byte order
    (MNIST images come back as uint8 of shape (n, 28, 28)).

    Raises ``ValueError`` naming the file when the magic number, the type
    code or the dimensions are invalid, when the data is shorter or longer
    than the header says, when the gzip stream is corrupt, or when the
    header promises more than ``max_bytes`` bytes of data.
    """
    path = os.fspath(path)
    gz = _is_gzip(path)
    opener = gzip.open if gz else open
    with opener(path, "rb") as f:
        try:
            shape, dtype = _read_header(f, path)
            expected = math.prod(shape) * dtype.itemsize
            if expected > max_bytes:
                raise ValueError(
                    f"{path}: header promises {expected} bytes of data (shape {shape}, "
                    f"{dtype.name}), more than max_bytes={max_bytes}"
                )
            if not gz:
                # Raw file: its size tells the data length before any read.
                found = os.path.getsize(path) - 4 - 4 * len(shape)
                _check_length(path, shape, dtype, expected, found)
            data = _read_at_most(f, expected + 1)
        except (OSError, EOFError, zlib.error) as exc:
            # gzip.BadGzipFile is an OSError; EOFError is a cut-off gzip stream.
            kind = "gzip data" if gz else "file"
            raise ValueError(f"{path}: corrupt or unreadable {kind} ({exc})") from exc
    _check_length(path, shape, dtype, expected, len(data))
    arr = np.frombuffer(data, dtype=dtype).reshape(shape)
    if dtype.itemsize == 1:
        return arr  # a writable view of the bytearray: no second copy
    return arr.astype(dtype.newbyteorder("="))


def _is_gzip(path: str) -> bool:
    """True if the file starts with the gzip magic bytes (whatever its name)."""
    with open(path, "rb") as f:
        return f.read(2) == b"\x1f\x8b"


def _read_header(f: BinaryIO, path: str) -> tuple[tuple[int, ...], np.dtype]:
    magic = f.read(4)
    if len(magic) < 4:
        raise ValueError(f"{path}: file too short for an IDX magic number ({len(magic)} bytes)")
    zero0, zero1, type_code, ndim = magic
    if zero0 != 0 or zero1 != 0:
        raise ValueError(
            f"{path}: bad IDX magic number 0x{magic.hex()}: the first two bytes must be 0"
        )
    if type_code not in DTYPES:
        codes = ", ".join(f"0x{c:02X}" for c in DTYPES)
        raise ValueError(f"{path}: unknown IDX type code 0x{type_code:02X} (known: {codes})")
    if ndim == 0:
        raise ValueError(f"{path}: IDX header has 0 dimensions")
    raw = f.read(4 * ndim)
    if len(raw) < 4 * ndim:
        raise ValueError(
            f"{path}: header truncated: {ndim} dimensions need {4 * ndim} bytes of sizes, "
            f"found {len(raw)}"
        )
    shape = struct.unpack(f">{ndim}I", raw)
    return tuple(int(s) for s in shape), DTYPES[type_code]


def _check_length(path: str, shape: tuple, dtype: np.dtype, expected: int, found: int) -> None:
    if found == expected:
        return
    what = "truncated" if found < expected else "longer than its header says"
    raise ValueError(
        f"{path}: data is {what}: header shape {shape} of {dtype.name} needs "
        f"{expected} bytes, found {found if found < expected else 'more'}"
    )


def _read_at_most(f: BinaryIO, limit: int) -> bytearray:
    """Read up to ``limit`` bytes in bounded chunks; memory follows the real data."""
    buf = bytearray()
    while len(buf) < limit:
        chunk = f.read(min(_CHUNK, limit - len(buf)))
        if not chunk:
            break
        buf += chunk
    return buf


def save_idx(path: PathLike, array: np.ndarray) -> None:
    """Write ``array`` as an IDX file (gzip-compressed if ``path`` ends in .gz).

    Useful to store data in the MNIST format and to build test files.
    """
    arr = np.asarray(array)
    codes = {dt.newbyteorder("="): code for code, dt in DTYPES.items()}
    native = arr.dtype.newbyteorder("=")
    if native not in codes:
        raise ValueError(f"save_idx: dtype {arr.dtype} has no IDX type code")
    if arr.ndim == 0 or arr.ndim > 255:
        raise ValueError(f"save_idx: array must have 1 to 255 dimensions, got shape {arr.shape}")
    header = bytes([0, 0, codes[native], arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape)
    body = np.ascontiguousarray(arr, dtype=native.newbyteorder(">")).tobytes()
    path = os.fspath(path)
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "wb") as f:
        f.write(header + body)
