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

import numpy as np
import pytensor
import pytensor.tensor as pt
from pytensor.tensor.special import log_softmax

from harness.frameworks.theano import MODE, Optimizer, check_device, compile_epoch, compile_step, epoch_mean

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


class Adapter:
    MODES = ("step", "epoch")  # step: compiled step per batch; epoch: one compiled scan per epoch
    NOTES = ""

    def __init__(self, model, info, train, *, mode="step", device="cpu", seed=0):
        check_device(device)
        self.model, self.info, self.train, self.mode, self.device = model, info, train, mode, device
        self.regression = info.task == "regression"

    def build(self, weights: dict[str, np.ndarray]) -> None:
        """weights: canonical ``lstm{l}.{d}.w_ih`` (in, 4H), ``.w_hh`` (H, 4H), ``.b`` (4H,),
        ``head.kernel`` (ndir*H, out), ``head.bias`` (out,)."""
        self.params = {k: pytensor.shared(np.array(v, dtype=np.float32), name=k) for k, v in weights.items()}
        x = pt.matrix("x", dtype=F32)
        self._predict = pytensor.function([x], forward(self.params, x, self.model, *self.info.sequence_shape),
                                          mode=MODE)
        # f(x (B, T*F), y (B, out) float or (B,) int) -> loss; Adam's 1 - beta rounded from float64
        opt, params = Optimizer(self.train), list(self.params.values())
        if self.mode == "epoch":  # f(xs (steps, B, T*F), ys (steps, B, out) or (steps, B)) -> mean loss
            xs = pt.tensor3("xs", dtype=F32)
            ys = pt.tensor3("ys", dtype=F32) if self.regression else pt.matrix("ys", dtype="int64")
            self._train = compile_epoch(self._loss, opt, params, xs, ys)
        else:
            y = pt.matrix("y", dtype=F32) if self.regression else pt.vector("y", dtype="int64")
            self._train = compile_step(self._loss, opt, params, x, y)

    def _loss(self, params: list, x, y):
        out = forward(dict(zip(self.params, params)), x, self.model, *self.info.sequence_shape)
        if self.regression:
            return pt.mean(pt.sqr(out - y))
        return -log_softmax(out, axis=-1)[pt.arange(y.shape[0]), y].mean()

    def get_weights(self) -> dict[str, np.ndarray]:
        return {k: np.asarray(v.get_value(), dtype=np.float32).copy() for k, v in self.params.items()}

    def train_epoch(self, xb: np.ndarray, yb: np.ndarray) -> float:
        """xb (steps, B, T*features); yb (steps, B) int labels or (steps, B, out) float targets."""
        xs = np.ascontiguousarray(xb, dtype=np.float32)
        ys = np.ascontiguousarray(yb, dtype=np.float32 if self.regression else np.int64)
        return epoch_mean(self._train, xs, ys, fused=self.mode == "epoch")

    def predict(self, x: np.ndarray) -> np.ndarray:
        """x (N, T*features) -> logits (N, classes) or predictions (N, n_outputs)."""
        return np.asarray(self._predict(np.asarray(x, np.float32)))

    def sync(self) -> None:
        pass  # compiled functions return numpy arrays: synchronous
