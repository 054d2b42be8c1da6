"""Self-organizing map in Theano (PyTensor): a float32 shared codebook and one compiled epoch function.

The epoch is a ``pytensor.scan`` over the samples (online) or the batches (batch algorithm), compiled
once with ``pytensor.function`` and written back through ``updates=``; the iteration counter is a
shared int too, so the decay schedule is computed in the graph. No gradients: the update is the SOM's
own rule (see spec.py).
"""
from __future__ import annotations

import numpy as np
import pytensor
import pytensor.tensor as pt

from architectures.som import spec
from harness.frameworks.theano import AdapterBase

F32 = np.float32


def decay(value: float, t, total, kind: str, what: str):
    """The reference's ``spec.decay`` at symbolic float32 iterations t of ``total``, with ``value`` a
    float32 constant (a Python float would upcast the graph)."""
    return spec.decay(F32(value), t, total, kind, what)


class Adapter(AdapterBase):
    MODES = ("epoch",)  # the epoch's SOM steps (samples or batches) in one compiled scan
    ALIASES = {"step": "epoch"}  # there is no per-step loop here: a request for step runs the fused epoch

    def __init__(self, model, info, train, **kw):
        super().__init__(model, info, train, **kw)
        d = int(np.prod(info.input_shape))
        self.shape = (model.rows, model.cols, d)
        self.ar = pt.constant(np.arange(model.rows, dtype=F32))  # grid row coordinates
        self.ac = pt.constant(np.arange(model.cols, dtype=F32))  # grid column coordinates
        self.W = pytensor.shared(np.zeros((model.rows * model.cols, d), F32), name="W")
        self.t = pytensor.shared(np.int32(0), name="t")  # iterations done, across epochs
        self._compile()

    def _grid(self, c):
        """Unit indices c (int) -> their grid row and column, float32."""
        cols = self.model.cols
        return pt.cast(c // cols, "float32"), pt.cast(c % cols, "float32")

    def _online_step(self, x, eta, sig, w):
        """One sample x (D,) -> (new w, distance to the winner before the update)."""
        diff = x - w
        d2 = pt.sum(diff * diff, axis=1)
        c = pt.argmin(d2)  # first minimum, as np.argmin
        ci, cj = self._grid(c)
        d = 2 * sig * sig
        # MiniSom's separable gaussian: exps over the rows and the columns, then their outer product
        g = pt.outer(pt.exp(-((self.ar - ci) ** 2) / d), pt.exp(-((self.ac - cj) ** 2) / d))
        return w + (g.flatten() * eta)[:, None] * diff, pt.sqrt(d2[c])

    def _batch_step(self, x, eta, sig, w):
        """One batch x (B, D) -> (new w, summed distance to the winners before the update)."""
        d2 = pt.sum((x[:, None, :] - w[None, :, :]) ** 2, axis=-1)  # (B, units)
        ci, cj = self._grid(pt.argmin(d2, axis=1))
        di = (self.ar[None, :, None] - ci[:, None, None]) ** 2  # (B, rows, 1)
        dj = (self.ac[None, None, :] - cj[:, None, None]) ** 2  # (B, 1, cols)
        logh = (-(di + dj) / (2 * sig * sig)).reshape((x.shape[0], -1))  # (B, units)
        h = pt.exp(logh - pt.max(logh, axis=0, keepdims=True))  # per-unit max 1: sums never underflow
        mean = pt.dot(h.T, x) / pt.sum(h, axis=0)[:, None]
        return (1 - eta) * w + eta * mean, pt.sum(pt.sqrt(pt.min(d2, axis=1)))

    def _compile(self) -> None:
        """Compile the epoch (samples (n, D) or batches (steps, B, D), and T) and the distances once."""
        m = self.model
        online = m.algorithm == "online"
        x = pt.matrix("x", dtype="float32") if online else pt.tensor3("x", dtype="float32")
        total = pt.iscalar("total")
        n = x.shape[0]
        t = pt.cast(self.t + pt.arange(n), "float32")
        tot = pt.cast(total, "float32")
        eta = decay(m.learning_rate, t, tot, m.decay, "learning_rate")
        sig = decay(m.sigma, t, tot, m.decay, "sigma")
        step = self._online_step if online else self._batch_step
        ws, dists = pytensor.scan(step, sequences=[x, eta, sig], outputs_info=[self.W, None], return_updates=False)
        self._epoch = pytensor.function([x, total], pt.sum(dists),
                                        updates=[(self.W, ws[-1]), (self.t, self.t + pt.cast(n, "int32"))])
        q = pt.matrix("q", dtype="float32")
        self._distances = pytensor.function([q], pt.sqrt(pt.sum((q[:, None, :] - self.W[None, :, :]) ** 2, axis=-1)))

    def build(self, weights: dict[str, np.ndarray]) -> None:
        """weights: canonical ``W`` (rows, cols, D) float32."""
        self.W.set_value(np.asarray(weights["W"], F32).reshape(self.W.get_value().shape))
        self.t.set_value(np.int32(0))

    def get_weights(self) -> dict[str, np.ndarray]:
        return {"W": np.array(self.W.get_value(), F32).reshape(self.shape)}

    def train_epoch(self, xb: np.ndarray, yb: np.ndarray) -> float:
        """xb (steps, B, D) -> mean distance of the epoch's samples to their winners (before each update)."""
        steps, b = xb.shape[:2]
        online = self.model.algorithm == "online"
        x = np.asarray(xb, F32).reshape((steps * b, -1) if online else (steps, b, -1))
        return float(self._epoch(x, np.int32(self.train.epochs * x.shape[0]))) / (steps * b)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """x (N, D) -> distances (N, rows*cols) to every unit, float32."""
        return np.asarray(self._distances(np.asarray(x, F32).reshape(len(x), -1)))
