"""LSTM in JAX: a jax.numpy cell run by lax.scan over time, jax.value_and_grad, optax, jax.jit.

Modes: ``step`` calls a jitted train step from a Python loop (JAX's usual training loop);
``epoch`` fuses the whole epoch into one jitted ``jax.lax.scan`` over the stacked batches.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from harness.frameworks.jax import (
    AdapterBase,
    batch_loss,
    block,
    host_tree,
    init_state,
    optax_epoch,
    optax_fns,
    optax_optimizer,
    put_rows,
    put_tree,
    to_device,
)


def _direction(params: dict, prefix: str, x: jax.Array, reverse: bool) -> jax.Array:
    """x (T, N, in) time-major -> outputs (T, N, H), each stored at its input step."""
    w_ih, w_hh, b = params[f"{prefix}.w_ih"], params[f"{prefix}.w_hh"], params[f"{prefix}.b"]
    hid = w_hh.shape[0]
    xw = x @ w_ih + b  # the input projection of every step at once: one GEMM outside the scan

    def cell(carry, xw_t):
        h, c = carry
        i, f, g, o = jnp.split(xw_t + h @ w_hh, 4, axis=-1)
        c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
        h = jax.nn.sigmoid(o) * jnp.tanh(c)
        return (h, c), h

    zeros = jnp.zeros((x.shape[1], hid), x.dtype)
    _, out = jax.lax.scan(cell, (zeros, zeros), xw, reverse=reverse)  # reverse keeps outputs aligned
    return out


def make_forward(model, steps: int, features: int):
    dirs = ("fw", "bw") if model.bidirectional else ("fw",)

    def forward(params: dict, x: jax.Array) -> jax.Array:
        """x (N, T*features) -> (N, out)."""
        seq = jnp.swapaxes(x.reshape(x.shape[0], steps, features), 0, 1)  # (T, N, F)
        for l in range(model.layers):
            seq = jnp.concatenate([_direction(params, f"lstm{l}.{d}", seq, d == "bw") for d in dirs], axis=-1)
        if model.readout == "mean":
            feat = seq.mean(axis=0)
        elif model.bidirectional:
            feat = jnp.concatenate([seq[-1, :, :model.hidden], seq[0, :, model.hidden:]], axis=-1)
        else:
            feat = seq[-1]
        return feat @ params["head.kernel"] + params["head.bias"]

    return forward


class Adapter(AdapterBase):
    MODES = ("step", "epoch")
    NOTES = ""

    def __init__(self, model, info, train, **kw):
        super().__init__(model, info, train, **kw)
        self.regression = regression = info.task == "regression"
        forward = make_forward(model, *info.sequence_shape)
        self.tx = optax_optimizer(train)
        self._forward = jax.jit(forward)
        self._fns = optax_fns(lambda params, x, y: batch_loss(forward(params, x), y, not regression), self.tx)

    def build(self, weights: dict[str, np.ndarray]) -> None:
        """weights: the canonical dict (names/shapes of spec.weight_shapes) is the params pytree."""
        self.params = put_tree(weights, self.dev)
        self.opt_state = init_state(self.tx, self.params, self.dev)

    def get_weights(self) -> dict[str, np.ndarray]:
        """Canonical names -> float32 numpy copies."""
        return host_tree(self.params)

    def train_epoch(self, xb: np.ndarray, yb: np.ndarray) -> float:
        """xb (steps, B, T*features); yb (steps, B) int labels or (steps, B, out) float targets."""
        xs = to_device(np.asarray(xb, np.float32), self.dev)
        ys = to_device(yb.astype(np.float32 if self.regression else np.int32), self.dev)
        self.params, self.opt_state, loss = optax_epoch(self._fns, self.params, self.opt_state, xs, ys, self.dev,
                                                        fused=self.mode == "epoch")
        return loss

    def predict(self, x: np.ndarray) -> np.ndarray:
        """x (N, T*features) -> logits (N, classes) or predictions (N, n_outputs)."""
        return np.asarray(self._forward(self.params, put_rows(x, self.dev)))

    def sync(self) -> None:
        block(self.params)  # every leaf comes out of the epoch's last jitted call
