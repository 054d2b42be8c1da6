"""LSTM in PyTorch: nn.LSTM (batch_first) + nn.Linear, torch.optim; one train step per batch driven
from Python, run eager (op by op) or torch.compile'd once at build (``compiled``: the head, loss,
backward and optimizer update compiled; nn.LSTM stays PyTorch's fused kernel, as torch.compile leaves
it by default)."""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from harness.frameworks.torch import GradientAdapter, linear_weights, set_params, to_numpy


class Net(nn.Module):
    def __init__(self, model, features: int, n_out: int):
        super().__init__()
        self.model = model
        ndir = 2 if model.bidirectional else 1
        self.lstm = nn.LSTM(features, model.hidden, num_layers=model.layers, batch_first=True,
                            bidirectional=model.bidirectional)
        self.head = nn.Linear(ndir * model.hidden, n_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (N, T, features) -> (N, n_out)."""
        seq, _ = self.lstm(x)  # (N, T, ndir*H); the bw half is already aligned with the input steps
        if self.model.readout == "mean":
            feat = seq.mean(dim=1)
        elif self.model.bidirectional:
            h = self.model.hidden
            feat = torch.cat([seq[:, -1, :h], seq[:, 0, h:]], dim=-1)
        else:
            feat = seq[:, -1]
        return self.head(feat)


def _suffix(l: int, d: str) -> str:
    return f"l{l}" + ("_reverse" if d == "bw" else "")


class Adapter(GradientAdapter):
    """Canonical ``lstm{l}.{d}.w_ih`` (in, 4H), ``.w_hh`` (H, 4H), ``.b`` (4H,), ``head.kernel``
    (ndir*H, out), ``head.bias`` (out,); x (N, T*features) -> logits (N, classes) or predictions
    (N, n_outputs), by the dataset's task."""

    MODES = ("eager", "compiled")  # eager: op-by-op step loop (PyTorch's default); compiled: torch.compile'd step
    ALIASES = {"step": "eager"}  # a request for the per-step loop runs PyTorch's eager one
    NOTES = ("compiled: torch.compile keeps nn.LSTM out of its graphs (Dynamo's default, allow_rnn=False): "
             "the recurrence runs PyTorch's fused kernel between the compiled pieces")
    SEQUENCE = True

    def __init__(self, model, info, train, **kw):
        super().__init__(model, info, train, **kw)
        self.dirs = ("fw", "bw") if model.bidirectional else ("fw",)

    def make_net(self, weights: dict[str, np.ndarray]) -> Net:
        net = Net(self.model, self.info.sequence_shape[1], weights["head.bias"].shape[0])
        with torch.no_grad():
            for l in range(self.model.layers):
                for d in self.dirs:
                    p, s = f"lstm{l}.{d}", _suffix(l, d)
                    # torch stores (4H, in) with the same (i, f, g, o) gate order: transpose
                    getattr(net.lstm, f"weight_ih_{s}").copy_(torch.from_numpy(weights[f"{p}.w_ih"].T.copy()))
                    getattr(net.lstm, f"weight_hh_{s}").copy_(torch.from_numpy(weights[f"{p}.w_hh"].T.copy()))
                    getattr(net.lstm, f"bias_ih_{s}").copy_(torch.from_numpy(weights[f"{p}.b"]))
                    # the canonical LSTM has one bias: bias_hh stays zero and untrained, so the
                    # effective bias (bias_ih + bias_hh) and its gradient equal the reference's
                    bias_hh = getattr(net.lstm, f"bias_hh_{s}")
                    bias_hh.zero_()
                    bias_hh.requires_grad_(False)
        set_params(net.head, weights["head.kernel"].T, weights["head.bias"])
        return net

    def get_weights(self) -> dict[str, np.ndarray]:
        out = {}
        for l in range(self.model.layers):
            for d in self.dirs:
                p, s = f"lstm{l}.{d}", _suffix(l, d)
                out[f"{p}.w_ih"] = to_numpy(getattr(self.net.lstm, f"weight_ih_{s}").T)
                out[f"{p}.w_hh"] = to_numpy(getattr(self.net.lstm, f"weight_hh_{s}").T)
                out[f"{p}.b"] = to_numpy(getattr(self.net.lstm, f"bias_ih_{s}") + getattr(self.net.lstm, f"bias_hh_{s}"))
        out.update(linear_weights(self.net.head, "head"))
        return out
