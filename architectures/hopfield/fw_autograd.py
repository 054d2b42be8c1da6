"""Hopfield network with autograd: autograd.numpy arrays in float32, Python loops.

Nothing here is differentiated (Hebbian and Storkey storage are closed-form), so autograd contributes
only its numpy namespace; this is the plain-numpy implementation of the benchmark.
"""
from __future__ import annotations

import autograd.numpy as anp
import numpy as np

from harness.frameworks.autograd import AdapterBase


def pm1(x: np.ndarray) -> np.ndarray:
    """(n, ...) -> (n, N) float32 +-1: +1 where x > 0 (so {0,1} digits map 0 -> -1)."""
    return anp.where(anp.reshape(x, (len(x), -1)) > 0, 1.0, -1.0).astype(anp.float32)


def sign(h):
    """sign with sign(0) = +1, float32."""
    return anp.where(h >= 0, 1.0, -1.0).astype(anp.float32)


def zero_diagonal(w):
    return w * (1.0 - anp.eye(len(w), dtype=anp.float32))


class Adapter(AdapterBase):
    MODES = ("step",)

    def __init__(self, model, info, train, **kw):
        super().__init__(model, info, train, **kw)
        self.n = int(np.prod(info.input_shape))

    def build(self, weights: dict[str, np.ndarray]) -> None:
        """weights: canonical ``W`` (N, N) and ``b`` (N,), float32."""
        self.W = anp.array(weights["W"], dtype=anp.float32)
        self.b = anp.array(weights["b"], dtype=anp.float32)

    def get_weights(self) -> dict[str, np.ndarray]:
        return {"W": np.array(self.W, np.float32), "b": np.array(self.b, np.float32)}

    def _add(self, p) -> None:
        """Store patterns p (P, N) +-1 into W by the model's rule, in row order."""
        w, n = self.W, np.float32(self.n)
        if self.model.rule == "hebbian":
            self.W = zero_diagonal(w + anp.dot(p.T, p) / n)
            return
        for xi in p:  # Storkey (1997): each pattern sees the W left by the previous ones
            h = anp.dot(w, xi)
            hij = h[:, None] - w * xi[None, :]  # field at i leaving out units i and j
            w = zero_diagonal(w + (anp.outer(xi, xi) - xi[:, None] * hij.T - hij * xi[None, :]) / n)
        self.W = w

    def train_epoch(self, xb: np.ndarray, yb: np.ndarray) -> float:
        """xb (steps, B, N) patterns, stored in order -> mean energy of those patterns after storage."""
        p = pm1(xb.reshape(-1, self.n))
        self._add(p)
        energy = -0.5 * anp.sum(anp.dot(p, self.W) * p, axis=1) - anp.dot(p, self.b)
        return float(anp.mean(energy))

    def store(self, patterns: np.ndarray) -> None:
        """patterns (P, N): replace the memory with W stored from zero, b = 0."""
        self.W = anp.zeros((self.n, self.n), anp.float32)
        self.b = anp.zeros(self.n, anp.float32)
        self._add(pm1(patterns))

    def predict(self, x: np.ndarray) -> np.ndarray:
        """x (n, N) -> one synchronous update sign(s W^T + b) (n, N) +-1."""
        return sign(anp.dot(pm1(x), self.W.T) + self.b)

    def recall(self, x: np.ndarray, steps: int, mode: str, order: np.ndarray | None = None) -> np.ndarray:
        """x (n, N) -> final +-1 states (n, N) after ``steps`` synchronous updates (mode "sync") or
        ``steps`` asynchronous sweeps in ``order`` (steps, N) (mode "async")."""
        s = pm1(x)
        if mode == "sync":
            for _ in range(steps):
                new = sign(anp.dot(s, self.W.T) + self.b)
                if anp.array_equal(new, s):  # a fixed point stays put: stopping early changes nothing
                    break
                s = new
            return s
        for i in np.asarray(order)[:steps].reshape(-1).tolist():
            s[:, i] = sign(anp.dot(s, self.W[i]) + self.b[i])
        return s
