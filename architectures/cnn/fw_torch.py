"""CNN in PyTorch: nn.Conv{1,2}d + nn.MaxPool{1,2}d + nn.Linear, torch.optim; one train step per batch
driven from Python, run eager (op by op) or torch.compile'd once at build (``compiled``).

PyTorch is channels-first: examples enter as (N, 1, *S), kernels are stored (cout, cin, *K), and the
feature map is moved to channels-last before flattening so the dense head sees the canonical order.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from architectures.cnn import spec
from harness.frameworks.torch import (
    AdapterBase,
    as_tensor,
    fit_epoch,
    linear,
    linear_weights,
    make_optimizer,
    make_step,
    set_params,
    to_numpy,
)

ACT = {"relu": nn.ReLU, "tanh": nn.Tanh}
CONV = {1: nn.Conv1d, 2: nn.Conv2d}
POOL = {1: nn.MaxPool1d, 2: nn.MaxPool2d}


class ChannelsLastFlatten(nn.Module):
    """(N, C, *S) -> (N, prod(S) * C) in the canonical (*S, C) order."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.movedim(1, -1).flatten(1)


def _to_torch_kernel(k: np.ndarray) -> np.ndarray:
    """Canonical (*K, cin, cout) -> PyTorch (cout, cin, *K)."""
    d = k.ndim - 2
    return np.ascontiguousarray(np.transpose(k, (d + 1, d, *range(d))))


def _from_torch_kernel(w: np.ndarray) -> np.ndarray:
    """PyTorch (cout, cin, *K) -> canonical (*K, cin, cout)."""
    d = w.ndim - 2
    return np.ascontiguousarray(np.transpose(w, (*range(2, d + 2), 1, 0)))


class Adapter(AdapterBase):
    MODES = ("eager", "compiled")  # eager: op-by-op step loop (PyTorch's default); compiled: torch.compile'd step
    ALIASES = {"step": "eager"}  # a request for the per-step loop runs PyTorch's eager one
    NOTES = ""

    def __init__(self, model, info, train, **kw):
        super().__init__(model, info, train, **kw)
        self.spatial = spec.spatial_shape(info)

    def build(self, weights: dict[str, np.ndarray]) -> None:
        """weights: canonical ``conv{i}.kernel`` (*K, cin, cout), ``conv{i}.bias`` (cout,),
        ``dense{j}.kernel`` (in, out), ``dense{j}.bias`` (out,)."""
        d, act = len(self.spatial), ACT[self.model.activation]
        layers: list[nn.Module] = [nn.Unflatten(1, (1, *self.spatial))]
        self.convs: list[nn.Module] = []
        for i, c in enumerate(self.model.conv):
            k = weights[f"conv{i}.kernel"]
            conv = CONV[d](k.shape[-2], k.shape[-1], c.kernel, stride=c.stride, padding=c.padding)
            self.convs.append(set_params(conv, _to_torch_kernel(k), weights[f"conv{i}.bias"]))
            layers += [conv, act()] + ([POOL[d](c.pool)] if c.pool > 1 else [])
        layers.append(ChannelsLastFlatten())
        n_dense = len(self.model.dense) + 1
        self.linears: list[nn.Linear] = []
        for j in range(n_dense):
            lin = linear(weights[f"dense{j}.kernel"], weights[f"dense{j}.bias"])
            self.linears.append(lin)
            layers += [lin] + ([act()] if j < n_dense - 1 else [])
        self.net = nn.Sequential(*layers).to(self.dev)
        self.opt = make_optimizer(self.net.parameters(), self.train)
        self.loss_fn = nn.CrossEntropyLoss()
        self.step = make_step(self.net, self.opt, self.loss_fn, self.mode)

    def get_weights(self) -> dict[str, np.ndarray]:
        out = {}
        for i, conv in enumerate(self.convs):
            out[f"conv{i}.kernel"] = _from_torch_kernel(to_numpy(conv.weight))
            out[f"conv{i}.bias"] = to_numpy(conv.bias)
        for j, lin in enumerate(self.linears):
            out.update(linear_weights(lin, f"dense{j}"))
        return out

    def train_epoch(self, xb: np.ndarray, yb: np.ndarray) -> float:
        """xb (steps, B, *input_shape), yb (steps, B) int -> mean loss over the steps."""
        x = as_tensor(xb.reshape(xb.shape[0], xb.shape[1], -1), self.dev)
        return fit_epoch(self.net, self.step, x, as_tensor(yb, self.dev, np.int64))

    @torch.no_grad()
    def predict(self, x: np.ndarray) -> np.ndarray:
        """x (N, *input_shape) -> logits (N, classes)."""
        self.net.eval()
        return self.net(as_tensor(x.reshape(len(x), -1), self.dev)).cpu().numpy()
