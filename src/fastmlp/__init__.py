"""fastmlp: train multilayer perceptrons on the CPU, fast.

C/OpenMP kernels under a Keras-style API::

    import fastmlp as fm
    model = fm.Sequential([fm.Input(shape=(784,)),
                           fm.Dense(256, activation="relu"),
                           fm.Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(x_train, y_train, epochs=5, batch_size=128)
"""

from fastmlp._version import __version__
from fastmlp._config import get_num_threads, prefer_short_openmp_spin, set_num_threads, show_config

prefer_short_openmp_spin()  # before anything loads libgomp (see _config.py)
from fastmlp import backends
from fastmlp import datasets, preprocessing, utils
from fastmlp import activations, initializers, losses, metrics, regularizers
from fastmlp.layers import Activation, Dense, Dropout, Input
from fastmlp.layers import Flatten
from fastmlp import layers
from fastmlp.model import Sequential
from fastmlp import callbacks, optimizers
from fastmlp.gradcheck import gradcheck, numerical_gradient
from fastmlp.io import load_model
from fastmlp import models

__all__ = [
    "Activation",
    "Dense",
    "Dropout",
    "Flatten",
    "Input",
    "Sequential",
    "callbacks",
    "gradcheck",
    "load_model",
    "models",
    "numerical_gradient",
    "optimizers",
    "activations",
    "initializers",
    "layers",
    "losses",
    "metrics",
    "regularizers",
    "__version__",
    "backends",
    "datasets",
    "get_num_threads",
    "preprocessing",
    "set_num_threads",
    "show_config",
    "utils",
]
