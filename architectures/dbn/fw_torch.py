"""DBN in PyTorch: architectures/rbm's RBM modules and CD trainer per layer, an nn.Linear softmax
classifier trained by autograd on the no_grad up-pass; eager (op-by-op) per-step loops."""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from architectures.dbn import spec
from architectures.rbm.fw_torch import RBM, CDTrainer
from harness.frameworks.torch import (
    AdapterBase,
    as_tensor,
    fit_epoch,
    linear,
    linear_weights,
    make_optimizer,
    make_step,
)


class Adapter(AdapterBase):
    MODES = ("eager",)  # eager: op-by-op per-step loops, PyTorch's standard way
    ALIASES = {"step": "eager"}  # a request for the per-step loop runs PyTorch's eager one
    LOSS = "xent"  # the classifier's

    def __init__(self, model, info, train, **kw):
        super().__init__(model, info, train, **kw)
        self.widths = spec.noise_widths(model, info)

    def build(self, weights: dict[str, np.ndarray]) -> None:
        """weights: canonical ``rbm{l}.W`` (V_l, H_l), ``rbm{l}.b_v``, ``rbm{l}.b_h``,
        ``clf.kernel`` (H_last, C), ``clf.bias`` (C,)."""
        self.rbms = [RBM(**spec.rbm_weights(weights, l)).to(self.dev) for l in range(len(self.model.hidden))]
        self.clf = linear(weights["clf.kernel"], weights["clf.bias"]).to(self.dev)
        # one trainer per layer and one classifier optimizer, each fresh for its own phase
        self.trainers = [CDTrainer(rbm, spec.rbm_model(self.model, l), self.train) for l, rbm in enumerate(self.rbms)]
        self.clf_opt = make_optimizer(self.train, [{"params": list(self.clf.parameters())}])
        self.clf_step = make_step(self.clf, self.clf_opt, nn.CrossEntropyLoss(), self.mode)
        self.epoch = 0

    def get_weights(self) -> dict[str, np.ndarray]:
        out = {f"rbm{l}.{k}": a for l, rbm in enumerate(self.rbms) for k, a in rbm.weights().items()}
        out.update(linear_weights(self.clf, "clf"))
        return out

    @torch.no_grad()
    def _up(self, x: torch.Tensor, n_layers: int) -> torch.Tensor:
        """Deterministic p(h|v) through the first n_layers RBMs: (N, V) -> (N, V_n)."""
        for rbm in self.rbms[:n_layers]:
            x = rbm.hidden_probs(x)
        return x

    def train_epoch(self, xb: np.ndarray, yb: np.ndarray) -> float:
        """xb (steps, B, V); yb (steps, B, 1 + noise): labels in column 0, then the harness noise.
        Pretraining epochs return the mean reconstruction error, classifier epochs the mean loss."""
        steps, b = xb.shape[:2]
        x = self.inputs(xb.reshape(steps * b, -1))
        layer = spec.phase(self.epoch, self.model)
        self.epoch += 1
        if layer is None:
            y = self.targets(yb[..., 0])
            feats = self._up(x, len(self.rbms)).reshape(steps, b, -1)
            return fit_epoch(self.clf, self.clf_step, feats, y)
        us = as_tensor(yb[..., 1:1 + self.widths[layer]], self.dev)
        return self.trainers[layer].epoch(self._up(x, layer).reshape(steps, b, -1), us)

    @torch.no_grad()
    def predict(self, x: np.ndarray) -> np.ndarray:
        """x (N, V) -> logits (N, C)."""
        return self.clf(self._up(self.inputs(x), len(self.rbms))).cpu().numpy()
