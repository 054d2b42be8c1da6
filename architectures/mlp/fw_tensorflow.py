"""MLP in TensorFlow: Keras 3 Dense layers, the optimizer written in TF ops, tf.function steps.

Modes: those of harness.frameworks.tensorflow.epoch_trainer (``step``, ``epoch``, ``epoch-xla``,
``eager``; described there). Predict is a tf.function in every mode.
"""
from __future__ import annotations

import keras
import numpy as np

from harness.frameworks.tensorflow import GradientAdapter, kernel_bias, set_kernel_bias


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


class Adapter(GradientAdapter):
    """Canonical ``dense{i}.kernel`` (in, out), ``dense{i}.bias`` (out,) in Keras Dense layers;
    x (N, features) -> logits (N, classes)."""

    MODES = ("step", "epoch", "epoch-xla", "eager")  # harness.frameworks.tensorflow.epoch_trainer's (described there)
    LOSS = "xent"

    def make_net(self, weights: dict[str, np.ndarray]) -> keras.Sequential:
        return make_net(weights, len(self.model.hidden) + 1, self.model.activation)

    def get_weights(self) -> dict[str, np.ndarray]:
        """Canonical float32 copies: ``dense{i}.kernel`` (in, out), ``dense{i}.bias`` (out,)."""
        return {k: a for i, layer in enumerate(self.net.layers) for k, a in kernel_bias(layer, f"dense{i}").items()}
