"""Autoencoder in TensorFlow: tf.Variables and raw TF ops (tied kernels are shared variables, which
Keras's Dense layers cannot express), tf.GradientTape, and the canonical SGD/Adam update written
with tf ops, the whole step in one tf.function traced once in build."""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from harness.frameworks.tensorflow import tf_device

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


class Optimizer:
    """harness/optim.py's SGD-momentum and Adam with tf ops (Keras's Adam puts eps elsewhere)."""

    def __init__(self, params: dict[str, tf.Variable], train):
        self.train = train
        self.t = tf.Variable(0.0, dtype=tf.float64, trainable=False)  # float64: exact bias corrections
        self.v = {k: tf.Variable(tf.zeros_like(v), trainable=False) for k, v in params.items()}  # velocity / 2nd moment
        adam = train.optimizer == "adam"
        self.m = {k: tf.Variable(tf.zeros_like(v), trainable=False) for k, v in params.items()} if adam else {}

    def apply(self, params: dict[str, tf.Variable], grads: dict[str, tf.Tensor]) -> None:
        tr = self.train
        if tr.optimizer == "sgd":
            for k, w in params.items():
                v = self.v[k].assign(tr.momentum * self.v[k] + grads[k])
                w.assign_sub(tr.lr * v)
            return
        t = self.t.assign_add(1.0)
        bc1 = tf.cast(1 - tf.pow(tf.constant(tr.beta1, tf.float64), t), tf.float32)
        bc2 = tf.cast(1 - tf.pow(tf.constant(tr.beta2, tf.float64), t), tf.float32)
        for k, w in params.items():
            g = grads[k]
            m = self.m[k].assign(tr.beta1 * self.m[k] + (1 - tr.beta1) * g)
            v = self.v[k].assign(tr.beta2 * self.v[k] + (1 - tr.beta2) * g * g)
            w.assign_sub(tr.lr * (m / bc1) / (tf.sqrt(v / bc2) + tr.eps))


class Adapter:
    MODES = ("step",)  # one tf.function call per batch
    NOTES = ""

    def __init__(self, model, info, train, *, mode="step", device="cpu", seed=0):
        self.model, self.info, self.train, self.mode, self.device = model, info, train, mode, device
        self.dev = tf_device(device)

    def build(self, weights: dict[str, np.ndarray]) -> None:
        """weights: canonical ``enc{i}.*``, ``dec{i}.*`` (see the spec)."""
        model = self.model
        d = int(np.prod(self.info.input_shape))
        with tf.device(self.dev):
            self.params = {k: tf.Variable(np.asarray(v, np.float32), name=k.replace(".", "_"))
                           for k, v in weights.items()}
            self.opt = Optimizer(self.params, self.train)

        batch = tf.TensorSpec([None, d], tf.float32)

        @tf.function(input_signature=[batch, batch])  # fixed signature: traced once
        def step(x, y):
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean(tf.square(forward(self.params, x, model) - y))
            grads = tape.gradient(loss, self.params)
            self.opt.apply(self.params, grads)
            return loss

        self._step = step
        self._predict = tf.function(lambda x: forward(self.params, x, model), input_signature=[batch])

    def get_weights(self) -> dict[str, np.ndarray]:
        return {k: v.numpy().astype(np.float32).copy() for k, v in self.params.items()}

    def train_epoch(self, xb: np.ndarray, yb: np.ndarray) -> float:
        """xb (steps, B, D) corrupted inputs, yb (steps, B, D) clean targets -> mean loss over the steps."""
        with tf.device(self.dev):
            x = tf.convert_to_tensor(xb)
            y = tf.convert_to_tensor(yb)
            total = tf.zeros((), tf.float32)
            for i in range(xb.shape[0]):
                total += self._step(x[i], y[i])  # stays a tensor: no per-step host sync
            return float(total.numpy()) / xb.shape[0]

    def predict(self, x: np.ndarray) -> np.ndarray:
        """x (N, *input_shape) -> reconstruction (N, D)."""
        with tf.device(self.dev):
            return self._predict(tf.convert_to_tensor(np.asarray(x, np.float32).reshape(len(x), -1))).numpy()

    def sync(self) -> None:
        pass  # TF has no global sync; train_epoch's .numpy() fetch waits for the queued work
