"""MLP in Theano, through PyTensor: float32 shared variables and symbolic graphs compiled once.

The train step is one pure symbolic function of (weights, optimizer state, batch). Mode ``step``
compiles it as a ``pytensor.function`` with ``updates=`` and calls it per batch (Theano's classic
loop); mode ``epoch`` runs it inside a ``pytensor.scan`` over the epoch's batches, carrying the
weights and optimizer state, so one call trains the whole epoch (both from harness/frameworks/theano.py).
Every constant is a numpy float32: PyTensor turns a Python float into float64 and would upcast.
"""
from __future__ import annotations

import numpy as np
import pytensor
import pytensor.tensor as pt

from harness.frameworks.theano import (
    MODE,
    Optimizer,
    check_device,
    compile_epoch,
    compile_step,
    epoch_mean,
    flat32,
    xent,
)

F32 = np.float32

# relu as a switch: its gradient at exactly 0 is 0, as in torch/TF/JAX (pt.maximum's is 1). Exact
# zeros happen: a zero-initialised bias under an all-dead previous layer.
ACT = {"relu": lambda z: pt.switch(z > 0, z, F32(0)), "tanh": pt.tanh, "sigmoid": pt.sigmoid}


def forward(params: list, x, activation: str):
    """params: [kernel0, bias0, kernel1, ...] symbolic; x (N, features) -> logits (N, classes)."""
    n_layers = len(params) // 2
    h = x
    for i in range(n_layers):
        h = pt.dot(h, params[2 * i]) + params[2 * i + 1]
        if i < n_layers - 1:
            h = ACT[activation](h)
    return h


class Adapter:
    MODES = ("step", "epoch")  # step: compiled step per batch; epoch: one compiled scan per epoch
    NOTES = ""

    def __init__(self, model, info, train, *, mode="step", device="cpu", seed=0):
        check_device(device)
        self.model, self.info, self.train, self.mode, self.device = model, info, train, mode, device
        self.opt = Optimizer(train)

    def build(self, weights: dict[str, np.ndarray]) -> None:
        """weights: canonical ``dense{i}.kernel`` (in, out) and ``dense{i}.bias`` (out,)."""
        self.names = [f"dense{i}.{p}" for i in range(len(self.model.hidden) + 1) for p in ("kernel", "bias")]
        self.params = [pytensor.shared(np.array(weights[k], np.float32), name=k) for k in self.names]
        x = pt.matrix("x", dtype="float32")
        self._predict = pytensor.function([x], forward(self.params, x, self.model.activation), mode=MODE)
        if self.mode == "epoch":  # f(xs (steps, B, features), ys (steps, B)) -> mean loss
            xs, ys = pt.tensor3("xs", dtype="float32"), pt.matrix("ys", dtype="int64")
            self._train = compile_epoch(self._loss, self.opt, self.params, xs, ys)
        else:  # f(x (B, features), y (B,)) -> loss
            x, y = pt.matrix("x", dtype="float32"), pt.vector("y", dtype="int64")
            self._train = compile_step(self._loss, self.opt, self.params, x, y)

    def _loss(self, params: list, x, y):
        return xent(forward(params, x, self.model.activation), y)

    def get_weights(self) -> dict[str, np.ndarray]:
        """Canonical float32 copies: ``dense{i}.kernel`` (in, out), ``dense{i}.bias`` (out,)."""
        return {k: np.array(p.get_value(), dtype=np.float32) for k, p in zip(self.names, self.params)}

    def train_epoch(self, xb: np.ndarray, yb: np.ndarray) -> float:
        """xb (steps, B, features), yb (steps, B) int -> mean loss over the steps."""
        xs, ys = flat32(xb, lead=2), np.ascontiguousarray(yb, dtype=np.int64)
        return epoch_mean(self._train, xs, ys, fused=self.mode == "epoch")

    def predict(self, x: np.ndarray) -> np.ndarray:
        """x (N, features) -> logits (N, classes)."""
        return self._predict(flat32(x))

    def sync(self) -> None:
        """Compiled PyTensor functions return numpy arrays: nothing is ever queued."""
