"""CNN in TensorFlow: Keras 3 layers (ZeroPadding + Conv{1,2}D + MaxPooling{1,2}D, Flatten, Dense),
the optimizer written in TF ops, tf.function steps.

Keras is channels-last with (*K, cin, cout) kernels: the canonical layout, no transposes. Padding is
an explicit ZeroPadding layer before a "valid" convolution, so it is symmetric (Keras's "same"
pads the extra row at the bottom/right for even kernels and strides, unlike PyTorch).
Modes: those of harness.frameworks.tensorflow.epoch_trainer (``step``, ``epoch``, ``epoch-xla``,
``eager``; described there). Predict is a tf.function in every mode.
"""
from __future__ import annotations

import keras
import numpy as np

from architectures.cnn import spec
from harness.frameworks.tensorflow import GradientAdapter, kernel_bias, set_kernel_bias

L = keras.layers
PAD = {1: L.ZeroPadding1D, 2: L.ZeroPadding2D}
CONV = {1: L.Conv1D, 2: L.Conv2D}
POOL = {1: L.MaxPooling1D, 2: L.MaxPooling2D}


def make_net(model, info, weights: dict[str, np.ndarray]) -> tuple[keras.Sequential, list, list]:
    """The network on flat inputs (N, prod(input_shape)), and its conv and dense layers."""
    spatial = spec.spatial_shape(info)
    d, n_in = len(spatial), int(np.prod(info.input_shape))
    net = keras.Sequential([keras.Input((n_in,)), L.Reshape((*spatial, 1))])
    convs, denses = [], []
    for c in model.conv:
        if c.padding:
            net.add(PAD[d](c.padding))
        convs.append(CONV[d](c.channels, c.kernel, strides=c.stride, padding="valid", activation=model.activation))
        net.add(convs[-1])
        if c.pool > 1:
            net.add(POOL[d](c.pool))  # strides default to the window; "valid" floors
    net.add(L.Flatten())  # channels-last: the canonical (*S, C) order
    sizes = [*model.dense, info.n_classes]
    for j, n in enumerate(sizes):
        denses.append(L.Dense(n, activation=model.activation if j < len(sizes) - 1 else None))
        net.add(denses[-1])
    for i, layer in enumerate(convs):  # overwrite Keras's own init (layouts already agree)
        set_kernel_bias(layer, weights, f"conv{i}")
    for j, layer in enumerate(denses):
        set_kernel_bias(layer, weights, f"dense{j}")
    return net, convs, denses


class Adapter(GradientAdapter):
    """Canonical ``conv{i}.kernel`` (*K, cin, cout), ``conv{i}.bias`` (cout,), ``dense{j}.kernel``
    (in, out), ``dense{j}.bias`` (out,); x (N, *input_shape) -> logits (N, classes)."""

    MODES = ("step", "epoch", "epoch-xla", "eager")  # harness.frameworks.tensorflow.epoch_trainer's (described there)
    LOSS = "xent"

    def make_net(self, weights: dict[str, np.ndarray]) -> keras.Sequential:
        net, self.convs, self.denses = make_net(self.model, self.info, weights)
        return net

    def get_weights(self) -> dict[str, np.ndarray]:
        out = {}
        for prefix, layers in (("conv", self.convs), ("dense", self.denses)):
            for i, layer in enumerate(layers):
                out.update(kernel_bias(layer, f"{prefix}{i}"))
        return out
