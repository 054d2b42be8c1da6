"""Autoencoder in TensorFlow: tf.Variables and raw TF ops (tied kernels are shared variables, which
Keras's Dense layers cannot express), tf.GradientTape, and the canonical SGD/Adam update written
with tf ops.

Modes: those of harness.frameworks.tensorflow.epoch_trainer (``step``, ``epoch``, ``epoch-xla``,
``eager``; described there). Predict is a tf.function in every mode.
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from harness.frameworks.tensorflow import GradientAdapter, to_numpy

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


class Net:
    """The canonical weights as tf.Variables (named after them) and ``forward`` on them."""

    def __init__(self, weights: dict[str, np.ndarray], model):
        self.model = model
        self.params = {k: tf.Variable(np.asarray(v, np.float32), name=k.replace(".", "_")) for k, v in weights.items()}
        self.trainable_variables = list(self.params.values())

    def __call__(self, x: tf.Tensor, training: bool = False) -> tf.Tensor:
        """x (B, D) -> reconstruction (B, D)."""
        return forward(self.params, x, self.model)


class Adapter(GradientAdapter):
    """Canonical ``enc{i}.*``, ``dec{i}.*`` (see the spec); x (N, D) -> reconstruction (N, D); the
    loss is the mean over batch and features of (reconstruction of the corrupted x - clean y)^2."""

    MODES = ("step", "epoch", "epoch-xla", "eager")  # harness.frameworks.tensorflow.epoch_trainer's (described there)
    LOSS = "mse"

    def make_net(self, weights: dict[str, np.ndarray]) -> Net:
        return Net(weights, self.model)

    def target_width(self) -> int:
        return int(np.prod(self.info.input_shape))  # the clean input is the target

    def get_weights(self) -> dict[str, np.ndarray]:
        return {k: to_numpy(v) for k, v in self.net.params.items()}
