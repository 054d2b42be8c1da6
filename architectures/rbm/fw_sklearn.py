"""RBM in scikit-learn: BernoulliRBM, one ``partial_fit`` per batch, sampling with the harness noise.

What BernoulliRBM does per ``partial_fit`` (sklearn/neural_network/_rbm.py, ``_fit``): h_pos =
p(h|v); v_neg = [u < p(v|h_samples_)]; h_neg = p(h|v_neg); W += lr/B (v^T h_pos - v_neg^T h_neg)
(biases likewise); then h_samples_ = [u < h_neg], drawing u from ``random_state_.uniform``. That is
exactly the spec's PCD-1 with plain SGD and no weight decay: same statistics, the same chain state
(the hidden sample, drawn with the weights before the update), "1 if u < p" sampling. So:
- the estimator gets a ``RandomState`` subclass whose ``uniform`` hands out the harness noise
  columns in the order ``_fit`` asks for them (visible sample, then hidden sample);
- PCD's chain starts from the first batch: ``h_samples_`` is set to [u < p(h|v)] before the first
  step (BernoulliRBM would start it at zeros); for CD-1 it is reset so before every step, which
  makes BernoulliRBM's one Gibbs step a CD-1 step.
CD-k/PCD-k with k > 1, momentum, Adam and weight decay are outside what BernoulliRBM does.
"""
from __future__ import annotations

import numpy as np
from scipy.special import expit
from sklearn.neural_network import BernoulliRBM

from architectures._shared import Unsupported
from harness.frameworks.sklearn import AdapterBase


class HarnessNoise(np.random.RandomState):
    """A RandomState (so BernoulliRBM's parameter validation accepts it) whose ``uniform`` returns
    the queued harness noise blocks in order; any other draw would be a mismatch and fails."""

    def __init__(self):
        super().__init__(0)
        self.queue: list[np.ndarray] = []

    def uniform(self, low=0.0, high=1.0, size=None):
        block = self.queue.pop(0)
        if (low, high) != (0.0, 1.0) or block.shape != tuple(np.atleast_1d(size)):
            raise RuntimeError(f"BernoulliRBM asked for uniform({low}, {high}, {size}); queued {block.shape}")
        return block


def unsupported_reason(model, train) -> str | None:
    """Why BernoulliRBM cannot run this configuration, or None."""
    if model.cd_k != 1:
        return f"BernoulliRBM does one Gibbs step per update (cd_k={model.cd_k} needs {model.cd_k})"
    if model.weight_decay:
        return "BernoulliRBM has no weight decay"
    if train.optimizer != "sgd" or train.momentum:
        return "BernoulliRBM updates with plain SGD (no momentum, no Adam)"
    return None


def make_rbm(weights: dict[str, np.ndarray], lr: float, batch_size: int) -> BernoulliRBM:
    """A BernoulliRBM set to the canonical weights (float64, as partial_fit computes), noise-driven."""
    rbm = BernoulliRBM(n_components=weights["W"].shape[1], learning_rate=lr, batch_size=batch_size,
                       n_iter=1, random_state=HarnessNoise())
    rbm.components_ = np.asarray(weights["W"], np.float64).T.copy()  # (H, V)
    rbm.intercept_visible_ = np.asarray(weights["b_v"], np.float64).copy()
    rbm.intercept_hidden_ = np.asarray(weights["b_h"], np.float64).copy()
    rbm.n_features_in_ = rbm.components_.shape[1]  # what fit would record: inputs are width-checked
    return rbm


def rbm_weights(rbm: BernoulliRBM) -> dict[str, np.ndarray]:
    return {"W": np.array(rbm.components_.T, np.float32), "b_v": np.array(rbm.intercept_visible_, np.float32),
            "b_h": np.array(rbm.intercept_hidden_, np.float32)}


class CDTrainer:
    """Drives one BernoulliRBM through the spec's CD-1/PCD-1 steps (reused by the DBN)."""

    def __init__(self, rbm: BernoulliRBM, model):
        self.rbm, self.persistent = rbm, model.persistent
        self.started = False  # PCD: whether h_samples_ holds the chain yet

    def step(self, v: np.ndarray, u: np.ndarray) -> float:
        """v (B, V) float64, u (B, H + V + H) -> reconstruction error before the update."""
        rbm = self.rbm
        n_h, n_v = rbm.components_.shape
        p0 = rbm.transform(v)  # p(h|v)
        err = float(((v - expit(p0 @ rbm.components_ + rbm.intercept_visible_)) ** 2).sum(axis=1).mean())
        if not (self.persistent and self.started):
            rbm.h_samples_ = (u[:, :n_h] < p0).astype(np.float64)
            self.started = True
        rbm.random_state.queue = [u[:, n_h:n_h + n_v], u[:, n_h + n_v:2 * n_h + n_v]]
        rbm.partial_fit(v)
        if rbm.random_state.queue:
            raise RuntimeError("BernoulliRBM did not draw the noise the spec's PCD-1 step uses")
        return err

    def epoch(self, xs: np.ndarray, us: np.ndarray) -> float:
        """xs (steps, B, V), us (steps, B, width) -> mean reconstruction error."""
        return float(np.mean([self.step(v, u) for v, u in zip(xs, us.astype(np.float64))]))


class Adapter(AdapterBase):
    MODES = ("step",)  # BernoulliRBM.partial_fit per batch
    # read by the plan without importing this file: a job outside them is unsupported without a process
    LIMITS = {"model.cd_k": (1,), "model.weight_decay": (0.0,),
              "train.optimizer": ("sgd",), "train.momentum": (0.0,)}
    NOTES = ("BernoulliRBM.partial_fit per batch, float64, driven by the harness noise through a RandomState "
             "subclass; its chain start is set by the adapter (PCD: h_samples_ from the first batch instead of "
             "zeros; CD-1: reset to a sample of p(h|v_data) before every step). Only cd_k=1, plain SGD "
             "(no momentum), no weight decay. The reconstruction error is computed in numpy from its weights.")

    def __init__(self, model, info, train, **kw):
        reason = unsupported_reason(model, train)
        if reason:
            raise Unsupported(reason)
        super().__init__(model, info, train, **kw)

    def build(self, weights: dict[str, np.ndarray]) -> None:
        """weights: canonical ``W`` (V, H), ``b_v`` (V,), ``b_h`` (H,)."""
        self.rbm = make_rbm(weights, self.train.lr, self.train.batch_size)
        self.trainer = CDTrainer(self.rbm, self.model)

    def get_weights(self) -> dict[str, np.ndarray]:
        return rbm_weights(self.rbm)

    def train_epoch(self, xb: np.ndarray, yb: np.ndarray) -> float:
        """xb (steps, B, V) data, yb (steps, B, 2H + V) uniform noise -> mean recon error."""
        xs = np.asarray(xb.reshape(xb.shape[0], xb.shape[1], -1), np.float64)
        return self.trainer.epoch(xs, yb)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """x (N, V) -> p(h=1|v) (N, H), BernoulliRBM.transform."""
        return self.rbm.transform(np.asarray(x.reshape(len(x), -1), np.float64))
