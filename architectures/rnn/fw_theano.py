"""RNN in Theano, through PyTensor: float32 shared variables, ``pytensor.scan`` over time, and the
train step (``pytensor.grad`` through the time scans, harness/optim.py's update) compiled once in build.

Modes: ``step`` compiles the step as a ``pytensor.function`` with ``updates=`` and calls it per batch
(Theano's classic loop); ``epoch`` runs the same step inside one outer ``pytensor.scan`` over the
epoch's batches (the time scans and their gradients nested in it), carrying the weights and
optimizer state, so one call of one compiled function trains the whole epoch. The nested graph
takes about twice as long to compile (~15 s for the check set's 2-layer bidirectional GRU, ~3 s for
a 1-layer GRU of 32 units on 2 cores).

Both directions of a layer advance in one scan: the bw direction reads the time-reversed input
projections and its outputs are flipped back to the original time order. Every constant is a
numpy float32: PyTensor turns a Python float into float64 and would upcast.
"""
from __future__ import annotations

import numpy as np
import pytensor
import pytensor.tensor as pt

from architectures.rnn.spec import directions
from harness.frameworks.theano import GradientAdapter

F32 = np.float32


def _cell(cell: str, n_h: int, g, h, w_hh, b_hh=None):
    """One step: g (N, G*H) precomputed input projection (+ input bias), h (N, H) -> h' (N, H)."""
    if cell == "simple":
        return pt.tanh(g + pt.dot(h, w_hh))
    gh = pt.dot(h, w_hh) + b_hh
    rz = pt.sigmoid(g[:, :2 * n_h] + gh[:, :2 * n_h])  # r and z in one elementwise op
    r, z = rz[:, :n_h], rz[:, n_h:]
    n = pt.tanh(g[:, 2 * n_h:] + r * gh[:, 2 * n_h:])
    return (F32(1) - z) * n + z * h


def _layer(p: dict, layer: int, model, xs):
    """xs (T, N, in) symbolic -> outputs (T, N, D*H), [fw, bw] in the original time order.

    Both directions advance in one scan (bw reads the time-reversed projections): one loop
    instead of two, at run time and for the graph rewrites at compile time."""
    dirs = directions(model)
    bias = "b" if model.cell == "simple" else "b_ih"
    recurrent = ["w_hh"] if model.cell == "simple" else ["w_hh", "b_hh"]
    # the input projection of every step is one GEMM outside the sequential loop
    seqs = [pt.dot(xs, p[f"rnn{layer}.{d}.w_ih"]) + p[f"rnn{layer}.{d}.{bias}"] for d in dirs]
    seqs = [s[::-1] if d == "bw" else s for s, d in zip(seqs, dirs)]
    weights = [p[f"rnn{layer}.{d}.{k}"] for d in dirs for k in recurrent]
    h0 = pt.zeros((xs.shape[1], model.hidden), dtype="float32")
    n_d, n_w = len(dirs), len(recurrent)

    def step(*args):
        gs, hs, ws = args[:n_d], args[n_d:2 * n_d], args[2 * n_d:]
        return [_cell(model.cell, model.hidden, g, h, *ws[i * n_w:(i + 1) * n_w])
                for i, (g, h) in enumerate(zip(gs, hs))]

    outs = pytensor.scan(step, sequences=seqs, outputs_info=[h0] * n_d, non_sequences=weights,
                         strict=True, return_list=True, return_updates=False)
    return pt.concatenate([o[::-1] if d == "bw" else o for o, d in zip(outs, dirs)], axis=2)


def forward(p: dict, x, model):
    """p: canonical name -> shared variable; x (N, T, F) symbolic -> (N, out)."""
    hs = x.dimshuffle(1, 0, 2)  # time-major for the scan
    for layer in range(model.layers):
        hs = _layer(p, layer, model, hs)
    if model.readout == "mean":
        feat = hs.mean(axis=0)
    elif model.bidirectional:
        feat = pt.concatenate([hs[-1, :, :model.hidden], hs[0, :, model.hidden:]], axis=1)
    else:
        feat = hs[-1]
    return pt.dot(feat, p["head.kernel"]) + p["head.bias"]


class Adapter(GradientAdapter):
    """Canonical ``rnn{l}.{d}.*`` and ``head.*`` (see spec) as shared variables; x (N, T*F) ->
    logits (N, classes) or predictions (N, outputs), by the dataset's task."""

    MODES = ("step", "epoch")  # step: compiled step per batch; epoch: one compiled scan per epoch
    LOG_SOFTMAX = "pytensor"
    SEQUENCE = True

    def forward(self, params: dict, x):
        return forward(params, x, self.model)
