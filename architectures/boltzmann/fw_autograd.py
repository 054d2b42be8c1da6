"""Boltzmann machine with autograd: autograd.numpy arrays in float32, Python Gibbs loops.

The learning rule is a difference of sampled statistics, not a derivative, so autograd contributes only
its numpy namespace; the optimizer is harness/frameworks/autograd.py's float32 numpy one. States are
unit-major (n, B): one unit's update for the whole batch is one row.
"""
from __future__ import annotations

import autograd.numpy as anp
import numpy as np

from harness.frameworks.autograd import AdapterBase, flat32, make_optimizer


def sigmoid(z):
    return 1.0 / (1.0 + anp.exp(-z))


class Adapter(AdapterBase):
    MODES = ("step",)

    def __init__(self, model, info, train, **kw):
        super().__init__(model, info, train, **kw)
        self.nv = int(np.prod(info.input_shape))
        self.n = self.nv + model.hidden

    def build(self, weights: dict[str, np.ndarray]) -> None:
        """weights: canonical ``W`` (n, n) symmetric zero-diagonal and ``b`` (n,); chains reset to zero."""
        self.p = {k: anp.array(weights[k], dtype=anp.float32) for k in ("W", "b")}
        self.opt = make_optimizer(self.train, self.p)  # updates self.p's arrays in place
        self.chains = None  # (n, B) persistent negative chains, created on first use
        self.offdiag = 1.0 - anp.eye(self.n, dtype=anp.float32)

    def get_weights(self) -> dict[str, np.ndarray]:
        return {k: np.array(v, np.float32) for k, v in self.p.items()}

    def _sweeps(self, s, first: int, u):
        """Sequential Gibbs sweeps over units first .. n-1 of s (n, B) in place; u (k, units, B)."""
        w, b = self.p["W"], self.p["b"]
        for t in range(u.shape[0]):
            for j in range(u.shape[1]):
                i = first + j
                s[i] = u[t, j] < sigmoid(anp.dot(w[i], s) + b[i])
        return s

    def _energy(self, s):
        """Mean energy over the columns of s (n, B)."""
        return anp.mean(-0.5 * anp.sum(anp.dot(self.p["W"], s) * s, axis=0) - anp.dot(self.p["b"], s))

    def _step(self, v, u) -> float:
        """One batch: v (B, V), u (B, noise) -> energy gap; updates the weights and the chains."""
        batch, k, h, n = v.shape[0], self.model.gibbs_steps, self.model.hidden, self.n
        pos = anp.concatenate([v.T, anp.zeros((h, batch), anp.float32)])
        self._sweeps(pos, self.nv, anp.transpose(u[:, : k * h].reshape(batch, k, h), (1, 2, 0)))
        if self.model.persistent and self.chains is None:
            self.chains = anp.zeros((n, batch), anp.float32)
        neg = self.chains if self.model.persistent else pos.copy()
        self._sweeps(neg, 0, anp.transpose(u[:, k * h:].reshape(batch, k, n), (1, 2, 0)))
        gap = self._energy(pos) - self._energy(neg)
        grad_w = (-(anp.dot(pos, pos.T) - anp.dot(neg, neg.T)) / np.float32(batch)
                  + np.float32(self.model.weight_decay) * self.p["W"]) * self.offdiag
        grad_b = -(anp.sum(pos, axis=1) - anp.sum(neg, axis=1)) / np.float32(batch)
        self.opt.step(self.p, {"W": grad_w, "b": grad_b})
        return gap

    def train_epoch(self, xb: np.ndarray, yb: np.ndarray) -> float:
        """xb (steps, B, V) {0,1} visibles, yb (steps, B, noise) uniforms (spec layout) -> mean energy gap."""
        x = flat32(xb, 2)
        u = anp.asarray(yb, anp.float32)
        return float(sum(self._step(x[i], u[i]) for i in range(len(x))) / len(x))

    def predict(self, x: np.ndarray) -> np.ndarray:
        """x (N, n) states, or (N, V) visibles with hidden off -> p(s_i = 1 | s_-i) (N, n)."""
        flat = flat32(x)
        s = anp.concatenate([flat, anp.zeros((len(x), self.n - flat.shape[1]), anp.float32)], axis=1)
        return sigmoid(anp.dot(s, self.p["W"]) + self.p["b"])
