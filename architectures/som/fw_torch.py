"""Self-organizing map in PyTorch: a (units, D) tensor updated with torch ops, vectorised over units.

The online rule is sequential in the samples (each winner depends on the previous update), so the
epoch is a Python loop over samples of eager torch ops, PyTorch's standard way; the batch algorithm
is a loop over batches. No autograd and no optimizer: the update is the SOM's own rule (see spec.py).
Nothing leaves the device inside the loop: the winner's index stays a tensor and the loss is
accumulated on the device.
"""
from __future__ import annotations

import numpy as np
import torch

from architectures.som.spec import decay  # operators only: the reference runs on tensors as it is
from harness.frameworks.torch import AdapterBase, as_tensor, to_numpy


class Adapter(AdapterBase):
    MODES = ("eager",)  # eager: one op-by-op update per sample (online) or per batch (batch)
    ALIASES = {"step": "eager"}  # a request for the per-step loop runs PyTorch's eager one

    def __init__(self, model, info, train, **kw):
        super().__init__(model, info, train, **kw)
        self.ar = torch.arange(model.rows, dtype=torch.float32, device=self.dev)  # grid row coordinates
        self.ac = torch.arange(model.cols, dtype=torch.float32, device=self.dev)  # grid column coordinates

    def build(self, weights: dict[str, np.ndarray]) -> None:
        """weights: canonical ``W`` (rows, cols, D) float32."""
        self.t = 0  # iterations done, counted across train_epoch calls
        w = weights["W"]
        self.shape = w.shape
        # a copy: the online loop updates W in place and must not write into the caller's array
        self.W = torch.tensor(w.reshape(-1, w.shape[-1]), dtype=torch.float32, device=self.dev)

    def get_weights(self) -> dict[str, np.ndarray]:
        return {"W": to_numpy(self.W).reshape(self.shape)}

    def _schedule(self, n: int, total: int) -> tuple[torch.Tensor, torch.Tensor]:
        """eta and sigma (n,) for the next n iterations."""
        t = torch.arange(self.t, self.t + n, dtype=torch.float32, device=self.dev)
        m = self.model
        return decay(m.learning_rate, t, total, m.decay, "learning_rate"), decay(m.sigma, t, total, m.decay, "sigma")

    def _online(self, x: torch.Tensor, eta: torch.Tensor, sig: torch.Tensor) -> torch.Tensor:
        """x (n, D) in order -> summed distance to each winner before its update."""
        total = torch.zeros((), device=self.dev)
        w, cols = self.W, self.model.cols
        for n in range(x.shape[0]):
            diff = x[n] - w  # (units, D)
            d2min, c = (diff * diff).sum(1).min(0)  # first minimum, as np.argmin
            total += d2min.sqrt()
            d = 2 * sig[n] * sig[n]
            # MiniSom's separable gaussian: exps over the rows and the columns, then their outer product
            g = torch.outer(torch.exp(-(self.ar - c // cols) ** 2 / d), torch.exp(-(self.ac - c % cols) ** 2 / d))
            w += (g.reshape(-1) * eta[n])[:, None] * diff  # in place: W is no leaf of any graph
        return total

    def _batch(self, xb: torch.Tensor, eta: torch.Tensor, sig: torch.Tensor) -> torch.Tensor:
        """xb (steps, B, D): one batch iteration per batch -> summed distance to the winners."""
        total = torch.zeros((), device=self.dev)
        cols = self.model.cols
        for s in range(xb.shape[0]):
            x = xb[s]
            dmin, c = ((x[:, None, :] - self.W[None]) ** 2).sum(-1).min(1)  # (B,): first minimum per sample
            total += dmin.sqrt().sum()
            di = (self.ar[None, :, None] - (c // cols)[:, None, None]) ** 2  # (B, rows, 1)
            dj = (self.ac[None, None, :] - (c % cols)[:, None, None]) ** 2  # (B, 1, cols)
            logh = (-(di + dj) / (2 * sig[s] ** 2)).reshape(len(x), -1)  # (B, units)
            h = torch.exp(logh - logh.max(0, keepdim=True).values)  # per-unit max 1: sums never underflow
            mean = (h.T @ x) / h.sum(0)[:, None]
            self.W = (1 - eta[s]) * self.W + eta[s] * mean
        return total

    @torch.no_grad()
    def train_epoch(self, xb: np.ndarray, yb: np.ndarray) -> float:
        """xb (steps, B, D) -> mean distance of the epoch's samples to their winners (before each update)."""
        steps, b = xb.shape[:2]
        x = as_tensor(xb.reshape(steps, b, -1), self.dev, np.float32)
        online = self.model.algorithm == "online"
        n = steps * b if online else steps
        eta, sig = self._schedule(n, self.train.epochs * n)
        total = self._online(x.reshape(steps * b, -1), eta, sig) if online else self._batch(x, eta, sig)
        self.t += n
        return float(total.item() / (steps * b))

    @torch.no_grad()
    def predict(self, x: np.ndarray) -> np.ndarray:
        """x (N, D) -> distances (N, rows*cols) to every unit, float32."""
        t = as_tensor(x.reshape(len(x), -1), self.dev, np.float32)
        return ((t[:, None, :] - self.W[None]) ** 2).sum(-1).sqrt().cpu().numpy()
