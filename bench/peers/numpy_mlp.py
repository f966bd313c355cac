"""A plain textbook NumPy MLP: what one writes without any library.

Allocating freely, with ``@`` on float32 arrays (numpy's OpenBLAS) — the
baseline every MLP library should beat.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np


class TextbookMLP:
    """ReLU hidden layers; softmax + cross-entropy or linear + MSE; Adam."""

    def __init__(self, sizes: Sequence[int], classify: bool, lr: float, seed: int) -> None:
        rng = np.random.default_rng(seed)
        self.W = [rng.uniform(-1, 1, (a, b)).astype(np.float32) * np.float32(np.sqrt(6 / (a + b)))
                  for a, b in zip(sizes[:-1], sizes[1:])]  # Glorot uniform
        self.b = [np.zeros(b, np.float32) for b in sizes[1:]]
        self.classify, self.lr, self.t = classify, lr, 0
        self.m = [np.zeros_like(p) for p in self.W + self.b]
        self.v = [np.zeros_like(p) for p in self.W + self.b]

    def forward(self, x: np.ndarray) -> list[np.ndarray]:
        hs = [x]
        for W, b in zip(self.W[:-1], self.b[:-1]):
            hs.append(np.maximum(hs[-1] @ W + b, 0))
        hs.append(hs[-1] @ self.W[-1] + self.b[-1])  # logits or values
        return hs

    def step(self, x: np.ndarray, y: np.ndarray) -> None:
        hs = self.forward(x)
        n = len(x)
        if self.classify:  # d(mean cross-entropy)/d(logits) = softmax - one_hot
            p = np.exp(hs[-1] - hs[-1].max(axis=1, keepdims=True))
            d = p / p.sum(axis=1, keepdims=True)
            d[np.arange(n), y] -= 1
            d /= n
        else:  # d(mean squared error)/d(values)
            d = (hs[-1] - y.reshape(n, -1)) * np.float32(2 / n)
        gW, gb = [None] * len(self.W), [None] * len(self.b)
        for i in reversed(range(len(self.W))):
            gW[i], gb[i] = hs[i].T @ d, d.sum(axis=0)
            if i > 0:
                d = (d @ self.W[i].T) * (hs[i] > 0)
        self.adam(gW + gb)

    def adam(self, grads: list[np.ndarray], b1=0.9, b2=0.999, eps=1e-7) -> None:
        self.t += 1
        lr = self.lr * np.sqrt(1 - b2 ** self.t) / (1 - b1 ** self.t)
        for p, g, m, v in zip(self.W + self.b, grads, self.m, self.v):
            m *= b1
            m += (1 - b1) * g
            v *= b2
            v += (1 - b2) * g * g
            p -= np.float32(lr) * m / (np.sqrt(v) + np.float32(eps))


class Peer:
    """TextbookMLP run through the common peer interface."""

    def __init__(self, sizes: Sequence[int], task: str, batch_size: int, learning_rate: float,
                 threads: int, seed: int) -> None:
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=threads, user_api="blas")
        self.mlp = TextbookMLP(sizes, task == "classify", learning_rate, seed)
        self.batch_size = batch_size
        self.rng = np.random.default_rng(seed)
        self.version = f"numpy {np.__version__}, textbook MLP (bench/peers/numpy_mlp.py)"

    def train_epoch(self, x: np.ndarray, y: np.ndarray) -> None:
        perm = self.rng.permutation(len(x))
        for start in range(0, len(x), self.batch_size):
            idx = perm[start:start + self.batch_size]
            self.mlp.step(x[idx], y[idx])

    def predict(self, x: np.ndarray, batch_size: int) -> np.ndarray:
        outs = []
        for start in range(0, len(x), batch_size):
            z = self.mlp.forward(x[start:start + batch_size])[-1]
            if self.mlp.classify:
                z = np.exp(z - z.max(axis=1, keepdims=True))
                z /= z.sum(axis=1, keepdims=True)
            outs.append(z)
        return np.concatenate(outs)
