"""MLP in TensorFlow: Keras 3 Dense layers, the optimizer written in TF ops, tf.function steps.

Modes: those of harness.frameworks.tensorflow.epoch_trainer (``step``, ``epoch``, ``epoch-xla``,
``eager``; described there). Predict is a tf.function in every mode.
"""
from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from harness.frameworks.tensorflow import (
    AdapterBase,
    Optimizer,
    batch_loss,
    epoch_trainer,
    flat_batches,
    flat_rows,
    kernel_bias,
    set_kernel_bias,
    targets,
)


def make_net(weights: dict[str, np.ndarray], n_layers: int, activation: str) -> keras.Sequential:
    """Dense stack built for the input width, then set to the canonical weights."""
    n_in = weights["dense0.kernel"].shape[0]
    layers = [keras.layers.Dense(weights[f"dense{i}.kernel"].shape[1],
                                 activation=activation if i < n_layers - 1 else None)
              for i in range(n_layers)]
    net = keras.Sequential([keras.Input((n_in,)), *layers])
    for i, layer in enumerate(layers):  # overwrite Keras's own init before any use
        set_kernel_bias(layer, weights, f"dense{i}")
    return net


class Adapter(AdapterBase):
    MODES = ("step", "epoch", "epoch-xla", "eager")  # harness.frameworks.tensorflow.epoch_trainer's (described there)
    NOTES = ""

    def build(self, weights: dict[str, np.ndarray]) -> None:
        """weights: canonical ``dense{i}.kernel`` (in, out) and ``dense{i}.bias`` (out,)."""
        n_in = weights["dense0.kernel"].shape[0]
        with tf.device(self.dev):
            self.net = make_net(weights, len(self.model.hidden) + 1, self.model.activation)
            self.opt = Optimizer(self.train, self.net.trainable_variables)
        x, y = tf.TensorSpec([None, n_in], tf.float32), tf.TensorSpec([None], tf.int64)
        self._train = epoch_trainer(self._train_step, x, y, self.mode)
        self._forward = tf.function(lambda x: self.net(x, training=False), input_signature=[x])

    def _train_step(self, x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
        """x (B, features), y (B,) int -> mean softmax cross-entropy; one optimizer step."""
        return self.opt.minimize(lambda: batch_loss(self.net(x, training=True), y))

    def get_weights(self) -> dict[str, np.ndarray]:
        """Canonical float32 copies: ``dense{i}.kernel`` (in, out), ``dense{i}.bias`` (out,)."""
        return {k: a for i, layer in enumerate(self.net.layers) for k, a in kernel_bias(layer, f"dense{i}").items()}

    def train_epoch(self, xb: np.ndarray, yb: np.ndarray) -> float:
        """xb (steps, B, features), yb (steps, B) int -> mean loss over the steps."""
        with tf.device(self.dev):
            return self._train(flat_batches(xb), targets(yb))

    def predict(self, x: np.ndarray) -> np.ndarray:
        """x (N, features) -> logits (N, classes)."""
        with tf.device(self.dev):
            return self._forward(flat_rows(x)).numpy()
