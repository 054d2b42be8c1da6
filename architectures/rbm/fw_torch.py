"""RBM in PyTorch: an nn.Module with the free energy, Gibbs sampling under no_grad with the harness
noise, and the CD/PCD update as autograd of mean F(v_data) - mean F(v_model) through torch.optim
(the common PyTorch RBM recipe). Mode ``eager``: the per-step loop, op by op."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from harness.frameworks.torch import AdapterBase, as_tensor, make_optimizer, mean_over_steps, to_numpy


class RBM(nn.Module):
    """Bernoulli-Bernoulli RBM in the canonical layout: W (V, H), b_v (V,), b_h (H,)."""

    def __init__(self, W: np.ndarray, b_v: np.ndarray, b_h: np.ndarray):
        super().__init__()
        self.W = nn.Parameter(torch.tensor(np.asarray(W, np.float32)))
        self.b_v = nn.Parameter(torch.tensor(np.asarray(b_v, np.float32)))
        self.b_h = nn.Parameter(torch.tensor(np.asarray(b_h, np.float32)))

    def hidden_probs(self, v: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(v @ self.W + self.b_h)

    def visible_probs(self, h: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(h @ self.W.T + self.b_v)

    def free_energy(self, v: torch.Tensor) -> torch.Tensor:
        """F(v) (N,) = -v.b_v - sum_j softplus(v W + b_h)_j."""
        return -(v @ self.b_v) - F.softplus(v @ self.W + self.b_h).sum(dim=1)

    def weights(self) -> dict[str, np.ndarray]:
        return {k: to_numpy(getattr(self, k)) for k in ("W", "b_v", "b_h")}


class CDTrainer:
    """CD-k / PCD-k for one RBM: optimizer and persistent chain (spec.Trainer's state).
    The DBN reuses it for each layer's pretraining."""

    def __init__(self, rbm: RBM, model, train):
        self.rbm, self.k, self.persistent = rbm, model.cd_k, model.persistent
        # the group's weight_decay (L2 on the gradient) is the canonical weight decay on W
        self.opt = make_optimizer(train, [{"params": [rbm.W], "weight_decay": model.weight_decay},
                                          {"params": [rbm.b_v, rbm.b_h], "weight_decay": 0.0}])
        self.chain: torch.Tensor | None = None  # PCD hidden state (B, H)

    @torch.no_grad()
    def _negative(self, v: torch.Tensor, u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Reconstruction error of v and the chain's end v_k, per the spec's noise layout."""
        rbm = self.rbm
        n_v, n_h = rbm.W.shape
        p0 = rbm.hidden_probs(v)
        err = ((v - rbm.visible_probs(p0)) ** 2).sum(dim=1).mean()
        h = self.chain if self.chain is not None else (u[:, :n_h] < p0).float()
        for i in range(self.k):
            o = n_h + i * (n_v + n_h)
            vk = (u[:, o:o + n_v] < rbm.visible_probs(h)).float()
            if self.persistent or i < self.k - 1:  # CD never uses the last hidden sample
                h = (u[:, o + n_v:o + n_v + n_h] < rbm.hidden_probs(vk)).float()
        if self.persistent:
            self.chain = h
        return err, vk

    def step(self, v: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        """One update on v (B, V) with noise u (B, width); returns the reconstruction error."""
        err, vk = self._negative(v, u)
        self.opt.zero_grad(set_to_none=True)
        # d/dW [mean F(v) - mean F(v_k)] = -(v^T p(h|v) - v_k^T p(h|v_k)) / B: the CD statistics
        (self.rbm.free_energy(v).mean() - self.rbm.free_energy(vk).mean()).backward()
        self.opt.step()
        return err

    def epoch(self, xs: torch.Tensor, us: torch.Tensor) -> float:
        """xs (steps, B, V), us (steps, B, width) -> mean reconstruction error (one host fetch)."""
        return mean_over_steps(self.step, xs, us)


class Adapter(AdapterBase):
    MODES = ("eager",)  # eager: op-by-op per-step loop, PyTorch's standard way
    ALIASES = {"step": "eager"}  # a request for the per-step loop runs PyTorch's eager one

    def build(self, weights: dict[str, np.ndarray]) -> None:
        """weights: canonical ``W`` (V, H), ``b_v`` (V,), ``b_h`` (H,)."""
        self.rbm = RBM(weights["W"], weights["b_v"], weights["b_h"]).to(self.dev)
        self.trainer = CDTrainer(self.rbm, self.model, self.train)

    def get_weights(self) -> dict[str, np.ndarray]:
        return self.rbm.weights()

    def train_epoch(self, xb: np.ndarray, yb: np.ndarray) -> float:
        """xb (steps, B, V) data, yb (steps, B, H + k (V + H)) uniform noise -> mean recon error."""
        return self.trainer.epoch(self.inputs(xb, 2), as_tensor(yb, self.dev))

    @torch.no_grad()
    def predict(self, x: np.ndarray) -> np.ndarray:
        """x (N, V) -> p(h=1|v) (N, H)."""
        return self.rbm.hidden_probs(self.inputs(x)).cpu().numpy()
