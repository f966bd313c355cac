"""fastmlp itself, through its public Keras-style API (either backend)."""

from __future__ import annotations

from typing import Sequence

import numpy as np


class Peer:
    """fastmlp Sequential + Adam, compiled with the accuracy metric as a Keras
    user would (so fit also computes training accuracy)."""

    def __init__(self, sizes: Sequence[int], task: str, batch_size: int, learning_rate: float,
                 threads: int, seed: int, backend: str) -> None:
        import fastmlp as fm

        fm.set_num_threads(threads)
        if backend == "numpy":
            from threadpoolctl import threadpool_limits

            threadpool_limits(limits=threads, user_api="blas")
        classify = task == "classify"
        layers = [fm.Input(shape=(sizes[0],))]
        layers += [fm.Dense(units, activation="relu") for units in sizes[1:-1]]
        layers.append(fm.Dense(sizes[-1], activation="softmax" if classify else None))
        self.model = fm.Sequential(layers, backend=backend, seed=seed)
        self.model.compile(
            optimizer=fm.optimizers.Adam(learning_rate=learning_rate),
            loss="sparse_categorical_crossentropy" if classify else "mse",
            metrics=["accuracy"] if classify else None)
        self.batch_size = batch_size
        self.version = f"fastmlp {fm.__version__}, backend {backend!r}"

    def train_epoch(self, x: np.ndarray, y: np.ndarray) -> None:
        self.model.fit(x, y, epochs=1, batch_size=self.batch_size, verbose=0)

    def predict(self, x: np.ndarray, batch_size: int) -> np.ndarray:
        return self.model.predict(x, batch_size=batch_size)
