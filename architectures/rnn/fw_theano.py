"""RNN in Theano, through PyTensor: float32 shared variables, ``pytensor.scan`` over time, and one
train step compiled once as a ``pytensor.function`` with ``updates=`` (Theano's classic loop).

Both directions of a layer advance in one scan: the bw direction reads the time-reversed input
projections and its outputs are flipped back to the original time order. Every constant is a
numpy float32: PyTensor turns a Python float into float64 and would upcast.
"""
from __future__ import annotations

import numpy as np
import pytensor
import pytensor.tensor as pt
from pytensor.tensor.special import log_softmax

from architectures._shared import Unsupported
from architectures.rnn.spec import directions, weight_shapes
from harness.frameworks.theano import device_available

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


class Optimizer:
    """harness/optim.py as symbolic updates. State: sgd [velocities]; adam [m..., v..., t]."""

    def __init__(self, train):
        self.train = train

    def init_state(self, weights: list[np.ndarray]) -> list[np.ndarray]:
        zeros = [np.zeros_like(w) for w in weights]
        if self.train.optimizer == "sgd":
            return zeros
        return [*zeros, *[np.zeros_like(w) for w in weights], np.int64(0)]

    def update(self, params: list, grads: list, state: list) -> tuple[list, list]:
        """Symbolic (new params, new state) from symbolic params, grads and state."""
        if self.train.optimizer == "sgd":
            return self._sgd(params, grads, state)
        return self._adam(params, grads, state)

    def _sgd(self, params, grads, vel):
        lr, mom = F32(self.train.lr), F32(self.train.momentum)
        new_vel = [mom * v + g for v, g in zip(vel, grads)]
        return [w - lr * v for w, v in zip(params, new_vel)], new_vel

    def _adam(self, params, grads, state):
        tr, n = self.train, len(params)
        ms, vs, t = state[:n], state[n:2 * n], state[-1] + 1
        b1, b2 = F32(tr.beta1), F32(tr.beta2)
        # bias corrections in float64, like the reference, then float32 for the update
        c1 = pt.cast(1 - np.float64(tr.beta1) ** t, "float32")
        c2 = pt.cast(1 - np.float64(tr.beta2) ** t, "float32")
        new_m = [b1 * m + (F32(1) - b1) * g for m, g in zip(ms, grads)]
        new_v = [b2 * v + (F32(1) - b2) * g * g for v, g in zip(vs, grads)]
        new_w = [w - F32(tr.lr) * (m / c1) / (pt.sqrt(v / c2) + F32(tr.eps))
                 for w, m, v in zip(params, new_m, new_v)]
        return new_w, [*new_m, *new_v, t]


class Adapter:
    MODES = ("step",)  # one compiled step per batch (a scan over steps around the time scans would
    # multiply the compile time for no change in the arithmetic)
    NOTES = ""

    def __init__(self, model, info, train, *, mode="step", device="cpu", seed=0):
        if (reason := device_available(device)) is not None:
            raise Unsupported(reason)
        self.model, self.info, self.train, self.mode, self.device = model, info, train, mode, device
        self.classify = info.task == "classification"
        self.opt = Optimizer(train)

    def build(self, weights: dict[str, np.ndarray]) -> None:
        """weights: canonical ``rnn{l}.{d}.*`` and ``head.*`` (see spec)."""
        self.names = list(weight_shapes(self.model, self.info))
        w = [np.asarray(weights[k], np.float32) for k in self.names]
        self.params = {k: pytensor.shared(a.copy(), name=k) for k, a in zip(self.names, w)}
        self.state = [pytensor.shared(s) for s in self.opt.init_state(w)]
        x = pt.tensor3("x", dtype="float32")
        self._predict = pytensor.function([x], forward(self.params, x, self.model))
        self._train = self._compile_step()

    def _compile_step(self) -> pytensor.compile.Function:
        """f(x (B, T, F), y (B,) int or (B, out) float) -> loss; updates weights and state in place."""
        x = pt.tensor3("x", dtype="float32")
        out = forward(self.params, x, self.model)
        if self.classify:
            y = pt.vector("y", dtype="int64")
            loss = -log_softmax(out, axis=-1)[pt.arange(y.shape[0]), y].mean()
        else:
            y = pt.matrix("y", dtype="float32")
            loss = pt.sqr(out - y).mean()
        params = [self.params[k] for k in self.names]
        new_p, new_s = self.opt.update(params, pytensor.grad(loss, params), self.state)
        return pytensor.function([x, y], loss, updates=list(zip(params + self.state, new_p + new_s)))

    def get_weights(self) -> dict[str, np.ndarray]:
        return {k: np.array(self.params[k].get_value(), dtype=np.float32) for k in self.names}

    def _seq(self, x: np.ndarray) -> np.ndarray:
        """(..., T*F) -> (..., T, F) float32."""
        return np.ascontiguousarray(x.reshape(*x.shape[:-1], *self.info.sequence_shape), dtype=np.float32)

    def train_epoch(self, xb: np.ndarray, yb: np.ndarray) -> float:
        """xb (steps, B, T*F), yb (steps, B) int or (steps, B, out) float -> mean loss over the steps."""
        xs = self._seq(xb)
        ys = np.ascontiguousarray(yb, dtype=np.int64 if self.classify else np.float32)
        return float(np.mean([self._train(x, y) for x, y in zip(xs, ys)]))

    def predict(self, x: np.ndarray) -> np.ndarray:
        """x (N, T*F) -> logits (N, classes) or predictions (N, outputs)."""
        return self._predict(self._seq(x))

    def sync(self) -> None:
        """Compiled PyTensor functions return numpy arrays: nothing is ever queued."""
