"""MLP in Theano, through PyTensor: float32 shared variables and symbolic graphs compiled once.

The train step is one pure symbolic function of (weights, optimizer state, batch). Mode ``step``
compiles it as a ``pytensor.function`` with ``updates=`` and calls it per batch (Theano's classic
loop); mode ``epoch`` runs it inside a ``pytensor.scan`` over the epoch's batches, carrying the
weights and optimizer state, so one call trains the whole epoch (both from harness/frameworks/theano.py).
Every constant is a numpy float32: PyTensor turns a Python float into float64 and would upcast.
"""
from __future__ import annotations

import numpy as np
import pytensor.tensor as pt

from harness.frameworks.theano import GradientAdapter

F32 = np.float32

# relu as a switch: its gradient at exactly 0 is 0, as in torch/TF/JAX (pt.maximum's is 1). Exact
# zeros happen: a zero-initialised bias under an all-dead previous layer.
ACT = {"relu": lambda z: pt.switch(z > 0, z, F32(0)), "tanh": pt.tanh, "sigmoid": pt.sigmoid}


def forward(params: dict, x, n_layers: int, activation: str):
    """params: canonical names -> symbolic weights; x (N, features) -> logits (N, classes)."""
    h = x
    for i in range(n_layers):
        h = pt.dot(h, params[f"dense{i}.kernel"]) + params[f"dense{i}.bias"]
        if i < n_layers - 1:
            h = ACT[activation](h)
    return h


class Adapter(GradientAdapter):
    """Canonical ``dense{i}.kernel`` (in, out), ``dense{i}.bias`` (out,) as shared variables;
    x (N, features) -> logits (N, classes)."""

    MODES = ("step", "epoch")  # step: compiled step per batch; epoch: one compiled scan per epoch
    LOSS = "xent"

    def forward(self, params: dict, x):
        return forward(params, x, len(self.model.hidden) + 1, self.model.activation)
