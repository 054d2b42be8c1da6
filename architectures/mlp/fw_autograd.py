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
    # Profiled once (cProfile, one epoch of 784-2048-2048-10 at batch 256, 2.96 s, 2026-12-02).
    NOTES = ("Where its time goes on a GEMM-bound MLP (784-2048-2048-10, batch 256, one epoch profiled): "
             "43% in the matrix products (numpy tensordot, BLAS), the rest in single-threaded numpy "
             "elementwise work on weight-sized arrays: autograd's gradient accumulation 19%, the numpy "
             "Adam update 15%, the forward's elementwise ops and tracing about 15%.")

    def make_forward(self):
        n_layers, act = len(self.model.hidden) + 1, ACT[self.model.activation]
        return lambda params, x: forward(params, x, n_layers, act)
