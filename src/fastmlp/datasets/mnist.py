"""MNIST handwritten digits: 60,000 training and 10,000 test images, 28x28.

``load_data()`` looks for the four IDX files locally (see
``fastmlp.datasets.idx_dataset`` for the search order) and otherwise
downloads them from the mirrors below, checking each file's SHA-256.
"""

from __future__ import annotations

from typing import Mapping, Optional, Sequence

import numpy as np

from fastmlp.datasets import idx_dataset

NAME = "mnist"

FILES = dict(idx_dataset.MNIST_FILES)

# Tried in turn: the copies torchvision and TensorFlow download from.
MIRRORS = [
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
]

# SHA-256 of each .gz as published; module-level so it can be overridden.
SHA256 = {
    "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}

DATASET = idx_dataset.ImageDataset(
    name=NAME,
    title="MNIST",
    files=FILES,
    system_dirs=("/usr/share/datasets/mnist",),
    how_to_get=(
        "download the four files from " + " or ".join(MIRRORS)
        + " and put them in $FASTMLP_DATA/mnist (or ~/.cache/fastmlp/mnist), "
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
    """Load MNIST as Keras does: ``(x_train, y_train), (x_test, y_test)``.

    Returns uint8 arrays of shapes (60000, 28, 28), (60000,), (10000, 28, 28),
    (10000,). ``path`` is a directory holding the four IDX files (gzipped or
    not); without it the files are searched for in ``$FASTMLP_DATA/mnist``,
    ``~/.cache/fastmlp/mnist`` (or ``cache_dir``) and then downloaded into the
    cache from ``mirrors`` (default ``MIRRORS``), each checked against
    ``sha256`` (default ``SHA256``). Raises ``DatasetNotFoundError`` saying
    where it looked when the files cannot be found or fetched.
    """
    return idx_dataset.load(
        DATASET,
        path=path,
        mirrors=MIRRORS if mirrors is None else mirrors,
        sha256=SHA256 if sha256 is None else sha256,
        cache_dir=cache_dir,
        download=download,
    )
