"""Self-organizing map in TensorFlow: a tf.Variable codebook and one ``tf.function`` per epoch.

Keras has no SOM layer and nothing is trained by gradient, so the map is a tf.Variable (units, D)
updated with raw TF ops. The epoch is a ``tf.function`` created once with shape-polymorphic input
signatures: a ``tf.range`` loop over the samples (online) or the batches (batch algorithm), which
autograph turns into a ``tf.while_loop``, so the whole epoch runs as one graph. ``tf.argmin`` does not
promise which index it returns on ties, so the winner is taken as the smallest index at the minimum
(np.argmin's rule).
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from architectures.som.spec import decay  # operators only: the reference runs on tensors as it is
from harness.frameworks.tensorflow import AdapterBase, flat_rows


def first_argmin(d: tf.Tensor) -> tf.Tensor:
    """Index of the first minimum along the last axis, int32 (ties go to the smallest index)."""
    n = tf.shape(d)[-1]
    idx = tf.range(n)
    at_min = tf.equal(d, tf.reduce_min(d, axis=-1, keepdims=True))
    return tf.reduce_min(tf.where(at_min, idx, n), axis=-1)


class Adapter(AdapterBase):
    MODES = ("epoch",)  # the epoch's SOM steps (samples or batches) in one tf.function while loop
    ALIASES = {"step": "epoch"}  # there is no per-step loop here: a request for step runs the fused epoch

    def __init__(self, model, info, train, **kw):
        super().__init__(model, info, train, **kw)
        d = int(np.prod(info.input_shape))
        self.shape = (model.rows, model.cols, d)
        with tf.device(self.dev):
            self.W = tf.Variable(tf.zeros((model.rows * model.cols, d)), name="W")
            self.t = tf.Variable(0, dtype=tf.int32, name="t")  # iterations done, across epochs
            self.ar = tf.range(model.rows, dtype=tf.float32)  # grid row coordinates
            self.ac = tf.range(model.cols, dtype=tf.float32)  # grid column coordinates
        online = model.algorithm == "online"
        xspec = tf.TensorSpec([None, d] if online else [None, None, d], tf.float32)
        fn = self._online if online else self._batch
        self._epoch = tf.function(fn, input_signature=[xspec, tf.TensorSpec([], tf.int32)])
        self._distances = tf.function(self._distances_fn, input_signature=[tf.TensorSpec([None, d], tf.float32)])

    def build(self, weights: dict[str, np.ndarray]) -> None:
        """weights: canonical ``W`` (rows, cols, D) float32 (assigned: the tf.functions keep their variables)."""
        self.W.assign(np.asarray(weights["W"], np.float32).reshape(self.W.shape))
        self.t.assign(0)

    def get_weights(self) -> dict[str, np.ndarray]:
        return {"W": self.W.numpy().reshape(self.shape).copy()}

    def _schedule(self, n: tf.Tensor, total: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """eta and sigma (n,) for the next n iterations."""
        t = tf.cast(self.t + tf.range(n), tf.float32)
        tot = tf.cast(total, tf.float32)
        m = self.model
        return decay(m.learning_rate, t, tot, m.decay, "learning_rate"), decay(m.sigma, t, tot, m.decay, "sigma")

    def _grid(self, c: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """Unit indices c (int32) -> their grid row and column, float32."""
        cols = self.model.cols
        return tf.cast(c // cols, tf.float32), tf.cast(c % cols, tf.float32)

    def _online(self, x: tf.Tensor, total: tf.Tensor) -> tf.Tensor:
        """x (n, D) in order -> summed distance to each winner before its update."""
        n = tf.shape(x)[0]
        eta, sig = self._schedule(n, total)
        w, dist = tf.identity(self.W), tf.constant(0.0)
        for k in tf.range(n):
            diff = x[k] - w
            d2 = tf.reduce_sum(diff * diff, axis=1)
            c = first_argmin(d2)
            dist += tf.sqrt(d2[c])
            ci, cj = self._grid(c)
            d = 2 * sig[k] * sig[k]
            # MiniSom's separable gaussian: exps over the rows and the columns, then their outer product
            g = tf.exp(-(self.ar - ci) ** 2 / d)[:, None] * tf.exp(-(self.ac - cj) ** 2 / d)[None, :]
            w = w + (tf.reshape(g, [-1]) * eta[k])[:, None] * diff
        self.W.assign(w)
        self.t.assign_add(n)
        return dist

    def _batch(self, xb: tf.Tensor, total: tf.Tensor) -> tf.Tensor:
        """xb (steps, B, D): one batch iteration per batch -> summed distance to the winners."""
        steps = tf.shape(xb)[0]
        eta, sig = self._schedule(steps, total)
        w, dist = tf.identity(self.W), tf.constant(0.0)
        for s in tf.range(steps):
            x = xb[s]
            d2 = tf.reduce_sum((x[:, None, :] - w[None]) ** 2, axis=-1)  # (B, units)
            ci, cj = self._grid(first_argmin(d2))
            dist += tf.reduce_sum(tf.sqrt(tf.reduce_min(d2, axis=1)))
            di = (self.ar[None, :, None] - ci[:, None, None]) ** 2  # (B, rows, 1)
            dj = (self.ac[None, None, :] - cj[:, None, None]) ** 2  # (B, 1, cols)
            logh = tf.reshape(-(di + dj) / (2 * sig[s] * sig[s]), [tf.shape(x)[0], -1])  # (B, units)
            h = tf.exp(logh - tf.reduce_max(logh, axis=0, keepdims=True))  # per-unit max 1: sums never underflow
            mean = tf.matmul(h, x, transpose_a=True) / tf.reduce_sum(h, axis=0)[:, None]
            w = (1 - eta[s]) * w + eta[s] * mean
        self.W.assign(w)
        self.t.assign_add(steps)
        return dist

    def _distances_fn(self, x: tf.Tensor) -> tf.Tensor:
        return tf.sqrt(tf.reduce_sum((x[:, None, :] - self.W[None]) ** 2, axis=-1))

    def train_epoch(self, xb: np.ndarray, yb: np.ndarray) -> float:
        """xb (steps, B, D) -> mean distance of the epoch's samples to their winners (before each update)."""
        steps, b = xb.shape[:2]
        online = self.model.algorithm == "online"
        x = np.asarray(xb, np.float32).reshape((steps * b, -1) if online else (steps, b, -1))
        dist = self._epoch(tf.constant(x), tf.constant(self.train.epochs * x.shape[0], tf.int32))
        return float(dist.numpy()) / (steps * b)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """x (N, D) -> distances (N, rows*cols) to every unit, float32."""
        return self._distances(flat_rows(x)).numpy()
