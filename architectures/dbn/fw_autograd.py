"""DBN in autograd: architectures/rbm's numpy CD trainer per layer, a softmax classifier trained by
autograd.value_and_grad with the numpy optimizers; per-step Python loops."""
from __future__ import annotations

import autograd.numpy as anp
import numpy as np
from autograd import value_and_grad

from architectures.dbn import spec
from architectures.rbm.fw_autograd import NAMES, CDTrainer
from harness.frameworks.autograd import AdapterBase, flat32, make_optimizer, sigmoid, softmax_xent, step_epoch


def xent(clf: dict, f, y):
    """Mean softmax cross-entropy of the classifier on features f (B, H), labels y (B,)."""
    return softmax_xent(anp.dot(f, clf["kernel"]) + clf["bias"], y)


class Adapter(AdapterBase):
    MODES = ("step",)  # numpy executes op by op: a per-step Python loop is the only way

    def __init__(self, model, info, train, **kw):
        super().__init__(model, info, train, **kw)
        self.widths = spec.noise_widths(model, info)
        self._xent = value_and_grad(xent)  # w.r.t. the classifier params only

    def build(self, weights: dict[str, np.ndarray]) -> None:
        """weights: canonical ``rbm{l}.W`` (V_l, H_l), ``rbm{l}.b_v``, ``rbm{l}.b_h``,
        ``clf.kernel`` (H_last, C), ``clf.bias`` (C,), float32."""
        self.rbms = [{k: np.array(v, np.float32) for k, v in spec.rbm_weights(weights, l).items()}
                     for l in range(len(self.model.hidden))]
        self.clf = {"kernel": np.array(weights["clf.kernel"], np.float32), "bias": np.array(weights["clf.bias"], np.float32)}
        # one trainer per layer and one classifier optimizer, each fresh for its own phase
        self.trainers = [CDTrainer(p, spec.rbm_model(self.model, l), self.train) for l, p in enumerate(self.rbms)]
        self.clf_opt = make_optimizer(self.train, self.clf)
        self.epoch = 0

    def get_weights(self) -> dict[str, np.ndarray]:
        out = {f"rbm{l}.{k}": p[k].copy() for l, p in enumerate(self.rbms) for k in NAMES}
        out.update({f"clf.{k}": v.copy() for k, v in self.clf.items()})
        return out

    def _up(self, x: np.ndarray, n_layers: int) -> np.ndarray:
        """Deterministic p(h|v) through the first n_layers RBMs: (N, V) -> (N, V_n)."""
        for p in self.rbms[:n_layers]:
            x = sigmoid(x @ p["W"] + p["b_h"])
        return x

    def train_epoch(self, xb: np.ndarray, yb: np.ndarray) -> float:
        """xb (steps, B, V); yb (steps, B, 1 + noise): labels in column 0, then the harness noise.
        Pretraining epochs return the mean reconstruction error, classifier epochs the mean loss."""
        steps, b = xb.shape[:2]
        x = np.asarray(xb.reshape(steps * b, -1), np.float32)
        layer = spec.phase(self.epoch, self.model)
        self.epoch += 1
        if layer is None:
            feats = self._up(x, len(self.rbms)).reshape(steps, b, -1)
            return step_epoch(self._xent, self.clf, self.clf_opt, feats, yb[..., 0].astype(np.int64))
        us = np.asarray(yb[..., 1:1 + self.widths[layer]], np.float32)
        return self.trainers[layer].epoch(self._up(x, layer).reshape(steps, b, -1), us)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """x (N, V) -> logits (N, C)."""
        f = self._up(flat32(x), len(self.rbms))
        return f @ self.clf["kernel"] + self.clf["bias"]
