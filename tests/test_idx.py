"""The IDX loader reads good files exactly and refuses damaged ones clearly."""

import gzip
import struct
import tracemalloc

import numpy as np
import pytest

from fastmlp.datasets import load_idx, save_idx


def header(type_code, shape):
    return bytes([0, 0, type_code, len(shape)]) + struct.pack(f">{len(shape)}I", *shape)


def write(path, data, gz=False):
    if gz:
        with gzip.open(path, "wb") as f:
            f.write(data)
    else:
        path.write_bytes(data)
    return path


@pytest.mark.parametrize("dtype", ["uint8", "int8", "int16", "int32", "float32", "float64"])
@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_round_trip_every_type_code(tmp_path, dtype, suffix):
    rng = np.random.default_rng(0)
    arr = (rng.standard_normal((3, 4, 5)) * 100).astype(dtype)
    path = tmp_path / f"a.idx{suffix}"
    save_idx(path, arr)
    got = load_idx(path)
    assert got.dtype == np.dtype(dtype)
    assert got.dtype.isnative
    np.testing.assert_array_equal(got, arr)


def test_reads_the_mnist_layout_byte_for_byte(tmp_path):
    # Hand-built file: 2 images of 2x3, values 0..11, as MNIST lays them out.
    data = header(0x08, (2, 2, 3)) + bytes(range(12))
    got = load_idx(write(tmp_path / "x", data))
    assert got.shape == (2, 2, 3) and got.dtype == np.uint8
    np.testing.assert_array_equal(got.ravel(), np.arange(12))


def test_big_endian_values_are_decoded(tmp_path):
    data = header(0x0C, (2,)) + struct.pack(">2i", 1, -70000)
    np.testing.assert_array_equal(load_idx(write(tmp_path / "x", data)), [1, -70000])


def test_gzip_is_detected_by_content_not_name(tmp_path):
    data = header(0x08, (3,)) + b"\x01\x02\x03"
    path = write(tmp_path / "labels.idx", data, gz=True)
    np.testing.assert_array_equal(load_idx(path), [1, 2, 3])


@pytest.mark.parametrize(
    "data, message",
    [
        (b"\x00\x00", "too short"),
        (b"\x01\x00\x08\x01" + b"\x00" * 8, "magic"),
        (b"\x00\x00\x07\x01" + b"\x00" * 8, "type code 0x07"),
        (b"\x00\x00\x08\x00", "0 dimensions"),
        (b"\x00\x00\x08\x03\x00\x00\x00\x02", "header truncated"),
    ],
)
@pytest.mark.parametrize("gz", [False, True])
def test_bad_headers_raise_value_error_naming_the_file(tmp_path, data, message, gz):
    path = write(tmp_path / "bad.idx", data, gz=gz)
    with pytest.raises(ValueError, match=message) as info:
        load_idx(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("gz", [False, True])
def test_truncated_data_is_reported_with_sizes(tmp_path, gz):
    path = write(tmp_path / "t.idx", header(0x08, (10, 28, 28)) + bytes(7000), gz=gz)
    with pytest.raises(ValueError, match=r"truncated.*7840 bytes, found 7000"):
        load_idx(path)


@pytest.mark.parametrize("gz", [False, True])
def test_trailing_data_is_reported(tmp_path, gz):
    path = write(tmp_path / "t.idx", header(0x08, (4,)) + bytes(5), gz=gz)
    with pytest.raises(ValueError, match="longer than its header says"):
        load_idx(path)


def test_cut_off_gzip_stream_is_a_value_error(tmp_path):
    good = tmp_path / "good.gz"
    save_idx(good, np.arange(5000, dtype=np.int32))
    blob = good.read_bytes()
    path = tmp_path / "cut.gz"
    path.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(ValueError, match="cut.gz"):
        load_idx(path)


def test_garbage_after_gzip_magic_is_a_value_error(tmp_path):
    path = tmp_path / "junk.gz"
    path.write_bytes(b"\x1f\x8b" + bytes(range(256)) * 4)
    with pytest.raises(ValueError, match="junk.gz"):
        load_idx(path)


def peak_bytes_of(fn):
    tracemalloc.start()
    try:
        fn()
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return peak


@pytest.mark.parametrize("gz", [False, True])
def test_lying_header_does_not_allocate_what_it_claims(tmp_path, gz):
    # The header claims 2 GiB; the file holds 10 bytes.
    path = write(tmp_path / "liar.idx", header(0x08, (1 << 31,)) + bytes(10), gz=gz)
    holder = {}

    def run():
        with pytest.raises(ValueError, match="truncated"):
            load_idx(path)
        holder["ok"] = True

    assert peak_bytes_of(run) < 8 << 20
    assert holder["ok"]


def test_gzip_bomb_is_cut_at_the_promised_size(tmp_path):
    # 200 MB of zeros compress to ~200 kB; the header promises 100 bytes.
    path = tmp_path / "bomb.gz"
    with gzip.open(path, "wb", compresslevel=9) as f:
        f.write(header(0x08, (100,)))
        zeros = bytes(1 << 20)
        for _ in range(200):
            f.write(zeros)
    peak = peak_bytes_of(lambda: pytest.raises(ValueError, load_idx, path))
    assert peak < 8 << 20


def test_header_beyond_max_bytes_is_refused_before_reading(tmp_path):
    path = write(tmp_path / "huge.idx", header(0x0E, (1 << 20, 1 << 20)))
    with pytest.raises(ValueError, match="max_bytes"):
        load_idx(path)
    with pytest.raises(ValueError, match="max_bytes=16"):
        load_idx(write(tmp_path / "small.idx", header(0x08, (17,)) + bytes(17)), max_bytes=16)


def test_save_idx_refuses_types_without_a_code(tmp_path):
    with pytest.raises(ValueError, match="no IDX type code"):
        save_idx(tmp_path / "x.idx", np.zeros(3, dtype=np.uint16))
