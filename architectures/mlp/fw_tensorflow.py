"""MLP in TensorFlow: Keras 3 Dense layers, the optimizer written in TF ops, tf.function steps.

Modes: ``step`` calls one tf.function train step per batch from a Python loop (the custom
training loop of the TF guides); ``epoch`` runs the whole epoch's loop inside one tf.function
(AutoGraph turns it into a tf.while_loop).
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


def make_net(weights: dict[str, np.ndarray], n_layers: int, activation: str) -> keras.Sequential:
    """Dense stack built for the input width, then set to the canonical weights."""
    n_in = weights["dense0.kernel"].shape[0]
    layers = [keras.layers.Dense(weights[f"dense{i}.kernel"].shape[1],
                                 activation=activation if i < n_layers - 1 else None)
              for i in range(n_layers)]
    net = keras.Sequential([keras.Input((n_in,)), *layers])
    for i, layer in enumerate(layers):  # overwrite Keras's own init before any use
        layer.kernel.assign(weights[f"dense{i}.kernel"])
        layer.bias.assign(weights[f"dense{i}.bias"])
    return net


class Adapter:
    MODES = ("step", "epoch")  # step: tf.function per batch; epoch: one tf.function per epoch
    NOTES = ""

    def __init__(self, model, info, train, *, mode="step", device="cpu", seed=0):
        self.model, self.info, self.train, self.mode, self.device = model, info, train, mode, device
        self.dev = tf_device(device)

    def build(self, weights: dict[str, np.ndarray]) -> None:
        """weights: canonical ``dense{i}.kernel`` (in, out) and ``dense{i}.bias`` (out,)."""
        n_in = weights["dense0.kernel"].shape[0]
        with tf.device(self.dev):
            self.net = make_net(weights, len(self.model.hidden) + 1, self.model.activation)
            self.opt = Optimizer(self.train, self.net.trainable_variables)
        # Traced once: unknown batch/step counts in the signatures, so no retracing per epoch.
        x, y = tf.TensorSpec([None, n_in], tf.float32), tf.TensorSpec([None], tf.int64)
        xs, ys = tf.TensorSpec([None, None, n_in], tf.float32), tf.TensorSpec([None, None], tf.int64)
        self._step = tf.function(self._train_step, input_signature=[x, y])
        self._epoch = tf.function(self._train_loop, input_signature=[xs, ys])
        self._forward = tf.function(lambda x: self.net(x, training=False), input_signature=[x])

    def _train_step(self, x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
        with tf.GradientTape() as tape:
            logits = self.net(x, training=True)
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits))
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
        """Canonical float32 copies: ``dense{i}.kernel`` (in, out), ``dense{i}.bias`` (out,)."""
        out = {}
        for i, layer in enumerate(self.net.layers):
            out[f"dense{i}.kernel"] = np.array(layer.kernel.numpy(), dtype=np.float32)
            out[f"dense{i}.bias"] = np.array(layer.bias.numpy(), dtype=np.float32)
        return out

    def train_epoch(self, xb: np.ndarray, yb: np.ndarray) -> float:
        """xb (steps, B, features), yb (steps, B) int -> mean loss over the steps."""
        with tf.device(self.dev):
            xs = tf.convert_to_tensor(xb.reshape(xb.shape[0], xb.shape[1], -1), tf.float32)
            ys = tf.convert_to_tensor(yb.astype(np.int64, copy=False))
            if self.mode == "epoch":
                return float(self._epoch(xs, ys))
            # one split op per epoch; losses stay tensors, so no host sync per step
            losses = [self._step(x, y) for x, y in zip(tf.unstack(xs), tf.unstack(ys))]
            return float(tf.reduce_mean(tf.stack(losses)))

    def predict(self, x: np.ndarray) -> np.ndarray:
        """x (N, features) -> logits (N, classes)."""
        with tf.device(self.dev):
            return self._forward(tf.convert_to_tensor(x.reshape(len(x), -1), tf.float32)).numpy()

    def sync(self) -> None:
        """Nothing queued survives train_epoch/predict: both end in a host fetch."""
