"""Boltzmann machine in TensorFlow: tf.Variables and raw TF ops.

Keras has no Boltzmann machine layer and the update is not a gradient of a computed loss, so the
weights, the optimizer slots and the persistent chains are tf.Variables, and SGD-momentum/Adam are
written with tf ops (harness/optim.py's formulas; Keras's Adam places eps differently). Gibbs sweeps
are ``tf.range`` loops (``tf.while_loop`` when traced) over the unit-major (n, B) state, one unit for
the whole batch per ``tensor_scatter_nd_update``.

The harness's Gibbs noise arrives stacked per step with the batches (spec.make_epoch), so the update is
an ordinary step(v, u) and every execution mode of harness.frameworks.tensorflow.epoch_trainer applies
(described there); in ``eager`` the sweeps loop in Python, one unit at a time: slow by nature. Predict
is a tf.function in every mode.
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from harness.frameworks.tensorflow import AdapterBase, epoch_trainer


def sweeps(w: tf.Tensor, b: tf.Tensor, s: tf.Tensor, units: tf.Tensor, u: tf.Tensor) -> tf.Tensor:
    """Sequential Gibbs updates of s (n, B): units (steps,) in order, u (steps, B) their uniforms."""
    for k in tf.range(tf.shape(units)[0]):
        i = units[k]
        p = tf.sigmoid(tf.linalg.matvec(s, w[i], transpose_a=True) + b[i])
        s = tf.tensor_scatter_nd_update(s, [[i]], tf.cast(u[k] < p, s.dtype)[None, :])
    return s


def energy(w: tf.Tensor, b: tf.Tensor, s: tf.Tensor) -> tf.Tensor:
    """Mean energy over the columns of s (n, B)."""
    quadratic = tf.reduce_sum(tf.matmul(w, s) * s, axis=0)
    return tf.reduce_mean(-0.5 * quadratic - tf.linalg.matvec(s, b, transpose_a=True))


class Adapter(AdapterBase):
    MODES = ("step", "epoch", "epoch-xla", "eager")  # harness.frameworks.tensorflow.epoch_trainer's (described there)

    def __init__(self, model, info, train, **kw):
        super().__init__(model, info, train, **kw)
        self.nv = nv = int(np.prod(info.input_shape))
        self.n = n = nv + model.hidden
        k = model.gibbs_steps
        with tf.device(self.dev):
            self.W, self.b = tf.Variable(tf.zeros((n, n)), name="W"), tf.Variable(tf.zeros((n,)), name="b")
            # (m, v) per weight: Adam's moments, or SGD's velocity in v
            self.slots = {name: (tf.Variable(tf.zeros_like(v)), tf.Variable(tf.zeros_like(v)))
                          for name, v in (("W", self.W), ("b", self.b))}
            self.t = tf.Variable(0.0, name="t")
            self.chains = tf.Variable(tf.zeros((n, 0)), shape=tf.TensorShape([n, None]), name="chains")
            self.offdiag = tf.constant(1.0 - np.eye(n, dtype=np.float32))
            self.pos_units = tf.constant(np.tile(np.arange(nv, n), k), tf.int32)  # sweep-major, as the noise
            self.neg_units = tf.constant(np.tile(np.arange(n), k), tf.int32)
        self._train = epoch_trainer(self._step_fn, tf.TensorSpec([None, nv], tf.float32),
                                    tf.TensorSpec([None, k * (2 * model.hidden + nv)], tf.float32), self.mode)
        self._forward = tf.function(lambda s: tf.sigmoid(tf.matmul(s, self.W) + self.b),
                                    input_signature=[tf.TensorSpec([None, n], tf.float32)])

    def build(self, weights: dict[str, np.ndarray]) -> None:
        """weights: canonical ``W`` (n, n) symmetric zero-diagonal, ``b`` (n,); resets optimizer, chains."""
        self.W.assign(np.asarray(weights["W"], np.float32))
        self.b.assign(np.asarray(weights["b"], np.float32))
        for m, v in self.slots.values():
            m.assign(tf.zeros_like(m))
            v.assign(tf.zeros_like(v))
        self.t.assign(0.0)
        self.fresh = True  # the all-zero chains are sized on the first epoch

    def get_weights(self) -> dict[str, np.ndarray]:
        return {"W": self.W.numpy().copy(), "b": self.b.numpy().copy()}

    def _apply(self, name: str, var: tf.Variable, g: tf.Tensor) -> None:
        """harness/optim.py's update of one variable (self.t already counts this step). Not the helper's
        Optimizer: t is float32 and Adam's bias corrections are computed in float32 (beta ** t with beta
        rounded to float32), and build() resets these slots in place (the tf.function holds them)."""
        tr, (m, v) = self.train, self.slots[name]
        if tr.optimizer == "sgd":
            v.assign(tr.momentum * v + g)
            var.assign_sub(tr.lr * v)
            return
        m.assign(tr.beta1 * m + (1 - tr.beta1) * g)
        v.assign(tr.beta2 * v + (1 - tr.beta2) * g * g)
        mhat = m / (1 - tf.pow(tr.beta1, self.t))
        vhat = v / (1 - tf.pow(tr.beta2, self.t))
        var.assign_sub(tr.lr * mhat / (tf.sqrt(vhat) + tr.eps))

    def _step_fn(self, v: tf.Tensor, u: tf.Tensor) -> tf.Tensor:
        """One batch: v (B, V) visibles, u (B, noise) uniforms -> energy gap; updates the variables."""
        kh = self.model.gibbs_steps * self.model.hidden
        w, b = tf.identity(self.W), tf.identity(self.b)  # the step's weights, read once
        pos = tf.concat([tf.transpose(v), tf.zeros((self.model.hidden, tf.shape(v)[0]))], axis=0)
        pos = sweeps(w, b, pos, self.pos_units, tf.transpose(u[:, :kh]))
        neg = sweeps(w, b, tf.identity(self.chains) if self.model.persistent else pos, self.neg_units,
                     tf.transpose(u[:, kh:]))
        self.chains.assign(neg)
        batch = tf.cast(tf.shape(v)[0], tf.float32)
        grad_w = (-(tf.matmul(pos, pos, transpose_b=True) - tf.matmul(neg, neg, transpose_b=True)) / batch
                  + self.model.weight_decay * w) * self.offdiag
        grad_b = -(tf.reduce_sum(pos, axis=1) - tf.reduce_sum(neg, axis=1)) / batch
        self.t.assign_add(1.0)
        self._apply("W", self.W, grad_w)
        self._apply("b", self.b, grad_b)
        return energy(w, b, pos) - energy(w, b, neg)

    def train_epoch(self, xb: np.ndarray, yb: np.ndarray) -> float:
        """xb (steps, B, V) {0,1} visibles, yb (steps, B, noise) uniforms (spec layout) -> mean energy gap."""
        steps, batch = xb.shape[:2]
        xs = tf.constant(np.asarray(xb, np.float32).reshape(steps, batch, -1))
        us = tf.constant(np.asarray(yb, np.float32))
        if self.fresh:
            self.chains.assign(tf.zeros((self.n, batch)))
            self.fresh = False
        return self._train(xs, us)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """x (N, n) states, or (N, V) visibles with hidden off -> p(s_i = 1 | s_-i) (N, n)."""
        flat = np.asarray(x, np.float32).reshape(len(x), -1)
        return self._forward(tf.constant(np.pad(flat, ((0, 0), (0, self.n - flat.shape[1]))))).numpy()
