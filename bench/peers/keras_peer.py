"""Keras 3 on TensorFlow (CPU), with its defaults: jit_compile="auto", which on a
CPU-only machine means a compiled tf.function graph without XLA."""

from __future__ import annotations

from typing import Sequence

import numpy as np


class Peer:
    """keras.Sequential of Dense layers, Adam, the same losses and metrics as
    fastmlp's peer; fit/predict with Keras's own batching and shuffling."""

    def __init__(self, sizes: Sequence[int], task: str, batch_size: int, learning_rate: float,
                 threads: int, seed: int) -> None:
        import tensorflow as tf

        # Must happen before TensorFlow runs anything.
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
        import keras

        keras.utils.set_random_seed(seed)
        classify = task == "classify"
        layers = [keras.Input(shape=(sizes[0],))]
        layers += [keras.layers.Dense(units, activation="relu") for units in sizes[1:-1]]
        layers.append(keras.layers.Dense(sizes[-1], activation="softmax" if classify else None))
        self.model = keras.Sequential(layers)
        self.model.compile(optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
                           loss="sparse_categorical_crossentropy" if classify else "mse",
                           metrics=["accuracy"] if classify else None)
        self.batch_size = batch_size
        self.version = f"keras {keras.__version__}, tensorflow {tf.__version__}"

    def train_epoch(self, x: np.ndarray, y: np.ndarray) -> None:
        self.model.fit(x, y, epochs=1, batch_size=self.batch_size, verbose=0, shuffle=True)

    def predict(self, x: np.ndarray, batch_size: int) -> np.ndarray:
        return self.model.predict(x, batch_size=batch_size, verbose=0)
