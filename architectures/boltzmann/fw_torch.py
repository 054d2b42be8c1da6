"""Boltzmann machine in PyTorch: two parameters, eager Gibbs sweeps, torch.optim on the AHS gradient.

The gradient is the difference of sampled statistics (no backprop): it is written into ``.grad`` and
applied by torch.optim.SGD/Adam, whose formulas are harness/optim.py's. States are kept unit-major
(n, B) so that one unit's update for the whole batch is a contiguous row and a vector-matrix product.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from harness.frameworks.torch import AdapterBase, as_tensor, make_optimizer, mean_over_steps, to_numpy


class Adapter(AdapterBase):
    MODES = ("eager",)  # eager: one Gibbs-sampled update per batch, op by op from Python
    ALIASES = {"step": "eager"}  # a request for the per-step loop runs PyTorch's eager one

    def __init__(self, model, info, train, **kw):
        super().__init__(model, info, train, **kw)
        self.nv = int(np.prod(info.input_shape))
        self.n = self.nv + model.hidden

    def build(self, weights: dict[str, np.ndarray]) -> None:
        """weights: canonical ``W`` (n, n) symmetric zero-diagonal and ``b`` (n,); chains reset to zero."""
        self.W = nn.Parameter(torch.tensor(weights["W"], dtype=torch.float32, device=self.dev))
        self.b = nn.Parameter(torch.tensor(weights["b"], dtype=torch.float32, device=self.dev))
        self.opt = make_optimizer(self.train, [self.W, self.b])
        self.chains: torch.Tensor | None = None  # (n, B) persistent negative chains, created on first use

    def get_weights(self) -> dict[str, np.ndarray]:
        return {"W": to_numpy(self.W), "b": to_numpy(self.b)}

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
        x = as_tensor(xb.reshape(xb.shape[0], xb.shape[1], -1), self.dev, np.float32)
        return mean_over_steps(self._step, x, as_tensor(yb, self.dev, np.float32))

    @torch.no_grad()
    def predict(self, x: np.ndarray) -> np.ndarray:
        """x (N, n) states, or (N, V) visibles with hidden off -> p(s_i = 1 | s_-i) (N, n)."""
        s = torch.zeros(len(x), self.n, device=self.dev)
        flat = as_tensor(x.reshape(len(x), -1), self.dev, np.float32)
        s[:, : flat.shape[1]] = flat
        return torch.sigmoid(s @ self.W + self.b).cpu().numpy()
