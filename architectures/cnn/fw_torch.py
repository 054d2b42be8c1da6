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
from harness.frameworks.torch import GradientAdapter, linear, linear_weights, set_params, to_numpy

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


class Adapter(GradientAdapter):
    """Canonical ``conv{i}.kernel`` (*K, cin, cout), ``conv{i}.bias`` (cout,), ``dense{j}.kernel``
    (in, out), ``dense{j}.bias`` (out,); x (N, *input_shape) -> logits (N, classes)."""

    MODES = ("eager", "compiled")  # eager: op-by-op step loop (PyTorch's default); compiled: torch.compile'd step
    ALIASES = {"step": "eager"}  # a request for the per-step loop runs PyTorch's eager one
    LOSS = "xent"

    def make_net(self, weights: dict[str, np.ndarray]) -> nn.Sequential:
        spatial = spec.spatial_shape(self.info)
        d, act = len(spatial), ACT[self.model.activation]
        layers: list[nn.Module] = [nn.Unflatten(1, (1, *spatial))]
        for i, c in enumerate(self.model.conv):
            k = weights[f"conv{i}.kernel"]
            conv = CONV[d](k.shape[-2], k.shape[-1], c.kernel, stride=c.stride, padding=c.padding)
            layers += [set_params(conv, _to_torch_kernel(k), weights[f"conv{i}.bias"]), act()]
            layers += [POOL[d](c.pool)] if c.pool > 1 else []
        layers.append(ChannelsLastFlatten())
        n_dense = len(self.model.dense) + 1
        for j in range(n_dense):
            layers += [linear(weights[f"dense{j}.kernel"], weights[f"dense{j}.bias"])]
            layers += [act()] if j < n_dense - 1 else []
        return nn.Sequential(*layers)

    def get_weights(self) -> dict[str, np.ndarray]:
        out = {}
        for i, conv in enumerate(m for m in self.net if isinstance(m, CONV[1] | CONV[2])):
            out[f"conv{i}.kernel"] = _from_torch_kernel(to_numpy(conv.weight))
            out[f"conv{i}.bias"] = to_numpy(conv.bias)
        for j, lin in enumerate(m for m in self.net if isinstance(m, nn.Linear)):
            out.update(linear_weights(lin, f"dense{j}"))
        return out
