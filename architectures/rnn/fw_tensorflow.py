"""RNN in TensorFlow: Keras 3 SimpleRNN / GRU(reset_after=True) layers (wrapped in Bidirectional
when asked) + Dense head, the optimizer written in TF ops, tf.function steps.

Keras's GRU orders the gate columns (z, r, h) and keeps its biases as one (2, 3H) array
[input bias; recurrent bias]; the canonical layout is (r, z, n) with separate b_ih, b_hh, so the
first two column blocks are swapped on the way in and out.

Modes: those of harness.frameworks.tensorflow.epoch_trainer (``step``, ``epoch``, ``epoch-xla``,
``eager``; described there). Predict is a tf.function in every mode. Keras's GRU takes its cuDNN kernel when a GPU is visible; cuDNN
ops do not compile under XLA, so ``epoch-xla`` builds the GRU with ``use_cudnn=False`` (Keras's own
while-loop cell, which XLA compiles on CPU and GPU alike).
"""
from __future__ import annotations

import keras
import numpy as np

from architectures.rnn.spec import directions
from harness.frameworks.tensorflow import GradientAdapter, kernel_bias, set_kernel_bias, to_numpy


def _swap_rz(a: np.ndarray) -> np.ndarray:
    """Swap the first two gate blocks of the last axis: (r, z, n) <-> Keras's (z, r, h)."""
    r, z, n = np.split(a, 3, axis=-1)
    return np.concatenate([z, r, n], axis=-1)


def _to_keras(weights: dict[str, np.ndarray], prefix: str, cell: str) -> list[np.ndarray]:
    """Canonical weights of one direction -> [kernel, recurrent_kernel, bias] in Keras's layout."""
    w_ih, w_hh = weights[prefix + "w_ih"], weights[prefix + "w_hh"]
    if cell == "simple":
        return [w_ih, w_hh, weights[prefix + "b"]]
    bias = np.stack([weights[prefix + "b_ih"], weights[prefix + "b_hh"]])  # (2, 3H)
    return [_swap_rz(w_ih), _swap_rz(w_hh), _swap_rz(bias)]


def _from_keras(cell_layer, prefix: str, cell: str) -> dict[str, np.ndarray]:
    c = cell_layer.cell
    kernel, recurrent, bias = (to_numpy(v) for v in (c.kernel, c.recurrent_kernel, c.bias))
    if cell == "simple":
        return {prefix + "w_ih": kernel, prefix + "w_hh": recurrent, prefix + "b": bias}
    bias = _swap_rz(bias)
    return {prefix + "w_ih": _swap_rz(kernel), prefix + "w_hh": _swap_rz(recurrent),
            prefix + "b_ih": bias[0].copy(), prefix + "b_hh": bias[1].copy()}


def _recurrent_layer(model, use_cudnn: bool | str = "auto") -> keras.layers.Layer:
    if model.cell == "simple":  # SimpleRNN has no cuDNN path
        return keras.layers.SimpleRNN(model.hidden, activation="tanh", return_sequences=True)
    return keras.layers.GRU(model.hidden, activation="tanh", recurrent_activation="sigmoid",
                            reset_after=True, return_sequences=True, use_cudnn=use_cudnn)


def make_net(weights: dict[str, np.ndarray], model, steps: int, features: int,
             use_cudnn: bool | str = "auto") -> tuple[keras.Model, list]:
    """Functional model (N, T, F) -> (N, out), set to the canonical weights. Also returns, per
    layer, its direction layers (fw[, bw]) for reading the weights back. ``use_cudnn`` goes to the GRU
    (False under XLA)."""
    inputs = keras.Input((steps, features))
    hs, per_layer = inputs, []
    for _ in range(model.layers):
        layer = _recurrent_layer(model, use_cudnn)
        if model.bidirectional:  # Keras returns the bw outputs in the original time order
            layer = keras.layers.Bidirectional(layer, merge_mode="concat")
        hs = layer(hs)
        per_layer.append((layer.forward_layer, layer.backward_layer) if model.bidirectional else (layer,))
    n_h = model.hidden
    if model.readout == "mean":
        feat = keras.ops.mean(hs, axis=1)
    elif model.bidirectional:
        feat = keras.ops.concatenate([hs[:, -1, :n_h], hs[:, 0, n_h:]], axis=-1)
    else:
        feat = hs[:, -1]
    head = keras.layers.Dense(weights["head.bias"].shape[0])
    net = keras.Model(inputs, head(feat))
    for layer, dirs in enumerate(per_layer):  # overwrite Keras's own init before any use
        for d, rnn in zip(directions(model), dirs):
            c = rnn.cell
            for var, value in zip((c.kernel, c.recurrent_kernel, c.bias),
                                  _to_keras(weights, f"rnn{layer}.{d}.", model.cell)):
                var.assign(value)
    set_kernel_bias(head, weights, "head")
    return net, per_layer + [head]


class Adapter(GradientAdapter):
    """Canonical ``rnn{l}.{d}.*`` and ``head.*`` (see spec); x (N, T*F) -> logits (N, classes) or
    predictions (N, outputs), by the dataset's task."""

    MODES = ("step", "epoch", "epoch-xla", "eager")  # harness.frameworks.tensorflow.epoch_trainer's (described there)
    SEQUENCE = True

    def make_net(self, weights: dict[str, np.ndarray]) -> keras.Model:
        net, self.parts = make_net(weights, self.model, *self.info.sequence_shape,
                                   use_cudnn=False if self.mode == "epoch-xla" else "auto")
        return net

    def get_weights(self) -> dict[str, np.ndarray]:
        *rnns, head = self.parts
        out = {}
        for layer, dirs in enumerate(rnns):
            for d, rnn in zip(directions(self.model), dirs):
                out.update(_from_keras(rnn, f"rnn{layer}.{d}.", self.model.cell))
        return out | kernel_bias(head, "head")
