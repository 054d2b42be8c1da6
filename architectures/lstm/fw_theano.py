"""LSTM in Theano (PyTensor): pytensor.scan over time on float32 shared variables, pytensor.grad
through the scan, and one pytensor.function whose ``updates=`` apply the canonical SGD/Adam step,
compiled once in build."""
from __future__ import annotations

import numpy as np
import pytensor
import pytensor.tensor as pt
from pytensor.tensor.special import log_softmax

from architectures._shared import Unsupported
from harness.frameworks.theano import device_available

F32 = "float32"


def _direction(params: dict, prefix: str, x, reverse: bool):
    """One direction of one layer: x (T, N, in) time-major -> outputs (T, N, H) at their input steps."""
    w_ih, w_hh, b = params[f"{prefix}.w_ih"], params[f"{prefix}.w_hh"], params[f"{prefix}.b"]
    hid = w_hh.get_value().shape[0]
    xw = pt.dot(x, w_ih) + b  # the input projection of every step at once: one GEMM outside the scan

    def cell(xw_t, h, c, w_hh):
        z = xw_t + pt.dot(h, w_hh)
        i, f, g, o = (z[:, k * hid:(k + 1) * hid] for k in range(4))
        c = pt.sigmoid(f) * c + pt.sigmoid(i) * pt.tanh(g)
        return pt.sigmoid(o) * pt.tanh(c), c

    zeros = pt.zeros((x.shape[1], hid), dtype=F32)
    hs, _ = pytensor.scan(cell, sequences=[xw], outputs_info=[zeros, zeros], non_sequences=[w_hh],
                          go_backwards=reverse, return_updates=False)
    return hs[::-1] if reverse else hs  # go_backwards yields outputs in processing order


def forward(params: dict, x, model, steps: int, features: int):
    """x symbolic (N, T*features) -> (N, out); params: canonical names -> shared variables."""
    dirs = ("fw", "bw") if model.bidirectional else ("fw",)
    seq = x.reshape((x.shape[0], steps, features)).dimshuffle(1, 0, 2)  # (T, N, F)
    for l in range(model.layers):
        seq = pt.concatenate([_direction(params, f"lstm{l}.{d}", seq, d == "bw") for d in dirs], axis=2)
    if model.readout == "mean":
        feat = seq.mean(axis=0)
    elif model.bidirectional:
        feat = pt.concatenate([seq[-1, :, :model.hidden], seq[0, :, model.hidden:]], axis=1)
    else:
        feat = seq[-1]
    return pt.dot(feat, params["head.kernel"]) + params["head.bias"]


def optimizer_updates(params: dict, grads: dict, train) -> list:
    """harness/optim.py's SGD-momentum and Adam as (shared, new value) pairs; slots are shared too."""
    f = np.float32
    t = pytensor.shared(np.float64(0.0), name="t")  # float64: exact bias corrections
    t1 = t + 1.0
    updates = [(t, t1)]
    if train.optimizer == "adam":
        bc1 = pt.cast(1.0 - train.beta1 ** t1, F32)
        bc2 = pt.cast(1.0 - train.beta2 ** t1, F32)
    for k, w in params.items():
        g = grads[k]
        v = pytensor.shared(np.zeros_like(w.get_value()), name=f"{k}.v")
        if train.optimizer == "sgd":
            v1 = f(train.momentum) * v + g
            updates += [(v, v1), (w, w - f(train.lr) * v1)]
        else:
            m = pytensor.shared(np.zeros_like(w.get_value()), name=f"{k}.m")
            m1 = f(train.beta1) * m + f(1 - train.beta1) * g
            v1 = f(train.beta2) * v + f(1 - train.beta2) * g * g
            step = f(train.lr) * (m1 / bc1) / (pt.sqrt(v1 / bc2) + f(train.eps))
            updates += [(m, m1), (v, v1), (w, w - step)]
    return updates


class Adapter:
    MODES = ("step",)  # one call of the compiled update function per batch
    NOTES = ""

    def __init__(self, model, info, train, *, mode="step", device="cpu", seed=0):
        reason = device_available(device)
        if reason:
            raise Unsupported(reason)
        self.model, self.info, self.train, self.mode, self.device = model, info, train, mode, device
        self.regression = info.task == "regression"

    def build(self, weights: dict[str, np.ndarray]) -> None:
        """weights: canonical ``lstm{l}.{d}.w_ih`` (in, 4H), ``.w_hh`` (H, 4H), ``.b`` (4H,),
        ``head.kernel`` (ndir*H, out), ``head.bias`` (out,)."""
        self.params = {k: pytensor.shared(np.array(v, dtype=np.float32), name=k) for k, v in weights.items()}
        x = pt.matrix("x", dtype=F32)
        out = forward(self.params, x, self.model, *self.info.sequence_shape)
        if self.regression:
            y = pt.matrix("y", dtype=F32)
            loss = pt.mean(pt.sqr(out - y))
        else:
            y = pt.vector("y", dtype="int64")
            loss = -log_softmax(out, axis=-1)[pt.arange(y.shape[0]), y].mean()
        names = list(self.params)
        grads = dict(zip(names, pytensor.grad(loss, [self.params[k] for k in names])))
        self._step = pytensor.function([x, y], loss, updates=optimizer_updates(self.params, grads, self.train))
        self._predict = pytensor.function([x], out)

    def get_weights(self) -> dict[str, np.ndarray]:
        return {k: np.asarray(v.get_value(), dtype=np.float32).copy() for k, v in self.params.items()}

    def train_epoch(self, xb: np.ndarray, yb: np.ndarray) -> float:
        """xb (steps, B, T*features); yb (steps, B) int labels or (steps, B, out) float targets."""
        xb = np.asarray(xb, np.float32)
        yb = yb.astype(np.float32 if self.regression else np.int64)
        total = 0.0
        for x, y in zip(xb, yb):
            total += float(self._step(x, y))  # the compiled function returns numpy: synchronous anyway
        return total / len(xb)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """x (N, T*features) -> logits (N, classes) or predictions (N, n_outputs)."""
        return np.asarray(self._predict(np.asarray(x, np.float32)))

    def sync(self) -> None:
        pass  # compiled functions return numpy arrays: synchronous
