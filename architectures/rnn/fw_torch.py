"""RNN in PyTorch: nn.RNN / nn.GRU (batch_first) + nn.Linear head, torch.optim; one train step per
batch driven from Python, run eager (op by op) or torch.compile'd once at build (``compiled``: the
head, loss, backward and optimizer update compiled; the recurrent layer stays PyTorch's fused kernel,
as torch.compile leaves it by default)."""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from architectures.rnn.spec import directions
from harness.frameworks.torch import GradientAdapter, linear_weights, set_params, to_numpy

SUFFIX = {"fw": "", "bw": "_reverse"}  # torch's parameter-name suffix per direction


def _torch_names(model) -> dict[str, str]:
    """torch parameter name -> canonical name (torch stores kernels as (G*H, in): transposed)."""
    names = {}
    for layer in range(model.layers):
        for d in directions(model):
            s, p = f"l{layer}{SUFFIX[d]}", f"rnn{layer}.{d}."
            names[f"weight_ih_{s}"] = p + "w_ih"
            names[f"weight_hh_{s}"] = p + "w_hh"
            names[f"bias_ih_{s}"] = p + ("b" if model.cell == "simple" else "b_ih")
            if model.cell == "gru":
                names[f"bias_hh_{s}"] = p + "b_hh"
    return names


class Net(nn.Module):
    def __init__(self, model, features: int, n_out: int):
        super().__init__()
        kind = nn.RNN if model.cell == "simple" else nn.GRU
        extra = {"nonlinearity": "tanh"} if model.cell == "simple" else {}
        self.rnn = kind(features, model.hidden, num_layers=model.layers, batch_first=True,
                        bidirectional=model.bidirectional, **extra)
        self.head = nn.Linear(len(directions(model)) * model.hidden, n_out)
        self.hidden, self.readout, self.bidirectional = model.hidden, model.readout, model.bidirectional

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (N, T, F) -> (N, out)."""
        hs, _ = self.rnn(x)  # (N, T, D*H), bw outputs already in the original time order
        if self.readout == "mean":
            feat = hs.mean(dim=1)
        elif self.bidirectional:
            feat = torch.cat([hs[:, -1, :self.hidden], hs[:, 0, self.hidden:]], dim=1)
        else:
            feat = hs[:, -1]
        return self.head(feat)


class Adapter(GradientAdapter):
    """Canonical ``rnn{l}.{d}.*`` and ``head.*`` (see spec); x (N, T*F) -> logits (N, classes) or
    predictions (N, outputs), by the dataset's task."""

    MODES = ("eager", "compiled")  # eager: op-by-op step loop (PyTorch's default); compiled: torch.compile'd step
    ALIASES = {"step": "eager"}  # a request for the per-step loop runs PyTorch's eager one
    NOTES = ("compiled: torch.compile keeps nn.RNN/nn.GRU out of its graphs (Dynamo's default, allow_rnn=False): "
             "the recurrence runs PyTorch's fused kernel between the compiled pieces")
    SEQUENCE = True

    def __init__(self, model, info, train, **kw):
        super().__init__(model, info, train, **kw)
        self.names = _torch_names(model)

    def make_net(self, weights: dict[str, np.ndarray]) -> Net:
        net = Net(self.model, self.info.sequence_shape[1], weights["head.bias"].shape[0])
        params = dict(net.rnn.named_parameters())
        with torch.no_grad():
            for tname, cname in self.names.items():
                w = weights[cname]
                params[tname].copy_(torch.from_numpy(np.ascontiguousarray(w.T if w.ndim == 2 else w)))
            if self.model.cell == "simple":
                # the single canonical bias lives in bias_ih: bias_hh stays a frozen zero
                for tname, p in params.items():
                    if tname.startswith("bias_hh"):
                        p.zero_()
                        p.requires_grad_(False)
        set_params(net.head, weights["head.kernel"].T, weights["head.bias"])
        return net

    def get_weights(self) -> dict[str, np.ndarray]:
        params = dict(self.net.rnn.named_parameters())
        out = {}
        for tname, cname in self.names.items():
            w = params[tname]
            out[cname] = to_numpy(w.T if w.ndim == 2 else w)
        out.update(linear_weights(self.net.head, "head"))
        return out
