"""LSTM in TensorFlow: Keras 3 LSTM / Bidirectional and Dense layers, the optimizer written in TF
ops, tf.function steps.

Keras's LSTM cell is the canonical layout as it stands: ``kernel`` (in, 4H), ``recurrent_kernel``
(H, 4H), one ``bias`` (4H,), gates (i, f, c, o) = (i, f, g, o). It is built with
``recurrent_activation="sigmoid"`` (Keras 2's old default was hard_sigmoid) and
``unit_forget_bias=False`` (it only touches Keras's own initializer, which the canonical weights
overwrite anyway). Modes: ``step`` calls one tf.function train step per batch from a Python loop;
``epoch`` runs the whole epoch's loop inside one tf.function.
"""
from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from harness.frameworks.tensorflow import tf_device


class Optimizer:
    """harness/optim.py in TF ops on tf.Variable slots. Keras's Adam puts eps inside the bias
    correction ("eps-hat"), so the update is written out here instead."""

    def __init__(self, train, variables: list):
        self.train, self.vars = train, variables
        n_slots = 1 if train.optimizer == "sgd" else 2  # sgd: velocity; adam: m, v
        self.slots = [[tf.Variable(tf.zeros_like(w)) for w in variables] for _ in range(n_slots)]
        self.t = tf.Variable(0, dtype=tf.int64)

    def apply(self, grads: list) -> None:
        if self.train.optimizer == "sgd":
            self._sgd(grads)
        else:
            self._adam(grads)

    def _sgd(self, grads: list) -> None:
        lr, mom = self.train.lr, self.train.momentum
        for w, v, g in zip(self.vars, self.slots[0], grads):
            v.assign(mom * v + g)
            w.assign_sub(lr * v)

    def _adam(self, grads: list) -> None:
        tr = self.train
        self.t.assign_add(1)
        t = tf.cast(self.t, tf.float64)  # bias corrections in float64, like the reference
        c1 = tf.cast(1.0 - tf.pow(tf.constant(tr.beta1, tf.float64), t), tf.float32)
        c2 = tf.cast(1.0 - tf.pow(tf.constant(tr.beta2, tf.float64), t), tf.float32)
        for w, m, v, g in zip(self.vars, self.slots[0], self.slots[1], grads):
            m.assign(tr.beta1 * m + (1.0 - tr.beta1) * g)
            v.assign(tr.beta2 * v + (1.0 - tr.beta2) * g * g)
            w.assign_sub(tr.lr * (m / c1) / (tf.sqrt(v / c2) + tr.eps))


def _lstm(hidden: int) -> keras.layers.LSTM:
    return keras.layers.LSTM(hidden, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                             unit_forget_bias=False, return_sequences=True)


class LSTMNet:
    """Stacked (Bidirectional) LSTM layers returning sequences, the readout, a Dense head."""

    def __init__(self, weights: dict[str, np.ndarray], model, steps: int, features: int):
        self.model, self.steps, self.features = model, steps, features
        self.dirs = ("fw", "bw") if model.bidirectional else ("fw",)
        width = features
        self.layers = []
        for _ in range(model.layers):
            # Bidirectional flips the backward outputs back to input order and concatenates [fw, bw]
            layer = keras.layers.Bidirectional(_lstm(model.hidden)) if model.bidirectional else _lstm(model.hidden)
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
        self.head.kernel.assign(weights["head.kernel"])
        self.head.bias.assign(weights["head.bias"])

    @property
    def trainable_variables(self) -> list:
        return [v for layer in (*self.layers, self.head) for v in layer.trainable_variables]

    def __call__(self, x: tf.Tensor) -> tf.Tensor:
        """x (N, T*features) -> (N, out)."""
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


