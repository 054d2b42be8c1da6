"""DBN in Theano, through PyTensor: float32 shared variables; architectures/rbm's compiled CD step per
layer, a compiled softmax-classifier step (``pytensor.grad`` of the cross-entropy, symbolic optimizer
updates) and compiled up-passes, all compiled once in ``build``. Mode ``epoch``: the CD steps and
the classifier steps each inside one ``pytensor.scan`` over the epoch's batches instead.
Every constant is a numpy float32: PyTensor turns a Python float into float64 and would upcast.
"""
from __future__ import annotations

import numpy as np
import pytensor
import pytensor.tensor as pt

from architectures.dbn import spec
from architectures.rbm.fw_theano import NAMES, CDTrainer, hidden_probs
from harness.frameworks.theano import (
    MODE,
    AdapterBase,
    compile_epoch,
    compile_step,
    epoch_mean,
    flat32,
    make_optimizer,
    xent,
)


class Adapter(AdapterBase):
    MODES = ("step", "epoch")  # step: compiled steps per batch (Theano's classic loop); epoch: compiled scans

    def __init__(self, model, info, train, **kw):
        super().__init__(model, info, train, **kw)
        self.widths = spec.noise_widths(model, info)

    def build(self, weights: dict[str, np.ndarray]) -> None:
        """weights: canonical ``rbm{l}.W`` (V_l, H_l), ``rbm{l}.b_v``, ``rbm{l}.b_h``,
        ``clf.kernel`` (H_last, C), ``clf.bias`` (C,)."""
        n_layers = len(self.model.hidden)
        self.rbms = [[pytensor.shared(np.array(weights[f"rbm{l}.{k}"], np.float32), name=f"rbm{l}.{k}") for k in NAMES]
                     for l in range(n_layers)]
        self.clf = [pytensor.shared(np.array(weights[f"clf.{k}"], np.float32), name=f"clf.{k}") for k in ("kernel", "bias")]
        # one trainer per layer and one classifier optimizer, each fresh for its own phase
        self.trainers = [CDTrainer(p, spec.rbm_model(self.model, l), self.train, fused=self.mode == "epoch")
                         for l, p in enumerate(self.rbms)]
        x = pt.matrix("x", dtype="float32")
        self._up = [pytensor.function([x], self._up_pass(x, n), mode=MODE) for n in range(1, n_layers + 1)]
        self._up.insert(0, lambda a: a)  # the input itself
        self._predict = pytensor.function([x], self._logits(self._up_pass(x, n_layers)), mode=MODE)
        self._clf_step = self._compile_classifier_step()
        self.epoch = 0

    def _up_pass(self, x, n_layers: int):
        """Deterministic p(h|v) through the first n_layers RBMs: (N, V) -> (N, V_n)."""
        for W, _, b_h in self.rbms[:n_layers]:
            x = hidden_probs(W, b_h, x)
        return x

    def _logits(self, f, clf=None):
        """Classifier logits of features f (N, H_last) with ``clf`` [kernel, bias] (default: the shared ones)."""
        kernel, bias = clf or self.clf
        return pt.dot(f, kernel) + bias

    def _compile_classifier_step(self) -> pytensor.compile.Function:
        """f(features (B, H), y (B,)) -> mean cross-entropy; updates the classifier in place
        (``compile_step``). Mode ``epoch``: f(features (steps, B, H), y (steps, B)) -> the mean over
        the steps, one scan (``compile_epoch``)."""
        def loss(clf, f, y):
            return xent(self._logits(f, clf), y)

        if self.mode == "epoch":
            fs, ys = pt.tensor3("fs", dtype="float32"), pt.matrix("ys", dtype="int64")
            return compile_epoch(loss, make_optimizer(self.train), self.clf, fs, ys)
        f, y = pt.matrix("f", dtype="float32"), pt.vector("y", dtype="int64")
        return compile_step(loss, make_optimizer(self.train), self.clf, f, y)

    def get_weights(self) -> dict[str, np.ndarray]:
        out = {p.name: np.array(p.get_value(), np.float32) for layer in self.rbms for p in layer}
        out.update({p.name: np.array(p.get_value(), np.float32) for p in self.clf})
        return out

    def train_epoch(self, xb: np.ndarray, yb: np.ndarray) -> float:
        """xb (steps, B, V); yb (steps, B, 1 + noise): labels in column 0, then the harness noise.
        Pretraining epochs return the mean reconstruction error, classifier epochs the mean loss."""
        steps, b = xb.shape[:2]
        x = flat32(xb.reshape(steps * b, -1))
        layer = spec.phase(self.epoch, self.model)
        self.epoch += 1
        if layer is None:
            feats = self._up[-1](x).reshape(steps, b, -1)
            ys = np.ascontiguousarray(yb[..., 0], dtype=np.int64)
            return epoch_mean(self._clf_step, feats, ys, fused=self.mode == "epoch")
        us = np.ascontiguousarray(yb[..., 1:1 + self.widths[layer]], dtype=np.float32)
        return self.trainers[layer].epoch(self._up[layer](x).reshape(steps, b, -1), us)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """x (N, V) -> logits (N, C)."""
        return self._predict(flat32(x))
