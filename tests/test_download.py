"""MNIST download: mirrors tried in turn, SHA-256 checked, atomic, re-fetch.

Everything runs against an HTTP server on 127.0.0.1 started by the test,
serving small valid IDX files built here.
"""

import functools
import hashlib
import http.server
import os
import socket
import threading

import numpy as np
import pytest

from fastmlp.datasets import DatasetNotFoundError, DownloadError, mnist, save_idx
from fastmlp.datasets.download import fetch

N_TRAIN, N_TEST = 12, 5


def make_files(directory):
    """Write a tiny MNIST-format dataset; return the arrays written."""
    rng = np.random.default_rng(1)
    arrays = {
        "train-images-idx3-ubyte.gz": rng.integers(0, 256, (N_TRAIN, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte.gz": rng.integers(0, 10, N_TRAIN, dtype=np.uint8),
        "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, (N_TEST, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte.gz": rng.integers(0, 10, N_TEST, dtype=np.uint8),
    }
    os.makedirs(directory, exist_ok=True)
    for name, arr in arrays.items():
        save_idx(os.path.join(directory, name), arr)
    return arrays


def sha(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """Serve good/ (valid files) and corrupt/ (same names, damaged bytes)."""
    root = tmp_path_factory.mktemp("www")
    arrays = make_files(root / "good")
    checksums = {name: sha(root / "good" / name) for name in arrays}
    (root / "corrupt").mkdir()
    for name in arrays:
        blob = bytearray((root / "good" / name).read_bytes())
        blob[-5] ^= 0xFF
        (root / "corrupt" / name).write_bytes(bytes(blob))

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(Quiet, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield {"base": base, "arrays": arrays, "sha256": checksums}
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def dead_mirror():
    # A port nobody listens on: connection refused, immediately.
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"http://127.0.0.1:{port}/mnist/"


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch, tmp_path):
    monkeypatch.delenv("FASTMLP_DATA", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


def load(server, cache, mirrors):
    return mnist.load_data(mirrors=mirrors, sha256=server["sha256"], cache_dir=str(cache))


def assert_matches(server, data):
    (x_train, y_train), (x_test, y_test) = data
    a = server["arrays"]
    np.testing.assert_array_equal(x_train, a["train-images-idx3-ubyte.gz"])
    np.testing.assert_array_equal(y_train, a["train-labels-idx1-ubyte.gz"])
    np.testing.assert_array_equal(x_test, a["t10k-images-idx3-ubyte.gz"])
    np.testing.assert_array_equal(y_test, a["t10k-labels-idx1-ubyte.gz"])
    assert x_train.dtype == y_train.dtype == np.uint8
    assert x_train.shape == (N_TRAIN, 28, 28) and y_test.shape == (N_TEST,)


def test_downloads_verifies_and_caches(server, tmp_path):
    cache = tmp_path / "cache"
    assert_matches(server, load(server, cache, [server["base"] + "/good/"]))
    assert sorted(os.listdir(cache)) == sorted(server["arrays"])  # no temp files left
    # Second load: served from the cache, no network needed.
    assert_matches(server, load(server, cache, []))


def test_dead_mirror_then_good_one(server, tmp_path, dead_mirror):
    data = load(server, tmp_path / "c", [dead_mirror, server["base"] + "/good/"])
    assert_matches(server, data)


def test_missing_file_on_first_mirror_falls_through(server, tmp_path):
    data = load(server, tmp_path / "c", [server["base"] + "/nothing-here/", server["base"] + "/good/"])
    assert_matches(server, data)


def test_corrupt_download_is_rejected_and_not_kept(server, tmp_path):
    cache = tmp_path / "c"
    with pytest.raises(DatasetNotFoundError, match="checksum mismatch") as info:
        load(server, cache, [server["base"] + "/corrupt/"])
    assert "/corrupt/train-images-idx3-ubyte.gz" in str(info.value)
    assert os.listdir(cache) == []


def test_corrupt_mirror_then_good_one(server, tmp_path):
    data = load(server, tmp_path / "c", [server["base"] + "/corrupt/", server["base"] + "/good/"])
    assert_matches(server, data)


def test_cached_file_failing_its_checksum_is_fetched_again(server, tmp_path):
    cache = tmp_path / "c"
    load(server, cache, [server["base"] + "/good/"])
    damaged = cache / "t10k-labels-idx1-ubyte.gz"
    damaged.write_bytes(b"not what was downloaded")
    assert_matches(server, load(server, cache, [server["base"] + "/good/"]))
    assert sha(damaged) == server["sha256"]["t10k-labels-idx1-ubyte.gz"]


def test_no_network_error_lists_places_urls_and_how_to_get_files(server, tmp_path, dead_mirror):
    with pytest.raises(DatasetNotFoundError) as info:
        load(server, tmp_path / "c", [dead_mirror])
    msg = str(info.value)
    assert "FASTMLP_DATA" in msg
    assert str(tmp_path / "c") in msg
    assert dead_mirror + "train-images-idx3-ubyte.gz" in msg
    assert "https://ossci-datasets.s3.amazonaws.com/mnist/" in msg  # the real mirrors
    assert isinstance(info.value, FileNotFoundError)


def test_fastmlp_data_is_searched_before_the_cache(server, tmp_path, monkeypatch):
    make_files(tmp_path / "data" / "mnist")
    monkeypatch.setenv("FASTMLP_DATA", str(tmp_path / "data"))
    # No mirrors and an empty cache: only $FASTMLP_DATA/mnist can satisfy this.
    assert_matches(server, load(server, tmp_path / "empty", []))


def test_default_cache_is_under_home(server, monkeypatch, tmp_path):
    data = mnist.load_data(mirrors=[server["base"] + "/good/"], sha256=server["sha256"])
    assert_matches(server, data)
    assert (tmp_path / "home" / ".cache" / "fastmlp" / "mnist" / "train-labels-idx1-ubyte.gz").is_file()


def test_explicit_path_downloads_into_that_directory(server, tmp_path):
    target = tmp_path / "mine"
    data = mnist.load_data(str(target), mirrors=[server["base"] + "/good/"], sha256=server["sha256"])
    assert_matches(server, data)
    assert sorted(os.listdir(target)) == sorted(server["arrays"])


def test_module_level_checksum_table_is_used(server, tmp_path, monkeypatch):
    # The real table does not match the test files: every download is rejected.
    with pytest.raises(DatasetNotFoundError, match="checksum mismatch"):
        mnist.load_data(mirrors=[server["base"] + "/good/"], cache_dir=str(tmp_path / "c"))
    monkeypatch.setattr(mnist, "SHA256", server["sha256"])
    assert_matches(server, mnist.load_data(mirrors=[server["base"] + "/good/"],
                                           cache_dir=str(tmp_path / "c")))


def test_fetch_reports_every_url_tried(tmp_path, dead_mirror):
    with pytest.raises(DownloadError) as info:
        fetch("f.gz", str(tmp_path), [dead_mirror, dead_mirror + "x/"], None, timeout=5)
    assert str(info.value).count("http://127.0.0.1") == 2
    assert os.listdir(tmp_path) == []
