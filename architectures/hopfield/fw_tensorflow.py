"""Hopfield network in TensorFlow: tf.Variables and ``tf.function``s with raw TF ops.

Keras has no Hopfield layer and nothing is trained by gradient, so the memory is two tf.Variables.
Storage, one-step prediction and recall are ``tf.function``s created once with shape-polymorphic input
signatures (no retracing when the number of examples changes); Storkey's rule and async recall are
``tf.range`` loops that autograph turns into ``tf.while_loop``. Async recall updates one unit for every
example at once (``tensor_scatter_nd_update`` on the unit-major state).
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from harness.frameworks.tensorflow import AdapterBase


def pm1(x: np.ndarray) -> np.ndarray:
    """(n, ...) -> (n, N) float32 +-1: +1 where x > 0 (so {0,1} digits map 0 -> -1)."""
    return np.where(np.asarray(x).reshape(len(x), -1) > 0, 1.0, -1.0).astype(np.float32)


def sign(h: tf.Tensor) -> tf.Tensor:
    """sign with sign(0) = +1."""
    return tf.where(h >= 0, 1.0, -1.0)


class Adapter(AdapterBase):
    MODES = ("step",)

    def __init__(self, model, info, train, **kw):
        super().__init__(model, info, train, **kw)
        self.n = n = int(np.prod(info.input_shape))
        with tf.device(self.dev):
            self.W = tf.Variable(tf.zeros((n, n)), name="W")
            self.b = tf.Variable(tf.zeros((n,)), name="b")
            self.offdiag = tf.constant(1.0 - np.eye(n, dtype=np.float32))
        states = tf.TensorSpec([None, n], tf.float32)
        self._train = tf.function(self._train_fn, input_signature=[states])
        self._store = tf.function(self._store_fn, input_signature=[states])
        self._forward = tf.function(self._forward_fn, input_signature=[states])
        self._sync = tf.function(self._sync_fn, input_signature=[states, tf.TensorSpec([], tf.int32)])
        self._async = tf.function(self._async_fn, input_signature=[states, tf.TensorSpec([None], tf.int32)])

    def build(self, weights: dict[str, np.ndarray]) -> None:
        """weights: canonical ``W`` (N, N) and ``b`` (N,), float32; assigned, since the tf.functions hold
        the variables."""
        self.W.assign(np.asarray(weights["W"], np.float32))
        self.b.assign(np.asarray(weights["b"], np.float32))

    def get_weights(self) -> dict[str, np.ndarray]:
        return {"W": self.W.numpy().copy(), "b": self.b.numpy().copy()}

    def _added(self, w: tf.Tensor, p: tf.Tensor) -> tf.Tensor:
        """W (N, N) with patterns p (P, N) stored by the model's rule, in row order."""
        n = float(self.n)
        if self.model.rule == "hebbian":
            return (w + tf.matmul(p, p, transpose_a=True) / n) * self.offdiag
        for k in tf.range(tf.shape(p)[0]):  # Storkey (1997): each pattern sees the W left by the previous
            xi = p[k]
            h = tf.linalg.matvec(w, xi)
            hij = h[:, None] - w * xi[None, :]  # field at i leaving out units i and j
            outer = xi[:, None] * xi[None, :]
            w = (w + (outer - xi[:, None] * tf.transpose(hij) - hij * xi[None, :]) / n) * self.offdiag
        return w

    def _train_fn(self, p: tf.Tensor) -> tf.Tensor:
        self.W.assign(self._added(self.W, p))
        energy = -0.5 * tf.reduce_sum(tf.matmul(p, self.W) * p, axis=1) - tf.linalg.matvec(p, self.b)
        return tf.reduce_mean(energy)

    def _store_fn(self, p: tf.Tensor) -> None:
        self.W.assign(self._added(tf.zeros_like(self.W), p))
        self.b.assign(tf.zeros_like(self.b))

    def _forward_fn(self, s: tf.Tensor) -> tf.Tensor:
        return sign(tf.matmul(s, self.W, transpose_b=True) + self.b)

    def _sync_fn(self, s: tf.Tensor, steps: tf.Tensor) -> tf.Tensor:
        def body(t, s, _):
            new = self._forward_fn(s)
            return t + 1, new, tf.reduce_any(new != s)

        return tf.while_loop(lambda t, s, changed: (t < steps) & changed, body, (0, s, True))[1]

    def _async_fn(self, s: tf.Tensor, order: tf.Tensor) -> tf.Tensor:
        """order: flattened (steps * N,) unit indices, updated one at a time."""
        st = tf.transpose(s)  # (N, n): a unit's states are one row to overwrite
        for k in tf.range(tf.shape(order)[0]):
            i = order[k]
            new = sign(tf.linalg.matvec(st, self.W[i], transpose_a=True) + self.b[i])
            st = tf.tensor_scatter_nd_update(st, [[i]], new[None, :])
        return tf.transpose(st)

    def train_epoch(self, xb: np.ndarray, yb: np.ndarray) -> float:
        """xb (steps, B, N) patterns, stored in order -> mean energy of those patterns after storage."""
        return float(self._train(tf.constant(pm1(xb.reshape(-1, self.n)))))

    def store(self, patterns: np.ndarray) -> None:
        """patterns (P, N): replace the memory with W stored from zero, b = 0."""
        self._store(tf.constant(pm1(patterns)))

    def predict(self, x: np.ndarray) -> np.ndarray:
        """x (n, N) -> one synchronous update sign(s W^T + b) (n, N) +-1."""
        return self._forward(tf.constant(pm1(x))).numpy()

    def recall(self, x: np.ndarray, steps: int, mode: str, order: np.ndarray | None = None) -> np.ndarray:
        """x (n, N) -> final +-1 states (n, N) after ``steps`` synchronous updates (mode "sync") or
        ``steps`` asynchronous sweeps in ``order`` (steps, N) (mode "async")."""
        s = tf.constant(pm1(x))
        if mode == "sync":
            return self._sync(s, tf.constant(steps, tf.int32)).numpy()
        return self._async(s, tf.constant(np.asarray(order)[:steps].reshape(-1).astype(np.int32))).numpy()
