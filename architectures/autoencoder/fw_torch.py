"""Autoencoder in PyTorch: nn.Linear layers (decoder biases as nn.Parameter when tied), torch.optim;
one train step per batch driven from Python, run eager (op by op, PyTorch's default) or
torch.compile'd once at build (``compiled``)."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from harness.frameworks.torch import GradientAdapter, linear, linear_weights, to_numpy

ACT = {"relu": torch.relu, "tanh": torch.tanh, "sigmoid": torch.sigmoid, "linear": lambda h: h}


class AutoEncoder(nn.Module):
    """enc[i]: nn.Linear(in_i, out_i); dec[i] mirrors it (out_i -> in_i): an nn.Linear, or, when
    tied, only a bias used with enc[i].weight transposed. dec[0] is the output layer."""

    def __init__(self, weights: dict[str, np.ndarray], model):
        super().__init__()
        self.model = model
        k = len(model.encoder)
        self.enc = nn.ModuleList(linear(weights[f"enc{i}.kernel"], weights[f"enc{i}.bias"]) for i in range(k))
        if model.tied:
            self.dec_bias = nn.ParameterList(
                nn.Parameter(torch.from_numpy(np.ascontiguousarray(weights[f"dec{i}.bias"], np.float32)))
                for i in range(k))
        else:
            self.dec = nn.ModuleList(linear(weights[f"dec{i}.kernel"], weights[f"dec{i}.bias"]) for i in range(k))

    def decode_layer(self, i: int, h: torch.Tensor) -> torch.Tensor:
        if self.model.tied:
            return F.linear(h, self.enc[i].weight.T, self.dec_bias[i])
        return self.dec[i](h)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        act = ACT[self.model.activation]
        h = x
        for lin in self.enc:
            h = act(lin(h))
        for i in reversed(range(len(self.enc))):
            h = self.decode_layer(i, h)
            h = act(h) if i > 0 else ACT[self.model.output](h)
        return h


class Adapter(GradientAdapter):
    """Canonical ``enc{i}.*``, ``dec{i}.*`` (see the spec); x (N, D) -> reconstruction (N, D); the
    loss is the mean over batch and features of (reconstruction of the corrupted x - clean y)^2."""

    MODES = ("eager", "compiled")  # eager: op-by-op step loop (PyTorch's default); compiled: torch.compile'd step
    ALIASES = {"step": "eager"}  # a request for the per-step loop runs PyTorch's eager one
    LOSS = "mse"

    def make_net(self, weights: dict[str, np.ndarray]) -> AutoEncoder:
        return AutoEncoder(weights, self.model)

    def get_weights(self) -> dict[str, np.ndarray]:
        out = {}
        for i, lin in enumerate(self.net.enc):
            out.update(linear_weights(lin, f"enc{i}"))
        for i in range(len(self.net.enc)):
            if self.model.tied:
                out[f"dec{i}.bias"] = to_numpy(self.net.dec_bias[i])
            else:
                out.update(linear_weights(self.net.dec[i], f"dec{i}"))
        return out
