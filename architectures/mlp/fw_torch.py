"""MLP in PyTorch: nn.Linear stack, torch.optim, eager per-step loop (PyTorch's default)."""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from harness.frameworks.torch import sync as _sync
from harness.frameworks.torch import torch_device

ACT = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}


def make_optimizer(params, train) -> torch.optim.Optimizer:
    """The canonical optimizers (harness/optim.py) are PyTorch's definitions."""
    if train.optimizer == "sgd":
        return torch.optim.SGD(params, lr=train.lr, momentum=train.momentum)
    return torch.optim.Adam(params, lr=train.lr, betas=(train.beta1, train.beta2), eps=train.eps)


class Adapter:
    MODES = ("step",)  # step = eager per-step loop, PyTorch's standard way
    NOTES = ""

    def __init__(self, model, info, train, *, mode="step", device="cpu", seed=0):
        self.model, self.info, self.train, self.mode, self.device = model, info, train, mode, device
        self.dev = torch_device(device)

    def build(self, weights: dict[str, np.ndarray]) -> None:
        """weights: canonical ``dense{i}.kernel`` (in, out) and ``dense{i}.bias`` (out,)."""
        n = len(self.model.hidden) + 1
        layers: list[nn.Module] = []
        self.linears: list[nn.Linear] = []
        for i in range(n):
            k = weights[f"dense{i}.kernel"]
            lin = nn.Linear(k.shape[0], k.shape[1])
            with torch.no_grad():
                lin.weight.copy_(torch.from_numpy(np.ascontiguousarray(k.T)))  # torch stores (out, in)
                lin.bias.copy_(torch.from_numpy(weights[f"dense{i}.bias"]))
            layers.append(lin)
            self.linears.append(lin)
            if i < n - 1:
                layers.append(ACT[self.model.activation]())
        self.net = nn.Sequential(*layers).to(self.dev)
        self.opt = make_optimizer(self.net.parameters(), self.train)
        self.loss_fn = nn.CrossEntropyLoss()

    def get_weights(self) -> dict[str, np.ndarray]:
        out = {}
        for i, lin in enumerate(self.linears):
            out[f"dense{i}.kernel"] = lin.weight.detach().cpu().numpy().T.astype(np.float32).copy()
            out[f"dense{i}.bias"] = lin.bias.detach().cpu().numpy().astype(np.float32).copy()
        return out

    def train_epoch(self, xb: np.ndarray, yb: np.ndarray) -> float:
        """xb (steps, B, features), yb (steps, B) int -> mean loss over the steps."""
        x = torch.from_numpy(xb.reshape(xb.shape[0], xb.shape[1], -1)).to(self.dev)
        y = torch.from_numpy(yb.astype(np.int64)).to(self.dev)
        self.net.train()
        total = torch.zeros((), device=self.dev)
        for i in range(x.shape[0]):
            self.opt.zero_grad(set_to_none=True)
            loss = self.loss_fn(self.net(x[i]), y[i])
            loss.backward()
            self.opt.step()
            total += loss.detach()  # accumulate on device: no per-step host sync
        return float(total.item() / x.shape[0])

    @torch.no_grad()
    def predict(self, x: np.ndarray) -> np.ndarray:
        """x (N, features) -> logits (N, classes)."""
        self.net.eval()
        t = torch.from_numpy(np.ascontiguousarray(x.reshape(len(x), -1))).to(self.dev)
        return self.net(t).cpu().numpy()

    def sync(self) -> None:
        _sync(self.device)
