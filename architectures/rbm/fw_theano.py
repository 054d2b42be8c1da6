"""RBM in Theano, through PyTensor: float32 shared variables, the CD/PCD step as one symbolic graph
compiled once in ``build`` (the deeplearning.net RBM tutorial's recipe: Gibbs chain in the graph,
``pytensor.grad`` of mean F(v_data) - mean F(v_model) with ``consider_constant=[v_model]``, the
PCD chain a shared variable in ``updates``). The sampling uses the harness noise, not RandomStreams.
Every constant is a numpy float32: PyTensor turns a Python float into float64 and would upcast.
"""
from __future__ import annotations

import numpy as np
import pytensor
import pytensor.tensor as pt

from architectures._shared import Unsupported
from harness.frameworks.theano import device_available

F32 = np.float32
# Theano's own backend: C thunks run by the C VM (Theano's FAST_RUN). PyTensor 3 defaults to its
# Numba backend instead, which JIT-compiles on the first call (inside the first timed epoch).
PT_MODE = "CVM"
NAMES = ("W", "b_v", "b_h")


class Optimizer:
    """harness/optim.py as symbolic updates on float32 shared slots (sgd: velocity; adam: m, v, t)."""

    def __init__(self, train, params: list):
        self.train, self.params = train, params
        n_slots = 1 if train.optimizer == "sgd" else 2
        self.slots = [[pytensor.shared(np.zeros_like(p.get_value())) for p in params] for _ in range(n_slots)]
        self.t = pytensor.shared(np.int64(0))

    def updates(self, grads: list) -> list[tuple]:
        tr = self.train
        if tr.optimizer == "sgd":
            vel = [F32(tr.momentum) * v + g for v, g in zip(self.slots[0], grads)]
            return [*zip(self.slots[0], vel), *((w, w - F32(tr.lr) * v) for w, v in zip(self.params, vel))]
        t = self.t + 1
        b1, b2 = F32(tr.beta1), F32(tr.beta2)
        # bias corrections in float64, like the reference, then float32 for the update
        c1 = pt.cast(1 - np.float64(tr.beta1) ** t, "float32")
        c2 = pt.cast(1 - np.float64(tr.beta2) ** t, "float32")
        ms = [b1 * m + (F32(1) - b1) * g for m, g in zip(self.slots[0], grads)]
        vs = [b2 * v + (F32(1) - b2) * g * g for v, g in zip(self.slots[1], grads)]
        ws = [w - F32(tr.lr) * (m / c1) / (pt.sqrt(v / c2) + F32(tr.eps)) for w, m, v in zip(self.params, ms, vs)]
        return [*zip(self.slots[0], ms), *zip(self.slots[1], vs), (self.t, t), *zip(self.params, ws)]


def hidden_probs(W, b_h, v):
    return pt.sigmoid(pt.dot(v, W) + b_h)


def visible_probs(W, b_v, h):
    return pt.sigmoid(pt.dot(h, W.T) + b_v)


def free_energy(W, b_v, b_h, v):
    """F(v) (N,) = -v.b_v - sum_j softplus(v W + b_h)_j."""
    return -pt.dot(v, b_v) - pt.softplus(pt.dot(v, W) + b_h).sum(axis=1)


def sample(u, p):
    return pt.cast(pt.lt(u, p), "float32")  # "1 if u < p"


class CDTrainer:
    """CD-k / PCD-k for one RBM's shared variables: optimizer slots, PCD chain and the compiled
    step (reused by the DBN for each layer's pretraining)."""

    def __init__(self, params: list, model, train):
        self.params, self.persistent = params, model.persistent
        W, b_v, b_h = params
        n_v, n_h = W.get_value().shape
        self.chain = pytensor.shared(np.zeros((0, n_h), np.float32), name="chain")
        self.started = False
        v, u = pt.matrix("v", dtype="float32"), pt.matrix("u", dtype="float32")
        p0 = hidden_probs(W, b_h, v)
        err = ((v - visible_probs(W, b_v, p0)) ** 2).sum(axis=1).mean()
        h = self.chain if model.persistent else sample(u[:, :n_h], p0)
        for i in range(model.cd_k):
            o = n_h + i * (n_v + n_h)
            vk = sample(u[:, o:o + n_v], visible_probs(W, b_v, h))
            h = sample(u[:, o + n_v:o + n_v + n_h], hidden_probs(W, b_h, vk))
        # its gradient is the CD statistics: -(v^T p(h|v) - v_k^T p(h|v_k)) / B (+ wd W)
        cost = (free_energy(W, b_v, b_h, v).mean() - free_energy(W, b_v, b_h, vk).mean()
                + F32(0.5 * model.weight_decay) * (W ** 2).sum())
        grads = pytensor.grad(cost, params, consider_constant=[vk])
        updates = Optimizer(train, params).updates(grads) + ([(self.chain, h)] if model.persistent else [])
        self._step = pytensor.function([v, u], err, updates=updates, mode=PT_MODE)
        self._start = pytensor.function([v, u], [], updates=[(self.chain, sample(u[:, :n_h], p0))], mode=PT_MODE)

    def epoch(self, xs: np.ndarray, us: np.ndarray) -> float:
        """xs (steps, B, V), us (steps, B, width) float32 -> mean reconstruction error."""
        if self.persistent and not self.started:  # PCD starts from the first batch
            self._start(xs[0], us[0])
            self.started = True
        return float(np.mean([self._step(v, u) for v, u in zip(xs, us)]))


class Adapter:
    MODES = ("step",)  # the compiled step per batch (Theano's classic loop)
    NOTES = ""

    def __init__(self, model, info, train, *, mode="step", device="cpu", seed=0):
        if (reason := device_available(device)) is not None:
            raise Unsupported(reason)
        self.model, self.info, self.train, self.mode, self.device = model, info, train, mode, device

    def build(self, weights: dict[str, np.ndarray]) -> None:
        """weights: canonical ``W`` (V, H), ``b_v`` (V,), ``b_h`` (H,)."""
        self.params = [pytensor.shared(np.array(weights[k], np.float32), name=k) for k in NAMES]
        self.trainer = CDTrainer(self.params, self.model, self.train)
        x = pt.matrix("x", dtype="float32")
        self._predict = pytensor.function([x], hidden_probs(self.params[0], self.params[2], x), mode=PT_MODE)

    def get_weights(self) -> dict[str, np.ndarray]:
        return {k: np.array(p.get_value(), np.float32) for k, p in zip(NAMES, self.params)}

    def train_epoch(self, xb: np.ndarray, yb: np.ndarray) -> float:
        """xb (steps, B, V) data, yb (steps, B, H + k (V + H)) uniform noise -> mean recon error."""
        xs = np.ascontiguousarray(xb.reshape(xb.shape[0], xb.shape[1], -1), dtype=np.float32)
        return self.trainer.epoch(xs, np.ascontiguousarray(yb, dtype=np.float32))

    def predict(self, x: np.ndarray) -> np.ndarray:
        """x (N, V) -> p(h=1|v) (N, H)."""
        return self._predict(np.ascontiguousarray(x.reshape(len(x), -1), dtype=np.float32))

    def sync(self) -> None:
        """Compiled PyTensor functions return numpy arrays: nothing is ever queued."""
