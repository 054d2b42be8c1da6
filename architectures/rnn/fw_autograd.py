"""RNN in autograd: an autograd.numpy forward with a Python loop over time, autograd.value_and_grad,
the numpy optimizers of harness/frameworks/autograd.py."""
from __future__ import annotations

import autograd.numpy as anp
import numpy as np

from architectures.rnn.spec import directions
from harness.frameworks.autograd import GradientAdapter, sigmoid


def _run_direction(p: dict, prefix: str, cell: str, xs, reverse: bool):
    """xs (N, T, in) -> outputs (N, T, H) in the original time order."""
    n, steps = xs.shape[:2]
    w_hh = p[prefix + "w_hh"]
    n_h = w_hh.shape[0]
    # the input projection of every step is one GEMM outside the sequential loop
    gi = anp.matmul(xs, p[prefix + "w_ih"]) + p[prefix + ("b" if cell == "simple" else "b_ih")]
    h = np.zeros((n, n_h), np.float32)
    out = [None] * steps
    for t in (reversed(range(steps)) if reverse else range(steps)):
        g = gi[:, t]
        if cell == "simple":
            h = anp.tanh(g + anp.dot(h, w_hh))
        else:
            gh = anp.dot(h, w_hh) + p[prefix + "b_hh"]
            r = sigmoid(g[:, :n_h] + gh[:, :n_h])
            z = sigmoid(g[:, n_h:2 * n_h] + gh[:, n_h:2 * n_h])
            c = anp.tanh(g[:, 2 * n_h:] + r * gh[:, 2 * n_h:])
            h = (1 - z) * c + z * h
        out[t] = h
    return anp.stack(out, axis=1)  # autograd has no in-place writes: collect, then stack


def forward(p: dict, x, model):
    """x (N, T, F) -> (N, out); p holds the canonical names and layout."""
    hs = x
    for layer in range(model.layers):
        hs = anp.concatenate([_run_direction(p, f"rnn{layer}.{d}.", model.cell, hs, d == "bw")
                              for d in directions(model)], axis=2)
    if model.readout == "mean":
        feat = anp.mean(hs, axis=1)
    elif model.bidirectional:
        feat = anp.concatenate([hs[:, -1, :model.hidden], hs[:, 0, model.hidden:]], axis=1)
    else:
        feat = hs[:, -1]
    return anp.dot(feat, p["head.kernel"]) + p["head.bias"]


class Adapter(GradientAdapter):
    """The canonical dict (``rnn{l}.{d}.*``, ``head.*``); x (N, T*F) -> logits (N, classes) or
    predictions (N, outputs), by the dataset's task."""

    MODES = ("step",)  # numpy executes op by op: a per-step Python loop is the only way
    SEQUENCE = True

    def make_forward(self):
        model = self.model
        return lambda params, x: forward(params, x, model)
