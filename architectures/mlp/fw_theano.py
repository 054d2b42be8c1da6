"""MLP in Theano, through PyTensor: float32 shared variables and symbolic graphs compiled once.

The train step is one pure symbolic function of (weights, optimizer state, batch). Mode ``step``
compiles it as a ``pytensor.function`` with ``updates=`` and calls it per batch (Theano's classic
loop); mode ``epoch`` runs it inside a ``pytensor.scan`` over the epoch's batches, carrying the
weights and optimizer state, so one call trains the whole epoch.
Every constant is a numpy float32: PyTensor turns a Python float into float64 and would upcast.
"""
from __future__ import annotations

import numpy as np
import pytensor
import pytensor.tensor as pt
from pytensor.gradient import zero_grad

import harness.frameworks.theano  # noqa: F401  (pins PyTensor's C backend, mode CVM, for every adapter)

F32 = np.float32
# Theano's own backend: C thunks run by the C VM (Theano's FAST_RUN). PyTensor 3 defaults to its
# Numba backend instead, which JIT-compiles on the first call (inside the first timed epoch).
PT_MODE = "CVM"

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


def log_softmax(z):
    """Row-wise log-softmax from elementwise ops and reductions, all C-implemented. PyTensor 3's own
    LogSoftmax is an OpFromGraph that the C VM runs through Python with an inner Numba function."""
    z = z - zero_grad(z.max(axis=-1, keepdims=True))  # the shift cancels: no gradient through it
    return z - pt.log(pt.exp(z).sum(axis=-1, keepdims=True))


def xent(logits, y):
    """Mean softmax cross-entropy of int labels y (N,)."""
    return -log_softmax(logits)[pt.arange(y.shape[0]), y].mean()


class Optimizer:
    """harness/optim.py as symbolic updates. State: sgd [velocities]; adam [m..., v..., t]."""

    def __init__(self, train):
        self.train = train

    def init_state(self, weights: list[np.ndarray]) -> list[np.ndarray]:
        zeros = [np.zeros_like(w) for w in weights]
        if self.train.optimizer == "sgd":
            return zeros
        return [*zeros, *[np.zeros_like(w) for w in weights], np.int64(0)]

    def update(self, params: list, grads: list, state: list) -> tuple[list, list]:
        """Symbolic (new params, new state) from symbolic params, grads and state."""
        if self.train.optimizer == "sgd":
            return self._sgd(params, grads, state)
        return self._adam(params, grads, state)

    def _sgd(self, params, grads, vel):
        lr, mom = F32(self.train.lr), F32(self.train.momentum)
        new_vel = [mom * v + g for v, g in zip(vel, grads)]
        return [w - lr * v for w, v in zip(params, new_vel)], new_vel

    def _adam(self, params, grads, state):
        tr, n = self.train, len(params)
        ms, vs, t = state[:n], state[n:2 * n], state[-1] + 1
        b1, b2 = F32(tr.beta1), F32(tr.beta2)
        # bias corrections in float64, like the reference, then float32 for the update
        c1 = pt.cast(1 - np.float64(tr.beta1) ** t, "float32")
        c2 = pt.cast(1 - np.float64(tr.beta2) ** t, "float32")
        new_m = [b1 * m + (F32(1) - b1) * g for m, g in zip(ms, grads)]
        new_v = [b2 * v + (F32(1) - b2) * g * g for v, g in zip(vs, grads)]
        new_w = [w - F32(tr.lr) * (m / c1) / (pt.sqrt(v / c2) + F32(tr.eps))
                 for w, m, v in zip(params, new_m, new_v)]
        return new_w, [*new_m, *new_v, t]


def train_step(params: list, state: list, x, y, opt: Optimizer, activation: str) -> tuple:
    """Symbolic one optimizer step: (loss, new params, new state)."""
    loss = xent(forward(params, x, activation), y)
    new_params, new_state = opt.update(params, pytensor.grad(loss, params), state)
    return loss, new_params, new_state


class Adapter:
    MODES = ("step", "epoch")  # step: compiled step per batch; epoch: one compiled scan per epoch
    NOTES = ""

    def __init__(self, model, info, train, *, mode="step", device="cpu", seed=0):
        self.model, self.info, self.train, self.mode, self.device = model, info, train, mode, device
        self.opt = Optimizer(train)

    def build(self, weights: dict[str, np.ndarray]) -> None:
        """weights: canonical ``dense{i}.kernel`` (in, out) and ``dense{i}.bias`` (out,)."""
        self.names = [f"dense{i}.{p}" for i in range(len(self.model.hidden) + 1) for p in ("kernel", "bias")]
        w = [np.asarray(weights[k], np.float32) for k in self.names]
        self.params = [pytensor.shared(a.copy(), name=k) for k, a in zip(self.names, w)]
        self.state = [pytensor.shared(s) for s in self.opt.init_state(w)]
        x = pt.matrix("x", dtype="float32")
        self._predict = pytensor.function([x], forward(self.params, x, self.model.activation), mode=PT_MODE)
        self._train = self._compile_epoch() if self.mode == "epoch" else self._compile_step()

    def _compile_step(self) -> pytensor.compile.Function:
        """f(x (B, features), y (B,)) -> loss; updates weights and state in place."""
        x, y = pt.matrix("x", dtype="float32"), pt.vector("y", dtype="int64")
        loss, new_p, new_s = train_step(self.params, self.state, x, y, self.opt, self.model.activation)
        updates = list(zip(self.params + self.state, new_p + new_s))
        return pytensor.function([x, y], loss, updates=updates, mode=PT_MODE)

    def _compile_epoch(self) -> pytensor.compile.Function:
        """f(xs (steps, B, features), ys (steps, B)) -> mean loss, scanning over the steps."""
        xs, ys = pt.tensor3("xs", dtype="float32"), pt.matrix("ys", dtype="int64")
        n_p = len(self.params)

        def body(x, y, *carry):
            loss, new_p, new_s = train_step(list(carry[:n_p]), list(carry[n_p:]), x, y, self.opt,
                                            self.model.activation)
            return [*new_p, *new_s, loss]

        shared = self.params + self.state
        outs = pytensor.scan(body, sequences=[xs, ys], outputs_info=[*shared, None], return_updates=False)
        updates = [(s, o[-1]) for s, o in zip(shared, outs[:-1])]  # keep only the last step's values
        return pytensor.function([xs, ys], outs[-1].mean(), updates=updates, mode=PT_MODE)

    def get_weights(self) -> dict[str, np.ndarray]:
        """Canonical float32 copies: ``dense{i}.kernel`` (in, out), ``dense{i}.bias`` (out,)."""
        return {k: np.array(p.get_value(), dtype=np.float32) for k, p in zip(self.names, self.params)}

    def train_epoch(self, xb: np.ndarray, yb: np.ndarray) -> float:
        """xb (steps, B, features), yb (steps, B) int -> mean loss over the steps."""
        xs = np.ascontiguousarray(xb.reshape(xb.shape[0], xb.shape[1], -1), dtype=np.float32)
        ys = np.ascontiguousarray(yb, dtype=np.int64)
        if self.mode == "epoch":
            return float(self._train(xs, ys))
        return float(np.mean([self._train(x, y) for x, y in zip(xs, ys)]))

    def predict(self, x: np.ndarray) -> np.ndarray:
        """x (N, features) -> logits (N, classes)."""
        return self._predict(np.ascontiguousarray(x.reshape(len(x), -1), dtype=np.float32))

    def sync(self) -> None:
        """Compiled PyTensor functions return numpy arrays: nothing is ever queued."""
