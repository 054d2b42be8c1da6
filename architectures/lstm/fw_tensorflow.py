"""LSTM in TensorFlow: Keras 3 LSTM / Bidirectional and Dense layers, the optimizer written in TF
ops, tf.function steps.

Keras's LSTM cell is the canonical layout as it stands: ``kernel`` (in, 4H), ``recurrent_kernel``
(H, 4H), one ``bias`` (4H,), gates (i, f, c, o) = (i, f, g, o). It is built with
``recurrent_activation="sigmoid"`` (Keras 2's old default was hard_sigmoid) and
``unit_forget_bias=False`` (it only touches Keras's own initializer, which the canonical weights
overwrite anyway).

Modes: those of harness.frameworks.tensorflow.epoch_trainer (``step``, ``epoch``, ``epoch-xla``,
``eager``; described there). Predict is a tf.function in every mode. Keras's LSTM takes its
cuDNN kernel when a GPU is visible; cuDNN ops do not compile under XLA, so ``epoch-xla`` builds the
layers with ``use_cudnn=False`` (Keras's own while-loop cell, which XLA compiles on CPU and GPU alike).
"""
from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from harness.frameworks.tensorflow import GradientAdapter, kernel_bias, set_kernel_bias, to_numpy


def _lstm(hidden: int, use_cudnn: bool | str = "auto") -> keras.layers.LSTM:
    return keras.layers.LSTM(hidden, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                             unit_forget_bias=False, return_sequences=True, use_cudnn=use_cudnn)


class LSTMNet:
    """Stacked (Bidirectional) LSTM layers returning sequences, the readout, a Dense head."""

    def __init__(self, weights: dict[str, np.ndarray], model, steps: int, features: int,
                 use_cudnn: bool | str = "auto"):
        self.model, self.steps, self.features = model, steps, features
        self.dirs = ("fw", "bw") if model.bidirectional else ("fw",)
        width = features
        self.layers = []
        for _ in range(model.layers):
            # Bidirectional flips the backward outputs back to input order and concatenates [fw, bw]
            lstm = _lstm(model.hidden, use_cudnn)
            layer = keras.layers.Bidirectional(lstm) if model.bidirectional else lstm
            layer.build((None, steps, width))
            self.layers.append(layer)
            width = len(self.dirs) * model.hidden
        self.head = keras.layers.Dense(weights["head.bias"].shape[0])
        self.head.build((None, width))
        self.set_weights(weights)  # overwrite Keras's own init before any use

    def cells(self):
        """(canonical prefix, LSTMCell) for every layer and direction."""
        for l, layer in enumerate(self.layers):
            lstms = (layer.forward_layer, layer.backward_layer) if self.model.bidirectional else (layer,)
            for d, lstm in zip(self.dirs, lstms):
                yield f"lstm{l}.{d}", lstm.cell

    def set_weights(self, weights: dict[str, np.ndarray]) -> None:
        for prefix, cell in self.cells():
            cell.kernel.assign(weights[f"{prefix}.w_ih"])
            cell.recurrent_kernel.assign(weights[f"{prefix}.w_hh"])
            cell.bias.assign(weights[f"{prefix}.b"])
        set_kernel_bias(self.head, weights, "head")

    @property
    def trainable_variables(self) -> list:
        return [v for layer in (*self.layers, self.head) for v in layer.trainable_variables]

    def __call__(self, x: tf.Tensor, training: bool = False) -> tf.Tensor:
        """x (N, T*features) -> (N, out) (no dropout: ``training`` changes nothing)."""
        seq = tf.reshape(x, (-1, self.steps, self.features))
        for layer in self.layers:
            seq = layer(seq)  # (N, T, ndir*H)
        h = self.model.hidden
        if self.model.readout == "mean":
            feat = tf.reduce_mean(seq, axis=1)
        elif self.model.bidirectional:
            feat = tf.concat([seq[:, -1, :h], seq[:, 0, h:]], axis=-1)
        else:
            feat = seq[:, -1]
        return self.head(feat)


class Adapter(GradientAdapter):
    """Canonical ``lstm{l}.{d}.w_ih`` (in, 4H), ``.w_hh`` (H, 4H), ``.b`` (4H,), ``head.kernel``
    (ndir*H, out), ``head.bias`` (out,); x (N, T*features) -> logits (N, classes) or predictions
    (N, n_outputs), by the dataset's task."""

    MODES = ("step", "epoch", "epoch-xla", "eager")  # harness.frameworks.tensorflow.epoch_trainer's (described there)

    def make_net(self, weights: dict[str, np.ndarray]) -> LSTMNet:
        return LSTMNet(weights, self.model, *self.info.sequence_shape,
                       use_cudnn=False if self.mode == "epoch-xla" else "auto")

    def get_weights(self) -> dict[str, np.ndarray]:
        out = {}
        for prefix, cell in self.net.cells():
            out[f"{prefix}.w_ih"] = to_numpy(cell.kernel)
            out[f"{prefix}.w_hh"] = to_numpy(cell.recurrent_kernel)
            out[f"{prefix}.b"] = to_numpy(cell.bias)
        return out | kernel_bias(self.net.head, "head")
