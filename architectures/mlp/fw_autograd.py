"""MLP in autograd: an autograd.numpy forward, autograd.value_and_grad, the numpy optimizers of
harness/frameworks/autograd.py."""
from __future__ import annotations

import autograd.numpy as anp

from harness.frameworks.autograd import GradientAdapter, relu, sigmoid

ACT = {"relu": relu, "tanh": anp.tanh, "sigmoid": sigmoid}


def forward(params: dict, x, n_layers: int, act):
    """x (N, features) -> logits (N, classes); params holds the canonical names and layout."""
    h = x
    for i in range(n_layers):
        h = anp.dot(h, params[f"dense{i}.kernel"]) + params[f"dense{i}.bias"]
        if i < n_layers - 1:
            h = act(h)
    return h


class Adapter(GradientAdapter):
    """Canonical ``dense{i}.kernel`` (in, out), ``dense{i}.bias`` (out,); x (N, features) -> logits."""

    MODES = ("step",)  # numpy executes op by op: a per-step Python loop is the only way
    LOSS = "xent"

    def make_forward(self):
        n_layers, act = len(self.model.hidden) + 1, ACT[self.model.activation]
        return lambda params, x: forward(params, x, n_layers, act)
