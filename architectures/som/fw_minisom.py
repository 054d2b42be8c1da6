"""Self-organizing map in MiniSom, the peer implementation: MiniSom's own update code, driven in the
harness's order.

``MiniSom(rows, cols, D, sigma, learning_rate, decay_function=..., sigma_decay_function=...,
neighborhood_function='gaussian', topology='rectangular', activation_distance='euclidean')``, its
weights replaced by the canonical ones (float64 inside MiniSom, float32 out of ``get_weights``).
online: for each sample in order, MiniSom's ``update(x, winner(x), t, T)`` -- exactly what its
``train(..., use_epochs=False)`` does per iteration, but with the harness's batches instead of
MiniSom's own sample order. batch: MiniSom's ``train_batch_offline(X, 1)`` on each harness batch X;
that method always starts at iteration 0 of its own count, so for the call its two decay functions
are wrapped to read the harness's iteration t of T (the decayed values are then exactly those of
iteration t). The loss is MiniSom's ``quantization_error`` of the batch before its update (online: the
distance in ``_activation_map`` at the winner, which ``winner`` has just computed).
"""
from __future__ import annotations

import numpy as np
from minisom import MiniSom

from harness.frameworks.minisom import AdapterBase

DECAY = {"asymptotic": ("asymptotic_decay", "asymptotic_decay"),
         "linear": ("linear_decay_to_zero", "linear_decay_to_one")}


class Adapter(AdapterBase):
    MODES = ("step",)  # MiniSom's per-sample numpy update
    NOTES = "MiniSom computes in float64 (canonical float32 weights in and out)"

    def __init__(self, model, info, train, **kw):
        super().__init__(model, info, train, **kw)

    def build(self, weights: dict[str, np.ndarray]) -> None:
        """weights: canonical ``W`` (rows, cols, D) float32 -> MiniSom's ``_weights`` (float64)."""
        self.t = 0  # iterations done, counted across train_epoch calls
        m, w = self.model, weights["W"]
        lr_decay, sigma_decay = DECAY[m.decay]
        self.som = MiniSom(m.rows, m.cols, w.shape[-1], sigma=m.sigma, learning_rate=m.learning_rate,
                           decay_function=lr_decay, sigma_decay_function=sigma_decay,
                           neighborhood_function="gaussian", topology="rectangular",
                           activation_distance="euclidean", random_seed=self.seed)
        self.som._weights = np.array(w, dtype=np.float64)  # MiniSom has no setter; its init is discarded

    def get_weights(self) -> dict[str, np.ndarray]:
        return {"W": self.som.get_weights().astype(np.float32)}

    def _online(self, x: np.ndarray, total: int) -> float:
        """x (n, D) in order -> summed distance to each winner before its update."""
        som, dist = self.som, 0.0
        for sample in x:
            win = som.winner(sample)
            dist += float(som._activation_map[win])  # winner() just filled the activation map
            som.update(sample, win, self.t, total)
            self.t += 1
        return dist

    def _batch_iteration(self, x: np.ndarray, t: int, total: int) -> None:
        """MiniSom's ``train_batch_offline(x, 1)`` as iteration t of total: that method counts from 0
        of its own 1 iterations, so its decay functions are wrapped for the call to answer for t."""
        som = self.som
        lr_f, sig_f = som._learning_rate_decay_function, som._sigma_decay_function
        som._learning_rate_decay_function = lambda v, _i, _n: lr_f(v, t, total)
        som._sigma_decay_function = lambda v, _i, _n: sig_f(v, t, total)
        try:
            som.train_batch_offline(x, 1)
        finally:
            som._learning_rate_decay_function, som._sigma_decay_function = lr_f, sig_f

    def _batch(self, xb: np.ndarray, total: int) -> float:
        """xb (steps, B, D): MiniSom's batch iteration per batch -> summed distance to the winners."""
        dist = 0.0
        for x in xb:
            dist += self.som.quantization_error(x) * len(x)  # before the update
            self._batch_iteration(x, self.t, total)
            self.t += 1
        return dist

    def train_epoch(self, xb: np.ndarray, yb: np.ndarray) -> float:
        """xb (steps, B, D) -> mean distance of the epoch's samples to their winners (before each update)."""
        steps, b = xb.shape[:2]
        x = np.asarray(xb, np.float64).reshape(steps, b, -1)
        if self.model.algorithm == "online":
            dist = self._online(x.reshape(steps * b, -1), self.train.epochs * steps * b)
        else:
            dist = self._batch(x, self.train.epochs * steps)
        return float(dist / (steps * b))

    def predict(self, x: np.ndarray) -> np.ndarray:
        """x (N, D) -> distances (N, rows*cols) to every unit: MiniSom's ``activate`` per sample, float32."""
        x = np.asarray(x, np.float64).reshape(len(x), -1)
        return np.stack([self.som.activate(s).ravel() for s in x]).astype(np.float32)
