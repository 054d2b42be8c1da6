"""Autoencoder in autograd: autograd.numpy forward, autograd.grad, the numpy optimizers of
harness/frameworks/autograd.py."""
from __future__ import annotations

import autograd.numpy as anp
import numpy as np

from harness.frameworks.autograd import GradientAdapter

ACT = {"relu": lambda h: anp.maximum(h, 0.0), "tanh": anp.tanh,
       "sigmoid": lambda h: 1.0 / (1.0 + anp.exp(-h)), "linear": lambda h: h}


def forward(params: dict[str, np.ndarray], x: np.ndarray, model) -> np.ndarray:
    """params: canonical names -> arrays; x (B, D) -> reconstruction (B, D)."""
    act = ACT[model.activation]
    k = len(model.encoder)
    h = x
    for i in range(k):
        h = act(anp.dot(h, params[f"enc{i}.kernel"]) + params[f"enc{i}.bias"])
    for i in reversed(range(k)):
        kernel = anp.transpose(params[f"enc{i}.kernel"]) if model.tied else params[f"dec{i}.kernel"]
        h = anp.dot(h, kernel) + params[f"dec{i}.bias"]
        h = act(h) if i > 0 else ACT[model.output](h)
    return h


class Adapter(GradientAdapter):
    """Canonical ``enc{i}.*``, ``dec{i}.*`` (see the spec); x (N, D) -> reconstruction (N, D); the
    loss is the mean over batch and features of (reconstruction of the corrupted x - clean y)^2."""

    MODES = ("step",)  # autograd traces every call: one gradient evaluation per batch
    LOSS = "mse"

    def make_forward(self):
        model = self.model
        return lambda params, x: forward(params, x, model)
