"""Autoencoder in autograd: autograd.numpy forward, autograd.grad, the numpy optimizers of
harness/frameworks/autograd.py."""
from __future__ import annotations

import autograd.numpy as anp
import numpy as np
from autograd import value_and_grad

from architectures._shared import Unsupported
from harness.frameworks.autograd import device_available, flat32, float32_params, make_optimizer, step_epoch

ACT = {"relu": lambda h: anp.maximum(h, 0.0), "tanh": anp.tanh,
       "sigmoid": lambda h: 1.0 / (1.0 + anp.exp(-h)), "linear": lambda h: h}


def forward(params: dict[str, np.ndarray], x: np.ndarray, model) -> np.ndarray:
    """params: canonical names -> arrays; x (B, D) -> reconstruction (B, D)."""
    act = ACT[model.activation]
    k = len(model.encoder)
    h = x
    for i in range(k):
        h = act(anp.dot(h, params[f"enc{i}.kernel"]) + params[f"enc{i}.bias"])
    for i in reversed(range(k)):
        kernel = anp.transpose(params[f"enc{i}.kernel"]) if model.tied else params[f"dec{i}.kernel"]
        h = anp.dot(h, kernel) + params[f"dec{i}.bias"]
        h = act(h) if i > 0 else ACT[model.output](h)
    return h


class Adapter:
    MODES = ("step",)  # autograd traces every call: one gradient evaluation per batch
    NOTES = ""

    def __init__(self, model, info, train, *, mode="step", device="cpu", seed=0):
        reason = device_available(device)
        if reason:
            raise Unsupported(reason)
        self.model, self.info, self.train, self.mode, self.device = model, info, train, mode, device

    def build(self, weights: dict[str, np.ndarray]) -> None:
        """weights: canonical ``enc{i}.*``, ``dec{i}.*`` (see the spec)."""
        model = self.model
        self.params = float32_params(weights)
        self.opt = make_optimizer(self.params, self.train)

        def loss_fn(params, x, y):
            d = forward(params, x, model) - y
            return anp.mean(d * d)  # mean over batch and features

        self._value_and_grad = value_and_grad(loss_fn)

    def get_weights(self) -> dict[str, np.ndarray]:
        return {k: v.astype(np.float32).copy() for k, v in self.params.items()}

    def train_epoch(self, xb: np.ndarray, yb: np.ndarray) -> float:
        """xb (steps, B, D) corrupted inputs, yb (steps, B, D) clean targets -> mean loss over the steps."""
        return step_epoch(self._value_and_grad, self.params, self.opt, xb, yb)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """x (N, *input_shape) -> reconstruction (N, D)."""
        return np.asarray(forward(self.params, flat32(x), self.model), np.float32)

    def sync(self) -> None:
        pass  # numpy is synchronous
