"""Autoencoder in PyTorch: nn.Linear layers (decoder biases as nn.Parameter when tied),
torch.optim, eager per-step loop (PyTorch's default)."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from harness.frameworks.torch import sync as _sync
from harness.frameworks.torch import torch_device

ACT = {"relu": torch.relu, "tanh": torch.tanh, "sigmoid": torch.sigmoid, "linear": lambda h: h}


def make_optimizer(params, train) -> torch.optim.Optimizer:
    """The canonical optimizers (harness/optim.py) are PyTorch's definitions."""
    if train.optimizer == "sgd":
        return torch.optim.SGD(params, lr=train.lr, momentum=train.momentum)
    return torch.optim.Adam(params, lr=train.lr, betas=(train.beta1, train.beta2), eps=train.eps)


def _tensor(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))


class AutoEncoder(nn.Module):
    """enc[i]: nn.Linear(in_i, out_i); dec[i] mirrors it (out_i -> in_i): an nn.Linear, or, when
    tied, only a bias used with enc[i].weight transposed. dec[0] is the output layer."""

    def __init__(self, weights: dict[str, np.ndarray], model):
        super().__init__()
        self.model = model
        k = len(model.encoder)
        self.enc = nn.ModuleList(self._linear(weights, f"enc{i}") for i in range(k))
        if model.tied:
            self.dec_bias = nn.ParameterList(nn.Parameter(_tensor(weights[f"dec{i}.bias"])) for i in range(k))
        else:
            self.dec = nn.ModuleList(self._linear(weights, f"dec{i}") for i in range(k))

    @staticmethod
    def _linear(weights: dict[str, np.ndarray], name: str) -> nn.Linear:
        k = weights[f"{name}.kernel"]
        lin = nn.Linear(k.shape[0], k.shape[1])
        with torch.no_grad():
            lin.weight.copy_(_tensor(k.T))  # torch stores (out, in)
            lin.bias.copy_(_tensor(weights[f"{name}.bias"]))
        return lin

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


class Adapter:
    MODES = ("step",)  # step = eager per-step loop, PyTorch's standard way
    NOTES = ""

    def __init__(self, model, info, train, *, mode="step", device="cpu", seed=0):
        self.model, self.info, self.train, self.mode, self.device = model, info, train, mode, device
        self.dev = torch_device(device)

    def build(self, weights: dict[str, np.ndarray]) -> None:
        """weights: canonical ``enc{i}.*``, ``dec{i}.*`` (see the spec)."""
        self.net = AutoEncoder(weights, self.model).to(self.dev)
        self.opt = make_optimizer(self.net.parameters(), self.train)

    def get_weights(self) -> dict[str, np.ndarray]:
        def arr(t: torch.Tensor) -> np.ndarray:
            return t.detach().cpu().numpy().astype(np.float32).copy()

        out = {}
        for i, lin in enumerate(self.net.enc):
            out[f"enc{i}.kernel"], out[f"enc{i}.bias"] = arr(lin.weight.T), arr(lin.bias)
        for i in range(len(self.net.enc)):
            if self.model.tied:
                out[f"dec{i}.bias"] = arr(self.net.dec_bias[i])
            else:
                out[f"dec{i}.kernel"], out[f"dec{i}.bias"] = arr(self.net.dec[i].weight.T), arr(self.net.dec[i].bias)
        return out

    def train_epoch(self, xb: np.ndarray, yb: np.ndarray) -> float:
        """xb (steps, B, D) corrupted inputs, yb (steps, B, D) clean targets -> mean loss over the steps."""
        x = torch.from_numpy(xb).to(self.dev)
        y = torch.from_numpy(yb).to(self.dev)
        total = torch.zeros((), device=self.dev)
        for i in range(x.shape[0]):
            self.opt.zero_grad(set_to_none=True)
            loss = F.mse_loss(self.net(x[i]), y[i])  # mean over batch and features
            loss.backward()
            self.opt.step()
            total += loss.detach()  # accumulate on device: no per-step host sync
        return float(total.item() / x.shape[0])

    @torch.no_grad()
    def predict(self, x: np.ndarray) -> np.ndarray:
        """x (N, *input_shape) -> reconstruction (N, D)."""
        t = _tensor(x.reshape(len(x), -1)).to(self.dev)
        return self.net(t).cpu().numpy()

    def sync(self) -> None:
        _sync(self.device)
