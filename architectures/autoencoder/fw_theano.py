"""Autoencoder in Theano (PyTensor): a symbolic graph over float32 shared variables, pytensor.grad,
and the canonical SGD/Adam step written symbolically (harness.frameworks.theano), compiled once in build.

Modes: ``step`` compiles the step as a ``pytensor.function`` with ``updates=`` and calls it per batch
(Theano's classic loop); ``epoch`` runs the same step inside one ``pytensor.scan`` over the epoch's
(corrupted input, clean target) batches, carrying the weights and optimizer state, so one call of
one compiled function trains the whole epoch.
"""
from __future__ import annotations

import numpy as np
import pytensor
import pytensor.tensor as pt

from harness.frameworks.theano import Optimizer, check_device, compile_epoch, compile_step, epoch_mean, flat32

F32 = "float32"
ACT = {"relu": lambda h: pt.maximum(h, np.float32(0)), "tanh": pt.tanh, "sigmoid": pt.sigmoid, "linear": lambda h: h}


def forward(params: dict, x, model):
    """params: canonical names -> shared variables; x symbolic (B, D) -> reconstruction (B, D)."""
    act = ACT[model.activation]
    k = len(model.encoder)
    h = x
    for i in range(k):
        h = act(pt.dot(h, params[f"enc{i}.kernel"]) + params[f"enc{i}.bias"])
    for i in reversed(range(k)):
        kernel = params[f"enc{i}.kernel"].T if model.tied else params[f"dec{i}.kernel"]
        h = pt.dot(h, kernel) + params[f"dec{i}.bias"]
        h = act(h) if i > 0 else ACT[model.output](h)
    return h


class Adapter:
    MODES = ("step", "epoch")  # step: compiled step per batch; epoch: one compiled scan per epoch
    NOTES = ""

    def __init__(self, model, info, train, *, mode="step", device="cpu", seed=0):
        check_device(device)
        self.model, self.info, self.train, self.mode, self.device = model, info, train, mode, device

    def build(self, weights: dict[str, np.ndarray]) -> None:
        """weights: canonical ``enc{i}.*``, ``dec{i}.*`` (see the spec)."""
        self.params = {k: pytensor.shared(np.array(v, dtype=np.float32), name=k) for k, v in weights.items()}
        x = pt.matrix("x", dtype=F32)
        self._predict = pytensor.function([x], forward(self.params, x, self.model))
        opt, params = Optimizer(self.train), list(self.params.values())
        if self.mode == "epoch":  # f(xs (steps, B, D) corrupted, ys (steps, B, D) clean) -> mean loss
            xs, ys = pt.tensor3("xs", dtype=F32), pt.tensor3("ys", dtype=F32)
            self._train = compile_epoch(self._loss, opt, params, xs, ys)
        else:  # f(x (B, D) corrupted, y (B, D) clean) -> loss
            y = pt.matrix("y", dtype=F32)
            self._train = compile_step(self._loss, opt, params, x, y)

    def _loss(self, params: list, x, y):
        out = forward(dict(zip(self.params, params)), x, self.model)
        return pt.mean(pt.sqr(out - y))  # mean over batch and features

    def get_weights(self) -> dict[str, np.ndarray]:
        return {k: np.asarray(v.get_value(), dtype=np.float32).copy() for k, v in self.params.items()}

    def train_epoch(self, xb: np.ndarray, yb: np.ndarray) -> float:
        """xb (steps, B, D) corrupted inputs, yb (steps, B, D) clean targets -> mean loss over the steps."""
        xs, ys = flat32(xb, lead=2), flat32(yb, lead=2)
        return epoch_mean(self._train, xs, ys, fused=self.mode == "epoch")

    def predict(self, x: np.ndarray) -> np.ndarray:
        """x (N, *input_shape) -> reconstruction (N, D)."""
        return np.asarray(self._predict(flat32(x)))

    def sync(self) -> None:
        pass  # compiled functions return numpy arrays: synchronous
