"""CNN in TensorFlow: Keras 3 layers (ZeroPadding + Conv{1,2}D + MaxPooling{1,2}D, Flatten, Dense),
the optimizer written in TF ops, tf.function steps.

Keras is channels-last with (*K, cin, cout) kernels: the canonical layout, no transposes. Padding is
an explicit ZeroPadding layer before a "valid" convolution, so it is symmetric (Keras's "same"
pads the extra row at the bottom/right for even kernels and strides, unlike PyTorch).
Modes: ``step`` calls one tf.function train step per batch from a Python loop; ``epoch`` runs the
whole epoch's loop inside one tf.function (AutoGraph turns it into a tf.while_loop).
"""
from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from architectures.cnn import spec
from harness.frameworks.tensorflow import tf_device

L = keras.layers
PAD = {1: L.ZeroPadding1D, 2: L.ZeroPadding2D}
CONV = {1: L.Conv1D, 2: L.Conv2D}
POOL = {1: L.MaxPooling1D, 2: L.MaxPooling2D}


class Optimizer:
    """harness/optim.py in TF ops on tf.Variable slots. Keras's Adam puts eps inside the bias
    correction ("eps-hat"), so the update is written out here instead."""

    def __init__(self, train, variables: list):
        self.train, self.vars = train, variables
        n_slots = 1 if train.optimizer == "sgd" else 2  # sgd: velocity; adam: m, v
        self.slots = [[tf.Variable(tf.zeros_like(w)) for w in variables] for _ in range(n_slots)]
        self.t = tf.Variable(0, dtype=tf.int64)

    def apply(self, grads: list) -> None:
        tr = self.train
        if tr.optimizer == "sgd":
            for w, v, g in zip(self.vars, self.slots[0], grads):
                v.assign(tr.momentum * v + g)
                w.assign_sub(tr.lr * v)
            return
        self.t.assign_add(1)
        t = tf.cast(self.t, tf.float64)  # bias corrections in float64, like the reference
        c1 = tf.cast(1.0 - tf.pow(tf.constant(tr.beta1, tf.float64), t), tf.float32)
        c2 = tf.cast(1.0 - tf.pow(tf.constant(tr.beta2, tf.float64), t), tf.float32)
        for w, m, v, g in zip(self.vars, self.slots[0], self.slots[1], grads):
            m.assign(tr.beta1 * m + (1.0 - tr.beta1) * g)
            v.assign(tr.beta2 * v + (1.0 - tr.beta2) * g * g)
            w.assign_sub(tr.lr * (m / c1) / (tf.sqrt(v / c2) + tr.eps))


def _set(layer, weights: dict[str, np.ndarray], name: str):
    """Overwrite Keras's own init with the canonical weights (layouts already agree)."""
    layer.kernel.assign(weights[f"{name}.kernel"])
    layer.bias.assign(weights[f"{name}.bias"])
    return layer


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
    for i, layer in enumerate(convs):
        _set(layer, weights, f"conv{i}")
    for j, layer in enumerate(denses):
        _set(layer, weights, f"dense{j}")
    return net, convs, denses


class Adapter:
    MODES = ("step", "epoch")  # step: tf.function per batch; epoch: one tf.function per epoch
    NOTES = ""

    def __init__(self, model, info, train, *, mode="step", device="cpu", seed=0):
        self.model, self.info, self.train, self.mode, self.device = model, info, train, mode, device
        self.dev = tf_device(device)
        self.n_in = int(np.prod(info.input_shape))

    def build(self, weights: dict[str, np.ndarray]) -> None:
        """weights: canonical ``conv{i}.kernel`` (*K, cin, cout), ``conv{i}.bias`` (cout,),
        ``dense{j}.kernel`` (in, out), ``dense{j}.bias`` (out,)."""
        with tf.device(self.dev):
            self.net, self.convs, self.denses = make_net(self.model, self.info, weights)
            self.opt = Optimizer(self.train, self.net.trainable_variables)
        # Traced once: unknown batch/step counts in the signatures, so no retracing per epoch.
        x, y = tf.TensorSpec([None, self.n_in], tf.float32), tf.TensorSpec([None], tf.int64)
        xs, ys = tf.TensorSpec([None, None, self.n_in], tf.float32), tf.TensorSpec([None, None], tf.int64)
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
        out = {}
        for prefix, layers in (("conv", self.convs), ("dense", self.denses)):
            for i, layer in enumerate(layers):
                out[f"{prefix}{i}.kernel"] = np.array(layer.kernel.numpy(), dtype=np.float32)
                out[f"{prefix}{i}.bias"] = np.array(layer.bias.numpy(), dtype=np.float32)
        return out

    def train_epoch(self, xb: np.ndarray, yb: np.ndarray) -> float:
        """xb (steps, B, *input_shape), yb (steps, B) int -> mean loss over the steps."""
        with tf.device(self.dev):
            xs = tf.convert_to_tensor(xb.reshape(xb.shape[0], xb.shape[1], -1), tf.float32)
            ys = tf.convert_to_tensor(yb.astype(np.int64, copy=False))
            if self.mode == "epoch":
                return float(self._epoch(xs, ys))
            # one split op per epoch; losses stay tensors, so no host sync per step
            losses = [self._step(x, y) for x, y in zip(tf.unstack(xs), tf.unstack(ys))]
            return float(tf.reduce_mean(tf.stack(losses)))

    def predict(self, x: np.ndarray) -> np.ndarray:
        """x (N, *input_shape) -> logits (N, classes)."""
        with tf.device(self.dev):
            return self._forward(tf.convert_to_tensor(x.reshape(len(x), -1), tf.float32)).numpy()

    def sync(self) -> None:
        """Nothing queued survives train_epoch/predict: both end in a host fetch."""
