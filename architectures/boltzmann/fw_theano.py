"""Boltzmann machine in Theano (PyTensor): float32 shared variables and one compiled train function.

The step graph (compiled once in ``__init__``) holds both Gibbs phases as ``pytensor.scan`` loops over
the flattened (sweep, unit) sequence with their uniforms (``set_subtensor`` of one unit for the whole
batch, unit-major (n, B) states), the AHS statistics, and harness/optim.py's SGD-momentum/Adam written
symbolically; weights, optimizer slots and persistent chains are shared variables updated in place.

Modes: ``step`` compiles the step as a ``pytensor.function`` with ``updates=`` and calls it per batch
(Theano's classic loop); ``epoch`` runs the same step inside one outer ``pytensor.scan`` over the
epoch's batches and their noise (the sweeps' scans nested in it), carrying weights, optimizer slots
and chains, so one call of one compiled function trains the whole epoch (``compile_scan``).
"""
from __future__ import annotations

import numpy as np
import pytensor
import pytensor.tensor as pt

from harness.frameworks.theano import AdapterBase, compile_scan, epoch_mean, flat32

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


class Adapter(AdapterBase):
    MODES = ("step", "epoch")  # step: compiled step per batch; epoch: one compiled scan per epoch

    def __init__(self, model, info, train, **kw):
        super().__init__(model, info, train, **kw)
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

    def _optimizer(self, params: list, slots: list, t, grads: list) -> tuple[list, list, object]:
        """harness/optim.py's update, symbolic: params [W, b], slots [m_W, v_W, m_b, v_b] (Adam's moments,
        or SGD's velocity in v), t the float32 step count -> (new params, new slots, t + 1). Not the
        helper's Optimizer: t is float32 and Adam's bias corrections are computed in float32."""
        tr, t = self.train, t + F32(1)
        new_p, new_s = [], []
        for p, g, m, v in zip(params, grads, slots[0::2], slots[1::2]):
            if tr.optimizer == "sgd":
                v_new = F32(tr.momentum) * v + g
                new_p.append(p - F32(tr.lr) * v_new)
                new_s += [m, v_new]
                continue
            m_new = F32(tr.beta1) * m + F32(1 - tr.beta1) * g
            v_new = F32(tr.beta2) * v + F32(1 - tr.beta2) * g * g
            mhat = m_new / (F32(1) - pt.pow(F32(tr.beta1), t))
            vhat = v_new / (F32(1) - pt.pow(F32(tr.beta2), t))
            new_p.append(p - F32(tr.lr) * mhat / (pt.sqrt(vhat) + F32(tr.eps)))
            new_s += [m_new, v_new]
        return new_p, new_s, t

    def _update(self, carry: list, v, u) -> tuple[list, object]:
        """One batch, symbolic: carry [W, b, m_W, v_W, m_b, v_b, t, chains] (the shared variables'
        order in ``self.state``), v (B, V) visibles, u (B, noise) uniforms -> (new carry, energy gap
        with the weights before the update)."""
        k, h, n, nv = self.model.gibbs_steps, self.model.hidden, self.n, self.nv
        W, b, slots, t, chains = carry[0], carry[1], carry[2:6], carry[6], carry[7]
        pos = pt.concatenate([v.T, pt.zeros((h, v.shape[0]), dtype="float32")], axis=0)
        if h:  # no hidden units: the positive phase is the data alone
            pos = sweeps(W, b, pos, np.tile(np.arange(nv, n), k), u[:, : k * h].T)
        start = chains if self.model.persistent else pos
        neg = sweeps(W, b, start, np.tile(np.arange(n), k), u[:, k * h:].T)
        batch = v.shape[0].astype("float32")
        offdiag = pt.constant(1.0 - np.eye(n, dtype=F32))
        decay = F32(self.model.weight_decay) * W
        grad_w = (-(pt.dot(pos, pos.T) - pt.dot(neg, neg.T)) / batch + decay) * offdiag
        grad_b = -(pt.sum(pos, axis=1) - pt.sum(neg, axis=1)) / batch
        gap = energy(W, b, pos) - energy(W, b, neg)
        new_p, new_s, t = self._optimizer([W, b], slots, t, [grad_w, grad_b])
        return [*new_p, *new_s, t, neg], gap

    def _compile(self) -> None:
        """The train function and the conditionals, compiled once. step: f(v (B, V), u (B, noise)) ->
        energy gap; epoch: f(xs (steps, B, V), us (steps, B, noise)) -> mean energy gap."""
        self.state = [self.W, self.b, *self.slots["W"], *self.slots["b"], self.t, self.chains]
        if self.mode == "epoch":
            xs, us = pt.tensor3("xs", dtype="float32"), pt.tensor3("us", dtype="float32")
            self._train = compile_scan(self._update, self.state, xs, us)
        else:
            v, u = pt.matrix("v", dtype="float32"), pt.matrix("u", dtype="float32")
            new, gap = self._update(self.state, v, u)
            self._train = pytensor.function([v, u], gap, updates=list(zip(self.state, new)))
        s = pt.matrix("s", dtype="float32")
        self._forward = pytensor.function([s], pt.sigmoid(pt.dot(s, self.W) + self.b))

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
        xs, us = flat32(xb, lead=2), np.ascontiguousarray(yb, dtype=F32)
        return epoch_mean(self._train, xs, us, fused=self.mode == "epoch")

    def predict(self, x: np.ndarray) -> np.ndarray:
        """x (N, n) states, or (N, V) visibles with hidden off -> p(s_i = 1 | s_-i) (N, n)."""
        flat = flat32(x)
        return np.asarray(self._forward(np.pad(flat, ((0, 0), (0, self.n - flat.shape[1])))))
