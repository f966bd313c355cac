"""Fashion-MNIST loads as Keras returns it, from the system copy or a directory."""

import os

import numpy as np
import pytest

from fastmlp.datasets import DatasetNotFoundError, fashion_mnist, save_idx

SYSTEM = "/usr/share/datasets/fashion-mnist"


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch, tmp_path):
    monkeypatch.delenv("FASTMLP_DATA", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


def test_system_copy_has_keras_shapes_and_dtypes():
    if not os.path.isdir(SYSTEM) and not os.environ.get("CI"):
        pytest.skip("needs the apt package dataset-fashion-mnist (CI installs it)")
    (x_train, y_train), (x_test, y_test) = fashion_mnist.load_data(mirrors=[])
    assert x_train.shape == (60000, 28, 28) and x_train.dtype == np.uint8
    assert y_train.shape == (60000,) and y_train.dtype == np.uint8
    assert x_test.shape == (10000, 28, 28) and x_test.dtype == np.uint8
    assert y_test.shape == (10000,) and y_test.dtype == np.uint8
    # Balanced classes, as published: 6000 / 1000 per class.
    np.testing.assert_array_equal(np.bincount(y_train), [6000] * 10)
    np.testing.assert_array_equal(np.bincount(y_test), [1000] * 10)
    assert x_train.max() == 255 and x_train.min() == 0


def write_set(directory, n=4, images=None, labels=None, test_labels=None):
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8) if images is None else images
    labs = rng.integers(0, 10, n, dtype=np.uint8) if labels is None else labels
    save_idx(directory / "train-images-idx3-ubyte.gz", imgs)
    save_idx(directory / "train-labels-idx1-ubyte.gz", labs)
    # Test files stored uncompressed: both spellings are accepted.
    save_idx(directory / "t10k-images-idx3-ubyte", imgs)
    save_idx(directory / "t10k-labels-idx1-ubyte", labs if test_labels is None else test_labels)
    return imgs, labs


def test_explicit_path_with_plain_and_gzipped_files(tmp_path):
    imgs, labs = write_set(tmp_path / "d")
    (x, y), (xt, yt) = fashion_mnist.load_data(str(tmp_path / "d"), mirrors=[])
    np.testing.assert_array_equal(x, imgs)
    np.testing.assert_array_equal(yt, labs)


def test_fastmlp_data_wins_over_the_system_copy(tmp_path, monkeypatch):
    imgs, _ = write_set(tmp_path / "data" / "fashion-mnist", n=3)
    monkeypatch.setenv("FASTMLP_DATA", str(tmp_path / "data"))
    (x, _), _ = fashion_mnist.load_data(mirrors=[])
    assert x.shape == (3, 28, 28)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"labels": np.array([0, 1, 2], dtype=np.uint8)}, "has 3 labels but"),
        ({"labels": np.array([0, 1, 2, 10], dtype=np.uint8)}, "label 10 out of range"),
        ({"images": np.zeros((4, 28, 27), dtype=np.uint8)}, r"shape \(n, 28, 28\)"),
        ({"images": np.zeros((4, 28, 28), dtype=np.int32)}, "uint8 images"),
    ],
)
def test_inconsistent_files_are_rejected_naming_the_file(tmp_path, kwargs, message):
    write_set(tmp_path / "d", **kwargs)
    with pytest.raises(ValueError, match=message) as info:
        fashion_mnist.load_data(str(tmp_path / "d"), mirrors=[])
    assert str(tmp_path / "d") in str(info.value)


def test_missing_files_error_says_how_to_get_them(tmp_path):
    with pytest.raises(DatasetNotFoundError) as info:
        fashion_mnist.load_data(str(tmp_path / "empty"), download=False)
    msg = str(info.value)
    assert "apt-get install dataset-fashion-mnist" in msg
    assert str(tmp_path / "empty") in msg
    assert "train-images-idx3-ubyte.gz" in msg
