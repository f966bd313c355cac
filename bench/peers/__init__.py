"""The libraries compare.py races, one module per library, one interface.

Every peer is a class built as ``Peer(sizes, task, batch_size, learning_rate,
threads, seed, **options)`` that limits its library to ``threads`` threads,
builds the MLP (ReLU hidden layers; softmax output and cross-entropy for
``task="classify"``, linear output and mean squared error for
``task="regress"``) with Adam, and offers:

``version`` (str)
    what ran, e.g. "torch 2.13.0, Adam fused".
``train_epoch(x, y)``
    one shuffled pass over the data in minibatches of ``batch_size``.
``predict(x, batch_size)``
    class probabilities (classify) or values of shape (n,) or (n, 1).
"""

from __future__ import annotations

import importlib
import importlib.util

# name -> (module, options, the modules it needs)
PEERS = {
    "fastmlp": ("fastmlp_peer", {"backend": "c"}, ("fastmlp",)),
    "fastmlp-numpy": ("fastmlp_peer", {"backend": "numpy"}, ("fastmlp",)),
    "torch": ("torch_peer", {"fused": False}, ("torch",)),
    "torch-fused": ("torch_peer", {"fused": True}, ("torch",)),
    "keras": ("keras_peer", {}, ("tensorflow", "keras")),
    "sklearn": ("sklearn_peer", {}, ("sklearn",)),
    "numpy-mlp": ("numpy_mlp", {}, ("numpy",)),
}


def available(name: str) -> bool:
    """True if the libraries peer ``name`` needs are installed."""
    return all(importlib.util.find_spec(m) is not None for m in PEERS[name][2])


def create(name: str, **kwargs):
    """Build peer ``name`` (a key of PEERS) with the common arguments."""
    if name not in PEERS:
        raise ValueError(f"unknown peer {name!r}; expected one of {sorted(PEERS)}")
    module, options, _ = PEERS[name]
    cls = importlib.import_module(f"peers.{module}").Peer
    return cls(**kwargs, **options)
