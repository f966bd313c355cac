"""PyTorch on the CPU: an idiomatic training loop, default or fused Adam."""

from __future__ import annotations

from typing import Sequence

import numpy as np


class Peer:
    """nn.Sequential of Linear/ReLU, CrossEntropyLoss on logits (softmax and
    cross-entropy fused) or MSELoss, torch.optim.Adam.

    On CPU tensors torch's default Adam is the single-tensor for-loop
    implementation (foreach is only the default on accelerators);
    ``fused=True`` runs one fused CPU kernel over all parameters.
    Minibatches are gathered by indexing with a fresh ``randperm`` each
    epoch, which is what a DataLoader with shuffle does, minus its overhead.
    """

    def __init__(self, sizes: Sequence[int], task: str, batch_size: int, learning_rate: float,
                 threads: int, seed: int, fused: bool) -> None:
        import torch

        torch.set_num_threads(threads)
        torch.manual_seed(seed)
        self.torch = torch
        mods = []
        for fan_in, fan_out in zip(sizes[:-2], sizes[1:-1]):
            mods += [torch.nn.Linear(fan_in, fan_out), torch.nn.ReLU()]
        mods.append(torch.nn.Linear(sizes[-2], sizes[-1]))
        self.net = torch.nn.Sequential(*mods)
        self.classify = task == "classify"
        self.loss = torch.nn.CrossEntropyLoss() if self.classify else torch.nn.MSELoss()
        self.opt = torch.optim.Adam(self.net.parameters(), lr=learning_rate,
                                    fused=True if fused else None)
        self.batch_size = batch_size
        self.version = f"torch {torch.__version__}, Adam {'fused' if fused else 'default (for-loop)'}"

    def train_epoch(self, x: np.ndarray, y: np.ndarray) -> None:
        torch = self.torch
        xt = torch.from_numpy(x)  # shares memory: no copy of the dataset
        yt = torch.from_numpy(y if self.classify else y.reshape(-1, 1))
        perm = torch.randperm(len(xt))
        for start in range(0, len(xt), self.batch_size):
            idx = perm[start:start + self.batch_size]
            self.opt.zero_grad(set_to_none=True)
            loss = self.loss(self.net(xt[idx]), yt[idx])
            loss.backward()
            self.opt.step()

    def predict(self, x: np.ndarray, batch_size: int) -> np.ndarray:
        torch = self.torch
        xt = torch.from_numpy(x)
        outs = []
        with torch.inference_mode():
            for start in range(0, len(xt), batch_size):
                z = self.net(xt[start:start + batch_size])
                outs.append(torch.softmax(z, dim=1) if self.classify else z)
        return torch.cat(outs).numpy()
