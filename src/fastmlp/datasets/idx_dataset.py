"""Find, fetch and load an MNIST-style dataset: four IDX files.

Search order, first complete set wins:

1. ``path`` given by the caller (only there; downloads go there too);
2. ``$FASTMLP_DATA/<name>``;
3. the cache, ``~/.cache/fastmlp/<name>`` (files there are checked against
   the published SHA-256; a file that fails is fetched again);
4. system copies (e.g. Debian's ``/usr/share/datasets/fashion-mnist``);
5. a download from the mirrors into the cache.

Each file may be stored gzip-compressed (``x.gz``) or plain (``x``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Mapping, Optional, Sequence

import numpy as np

from fastmlp.datasets.download import DownloadError, fetch, sha256_of
from fastmlp.datasets.idx import load_idx

ROLES = ("train_images", "train_labels", "test_images", "test_labels")

# The file of each role as MNIST publishes them (Fashion-MNIST keeps the names).
MNIST_FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}


class DatasetNotFoundError(FileNotFoundError):
    """The files of a dataset are nowhere to be found and cannot be downloaded."""


@dataclass(frozen=True)
class ImageDataset:
    """How to find one MNIST-style dataset."""

    name: str  # directory name under $FASTMLP_DATA and the cache
    title: str  # for messages, e.g. "Fashion-MNIST"
    files: Mapping[str, str]  # role -> file name, e.g. "train-images-idx3-ubyte.gz"
    system_dirs: Sequence[str]
    how_to_get: str  # appended to the not-found error
    num_classes: int = 10
    image_shape: tuple = (28, 28)


def default_cache_dir(name: str) -> str:
    """``~/.cache/fastmlp/<name>``."""
    return os.path.join(os.path.expanduser("~"), ".cache", "fastmlp", name)


def load(
    ds: ImageDataset,
    *,
    path: Optional[str],
    mirrors: Sequence[str],
    sha256: Mapping[str, str],
    cache_dir: Optional[str] = None,
    download: bool = True,
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Locate (or download) the four files of ``ds`` and load them.

    Returns ``(x_train, y_train), (x_test, y_test)`` as uint8 arrays.
    """
    paths = locate(ds, path=path, mirrors=mirrors, sha256=sha256,
                   cache_dir=cache_dir, download=download)
    x_train, y_train = _load_pair(ds, paths["train_images"], paths["train_labels"])
    x_test, y_test = _load_pair(ds, paths["test_images"], paths["test_labels"])
    return (x_train, y_train), (x_test, y_test)


def locate(
    ds: ImageDataset,
    *,
    path: Optional[str],
    mirrors: Sequence[str],
    sha256: Mapping[str, str],
    cache_dir: Optional[str] = None,
    download: bool = True,
) -> dict[str, str]:
    """Return {role: file path} for a complete set of files, fetching if needed."""
    cache = cache_dir if cache_dir is not None else default_cache_dir(ds.name)
    if path is not None:
        # The caller's own files: validated by structure, not by checksum
        # (a re-compressed copy of the same data has another SHA-256).
        places = [(os.fspath(path), False)]
        target = os.fspath(path)
    else:
        places = []
        env = os.environ.get("FASTMLP_DATA")
        if env:
            places.append((os.path.join(env, ds.name), False))
        places.append((cache, True))
        places.extend((d, False) for d in ds.system_dirs)
        target = cache

    looked = []
    if path is None and not os.environ.get("FASTMLP_DATA"):
        looked.append("  $FASTMLP_DATA/" + ds.name + ": FASTMLP_DATA is not set")
    for directory, verify in places:
        found, problems = _find_in(ds, directory, sha256 if verify else {})
        if not problems:
            return found
        looked.append(f"  {directory}: " + "; ".join(problems))

    if not download or not mirrors:
        reason = "downloading disabled" if not download else "no download mirrors known"
        raise DatasetNotFoundError(_not_found(ds, looked, reason))
    try:
        return _fetch_missing(ds, target, mirrors, sha256, verify=path is None)
    except DownloadError as exc:
        raise DatasetNotFoundError(_not_found(ds, looked, str(exc))) from None


def _find_in(
    ds: ImageDataset, directory: str, sha256: Mapping[str, str]
) -> tuple[dict[str, str], list[str]]:
    """Look for every file of ``ds`` in ``directory``; return (found, problems)."""
    if not os.path.isdir(directory):
        return {}, ["no such directory"]
    found, problems = {}, []
    for role in ROLES:
        name = ds.files[role]
        plain = name[:-3] if name.endswith(".gz") else name
        if os.path.isfile(os.path.join(directory, name)):
            full = os.path.join(directory, name)
            want = sha256.get(name)
            if want is not None and sha256_of(full) != want:
                problems.append(f"{name} fails its SHA-256 check")
                continue
            found[role] = full
        elif os.path.isfile(os.path.join(directory, plain)):
            found[role] = os.path.join(directory, plain)
        else:
            problems.append(f"{name} missing")
    return found, problems


def _fetch_missing(
    ds: ImageDataset,
    target: str,
    mirrors: Sequence[str],
    sha256: Mapping[str, str],
    verify: bool,
) -> dict[str, str]:
    """Download into ``target`` each file not already there (and intact, if ``verify``)."""
    found, _ = _find_in(ds, target, sha256 if verify else {})
    for role in ROLES:
        if role not in found:
            name = ds.files[role]
            found[role] = fetch(name, target, mirrors, sha256.get(name))
    return found


def _not_found(ds: ImageDataset, looked: list[str], download_problem: str) -> str:
    files = ", ".join(ds.files[r] for r in ROLES)
    return (
        f"{ds.title} data not found. Needed files: {files}.\n"
        f"Looked in:\n" + "\n".join(looked) + "\n"
        f"Download: {download_problem}\n"
        f"How to get the files: {ds.how_to_get}"
    )


def _load_pair(ds: ImageDataset, images_path: str, labels_path: str):
    images = load_idx(images_path)
    labels = load_idx(labels_path)
    if images.dtype != np.uint8 or images.ndim != 1 + len(ds.image_shape) \
            or images.shape[1:] != tuple(ds.image_shape):
        raise ValueError(
            f"{images_path}: expected uint8 images of shape (n, "
            f"{', '.join(map(str, ds.image_shape))}), got {images.dtype} {images.shape}"
        )
    if labels.dtype != np.uint8 or labels.ndim != 1:
        raise ValueError(
            f"{labels_path}: expected uint8 labels of shape (n,), got {labels.dtype} {labels.shape}"
        )
    if labels.shape[0] != images.shape[0]:
        raise ValueError(
            f"{labels_path} has {labels.shape[0]} labels but {images_path} has "
            f"{images.shape[0]} images"
        )
    if labels.size and int(labels.max()) >= ds.num_classes:
        raise ValueError(
            f"{labels_path}: label {int(labels.max())} out of range for "
            f"{ds.num_classes} classes"
        )
    return images, labels
