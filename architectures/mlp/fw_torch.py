"""MLP in PyTorch: nn.Linear stack, torch.optim; one train step per batch driven from Python, run
eager (op by op, PyTorch's default) or torch.compile'd once at build (``compiled``)."""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from harness.frameworks.torch import (
    AdapterBase,
    as_tensor,
    fit_epoch,
    linear,
    linear_weights,
    make_optimizer,
    make_step,
)

ACT = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}


class Adapter(AdapterBase):
    MODES = ("eager", "compiled")  # eager: op-by-op step loop (PyTorch's default); compiled: torch.compile'd step
    ALIASES = {"step": "eager"}  # a request for the per-step loop runs PyTorch's eager one
    NOTES = ""

    def build(self, weights: dict[str, np.ndarray]) -> None:
        """weights: canonical ``dense{i}.kernel`` (in, out) and ``dense{i}.bias`` (out,)."""
        n = len(self.model.hidden) + 1
        layers: list[nn.Module] = []
        self.linears: list[nn.Linear] = []
        for i in range(n):
            lin = linear(weights[f"dense{i}.kernel"], weights[f"dense{i}.bias"])
            layers.append(lin)
            self.linears.append(lin)
            if i < n - 1:
                layers.append(ACT[self.model.activation]())
        self.net = nn.Sequential(*layers).to(self.dev)
        self.opt = make_optimizer(self.net.parameters(), self.train)
        self.loss_fn = nn.CrossEntropyLoss()
        self.step = make_step(self.net, self.opt, self.loss_fn, self.mode)

    def get_weights(self) -> dict[str, np.ndarray]:
        return {k: a for i, lin in enumerate(self.linears) for k, a in linear_weights(lin, f"dense{i}").items()}

    def train_epoch(self, xb: np.ndarray, yb: np.ndarray) -> float:
        """xb (steps, B, features), yb (steps, B) int -> mean loss over the steps."""
        x = as_tensor(xb.reshape(xb.shape[0], xb.shape[1], -1), self.dev)
        return fit_epoch(self.net, self.step, x, as_tensor(yb, self.dev, np.int64))

    @torch.no_grad()
    def predict(self, x: np.ndarray) -> np.ndarray:
        """x (N, features) -> logits (N, classes)."""
        self.net.eval()
        return self.net(as_tensor(x.reshape(len(x), -1), self.dev)).cpu().numpy()
