"""Autoencoder in autograd: autograd.numpy forward, autograd.grad, the optimizer written in numpy."""
from __future__ import annotations

import autograd.numpy as anp
import numpy as np
from autograd import value_and_grad

from architectures._shared import Unsupported
from harness.frameworks.autograd import device_available

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


class Optimizer:
    """harness/optim.py's SGD-momentum and Adam, in float32 numpy, updating params in place."""

    def __init__(self, params: dict[str, np.ndarray], train):
        self.train, self.t = train, 0
        self.v = {k: np.zeros_like(v) for k, v in params.items()}  # SGD velocity / Adam second moment
        self.m = {k: np.zeros_like(v) for k, v in params.items()} if train.optimizer == "adam" else {}

    def step(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray]) -> None:
        tr = self.train
        self.t += 1
        for k, w in params.items():
            g = np.asarray(grads[k], np.float32)
            if tr.optimizer == "sgd":
                self.v[k] = np.float32(tr.momentum) * self.v[k] + g
                w -= np.float32(tr.lr) * self.v[k]
            else:
                self.m[k] = np.float32(tr.beta1) * self.m[k] + np.float32(1 - tr.beta1) * g
                self.v[k] = np.float32(tr.beta2) * self.v[k] + np.float32(1 - tr.beta2) * g * g
                mhat = self.m[k] / np.float32(1 - tr.beta1 ** self.t)
                vhat = self.v[k] / np.float32(1 - tr.beta2 ** self.t)
                w -= np.float32(tr.lr) * mhat / (np.sqrt(vhat) + np.float32(tr.eps))


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
        self.params = {k: np.array(v, dtype=np.float32) for k, v in weights.items()}
        self.opt = Optimizer(self.params, self.train)

        def loss_fn(params, x, y):
            d = forward(params, x, model) - y
            return anp.mean(d * d)  # mean over batch and features

        self._value_and_grad = value_and_grad(loss_fn)

    def get_weights(self) -> dict[str, np.ndarray]:
        return {k: v.astype(np.float32).copy() for k, v in self.params.items()}

    def train_epoch(self, xb: np.ndarray, yb: np.ndarray) -> float:
        """xb (steps, B, D) corrupted inputs, yb (steps, B, D) clean targets -> mean loss over the steps."""
        total = 0.0
        for x, y in zip(xb, yb):
            loss, grads = self._value_and_grad(self.params, x, y)
            self.opt.step(self.params, grads)
            total += float(loss)
        return total / len(xb)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """x (N, *input_shape) -> reconstruction (N, D)."""
        return np.asarray(forward(self.params, np.asarray(x, np.float32).reshape(len(x), -1), self.model), np.float32)

    def sync(self) -> None:
        pass  # numpy is synchronous
