"""Boltzmann machine in PyTorch: two parameters, eager Gibbs sweeps, torch.optim on the AHS gradient.

The gradient is the difference of sampled statistics (no backprop): it is written into ``.grad`` and
applied by torch.optim.SGD/Adam, whose formulas are harness/optim.py's. States are kept unit-major
(n, B) so that one unit's update for the whole batch is a contiguous row and a vector-matrix product.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from harness.frameworks.torch import sync as _sync
from harness.frameworks.torch import torch_device


def make_optimizer(params, train) -> torch.optim.Optimizer:
    """The canonical optimizers (harness/optim.py) are PyTorch's definitions."""
    if train.optimizer == "sgd":
        return torch.optim.SGD(params, lr=train.lr, momentum=train.momentum)
    return torch.optim.Adam(params, lr=train.lr, betas=(train.beta1, train.beta2), eps=train.eps)


class Adapter:
    MODES = ("step",)
    NOTES = ""

    def __init__(self, model, info, train, *, mode="step", device="cpu", seed=0):
        self.model, self.info, self.train, self.mode, self.device = model, info, train, mode, device
        self.dev = torch_device(device)
        self.nv = int(np.prod(info.input_shape))
        self.n = self.nv + model.hidden

    def build(self, weights: dict[str, np.ndarray]) -> None:
        """weights: canonical ``W`` (n, n) symmetric zero-diagonal and ``b`` (n,); chains reset to zero."""
        self.W = nn.Parameter(torch.tensor(weights["W"], dtype=torch.float32, device=self.dev))
        self.b = nn.Parameter(torch.tensor(weights["b"], dtype=torch.float32, device=self.dev))
        self.opt = make_optimizer([self.W, self.b], self.train)
        self.chains: torch.Tensor | None = None  # (n, B) persistent negative chains, created on first use

    def get_weights(self) -> dict[str, np.ndarray]:
        return {"W": self.W.detach().cpu().numpy().copy(), "b": self.b.detach().cpu().numpy().copy()}

    def _sweeps(self, s: torch.Tensor, first: int, u: torch.Tensor) -> torch.Tensor:
        """Sequential Gibbs sweeps over units first .. n-1 of s (n, B) in place; u (k, units, B)."""
        for t in range(u.shape[0]):
            for j in range(u.shape[1]):
                i = first + j
                s[i] = (u[t, j] < torch.sigmoid(self.W[i] @ s + self.b[i])).to(s.dtype)
        return s

    def _energy(self, s: torch.Tensor) -> torch.Tensor:
        """Mean energy over the columns of s (n, B)."""
        return (-0.5 * ((self.W @ s) * s).sum(0) - self.b @ s).mean()

    def _step(self, v: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        """One batch: v (B, V), u (B, noise) -> energy gap; updates W, b and the chains."""
        batch, k, h, n = v.shape[0], self.model.gibbs_steps, self.model.hidden, self.n
        pos = torch.cat([v.T, torch.zeros(h, batch, device=self.dev)])
        self._sweeps(pos, self.nv, u[:, : k * h].reshape(batch, k, h).permute(1, 2, 0))
        if self.model.persistent and self.chains is None:
            self.chains = torch.zeros(n, batch, device=self.dev)
        neg = self.chains if self.model.persistent else pos.clone()
        self._sweeps(neg, 0, u[:, k * h:].reshape(batch, k, n).permute(1, 2, 0))
        gap = self._energy(pos) - self._energy(neg)
        grad_w = -(pos @ pos.T - neg @ neg.T) / batch + self.model.weight_decay * self.W
        grad_w.fill_diagonal_(0.0)
        self.W.grad = grad_w
        self.b.grad = -(pos.sum(1) - neg.sum(1)) / batch
        self.opt.step()
        return gap

    @torch.no_grad()
    def train_epoch(self, xb: np.ndarray, yb: np.ndarray) -> float:
        """xb (steps, B, V) {0,1} visibles, yb (steps, B, noise) uniforms (spec layout) -> mean energy gap."""
        steps, batch = xb.shape[:2]
        x = torch.from_numpy(np.ascontiguousarray(xb.reshape(steps, batch, -1), np.float32)).to(self.dev)
        u = torch.from_numpy(np.ascontiguousarray(yb, np.float32)).to(self.dev)
        total = torch.zeros((), device=self.dev)
        for i in range(steps):
            total += self._step(x[i], u[i])  # accumulate on device: no per-step host sync
        return float(total.item() / steps)

    @torch.no_grad()
    def predict(self, x: np.ndarray) -> np.ndarray:
        """x (N, n) states, or (N, V) visibles with hidden off -> p(s_i = 1 | s_-i) (N, n)."""
        s = torch.zeros(len(x), self.n, device=self.dev)
        flat = torch.from_numpy(np.asarray(x, np.float32).reshape(len(x), -1)).to(self.dev)
        s[:, : flat.shape[1]] = flat
        return torch.sigmoid(s @ self.W + self.b).cpu().numpy()

    def sync(self) -> None:
        _sync(self.device)
