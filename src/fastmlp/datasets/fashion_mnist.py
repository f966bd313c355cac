"""Fashion-MNIST: Zalando's 28x28 clothing images, MNIST's format and sizes.

Classes: 0 T-shirt/top, 1 Trouser, 2 Pullover, 3 Dress, 4 Coat, 5 Sandal,
6 Shirt, 7 Sneaker, 8 Bag, 9 Ankle boot.

On Debian/Ubuntu ``apt-get install dataset-fashion-mnist`` puts the files in
``/usr/share/datasets/fashion-mnist/``, which ``load_data()`` finds without
network. That copy is re-compressed, so its .gz checksums differ from the
published ones; like any local copy it is validated by its IDX structure
(magic number, sizes, length, label range) instead.
"""

from __future__ import annotations

from typing import Mapping, Optional, Sequence

import numpy as np

from fastmlp.datasets import idx_dataset

NAME = "fashion-mnist"

CLASS_NAMES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)

# A drop-in replacement for MNIST: the same four file names.
FILES = dict(idx_dataset.MNIST_FILES)

# Tried in turn: the copy Keras downloads and Zalando's repository.
MIRRORS = [
    "https://storage.googleapis.com/tensorflow/tf-keras-datasets/",
    "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
]

# SHA-256 of the original .gz files (the ones whose MD5 Zalando publishes).
SHA256 = {
    "train-images-idx3-ubyte.gz": "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
    "train-labels-idx1-ubyte.gz": "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
    "t10k-images-idx3-ubyte.gz": "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
    "t10k-labels-idx1-ubyte.gz": "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
}

SYSTEM_DIRS = ("/usr/share/datasets/fashion-mnist",)

DATASET = idx_dataset.ImageDataset(
    name=NAME,
    title="Fashion-MNIST",
    files=FILES,
    system_dirs=SYSTEM_DIRS,
    how_to_get=(
        "on Debian/Ubuntu run `sudo apt-get install dataset-fashion-mnist`; "
        "or download the four files from " + " or ".join(MIRRORS)
        + " into $FASTMLP_DATA/fashion-mnist (or ~/.cache/fastmlp/fashion-mnist), "
        "or pass load_data(path=DIR)"
    ),
)


def load_data(
    path: Optional[str] = None,
    *,
    mirrors: Optional[Sequence[str]] = None,
    sha256: Optional[Mapping[str, str]] = None,
    cache_dir: Optional[str] = None,
    download: bool = True,
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Load Fashion-MNIST as Keras does: ``(x_train, y_train), (x_test, y_test)``.

    Returns uint8 arrays of shapes (60000, 28, 28), (60000,), (10000, 28, 28),
    (10000,). Searched in ``path`` (if given, only there), else
    ``$FASTMLP_DATA/fashion-mnist``, ``~/.cache/fastmlp/fashion-mnist`` (or
    ``cache_dir``), ``/usr/share/datasets/fashion-mnist``, and finally
    downloaded from ``mirrors`` with each file's SHA-256 checked. Raises
    ``DatasetNotFoundError`` saying where it looked and how to get the files.
    """
    return idx_dataset.load(
        DATASET,
        path=path,
        mirrors=MIRRORS if mirrors is None else mirrors,
        sha256=SHA256 if sha256 is None else sha256,
        cache_dir=cache_dir,
        download=download,
    )
