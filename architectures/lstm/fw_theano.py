"""LSTM in Theano (PyTensor): pytensor.scan over time on float32 shared variables, pytensor.grad
through the scan, and the canonical SGD/Adam step written symbolically, compiled once in build.

Modes: ``step`` compiles the step as a ``pytensor.function`` whose ``updates=`` apply it, called per
batch (Theano's classic loop); ``epoch`` runs the same step inside one outer ``pytensor.scan`` over
the epoch's batches (the time scans and their gradients nested in it), carrying the weights and
optimizer state, so one call of one compiled function trains the whole epoch. The nested graph
takes about twice as long to compile (~16 s for the check set's 2-layer bidirectional LSTM, ~4 s
for a 1-layer LSTM of 32 units on 2 cores).
"""
from __future__ import annotations

import pytensor
import pytensor.tensor as pt

from harness.frameworks.theano import GradientAdapter

F32 = "float32"


def _cell(xw_t, h, c, w_hh, hid: int):
    """One step: xw_t (N, 4H) precomputed input projection + bias, h, c (N, H) -> h', c'."""
    z = (xw_t + pt.dot(h, w_hh)).reshape((h.shape[0], 4, hid))  # integer gate indices rewrite faster than slices
    i, f, g, o = z[:, 0], z[:, 1], z[:, 2], z[:, 3]
    c = pt.sigmoid(f) * c + pt.sigmoid(i) * pt.tanh(g)
    return pt.sigmoid(o) * pt.tanh(c), c


def _layer(params: dict, l: int, dirs: tuple[str, ...], x, hid: int):
    """x (T, N, in) time-major -> outputs (T, N, ndir*H), [fw, bw] in the input's time order.

    Both directions advance in one scan (bw reads the time-reversed projections): half the scans
    to optimise and compile, the costly part of building this graph."""
    w = {d: [params[f"lstm{l}.{d}.{k}"] for k in ("w_ih", "w_hh", "b")] for d in dirs}
    # the input projection of every step at once: one GEMM outside the sequential loop
    seqs = [pt.dot(x, w[d][0]) + w[d][2] for d in dirs]
    seqs = [s[::-1] if d == "bw" else s for s, d in zip(seqs, dirs)]
    n = len(dirs)

    def step(*args):
        xws, hcs, w_hhs = args[:n], args[n:3 * n], args[3 * n:]
        return [v for k in range(n) for v in _cell(xws[k], hcs[2 * k], hcs[2 * k + 1], w_hhs[k], hid)]

    zeros = pt.zeros((x.shape[1], hid), dtype=F32)
    outs = pytensor.scan(step, sequences=seqs, outputs_info=[zeros] * (2 * n), non_sequences=[w[d][1] for d in dirs],
                         strict=True, return_list=True, return_updates=False)
    hs = [outs[2 * k][::-1] if d == "bw" else outs[2 * k] for k, d in enumerate(dirs)]  # h of each direction
    return pt.concatenate(hs, axis=2) if n == 2 else hs[0]


def forward(params: dict, x, model, steps: int, features: int):
    """x symbolic (N, T*features) -> (N, out); params: canonical names -> shared variables."""
    dirs = ("fw", "bw") if model.bidirectional else ("fw",)
    seq = x.reshape((x.shape[0], steps, features)).dimshuffle(1, 0, 2)  # (T, N, F)
    for l in range(model.layers):
        seq = _layer(params, l, dirs, seq, model.hidden)
    if model.readout == "mean":
        feat = seq.mean(axis=0)
    elif model.bidirectional:
        feat = pt.concatenate([seq[-1, :, :model.hidden], seq[0, :, model.hidden:]], axis=1)
    else:
        feat = seq[-1]
    return pt.dot(feat, params["head.kernel"]) + params["head.bias"]


class Adapter(GradientAdapter):
    """Canonical ``lstm{l}.{d}.w_ih`` (in, 4H), ``.w_hh`` (H, 4H), ``.b`` (4H,), ``head.kernel``
    (ndir*H, out), ``head.bias`` (out,) as shared variables; x (N, T*features) -> logits (N, classes)
    or predictions (N, n_outputs), by the dataset's task."""

    MODES = ("step", "epoch")  # step: compiled step per batch; epoch: one compiled scan per epoch
    LOG_SOFTMAX = "pytensor"

    def forward(self, params: dict, x):
        return forward(params, x, self.model, *self.info.sequence_shape)
