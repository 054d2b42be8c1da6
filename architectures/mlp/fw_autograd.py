"""MLP in autograd: an autograd.numpy forward, autograd.value_and_grad, the numpy optimizers of
harness/frameworks/autograd.py."""
from __future__ import annotations

import autograd.numpy as anp
import numpy as np
from autograd import value_and_grad

from harness.frameworks.autograd import (
    flat32,
    float32_params,
    make_optimizer,
    relu,
    sigmoid,
    softmax_xent,
    step_epoch,
)

ACT = {"relu": relu, "tanh": anp.tanh, "sigmoid": sigmoid}


def forward(params: dict, x, n_layers: int, act):
    """x (N, features) -> logits (N, classes); params holds the canonical names and layout."""
    h = x
    for i in range(n_layers):
        h = anp.dot(h, params[f"dense{i}.kernel"]) + params[f"dense{i}.bias"]
        if i < n_layers - 1:
            h = act(h)
    return h


class Adapter:
    MODES = ("step",)  # numpy executes op by op: a per-step Python loop is the only way
    NOTES = ""

    def __init__(self, model, info, train, *, mode="step", device="cpu", seed=0):
        self.model, self.info, self.train, self.mode, self.device = model, info, train, mode, device
        n_layers, act = len(model.hidden) + 1, ACT[model.activation]

        def loss_fn(params, x, y):
            return softmax_xent(forward(params, x, n_layers, act), y)

        self._forward = lambda params, x: forward(params, x, n_layers, act)
        self._value_and_grad = value_and_grad(loss_fn)

    def build(self, weights: dict[str, np.ndarray]) -> None:
        """weights: canonical ``dense{i}.kernel`` (in, out) and ``dense{i}.bias`` (out,), float32."""
        self.params = float32_params(weights)
        self.opt = make_optimizer(self.params, self.train)

    def get_weights(self) -> dict[str, np.ndarray]:
        """Canonical names -> float32 numpy copies."""
        return {k: v.copy() for k, v in self.params.items()}

    def train_epoch(self, xb: np.ndarray, yb: np.ndarray) -> float:
        """xb (steps, B, features), yb (steps, B) int -> mean loss over the steps."""
        xs = flat32(xb, 2)
        return step_epoch(self._value_and_grad, self.params, self.opt, xs, yb)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """x (N, features) -> logits (N, classes)."""
        return np.asarray(self._forward(self.params, flat32(x)))

    def sync(self) -> None:
        pass  # numpy is synchronous
