"""Hopfield network in Theano (PyTensor): float32 shared variables and compiled functions.

Every operation is a symbolic graph compiled once with ``pytensor.function``; storage writes the shared
``W`` through ``updates=``. Storkey's rule is a ``pytensor.scan`` over the patterns, async recall a scan
over the flattened update order (``set_subtensor`` of one unit for every example), sync recall a scan
that ends early (``until``) at a fixed point.
"""
from __future__ import annotations

import numpy as np
import pytensor
import pytensor.tensor as pt
from pytensor.scan.utils import until

from harness.frameworks.theano import AdapterBase


def pm1(x: np.ndarray) -> np.ndarray:
    """(n, ...) -> (n, N) float32 +-1: +1 where x > 0 (so {0,1} digits map 0 -> -1)."""
    return np.where(np.asarray(x).reshape(len(x), -1) > 0, 1.0, -1.0).astype(np.float32)


def sign(h):
    """sign with sign(0) = +1, float32."""
    return pt.switch(pt.ge(h, 0), np.float32(1), np.float32(-1))


class Adapter(AdapterBase):
    MODES = ("step",)

    def __init__(self, model, info, train, **kw):
        super().__init__(model, info, train, **kw)
        self.n = n = int(np.prod(info.input_shape))
        self.W = pytensor.shared(np.zeros((n, n), np.float32), name="W")
        self.b = pytensor.shared(np.zeros(n, np.float32), name="b")
        self.offdiag = pt.constant(1.0 - np.eye(n, dtype=np.float32))
        self._compile()

    def _added(self, w, p):
        """W (N, N) with patterns p (P, N) stored by the model's rule, in row order (symbolic)."""
        n = np.float32(self.n)
        if self.model.rule == "hebbian":
            return (w + pt.dot(p.T, p) / n) * self.offdiag

        def one(xi, w):  # Storkey (1997): each pattern sees the W left by the previous ones
            h = pt.dot(w, xi)
            hij = h[:, None] - w * xi[None, :]  # field at i leaving out units i and j
            return (w + (pt.outer(xi, xi) - xi[:, None] * hij.T - hij * xi[None, :]) / n) * self.offdiag

        return pytensor.scan(one, sequences=[p], outputs_info=[w], return_updates=False)[-1]

    def _compile(self) -> None:
        """Compile storage, prediction and both recall modes once."""
        p, s = pt.matrix("p", dtype="float32"), pt.matrix("s", dtype="float32")
        steps, order = pt.iscalar("steps"), pt.ivector("order")
        W, b = self.W, self.b
        new_w = self._added(W, p)
        energy = pt.mean(-0.5 * pt.sum(pt.dot(p, new_w) * p, axis=1) - pt.dot(p, b))
        self._train = pytensor.function([p], energy, updates=[(W, new_w)])
        fresh = self._added(pt.zeros_like(W), p)
        self._store = pytensor.function([p], [], updates=[(W, fresh), (b, pt.zeros_like(b))])
        self._forward = pytensor.function([s], sign(pt.dot(s, W.T) + b))

        def sync_step(s, w, b):
            new = sign(pt.dot(s, w.T) + b)
            return new, until(pt.all(pt.eq(new, s)))  # a fixed point stays put: stopping changes nothing

        finals = pytensor.scan(sync_step, outputs_info=[s], non_sequences=[W, b], n_steps=steps,
                               return_updates=False)
        self._sync = pytensor.function([s, steps], finals[-1])

        def async_step(i, s, w, b):
            return pt.set_subtensor(s[:, i], sign(pt.dot(s, w[i]) + b[i]))

        states = pytensor.scan(async_step, sequences=[order], outputs_info=[s], non_sequences=[W, b],
                               return_updates=False)
        self._async = pytensor.function([s, order], states[-1])

    def build(self, weights: dict[str, np.ndarray]) -> None:
        """weights: canonical ``W`` (N, N) and ``b`` (N,), float32."""
        self.W.set_value(np.asarray(weights["W"], np.float32))
        self.b.set_value(np.asarray(weights["b"], np.float32))

    def get_weights(self) -> dict[str, np.ndarray]:
        return {"W": np.array(self.W.get_value(), np.float32), "b": np.array(self.b.get_value(), np.float32)}

    def train_epoch(self, xb: np.ndarray, yb: np.ndarray) -> float:
        """xb (steps, B, N) patterns, stored in order -> mean energy of those patterns after storage."""
        return float(self._train(pm1(xb.reshape(-1, self.n))))

    def store(self, patterns: np.ndarray) -> None:
        """patterns (P, N): replace the memory with W stored from zero, b = 0."""
        self._store(pm1(patterns))

    def predict(self, x: np.ndarray) -> np.ndarray:
        """x (n, N) -> one synchronous update sign(s W^T + b) (n, N) +-1."""
        return np.asarray(self._forward(pm1(x)))

    def recall(self, x: np.ndarray, steps: int, mode: str, order: np.ndarray | None = None) -> np.ndarray:
        """x (n, N) -> final +-1 states (n, N) after ``steps`` synchronous updates (mode "sync") or
        ``steps`` asynchronous sweeps in ``order`` (steps, N) (mode "async")."""
        if mode == "sync":
            return np.asarray(self._sync(pm1(x), np.int32(steps)))
        return np.asarray(self._async(pm1(x), np.asarray(order)[:steps].reshape(-1).astype(np.int32)))
