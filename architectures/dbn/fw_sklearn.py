"""DBN in scikit-learn: a Pipeline of BernoulliRBMs and a softmax classifier, following the
canonical schedule step by step.

Each RBM is pretrained by architectures/rbm's scikit-learn trainer (BernoulliRBM.partial_fit per
batch, driven by the harness noise: PCD-1, or CD-1 by resetting its chain) on the pipeline's
``transform`` of the layers below. scikit-learn's native top, LogisticRegression, fits full-batch
with its own solvers and cannot take the canonical per-batch optimizer steps; the canonical softmax
classifier trained by minibatch SGD is MLPClassifier with no hidden layer (``hidden_layer_sizes=()``:
multinomial logistic regression, ``partial_fit`` stepping once per batch with ``shuffle=False``).
"""
from __future__ import annotations

import numpy as np
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline

from architectures._shared import Unsupported
from architectures.dbn import spec
from architectures.rbm.fw_sklearn import CDTrainer, make_rbm, rbm_weights, unsupported_reason
from harness.frameworks.sklearn import AdapterBase


def make_classifier(weights: dict[str, np.ndarray], train, n_classes: int, seed: int) -> MLPClassifier:
    """Softmax regression as MLPClassifier (plain SGD, no L2, constant lr), set to the canonical
    weights: one priming ``partial_fit`` on dummy rows allocates its internals, then ``coefs_`` /
    ``intercepts_`` are overwritten and the primed optimizer and loss bookkeeping dropped."""
    clf = MLPClassifier(hidden_layer_sizes=(), alpha=0.0, solver="sgd", momentum=train.momentum,
                        nesterovs_momentum=False, learning_rate="constant", learning_rate_init=train.lr,
                        batch_size=n_classes, shuffle=False, random_state=seed)
    classes = np.arange(n_classes)
    clf.partial_fit(np.zeros((n_classes, weights["clf.kernel"].shape[0])), classes, classes=classes)
    clf.coefs_ = [np.array(weights["clf.kernel"], np.float64)]
    clf.intercepts_ = [np.array(weights["clf.bias"], np.float64)]
    del clf._optimizer  # partial_fit builds a fresh one over the current coefs_ when none exists
    clf.t_, clf.loss_curve_, clf.best_loss_, clf._no_improvement_count = 0, [], np.inf, 0
    return clf


class Adapter(AdapterBase):
    MODES = ("step",)  # partial_fit per batch (RBMs) and per epoch of batches (classifier)
    # read by the plan without importing this file: a job outside them is unsupported without a process
    LIMITS = {"model.cd_k": (1,), "model.weight_decay": (0.0,),
              "train.optimizer": ("sgd",), "train.momentum": (0.0,)}
    NOTES = ("Pipeline of BernoulliRBMs (partial_fit per batch, float64, harness noise through a RandomState "
             "subclass; the adapter sets the chain start: PCD from the first batch, CD-1 by resetting "
             "h_samples_ every step) and, on top, MLPClassifier(hidden_layer_sizes=()) = softmax regression "
             "stepped by minibatch SGD, instead of the native LogisticRegression, which fits full-batch with "
             "its own solvers and cannot follow the canonical per-batch steps. Only cd_k=1, plain SGD (no "
             "momentum), no weight decay; at least 3 classes (MLPClassifier has one logistic unit for 2). "
             "Its classifier loss clips probabilities to [eps, 1-eps]; the reconstruction error is numpy.")

    def __init__(self, model, info, train, **kw):
        reason = unsupported_reason(model, train)
        if reason:
            raise Unsupported(reason)
        if info.n_classes < 3:
            raise Unsupported("MLPClassifier has one logistic output unit for two classes, not two softmax logits")
        super().__init__(model, info, train, **kw)
        self.widths = spec.noise_widths(model, info)

    def build(self, weights: dict[str, np.ndarray]) -> None:
        """weights: canonical ``rbm{l}.W`` (V_l, H_l), ``rbm{l}.b_v``, ``rbm{l}.b_h``,
        ``clf.kernel`` (H_last, C), ``clf.bias`` (C,)."""
        n_layers = len(self.model.hidden)
        rbms = [make_rbm(spec.rbm_weights(weights, l), self.train.lr, self.train.batch_size) for l in range(n_layers)]
        clf = make_classifier(weights, self.train, self.info.n_classes, self.seed)
        self.pipe = Pipeline([*((f"rbm{l}", r) for l, r in enumerate(rbms)), ("clf", clf)])
        # one trainer per layer, each started (PCD chain) in its own phase
        self.trainers = [CDTrainer(r, spec.rbm_model(self.model, l)) for l, r in enumerate(rbms)]
        self.epoch = 0

    def _up(self, x: np.ndarray, n_layers: int) -> np.ndarray:
        """p(h|v) through the first n_layers RBMs (the pipeline's transform): (N, V) -> (N, V_n)."""
        return self.pipe[:n_layers].transform(x) if n_layers else x

    def get_weights(self) -> dict[str, np.ndarray]:
        out = {f"rbm{l}.{k}": a for l, t in enumerate(self.trainers) for k, a in rbm_weights(t.rbm).items()}
        clf = self.pipe["clf"]
        out["clf.kernel"] = np.array(clf.coefs_[0], np.float32)
        out["clf.bias"] = np.array(clf.intercepts_[0], np.float32)
        return out

    def train_epoch(self, xb: np.ndarray, yb: np.ndarray) -> float:
        """xb (steps, B, V); yb (steps, B, 1 + noise): labels in column 0, then the harness noise.
        Pretraining epochs return the mean reconstruction error, classifier epochs the mean loss."""
        steps, b = xb.shape[:2]
        x = np.asarray(xb.reshape(steps * b, -1), np.float64)
        layer = spec.phase(self.epoch, self.model)
        self.epoch += 1
        if layer is None:
            clf = self.pipe["clf"]
            clf.set_params(batch_size=b)  # its own loop slices the epoch into the harness's batches
            clf.partial_fit(self._up(x, len(self.trainers)), yb[..., 0].astype(np.int64).ravel())
            return float(clf.loss_)  # sum of batch_loss * B over steps*B rows = mean of batch losses
        return self.trainers[layer].epoch(self._up(x, layer).reshape(steps, b, -1), yb[..., 1:1 + self.widths[layer]])

    def predict(self, x: np.ndarray) -> np.ndarray:
        """x (N, V) -> logits (N, C): the pipeline's features times the classifier's coefs_."""
        clf = self.pipe["clf"]
        return self._up(np.asarray(x.reshape(len(x), -1), np.float64), len(self.trainers)) @ clf.coefs_[0] + clf.intercepts_[0]
