"""MLP in PyTorch: nn.Linear stack, torch.optim; one train step per batch driven from Python, run
eager (op by op, PyTorch's default) or torch.compile'd once at build (``compiled``)."""
from __future__ import annotations

import numpy as np
from torch import nn

from harness.frameworks.torch import GradientAdapter, linear, linear_weights

ACT = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}


class Adapter(GradientAdapter):
    """Canonical ``dense{i}.kernel`` (in, out), ``dense{i}.bias`` (out,) in an nn.Linear stack;
    x (N, features) -> logits (N, classes)."""

    MODES = ("eager", "compiled")  # eager: op-by-op step loop (PyTorch's default); compiled: torch.compile'd step
    ALIASES = {"step": "eager"}  # a request for the per-step loop runs PyTorch's eager one
    LOSS = "xent"

    def make_net(self, weights: dict[str, np.ndarray]) -> nn.Sequential:
        n = len(self.model.hidden) + 1
        layers: list[nn.Module] = []
        for i in range(n):
            layers.append(linear(weights[f"dense{i}.kernel"], weights[f"dense{i}.bias"]))
            if i < n - 1:
                layers.append(ACT[self.model.activation]())
        return nn.Sequential(*layers)

    def get_weights(self) -> dict[str, np.ndarray]:
        linears = [m for m in self.net if isinstance(m, nn.Linear)]
        return {k: a for i, lin in enumerate(linears) for k, a in linear_weights(lin, f"dense{i}").items()}
