"""Autoencoder in Theano (PyTensor): a symbolic graph over float32 shared variables, pytensor.grad,
and the canonical SGD/Adam step written symbolically (harness.frameworks.theano), compiled once in build.

Modes: ``step`` compiles the step as a ``pytensor.function`` with ``updates=`` and calls it per batch
(Theano's classic loop); ``epoch`` runs the same step inside one ``pytensor.scan`` over the epoch's
(corrupted input, clean target) batches, carrying the weights and optimizer state, so one call of
one compiled function trains the whole epoch.
"""
from __future__ import annotations

import numpy as np
import pytensor.tensor as pt

from harness.frameworks.theano import GradientAdapter

ACT = {"relu": lambda h: pt.maximum(h, np.float32(0)), "tanh": pt.tanh, "sigmoid": pt.sigmoid, "linear": lambda h: h}


def forward(params: dict, x, model):
    """params: canonical names -> shared variables; x symbolic (B, D) -> reconstruction (B, D)."""
    act = ACT[model.activation]
    k = len(model.encoder)
    h = x
    for i in range(k):
        h = act(pt.dot(h, params[f"enc{i}.kernel"]) + params[f"enc{i}.bias"])
    for i in reversed(range(k)):
        kernel = params[f"enc{i}.kernel"].T if model.tied else params[f"dec{i}.kernel"]
        h = pt.dot(h, kernel) + params[f"dec{i}.bias"]
        h = act(h) if i > 0 else ACT[model.output](h)
    return h


class Adapter(GradientAdapter):
    """Canonical ``enc{i}.*``, ``dec{i}.*`` (see the spec) as shared variables; x (N, D) ->
    reconstruction (N, D); the loss is the mean over batch and features of (reconstruction of the
    corrupted x - clean y)^2."""

    MODES = ("step", "epoch")  # step: compiled step per batch; epoch: one compiled scan per epoch
    LOSS = "mse"

    def forward(self, params: dict, x):
        return forward(params, x, self.model)
