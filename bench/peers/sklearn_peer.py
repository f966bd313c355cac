"""scikit-learn's MLPClassifier / MLPRegressor, one epoch per partial_fit."""

from __future__ import annotations

from typing import Sequence

import numpy as np


class Peer:
    """solver="adam" with the same learning rate and batch size, no L2
    penalty (``alpha=0``, as the other peers), float32 data (scikit-learn
    keeps float32). ``partial_fit`` runs exactly one shuffled epoch."""

    def __init__(self, sizes: Sequence[int], task: str, batch_size: int, learning_rate: float,
                 threads: int, seed: int) -> None:
        import sklearn
        from sklearn.neural_network import MLPClassifier, MLPRegressor
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=threads, user_api="blas")
        self.classify = task == "classify"
        cls = MLPClassifier if self.classify else MLPRegressor
        self.model = cls(hidden_layer_sizes=tuple(sizes[1:-1]), activation="relu", solver="adam",
                         alpha=0.0, batch_size=batch_size, learning_rate_init=learning_rate,
                         shuffle=True, random_state=seed)
        self.classes = np.arange(sizes[-1]) if self.classify else None
        self.started = False
        self.version = f"scikit-learn {sklearn.__version__}, {cls.__name__}"

    def train_epoch(self, x: np.ndarray, y: np.ndarray) -> None:
        if self.classify and not self.started:
            self.model.partial_fit(x, y, classes=self.classes)
        else:
            self.model.partial_fit(x, y)
        self.started = True

    def predict(self, x: np.ndarray, batch_size: int) -> np.ndarray:
        if self.classify:
            return self.model.predict_proba(x)
        return self.model.predict(x)
