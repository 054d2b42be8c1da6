"""DBN in TensorFlow: architectures/rbm's tf.Variable RBMs and CD trainers per layer, a Keras 3
Dense softmax classifier trained with tf.GradientTape and the optimizer written in TF ops; each
phase's epoch runs in the job's mode (``epoch_trainer``: a tf.function step per batch, the fused
epoch with or without XLA, or eager); the up-pass is a tf.function traced once."""
from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from architectures.dbn import spec
from architectures.rbm.fw_tensorflow import RBM, CDTrainer
from harness.frameworks.tensorflow import (
    AdapterBase,
    batch_loss,
    epoch_trainer,
    flat_rows,
    kernel_bias,
    make_optimizer,
    set_kernel_bias,
    targets,
)


def make_classifier(weights: dict[str, np.ndarray]) -> keras.layers.Dense:
    """A Dense layer built for the input width, then set to the canonical ``clf.kernel`` (H_last, C),
    ``clf.bias`` (C,)."""
    kernel = weights["clf.kernel"]
    dense = keras.layers.Dense(kernel.shape[1])
    dense.build((None, kernel.shape[0]))
    return set_kernel_bias(dense, weights, "clf")  # overwrite Keras's own init before any use


class Adapter(AdapterBase):
    MODES = ("step", "epoch", "epoch-xla", "eager")  # harness.frameworks.tensorflow.epoch_trainer's, per phase

    def __init__(self, model, info, train, **kw):
        super().__init__(model, info, train, **kw)
        self.widths = spec.noise_widths(model, info)

    def build(self, weights: dict[str, np.ndarray]) -> None:
        """weights: canonical ``rbm{l}.W`` (V_l, H_l), ``rbm{l}.b_v``, ``rbm{l}.b_h``,
        ``clf.kernel`` (H_last, C), ``clf.bias`` (C,)."""
        n_layers = len(self.model.hidden)
        with tf.device(self.dev):
            self.rbms = [RBM(spec.rbm_weights(weights, l)) for l in range(n_layers)]
            self.clf = make_classifier(weights)
            # one trainer per layer and one classifier optimizer, each fresh for its own phase
            self.trainers = [CDTrainer(rbm, spec.rbm_model(self.model, l), self.train, self.mode)
                             for l, rbm in enumerate(self.rbms)]
            self.clf_opt = make_optimizer(self.train, self.clf.trainable_variables)
        sizes = spec.layer_sizes(self.model, self.info)
        # traced once each: unknown row counts in the signatures
        x = tf.TensorSpec([None, sizes[0]], tf.float32)
        self._up = [tf.function(lambda a, n=n: self._up_pass(a, n), input_signature=[x]) for n in range(n_layers + 1)]
        self._clf_train = epoch_trainer(self._classifier_step, tf.TensorSpec([None, sizes[-1]], tf.float32),
                                        tf.TensorSpec([None], tf.int64), self.mode)
        self._forward = tf.function(lambda a: self.clf(self._up_pass(a, n_layers)), input_signature=[x])
        self.epoch = 0

    def _up_pass(self, x: tf.Tensor, n_layers: int) -> tf.Tensor:
        """Deterministic p(h|v) through the first n_layers RBMs: (N, V) -> (N, V_n)."""
        for rbm in self.rbms[:n_layers]:
            x = rbm.hidden_probs(x)
        return x

    def _classifier_step(self, f: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
        """f (B, H_last) features, y (B,) int -> mean softmax cross-entropy; one classifier step."""
        return self.clf_opt.minimize(lambda: batch_loss(self.clf(f), y))

    def get_weights(self) -> dict[str, np.ndarray]:
        out = {f"rbm{l}.{k}": a for l, rbm in enumerate(self.rbms) for k, a in rbm.weights().items()}
        return out | kernel_bias(self.clf, "clf")

    def train_epoch(self, xb: np.ndarray, yb: np.ndarray) -> float:
        """xb (steps, B, V); yb (steps, B, 1 + noise): labels in column 0, then the harness noise.
        Pretraining epochs return the mean reconstruction error, classifier epochs the mean loss."""
        steps, b = xb.shape[:2]
        layer = spec.phase(self.epoch, self.model)
        self.epoch += 1
        with tf.device(self.dev):
            x = tf.convert_to_tensor(xb.reshape(steps * b, -1), tf.float32)
            if layer is None:
                feats = tf.reshape(self._up[-1](x), (steps, b, -1))
                return self._clf_train(feats, targets(yb[..., 0]))
            us = tf.convert_to_tensor(yb[..., 1:1 + self.widths[layer]], tf.float32)
            return self.trainers[layer].epoch(tf.reshape(self._up[layer](x), (steps, b, -1)), us)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """x (N, V) -> logits (N, C)."""
        with tf.device(self.dev):
            return self._forward(flat_rows(x)).numpy()
