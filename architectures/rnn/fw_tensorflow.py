"""RNN in TensorFlow: Keras 3 SimpleRNN / GRU(reset_after=True) layers (wrapped in Bidirectional
when asked) + Dense head, the optimizer written in TF ops, tf.function steps.

Keras's GRU orders the gate columns (z, r, h) and keeps its biases as one (2, 3H) array
[input bias; recurrent bias]; the canonical layout is (r, z, n) with separate b_ih, b_hh, so the
first two column blocks are swapped on the way in and out.

Modes: ``step`` calls one tf.function train step per batch from a Python loop (the custom
training loop of the TF guides); ``epoch`` runs the whole epoch's loop inside one tf.function
(AutoGraph turns it into a tf.while_loop).
"""
from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from architectures.rnn.spec import directions
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
    kernel, recurrent, bias = (np.array(v.numpy(), dtype=np.float32) for v in (c.kernel, c.recurrent_kernel, c.bias))
    if cell == "simple":
        return {prefix + "w_ih": kernel, prefix + "w_hh": recurrent, prefix + "b": bias}
    bias = _swap_rz(bias)
    return {prefix + "w_ih": _swap_rz(kernel), prefix + "w_hh": _swap_rz(recurrent),
            prefix + "b_ih": bias[0].copy(), prefix + "b_hh": bias[1].copy()}


def _recurrent_layer(model) -> keras.layers.Layer:
    if model.cell == "simple":
        return keras.layers.SimpleRNN(model.hidden, activation="tanh", return_sequences=True)
    return keras.layers.GRU(model.hidden, activation="tanh", recurrent_activation="sigmoid",
                            reset_after=True, return_sequences=True)


def make_net(weights: dict[str, np.ndarray], model, steps: int, features: int) -> tuple[keras.Model, list]:
    """Functional model (N, T, F) -> (N, out), set to the canonical weights. Also returns, per
    layer, its direction layers (fw[, bw]) for reading the weights back."""
    inputs = keras.Input((steps, features))
    hs, per_layer = inputs, []
    for _ in range(model.layers):
        layer = _recurrent_layer(model)
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
    head.kernel.assign(weights["head.kernel"])
    head.bias.assign(weights["head.bias"])
    return net, per_layer + [head]


class Adapter:
    MODES = ("step", "epoch")  # step: tf.function per batch; epoch: one tf.function per epoch
    NOTES = ""

    def __init__(self, model, info, train, *, mode="step", device="cpu", seed=0):
        self.model, self.info, self.train, self.mode, self.device = model, info, train, mode, device
        self.dev = tf_device(device)
        self.classify = info.task == "classification"

    def build(self, weights: dict[str, np.ndarray]) -> None:
        """weights: canonical ``rnn{l}.{d}.*`` and ``head.*`` (see spec)."""
        steps, features = self.info.sequence_shape
        with tf.device(self.dev):
            self.net, self.parts = make_net(weights, self.model, steps, features)
            self.opt = Optimizer(self.train, self.net.trainable_variables)
        # Traced once: unknown batch/step counts in the signatures, so no retracing per epoch.
        n_out = weights["head.bias"].shape[0]
        x = tf.TensorSpec([None, steps, features], tf.float32)
        y = tf.TensorSpec([None], tf.int64) if self.classify else tf.TensorSpec([None, n_out], tf.float32)
        xs = tf.TensorSpec([None, *x.shape], tf.float32)
        ys = tf.TensorSpec([None, *y.shape], y.dtype)
        self._step = tf.function(self._train_step, input_signature=[x, y])
        self._epoch = tf.function(self._train_loop, input_signature=[xs, ys])
        self._forward = tf.function(lambda x: self.net(x, training=False), input_signature=[x])

    def _loss(self, out: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
        if self.classify:
            return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=out))
        return tf.reduce_mean(tf.square(out - y))

    def _train_step(self, x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
        with tf.GradientTape() as tape:
            loss = self._loss(self.net(x, training=True), y)
        self.opt.apply(tape.gradient(loss, self.net.trainable_variables))
        return loss

    def _train_loop(self, xs: tf.Tensor, ys: tf.Tensor) -> tf.Tensor:
        """All steps of an epoch in one graph; returns the mean loss."""
        n = tf.shape(xs)[0]
        total = tf.constant(0.0)
        for i in tf.range(n):
            total += self._train_step(xs[i], ys[i])
        return total / tf.cast(n, tf.float32)

    def get_weights(self) -> dict[str, np.ndarray]:
        *rnns, head = self.parts
        out = {}
        for layer, dirs in enumerate(rnns):
            for d, rnn in zip(directions(self.model), dirs):
                out.update(_from_keras(rnn, f"rnn{layer}.{d}.", self.model.cell))
        out["head.kernel"] = np.array(head.kernel.numpy(), dtype=np.float32)
        out["head.bias"] = np.array(head.bias.numpy(), dtype=np.float32)
        return out

    def _seq(self, x: np.ndarray) -> tf.Tensor:
        """(..., T*F) -> (..., T, F) tensor."""
        return tf.convert_to_tensor(x.reshape(*x.shape[:-1], *self.info.sequence_shape), tf.float32)

    def train_epoch(self, xb: np.ndarray, yb: np.ndarray) -> float:
        """xb (steps, B, T*F), yb (steps, B) int or (steps, B, out) float -> mean loss over the steps."""
        with tf.device(self.dev):
            xs = self._seq(xb)
            ys = tf.convert_to_tensor(yb.astype(np.int64 if self.classify else np.float32, copy=False))
            if self.mode == "epoch":
                return float(self._epoch(xs, ys))
            # one split op per epoch; losses stay tensors, so no host sync per step
            losses = [self._step(x, y) for x, y in zip(tf.unstack(xs), tf.unstack(ys))]
            return float(tf.reduce_mean(tf.stack(losses)))

    def predict(self, x: np.ndarray) -> np.ndarray:
        """x (N, T*F) -> logits (N, classes) or predictions (N, outputs)."""
        with tf.device(self.dev):
            return self._forward(self._seq(x)).numpy()

    def sync(self) -> None:
        """Nothing queued survives train_epoch/predict: both end in a host fetch."""
