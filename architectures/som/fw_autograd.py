"""Self-organizing map with autograd: autograd.numpy only, float32, a numpy loop.

Nothing in a SOM is trained by gradient, so ``autograd.grad`` is never called: the epoch is a Python
loop over the samples (online) or the batches (batch algorithm) of ``autograd.numpy`` ops vectorised
over the units -- the same arrays autograd would trace, run eagerly. The update is the SOM's own rule
(see spec.py).
"""
from __future__ import annotations

import autograd.numpy as anp
import numpy as np

from architectures.som import spec
from harness.frameworks.autograd import AdapterBase, flat32

F32 = np.float32


def decay(value: float, t, total, kind: str, what: str):
    """The reference's ``spec.decay`` at iterations t, with float32 constants (a Python float would
    upcast the float32 schedule)."""
    return spec.decay(F32(value), t, F32(total), kind, what)


class Adapter(AdapterBase):
    MODES = ("step",)  # one numpy update per sample (online) or per batch (batch)

    def __init__(self, model, info, train, **kw):
        super().__init__(model, info, train, **kw)
        self.ar = anp.arange(model.rows, dtype=F32)  # grid row coordinates
        self.ac = anp.arange(model.cols, dtype=F32)  # grid column coordinates

    def build(self, weights: dict[str, np.ndarray]) -> None:
        """weights: canonical ``W`` (rows, cols, D) float32."""
        self.t = 0  # iterations done, counted across train_epoch calls
        w = weights["W"]
        self.shape = w.shape
        self.W = anp.array(w, dtype=F32).reshape(-1, w.shape[-1])  # a copy, never the caller's array

    def get_weights(self) -> dict[str, np.ndarray]:
        return {"W": anp.array(self.W, dtype=F32).reshape(self.shape)}

    def _schedule(self, n: int, total: int) -> tuple[np.ndarray, np.ndarray]:
        """eta and sigma (n,) for the next n iterations."""
        t = anp.arange(self.t, self.t + n).astype(F32)
        m = self.model
        return decay(m.learning_rate, t, total, m.decay, "learning_rate"), decay(m.sigma, t, total, m.decay, "sigma")

    def _online(self, x: np.ndarray, eta: np.ndarray, sig: np.ndarray) -> float:
        """x (n, D) in order -> summed distance to each winner before its update."""
        w, dist, cols = self.W, 0.0, self.model.cols
        for n in range(len(x)):
            diff = x[n] - w  # (units, D)
            d2 = anp.sum(diff * diff, axis=1)
            c = anp.argmin(d2)
            dist += float(anp.sqrt(d2[c]))
            d = 2 * sig[n] * sig[n]
            # MiniSom's separable gaussian: exps over the rows and the columns, then their outer product
            ci, cj = F32(c // cols), F32(c % cols)  # float32: an int64 scalar would promote to float64
            g = anp.outer(anp.exp(-(self.ar - ci) ** 2 / d), anp.exp(-(self.ac - cj) ** 2 / d))
            w = w + (g.ravel() * eta[n])[:, None] * diff
        self.W = w
        return dist

    def _batch(self, xb: np.ndarray, eta: np.ndarray, sig: np.ndarray) -> float:
        """xb (steps, B, D): one batch iteration per batch -> summed distance to the winners."""
        w, dist, cols = self.W, 0.0, self.model.cols
        for s in range(len(xb)):
            x = xb[s]
            d2 = anp.sum((x[:, None, :] - w[None]) ** 2, axis=-1)  # (B, units)
            c = anp.argmin(d2, axis=1)
            dist += float(anp.sum(anp.sqrt(anp.min(d2, axis=1))))
            ci, cj = (c // cols).astype(F32), (c % cols).astype(F32)
            di = (self.ar[None, :, None] - ci[:, None, None]) ** 2  # (B, rows, 1)
            dj = (self.ac[None, None, :] - cj[:, None, None]) ** 2  # (B, 1, cols)
            logh = (-(di + dj) / (2 * sig[s] ** 2)).reshape(len(x), -1)  # (B, units)
            h = anp.exp(logh - anp.max(logh, axis=0, keepdims=True))  # per-unit max 1: sums never underflow
            mean = anp.dot(h.T, x) / anp.sum(h, axis=0)[:, None]
            w = (1 - eta[s]) * w + eta[s] * mean
        self.W = w
        return dist

    def train_epoch(self, xb: np.ndarray, yb: np.ndarray) -> float:
        """xb (steps, B, D) -> mean distance of the epoch's samples to their winners (before each update)."""
        steps, b = xb.shape[:2]
        x = flat32(xb, 2)
        online = self.model.algorithm == "online"
        n = steps * b if online else steps
        eta, sig = self._schedule(n, self.train.epochs * n)
        dist = self._online(x.reshape(n, -1), eta, sig) if online else self._batch(x, eta, sig)
        self.t += n
        return dist / (steps * b)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """x (N, D) -> distances (N, rows*cols) to every unit, float32."""
        q = flat32(x)
        return anp.sqrt(anp.sum((q[:, None, :] - self.W[None]) ** 2, axis=-1))