class Adapter:
    MODES = ("step", "epoch")  # step: tf.function per batch; epoch: one tf.function per epoch
    NOTES = ""

    def __init__(self, model, info, train, *, mode="step", device="cpu", seed=0):
        self.model, self.info, self.train, self.mode, self.device = model, info, train, mode, device
        self.dev = tf_device(device)
        self.regression = info.task == "regression"

    def build(self, weights: dict[str, np.ndarray]) -> None:
        """weights: canonical ``lstm{l}.{d}.w_ih`` (in, 4H), ``.w_hh`` (H, 4H), ``.b`` (4H,),
        ``head.kernel`` (ndir*H, out), ``head.bias`` (out,)."""
        steps, features = self.info.sequence_shape
        with tf.device(self.dev):
            self.net = LSTMNet(weights, self.model, steps, features)
            self.opt = Optimizer(self.train, self.net.trainable_variables)
        # Traced once: unknown batch/step counts in the signatures, so no retracing per epoch.
        d = steps * features
        yshape, ytype = ([None, weights["head.bias"].shape[0]], tf.float32) if self.regression else ([None], tf.int64)
        x, y = tf.TensorSpec([None, d], tf.float32), tf.TensorSpec(yshape, ytype)
        xs, ys = tf.TensorSpec([None, None, d], tf.float32), tf.TensorSpec([None, *yshape], ytype)
        self._step = tf.function(self._train_step, input_signature=[x, y])
        self._epoch = tf.function(self._train_loop, input_signature=[xs, ys])
        self._forward = tf.function(self.net, input_signature=[x])

    def _loss(self, x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
        out = self.net(x)
        if self.regression:
            return tf.reduce_mean(tf.square(out - y))
        return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=out))

    def _train_step(self, x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
        variables = self.net.trainable_variables
        with tf.GradientTape() as tape:
            loss = self._loss(x, y)
        self.opt.apply(tape.gradient(loss, variables))
        return loss

    def _train_loop(self, xs: tf.Tensor, ys: tf.Tensor) -> tf.Tensor:
        """All steps of an epoch in one graph; returns the mean loss."""
        n = tf.shape(xs)[0]
        total = tf.constant(0.0)
        for i in tf.range(n):
            total += self._train_step(xs[i], ys[i])
        return total / tf.cast(n, tf.float32)

    def get_weights(self) -> dict[str, np.ndarray]:
        out = {}
        for prefix, cell in self.net.cells():
            out[f"{prefix}.w_ih"] = np.array(cell.kernel.numpy(), dtype=np.float32)
            out[f"{prefix}.w_hh"] = np.array(cell.recurrent_kernel.numpy(), dtype=np.float32)
            out[f"{prefix}.b"] = np.array(cell.bias.numpy(), dtype=np.float32)
        out["head.kernel"] = np.array(self.net.head.kernel.numpy(), dtype=np.float32)
        out["head.bias"] = np.array(self.net.head.bias.numpy(), dtype=np.float32)
        return out

    def train_epoch(self, xb: np.ndarray, yb: np.ndarray) -> float:
        """xb (steps, B, T*features); yb (steps, B) int labels or (steps, B, out) float targets."""
        with tf.device(self.dev):
            xs = tf.convert_to_tensor(xb, tf.float32)
            ys = tf.convert_to_tensor(yb.astype(np.float32 if self.regression else np.int64, copy=False))
            if self.mode == "epoch":
                return float(self._epoch(xs, ys))
            # one split op per epoch; losses stay tensors, so no host sync per step
            losses = [self._step(x, y) for x, y in zip(tf.unstack(xs), tf.unstack(ys))]
            return float(tf.reduce_mean(tf.stack(losses)))

    def predict(self, x: np.ndarray) -> np.ndarray:
        """x (N, T*features) -> logits (N, classes) or predictions (N, n_outputs)."""
        with tf.device(self.dev):
            return self._forward(tf.convert_to_tensor(x, tf.float32)).numpy()

    def sync(self) -> None:
        """Nothing queued survives train_epoch/predict: both end in a host fetch."""
