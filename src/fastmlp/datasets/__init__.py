"""Datasets: MNIST and Fashion-MNIST (IDX files), Friedman #1, CSV tables.

    (x_train, y_train), (x_test, y_test) = fm.datasets.fashion_mnist.load_data()
    X, y = fm.datasets.friedman1(5000, seed=0)
    X, y = fm.datasets.load_csv("table.csv", target="price")
"""

from fastmlp.datasets import fashion_mnist, mnist
from fastmlp.datasets.csv import load_csv
from fastmlp.datasets.download import DownloadError
from fastmlp.datasets.friedman import friedman1
from fastmlp.datasets.idx import load_idx, save_idx
from fastmlp.datasets.idx_dataset import DatasetNotFoundError

__all__ = [
    "DatasetNotFoundError",
    "DownloadError",
    "fashion_mnist",
    "friedman1",
    "load_csv",
    "load_idx",
    "mnist",
    "save_idx",
]
