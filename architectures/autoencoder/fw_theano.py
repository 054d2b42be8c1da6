"""Autoencoder in Theano (PyTensor): a symbolic graph over float32 shared variables, pytensor.grad,
and one pytensor.function whose ``updates=`` apply the canonical SGD/Adam step, compiled once."""
from __future__ import annotations

import numpy as np
import pytensor
import pytensor.tensor as pt

from architectures._shared import Unsupported
from harness.frameworks.theano import device_available

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


def optimizer_updates(params: dict, grads: dict, train) -> list:
    """harness/optim.py's SGD-momentum and Adam as (shared, new value) pairs; slots are shared too."""
    f = np.float32
    t = pytensor.shared(np.float64(0.0), name="t")  # float64: exact bias corrections
    t1 = t + 1.0
    updates = [(t, t1)]
    if train.optimizer == "adam":
        bc1 = pt.cast(1.0 - train.beta1 ** t1, F32)
        bc2 = pt.cast(1.0 - train.beta2 ** t1, F32)
    for k, w in params.items():
        g = grads[k]
        v = pytensor.shared(np.zeros_like(w.get_value()), name=f"{k}.v")
        if train.optimizer == "sgd":
            v1 = f(train.momentum) * v + g
            updates += [(v, v1), (w, w - f(train.lr) * v1)]
        else:
            m = pytensor.shared(np.zeros_like(w.get_value()), name=f"{k}.m")
            m1 = f(train.beta1) * m + f(1 - train.beta1) * g
            v1 = f(train.beta2) * v + f(1 - train.beta2) * g * g
            step = f(train.lr) * (m1 / bc1) / (pt.sqrt(v1 / bc2) + f(train.eps))
            updates += [(m, m1), (v, v1), (w, w - step)]
    return updates


class Adapter:
    MODES = ("step",)  # one call of the compiled update function per batch
    NOTES = ""

    def __init__(self, model, info, train, *, mode="step", device="cpu", seed=0):
        reason = device_available(device)
        if reason:
            raise Unsupported(reason)
        self.model, self.info, self.train, self.mode, self.device = model, info, train, mode, device

    def build(self, weights: dict[str, np.ndarray]) -> None:
        """weights: canonical ``enc{i}.*``, ``dec{i}.*`` (see the spec)."""
        self.params = {k: pytensor.shared(np.array(v, dtype=np.float32), name=k) for k, v in weights.items()}
        x = pt.matrix("x", dtype=F32)
        y = pt.matrix("y", dtype=F32)
        out = forward(self.params, x, self.model)
        loss = pt.mean(pt.sqr(out - y))  # mean over batch and features
        names = list(self.params)
        grads = dict(zip(names, pytensor.grad(loss, [self.params[k] for k in names])))
        self._step = pytensor.function([x, y], loss, updates=optimizer_updates(self.params, grads, self.train))
        self._predict = pytensor.function([x], out)

    def get_weights(self) -> dict[str, np.ndarray]:
        return {k: np.asarray(v.get_value(), dtype=np.float32).copy() for k, v in self.params.items()}

    def train_epoch(self, xb: np.ndarray, yb: np.ndarray) -> float:
        """xb (steps, B, D) corrupted inputs, yb (steps, B, D) clean targets -> mean loss over the steps."""
        xb = np.asarray(xb, np.float32)
        yb = np.asarray(yb, np.float32)
        total = 0.0
        for x, y in zip(xb, yb):
            total += float(self._step(x, y))
        return total / len(xb)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """x (N, *input_shape) -> reconstruction (N, D)."""
        return np.asarray(self._predict(np.asarray(x, np.float32).reshape(len(x), -1)))

    def sync(self) -> None:
        pass  # compiled functions return numpy arrays: synchronous
