"""RBM in autograd: Gibbs sampling in numpy with the harness noise, the CD/PCD update as
autograd.grad of mean F(v_data) - mean F(v_model) (v_model a constant input), the numpy optimizers of
harness/frameworks/autograd.py."""
from __future__ import annotations

import autograd.numpy as anp
import numpy as np
from autograd import grad

from harness.frameworks.autograd import AdapterBase, flat32, make_optimizer, sigmoid

NAMES = ("W", "b_v", "b_h")


def free_energy(p: dict, v):
    """F(v) (N,) = -v.b_v - sum_j softplus(v W + b_h)_j."""
    return -anp.dot(v, p["b_v"]) - anp.sum(anp.logaddexp(0.0, anp.dot(v, p["W"]) + p["b_h"]), axis=1)


class CDTrainer:
    """CD-k / PCD-k for one RBM's float32 params dict: optimizer and PCD chain (reused by the DBN)."""

    def __init__(self, params: dict[str, np.ndarray], model, train):
        self.params, self.k, self.persistent = params, model.cd_k, model.persistent
        self.opt = make_optimizer(train, params)
        self.chain: np.ndarray | None = None  # PCD hidden state (B, H)
        wd = np.float32(model.weight_decay)

        def objective(p, v, vk):
            # its gradient is the CD statistics: -(v^T p(h|v) - v_k^T p(h|v_k)) / B (+ wd W)
            return anp.mean(free_energy(p, v)) - anp.mean(free_energy(p, vk)) + 0.5 * wd * anp.sum(p["W"] ** 2)

        self._grad = grad(objective)  # w.r.t. the params only: vk is a constant input

    def step(self, v: np.ndarray, u: np.ndarray) -> float:
        """One update on v (B, V) with noise u (B, width); returns the reconstruction error."""
        p = self.params
        W, b_v, b_h = p["W"], p["b_v"], p["b_h"]
        n_v, n_h = W.shape
        p0 = sigmoid(v @ W + b_h)
        err = float(np.mean(np.sum((v - sigmoid(p0 @ W.T + b_v)) ** 2, axis=1)))
        h = self.chain if self.chain is not None else (u[:, :n_h] < p0).astype(np.float32)
        for i in range(self.k):
            o = n_h + i * (n_v + n_h)
            vk = (u[:, o:o + n_v] < sigmoid(h @ W.T + b_v)).astype(np.float32)
            if self.persistent or i < self.k - 1:  # CD never uses the last hidden sample
                h = (u[:, o + n_v:o + n_v + n_h] < sigmoid(vk @ W + b_h)).astype(np.float32)
        if self.persistent:
            self.chain = h
        self.opt.step(p, self._grad(p, v, vk))
        return err

    def epoch(self, xs: np.ndarray, us: np.ndarray) -> float:
        """xs (steps, B, V), us (steps, B, width) float32 -> mean reconstruction error."""
        return float(np.mean([self.step(v, u) for v, u in zip(xs, us)]))


class Adapter(AdapterBase):
    MODES = ("step",)  # numpy executes op by op: a per-step Python loop is the only way

    def __init__(self, model, info, train, **kw):
        super().__init__(model, info, train, **kw)

    def build(self, weights: dict[str, np.ndarray]) -> None:
        """weights: canonical ``W`` (V, H), ``b_v`` (V,), ``b_h`` (H,), float32."""
        self.params = {k: np.array(weights[k], dtype=np.float32) for k in NAMES}
        self.trainer = CDTrainer(self.params, self.model, self.train)

    def get_weights(self) -> dict[str, np.ndarray]:
        return {k: v.copy() for k, v in self.params.items()}

    def train_epoch(self, xb: np.ndarray, yb: np.ndarray) -> float:
        """xb (steps, B, V) data, yb (steps, B, H + k (V + H)) uniform noise -> mean recon error."""
        xs = flat32(xb, 2)
        return self.trainer.epoch(xs, np.asarray(yb, np.float32))

    def predict(self, x: np.ndarray) -> np.ndarray:
        """x (N, V) -> p(h=1|v) (N, H)."""
        p = self.params
        return sigmoid(flat32(x) @ p["W"] + p["b_h"])
