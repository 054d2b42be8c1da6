"""Hopfield network in PyTorch: plain tensors (no autograd, no optimizer), eager loops.

Storage and recall are matrix ops on float32 tensors; the sequential parts (Storkey's rule pattern by
pattern, asynchronous unit updates) are Python loops of tensor ops, PyTorch's eager style. Async
recall updates one unit for every example at once (the loop runs over units, not examples) on the
unit-major (N, n) state.
"""
from __future__ import annotations

import numpy as np
import torch

from harness.frameworks.torch import AdapterBase, as_tensor, to_numpy


def pm1(x: np.ndarray) -> np.ndarray:
    """(n, ...) -> (n, N) float32 +-1: +1 where x > 0 (so {0,1} digits map 0 -> -1)."""
    return np.where(np.asarray(x).reshape(len(x), -1) > 0, 1.0, -1.0).astype(np.float32)


def sign(h: torch.Tensor) -> torch.Tensor:
    """sign with sign(0) = +1."""
    return torch.where(h >= 0, 1.0, -1.0).to(h.dtype)


class Adapter(AdapterBase):
    MODES = ("eager",)  # eager: Python loops of torch ops, op by op (no torch.compile variant)
    ALIASES = {"step": "eager"}  # a request for the per-step loop runs PyTorch's eager one

    def __init__(self, model, info, train, **kw):
        super().__init__(model, info, train, **kw)
        self.n = int(np.prod(info.input_shape))

    def build(self, weights: dict[str, np.ndarray]) -> None:
        """weights: canonical ``W`` (N, N) and ``b`` (N,), float32."""
        self.W = torch.tensor(weights["W"], dtype=torch.float32, device=self.dev)
        self.b = torch.tensor(weights["b"], dtype=torch.float32, device=self.dev)

    def get_weights(self) -> dict[str, np.ndarray]:
        return {"W": to_numpy(self.W), "b": to_numpy(self.b)}

    def _tensor(self, x: np.ndarray) -> torch.Tensor:
        return as_tensor(pm1(x), self.dev)

    def _add(self, p: torch.Tensor) -> None:
        """Store patterns p (P, N) +-1 into W by the model's rule, in row order."""
        if self.model.rule == "hebbian":
            self.W += p.T @ p / self.n
            self.W.fill_diagonal_(0.0)
            return
        for xi in p:  # Storkey (1997): each pattern sees the W left by the previous ones
            h = self.W @ xi
            hij = h[:, None] - self.W * xi[None, :]  # field at i leaving out units i and j
            self.W += (torch.outer(xi, xi) - xi[:, None] * hij.T - hij * xi[None, :]) / self.n
            self.W.fill_diagonal_(0.0)

    def train_epoch(self, xb: np.ndarray, yb: np.ndarray) -> float:
        """xb (steps, B, N) patterns, stored in order -> mean energy of those patterns after storage."""
        p = self._tensor(xb.reshape(-1, self.n))
        self._add(p)
        energy = -0.5 * ((p @ self.W) * p).sum(1) - p @ self.b
        return float(energy.mean().item())

    def store(self, patterns: np.ndarray) -> None:
        """patterns (P, N): replace the memory with W stored from zero, b = 0."""
        self.W = torch.zeros(self.n, self.n, device=self.dev)
        self.b = torch.zeros(self.n, device=self.dev)
        self._add(self._tensor(patterns))

    def predict(self, x: np.ndarray) -> np.ndarray:
        """x (n, N) -> one synchronous update sign(s W^T + b) (n, N) +-1."""
        return sign(self._tensor(x) @ self.W.T + self.b).cpu().numpy()

    def recall(self, x: np.ndarray, steps: int, mode: str, order: np.ndarray | None = None) -> np.ndarray:
        """x (n, N) -> final +-1 states (n, N) after ``steps`` synchronous updates (mode "sync") or
        ``steps`` asynchronous sweeps in ``order`` (steps, N) (mode "async")."""
        s = self._tensor(x)
        if mode == "sync":
            for _ in range(steps):
                new = sign(s @ self.W.T + self.b)
                if torch.equal(new, s):  # a fixed point stays put: stopping early changes nothing
                    break
                s = new
            return s.cpu().numpy()
        st = s.T.contiguous()  # (N, n): a unit's states are one contiguous row (a fast vector-matrix product)
        for i in np.asarray(order)[:steps].reshape(-1).tolist():
            st[i] = sign(self.W[i] @ st + self.b[i])
        return st.T.cpu().numpy()
