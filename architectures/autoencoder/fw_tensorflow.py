"""Autoencoder in TensorFlow: tf.Variables and raw TF ops (tied kernels are shared variables, which
Keras's Dense layers cannot express), tf.GradientTape, and the canonical SGD/Adam update written
with tf ops.

Modes: those of harness.frameworks.tensorflow.epoch_trainer (``step``, ``epoch``, ``epoch-xla``,
``eager``; described there). Predict is a tf.function in every mode.
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from harness.frameworks.tensorflow import (
    AdapterBase,
    Optimizer,
    batch_loss,
    epoch_trainer,
    flat_batches,
    flat_rows,
    to_numpy,
)

ACT = {"relu": tf.nn.relu, "tanh": tf.tanh, "sigmoid": tf.sigmoid, "linear": tf.identity}


def forward(params: dict[str, tf.Variable], x: tf.Tensor, model) -> tf.Tensor:
    """params: canonical names -> variables; x (B, D) -> reconstruction (B, D)."""
    act = ACT[model.activation]
    k = len(model.encoder)
    h = x
    for i in range(k):
        h = act(tf.matmul(h, params[f"enc{i}.kernel"]) + params[f"enc{i}.bias"])
    for i in reversed(range(k)):
        if model.tied:
            h = tf.matmul(h, params[f"enc{i}.kernel"], transpose_b=True)
        else:
            h = tf.matmul(h, params[f"dec{i}.kernel"])
        h = h + params[f"dec{i}.bias"]
        h = act(h) if i > 0 else ACT[model.output](h)
    return h


class Adapter(AdapterBase):
    MODES = ("step", "epoch", "epoch-xla", "eager")  # harness.frameworks.tensorflow.epoch_trainer's (described there)
    NOTES = ""

    def build(self, weights: dict[str, np.ndarray]) -> None:
        """weights: canonical ``enc{i}.*``, ``dec{i}.*`` (see the spec)."""
        d = int(np.prod(self.info.input_shape))
        with tf.device(self.dev):
            self.params = {k: tf.Variable(np.asarray(v, np.float32), name=k.replace(".", "_"))
                           for k, v in weights.items()}
            self.opt = Optimizer(self.train, list(self.params.values()))
        batch = tf.TensorSpec([None, d], tf.float32)
        self._train = epoch_trainer(self._train_step, batch, batch, self.mode)
        self._predict = tf.function(lambda x: forward(self.params, x, self.model), input_signature=[batch])

    def _train_step(self, x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
        """x (B, D) corrupted inputs, y (B, D) clean targets -> mean squared error; one optimizer step."""
        return self.opt.minimize(lambda: batch_loss(forward(self.params, x, self.model), y, classify=False))

    def get_weights(self) -> dict[str, np.ndarray]:
        return {k: to_numpy(v) for k, v in self.params.items()}

    def train_epoch(self, xb: np.ndarray, yb: np.ndarray) -> float:
        """xb (steps, B, D) corrupted inputs, yb (steps, B, D) clean targets -> mean loss over the steps."""
        with tf.device(self.dev):
            return self._train(flat_batches(xb), flat_batches(yb))

    def predict(self, x: np.ndarray) -> np.ndarray:
        """x (N, *input_shape) -> reconstruction (N, D)."""
        with tf.device(self.dev):
            return self._predict(flat_rows(x)).numpy()
