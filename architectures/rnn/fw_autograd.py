"""RNN in autograd: an autograd.numpy forward with a Python loop over time, autograd.value_and_grad,
the numpy optimizers of harness/frameworks/autograd.py."""
from __future__ import annotations

import autograd.numpy as anp
import numpy as np
from autograd import value_and_grad

from architectures.rnn.spec import directions
from harness.frameworks.autograd import float32_params, make_optimizer, mse, sigmoid, softmax_xent, step_epoch


def _run_direction(p: dict, prefix: str, cell: str, xs, reverse: bool):
    """xs (N, T, in) -> outputs (N, T, H) in the original time order."""
    n, steps = xs.shape[:2]
    w_hh = p[prefix + "w_hh"]
    n_h = w_hh.shape[0]
    # the input projection of every step is one GEMM outside the sequential loop
    gi = anp.matmul(xs, p[prefix + "w_ih"]) + p[prefix + ("b" if cell == "simple" else "b_ih")]
    h = np.zeros((n, n_h), np.float32)
    out = [None] * steps
    for t in (reversed(range(steps)) if reverse else range(steps)):
        g = gi[:, t]
        if cell == "simple":
            h = anp.tanh(g + anp.dot(h, w_hh))
        else:
            gh = anp.dot(h, w_hh) + p[prefix + "b_hh"]
            r = sigmoid(g[:, :n_h] + gh[:, :n_h])
            z = sigmoid(g[:, n_h:2 * n_h] + gh[:, n_h:2 * n_h])
            c = anp.tanh(g[:, 2 * n_h:] + r * gh[:, 2 * n_h:])
            h = (1 - z) * c + z * h
        out[t] = h
    return anp.stack(out, axis=1)  # autograd has no in-place writes: collect, then stack


def forward(p: dict, x, model):
    """x (N, T, F) -> (N, out); p holds the canonical names and layout."""
    hs = x
    for layer in range(model.layers):
        hs = anp.concatenate([_run_direction(p, f"rnn{layer}.{d}.", model.cell, hs, d == "bw")
                              for d in directions(model)], axis=2)
    if model.readout == "mean":
        feat = anp.mean(hs, axis=1)
    elif model.bidirectional:
        feat = anp.concatenate([hs[:, -1, :model.hidden], hs[:, 0, model.hidden:]], axis=1)
    else:
        feat = hs[:, -1]
    return anp.dot(feat, p["head.kernel"]) + p["head.bias"]


class Adapter:
    MODES = ("step",)  # numpy executes op by op: a per-step Python loop is the only way
    NOTES = ""

    def __init__(self, model, info, train, *, mode="step", device="cpu", seed=0):
        self.model, self.info, self.train, self.mode, self.device = model, info, train, mode, device
        classify = info.task == "classification"

        def loss_fn(params, x, y):
            out = forward(params, x, model)
            return softmax_xent(out, y) if classify else mse(out, y)

        self._value_and_grad = value_and_grad(loss_fn)

    def build(self, weights: dict[str, np.ndarray]) -> None:
        """weights: canonical names and layout (see spec), float32."""
        self.params = float32_params(weights)
        self.opt = make_optimizer(self.params, self.train)

    def get_weights(self) -> dict[str, np.ndarray]:
        """Canonical names -> float32 numpy copies."""
        return {k: v.copy() for k, v in self.params.items()}

    def _seq(self, x: np.ndarray) -> np.ndarray:
        """(..., T*F) -> (..., T, F) float32."""
        return np.asarray(x.reshape(*x.shape[:-1], *self.info.sequence_shape), dtype=np.float32)

    def train_epoch(self, xb: np.ndarray, yb: np.ndarray) -> float:
        """xb (steps, B, T*F), yb (steps, B) int or (steps, B, out) float -> mean loss over the steps."""
        xs = self._seq(xb)
        ys = yb if self.info.task == "classification" else np.asarray(yb, dtype=np.float32)
        return step_epoch(self._value_and_grad, self.params, self.opt, xs, ys)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """x (N, T*F) -> logits (N, classes) or predictions (N, outputs)."""
        return np.asarray(forward(self.params, self._seq(x), self.model))

    def sync(self) -> None:
        pass  # numpy is synchronous
