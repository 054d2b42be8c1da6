"""Boltzmann machine in Theano (PyTensor): float32 shared variables, one compiled step with ``updates=``.

The step graph (compiled once in ``__init__``) holds both Gibbs phases as ``pytensor.scan`` loops over
the flattened (sweep, unit) sequence with their uniforms (``set_subtensor`` of one unit for the whole
batch, unit-major (n, B) states), the AHS statistics, and harness/optim.py's SGD-momentum/Adam written
symbolically; weights, optimizer slots and persistent chains are shared variables updated in place.
"""
from __future__ import annotations

import numpy as np
import pytensor
import pytensor.tensor as pt

from harness.frameworks.theano import check_device, epoch_mean, flat32

F32 = np.float32


def sweeps(w, b, s, units: np.ndarray, u):
    """Sequential Gibbs updates of s (n, B): units (steps,) in order, u (steps, B) their uniforms."""

    def one(i, ui, s, w, b):
        p = pt.sigmoid(pt.dot(w[i], s) + b[i])
        return pt.set_subtensor(s[i], pt.lt(ui, p).astype("float32"))

    return pytensor.scan(one, sequences=[pt.constant(units.astype(np.int32)), u], outputs_info=[s],
                         non_sequences=[w, b], return_updates=False)[-1]


def energy(w, b, s):
    """Mean energy over the columns of s (n, B)."""
    return pt.mean(-0.5 * pt.sum(pt.dot(w, s) * s, axis=0) - pt.dot(b, s))


class Adapter:
    MODES = ("step",)
    NOTES = ""

    def __init__(self, model, info, train, *, mode="step", device="cpu", seed=0):
        check_device(device)
        self.model, self.info, self.train, self.mode, self.device = model, info, train, mode, device
        self.nv = int(np.prod(info.input_shape))
        self.n = n = self.nv + model.hidden
        self.W = pytensor.shared(np.zeros((n, n), F32), name="W")
        self.b = pytensor.shared(np.zeros(n, F32), name="b")
        # (m, v) per weight: Adam's moments, or SGD's velocity in v
        self.slots = {k: tuple(pytensor.shared(np.zeros_like(p.get_value())) for _ in range(2))
                      for k, p in (("W", self.W), ("b", self.b))}
        self.t = pytensor.shared(F32(0), name="t")
        self.chains = pytensor.shared(np.zeros((n, 0), F32), name="chains")
        self._compile()

    def _optimizer_updates(self, grads: dict) -> list:
        """harness/optim.py's update for W and b, as (shared, new value) pairs. Not the helper's
        Optimizer: t is float32 and Adam's bias corrections are computed in float32."""
        tr, t = self.train, self.t + F32(1)
        out = [(self.t, t)]
        for name, p in (("W", self.W), ("b", self.b)):
            g, (m, v) = grads[name], self.slots[name]
            if tr.optimizer == "sgd":
                v_new = F32(tr.momentum) * v + g
                out += [(v, v_new), (p, p - F32(tr.lr) * v_new)]
                continue
            m_new = F32(tr.beta1) * m + F32(1 - tr.beta1) * g
            v_new = F32(tr.beta2) * v + F32(1 - tr.beta2) * g * g
            mhat = m_new / (F32(1) - pt.pow(F32(tr.beta1), t))
            vhat = v_new / (F32(1) - pt.pow(F32(tr.beta2), t))
            out += [(m, m_new), (v, v_new), (p, p - F32(tr.lr) * mhat / (pt.sqrt(vhat) + F32(tr.eps)))]
        return out

    def _compile(self) -> None:
        """The train step (v (B, V), u (B, noise)) -> energy gap, and the conditionals, compiled once."""
        k, h, n, nv = self.model.gibbs_steps, self.model.hidden, self.n, self.nv
        v, u = pt.matrix("v", dtype="float32"), pt.matrix("u", dtype="float32")
        W, b = self.W, self.b
        pos = pt.concatenate([v.T, pt.zeros((h, v.shape[0]), dtype="float32")], axis=0)
        if h:  # no hidden units: the positive phase is the data alone
            pos = sweeps(W, b, pos, np.tile(np.arange(nv, n), k), u[:, : k * h].T)
        start = self.chains if self.model.persistent else pos
        neg = sweeps(W, b, start, np.tile(np.arange(n), k), u[:, k * h:].T)
        batch = v.shape[0].astype("float32")
        offdiag = pt.constant(1.0 - np.eye(n, dtype=F32))
        decay = F32(self.model.weight_decay) * W
        grad_w = (-(pt.dot(pos, pos.T) - pt.dot(neg, neg.T)) / batch + decay) * offdiag
        grads = {"W": grad_w, "b": -(pt.sum(pos, axis=1) - pt.sum(neg, axis=1)) / batch}
        gap = energy(W, b, pos) - energy(W, b, neg)
        updates = [(self.chains, neg), *self._optimizer_updates(grads)]
        self._step = pytensor.function([v, u], gap, updates=updates)
        s = pt.matrix("s", dtype="float32")
        self._forward = pytensor.function([s], pt.sigmoid(pt.dot(s, W) + b))

    def build(self, weights: dict[str, np.ndarray]) -> None:
        """weights: canonical ``W`` (n, n) symmetric zero-diagonal, ``b`` (n,); resets optimizer, chains."""
        self.W.set_value(np.asarray(weights["W"], F32))
        self.b.set_value(np.asarray(weights["b"], F32))
        for m, v in self.slots.values():
            m.set_value(np.zeros_like(m.get_value()))
            v.set_value(np.zeros_like(v.get_value()))
        self.t.set_value(F32(0))
        self.fresh = True  # the all-zero chains are sized on the first epoch

    def get_weights(self) -> dict[str, np.ndarray]:
        return {"W": np.array(self.W.get_value(), F32), "b": np.array(self.b.get_value(), F32)}

    def train_epoch(self, xb: np.ndarray, yb: np.ndarray) -> float:
        """xb (steps, B, V) {0,1} visibles, yb (steps, B, noise) uniforms (spec layout) -> mean energy gap."""
        if self.fresh:
            self.chains.set_value(np.zeros((self.n, xb.shape[1]), F32))
            self.fresh = False
        return epoch_mean(self._step, flat32(xb, lead=2), np.asarray(yb, F32))

    def predict(self, x: np.ndarray) -> np.ndarray:
        """x (N, n) states, or (N, V) visibles with hidden off -> p(s_i = 1 | s_-i) (N, n)."""
        flat = flat32(x)
        return np.asarray(self._forward(np.pad(flat, ((0, 0), (0, self.n - flat.shape[1])))))

    def sync(self) -> None:
        pass  # compiled functions return numpy arrays: synchronous
