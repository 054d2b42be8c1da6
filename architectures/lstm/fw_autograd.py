"""LSTM in autograd: an autograd.numpy cell in a Python loop over time, autograd.value_and_grad,
the numpy optimizers of harness/frameworks/autograd.py."""
from __future__ import annotations

import autograd.numpy as anp
import numpy as np

from harness.frameworks.autograd import GradientAdapter, sigmoid


def _direction(params: dict, prefix: str, x, reverse: bool):
    """One direction of one layer: x (N, T, in) -> outputs (N, T, H), each stored at its input step."""
    w_ih, w_hh, b = params[f"{prefix}.w_ih"], params[f"{prefix}.w_hh"], params[f"{prefix}.b"]
    hid, steps = w_hh.shape[0], x.shape[1]
    xw = anp.dot(x, w_ih) + b  # the input projection of every step at once: one GEMM outside the loop
    h = c = anp.zeros((x.shape[0], hid), dtype=np.float32)
    out = [None] * steps
    for t in (range(steps - 1, -1, -1) if reverse else range(steps)):
        z = xw[:, t] + anp.dot(h, w_hh)
        i, f, g, o = z[:, :hid], z[:, hid:2 * hid], z[:, 2 * hid:3 * hid], z[:, 3 * hid:]
        c = sigmoid(f) * c + sigmoid(i) * anp.tanh(g)
        h = sigmoid(o) * anp.tanh(c)
        out[t] = h  # a list, then one stack: autograd cannot differentiate item assignment
    return anp.stack(out, axis=1)


def forward(params: dict, x, model, steps: int, features: int):
    """x (N, T*features) -> (N, out); params holds the canonical names and layout."""
    dirs = ("fw", "bw") if model.bidirectional else ("fw",)
    seq = x.reshape(x.shape[0], steps, features)
    for l in range(model.layers):
        seq = anp.concatenate([_direction(params, f"lstm{l}.{d}", seq, d == "bw") for d in dirs], axis=2)
    if model.readout == "mean":
        feat = anp.mean(seq, axis=1)
    elif model.bidirectional:
        feat = anp.concatenate([seq[:, -1, :model.hidden], seq[:, 0, model.hidden:]], axis=1)
    else:
        feat = seq[:, -1]
    return anp.dot(feat, params["head.kernel"]) + params["head.bias"]


class Adapter(GradientAdapter):
    """The canonical dict (``lstm{l}.{d}.*``, ``head.*``); x (N, T*features) -> logits (N, classes)
    or predictions (N, n_outputs), by the dataset's task."""

    MODES = ("step",)  # numpy executes op by op: a per-step Python loop is the only way

    def make_forward(self):
        model, (steps, features) = self.model, self.info.sequence_shape
        return lambda params, x: forward(params, x, model, steps, features)
