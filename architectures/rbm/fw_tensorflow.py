"""RBM in TensorFlow: tf.Variables and raw TF ops (Keras has no RBM layer), Gibbs sampling with the
harness noise, the CD/PCD update as tf.GradientTape of mean F(v_data) - mean F(stop_gradient(v_model)),
the optimizer written in TF ops.

The harness's Gibbs noise arrives stacked per step with the batches (spec.make_epoch: yb (steps, B,
width)), so the CD step is an ordinary step(v, u) and every execution mode of
harness.frameworks.tensorflow.epoch_trainer applies (described there). Predict is a tf.function in
every mode.
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from harness.frameworks.tensorflow import (
    AdapterBase,
    epoch_trainer,
    flat_batches,
    flat_rows,
    make_optimizer,
    to_numpy,
)

NAMES = ("W", "b_v", "b_h")


class RBM(tf.Module):
    """Bernoulli-Bernoulli RBM in the canonical layout: W (V, H), b_v (V,), b_h (H,)."""

    def __init__(self, weights: dict[str, np.ndarray]):
        super().__init__()
        self.W, self.b_v, self.b_h = (tf.Variable(np.asarray(weights[k], np.float32), name=k) for k in NAMES)

    def hidden_probs(self, v: tf.Tensor) -> tf.Tensor:
        return tf.sigmoid(v @ self.W + self.b_h)

    def visible_probs(self, h: tf.Tensor) -> tf.Tensor:
        return tf.sigmoid(tf.matmul(h, self.W, transpose_b=True) + self.b_v)

    def free_energy(self, v: tf.Tensor) -> tf.Tensor:
        """F(v) (N,) = -v.b_v - sum_j softplus(v W + b_h)_j."""
        return -tf.linalg.matvec(v, self.b_v) - tf.reduce_sum(tf.nn.softplus(v @ self.W + self.b_h), axis=1)

    def weights(self) -> dict[str, np.ndarray]:
        return {k: to_numpy(getattr(self, k)) for k in NAMES}


class CDTrainer:
    """CD-k / PCD-k for one RBM: optimizer slots, PCD chain variable and the epoch loop in execution
    ``mode`` (reused by the DBN for each layer's pretraining)."""

    def __init__(self, rbm: RBM, model, train, mode: str = "step"):
        self.rbm, self.k, self.persistent, self.wd = rbm, model.cd_k, model.persistent, model.weight_decay
        self.opt = make_optimizer(train, [rbm.W, rbm.b_v, rbm.b_h])
        self.n_v, self.n_h = rbm.W.shape
        self.chain = tf.Variable(tf.zeros((0, self.n_h)), shape=tf.TensorShape([None, self.n_h]))
        self.started = False
        # Traced once: unknown batch size in the signatures, so no retracing per epoch.
        v, u = tf.TensorSpec([None, self.n_v], tf.float32), tf.TensorSpec([None, None], tf.float32)
        self._train = epoch_trainer(self._train_step, v, u, mode)
        self._start = self._chain_start if mode == "eager" else tf.function(self._chain_start, input_signature=[v, u])

    def _chain_start(self, v: tf.Tensor, u: tf.Tensor) -> None:
        self.chain.assign(tf.cast(u[:, :self.n_h] < self.rbm.hidden_probs(v), tf.float32))

    def _train_step(self, v: tf.Tensor, u: tf.Tensor) -> tf.Tensor:
        rbm, n_v, n_h = self.rbm, self.n_v, self.n_h
        p0 = rbm.hidden_probs(v)
        err = tf.reduce_mean(tf.reduce_sum(tf.square(v - rbm.visible_probs(p0)), axis=1))
        h = tf.identity(self.chain) if self.persistent else tf.cast(u[:, :n_h] < p0, tf.float32)
        for i in range(self.k):  # k is static: unrolled in the graph
            o = n_h + i * (n_v + n_h)
            vk = tf.cast(u[:, o:o + n_v] < rbm.visible_probs(h), tf.float32)
            if self.persistent or i < self.k - 1:  # CD never uses the last hidden sample
                h = tf.cast(u[:, o + n_v:o + n_v + n_h] < rbm.hidden_probs(vk), tf.float32)
        if self.persistent:
            self.chain.assign(h)
        vk = tf.stop_gradient(vk)
        # the objective's gradient is the CD statistics: -(v^T p(h|v) - v_k^T p(h|v_k)) / B (+ wd W)
        self.opt.minimize(lambda: tf.reduce_mean(rbm.free_energy(v)) - tf.reduce_mean(rbm.free_energy(vk))
                          + 0.5 * self.wd * tf.reduce_sum(tf.square(rbm.W)))
        return err

    def epoch(self, xs: tf.Tensor, us: tf.Tensor) -> float:
        """xs (steps, B, V), us (steps, B, width) -> mean reconstruction error (one host fetch)."""
        if self.persistent and not self.started:
            self._start(xs[0], us[0])
            self.started = True
        return self._train(xs, us)


class Adapter(AdapterBase):
    MODES = ("step", "epoch", "epoch-xla", "eager")  # harness.frameworks.tensorflow.epoch_trainer's (described there)

    def build(self, weights: dict[str, np.ndarray]) -> None:
        """weights: canonical ``W`` (V, H), ``b_v`` (V,), ``b_h`` (H,)."""
        with tf.device(self.dev):
            self.rbm = RBM(weights)
            self.trainer = CDTrainer(self.rbm, self.model, self.train, self.mode)
        self._forward = tf.function(self.rbm.hidden_probs,
                                    input_signature=[tf.TensorSpec([None, weights["W"].shape[0]], tf.float32)])

    def get_weights(self) -> dict[str, np.ndarray]:
        return self.rbm.weights()

    def train_epoch(self, xb: np.ndarray, yb: np.ndarray) -> float:
        """xb (steps, B, V) data, yb (steps, B, H + k (V + H)) uniform noise -> mean recon error."""
        with tf.device(self.dev):
            return self.trainer.epoch(flat_batches(xb), tf.convert_to_tensor(yb, tf.float32))

    def predict(self, x: np.ndarray) -> np.ndarray:
        """x (N, V) -> p(h=1|v) (N, H)."""
        with tf.device(self.dev):
            return self._forward(flat_rows(x)).numpy()
