"""DBN in PyTorch: architectures/rbm's RBM modules and CD trainer per layer, an nn.Linear softmax
classifier trained by autograd on the no_grad up-pass; eager per-step loops."""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from architectures.dbn import spec
from architectures.rbm.fw_torch import RBM, CDTrainer, make_optimizer
from harness.frameworks.torch import sync as _sync
from harness.frameworks.torch import torch_device


class Adapter:
    MODES = ("step",)  # eager per-step loop, PyTorch's standard way
    NOTES = ""

    def __init__(self, model, info, train, *, mode="step", device="cpu", seed=0):
        self.model, self.info, self.train, self.mode, self.device = model, info, train, mode, device
        self.dev = torch_device(device)
        self.widths = spec.noise_widths(model, info)

    def build(self, weights: dict[str, np.ndarray]) -> None:
        """weights: canonical ``rbm{l}.W`` (V_l, H_l), ``rbm{l}.b_v``, ``rbm{l}.b_h``,
        ``clf.kernel`` (H_last, C), ``clf.bias`` (C,)."""
        self.rbms = [RBM(**spec.rbm_weights(weights, l)).to(self.dev) for l in range(len(self.model.hidden))]
        k = weights["clf.kernel"]
        self.clf = nn.Linear(*k.shape)
        with torch.no_grad():
            self.clf.weight.copy_(torch.from_numpy(np.ascontiguousarray(k.T)))  # torch stores (out, in)
            self.clf.bias.copy_(torch.from_numpy(weights["clf.bias"]))
        self.clf.to(self.dev)
        # one trainer per layer and one classifier optimizer, each fresh for its own phase
        self.trainers = [CDTrainer(rbm, spec.rbm_model(self.model, l), self.train) for l, rbm in enumerate(self.rbms)]
        self.clf_opt = make_optimizer([{"params": list(self.clf.parameters())}], self.train)
        self.loss_fn = nn.CrossEntropyLoss()
        self.epoch = 0

    def get_weights(self) -> dict[str, np.ndarray]:
        out = {f"rbm{l}.{k}": a for l, rbm in enumerate(self.rbms) for k, a in rbm.weights().items()}
        out["clf.kernel"] = self.clf.weight.detach().cpu().numpy().T.astype(np.float32).copy()
        out["clf.bias"] = self.clf.bias.detach().cpu().numpy().astype(np.float32).copy()
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
        x = torch.from_numpy(np.ascontiguousarray(xb.reshape(steps * b, -1))).to(self.dev)
        layer = spec.phase(self.epoch, self.model)
        self.epoch += 1
        if layer is None:
            y = torch.from_numpy(yb[..., 0].astype(np.int64)).to(self.dev)
            return self._classifier_epoch(self._up(x, len(self.rbms)).reshape(steps, b, -1), y)
        us = torch.from_numpy(np.ascontiguousarray(yb[..., 1:1 + self.widths[layer]])).to(self.dev)
        return self.trainers[layer].epoch(self._up(x, layer).reshape(steps, b, -1), us)

    def _classifier_epoch(self, feats: torch.Tensor, y: torch.Tensor) -> float:
        total = torch.zeros((), device=self.dev)
        for i in range(feats.shape[0]):
            self.clf_opt.zero_grad(set_to_none=True)
            loss = self.loss_fn(self.clf(feats[i]), y[i])
            loss.backward()
            self.clf_opt.step()
            total += loss.detach()  # accumulate on device: no per-step host sync
        return float(total.item() / feats.shape[0])

    @torch.no_grad()
    def predict(self, x: np.ndarray) -> np.ndarray:
        """x (N, V) -> logits (N, C)."""
        t = torch.from_numpy(np.ascontiguousarray(x.reshape(len(x), -1), dtype=np.float32)).to(self.dev)
        return self.clf(self._up(t, len(self.rbms))).cpu().numpy()

    def sync(self) -> None:
        _sync(self.device)
