"""LSTM in JAX: a jax.numpy cell run by lax.scan over time, jax.value_and_grad, optax, jax.jit.

Modes: ``step`` calls a jitted train step from a Python loop (JAX's usual training loop);
``epoch`` fuses the whole epoch into one jitted ``jax.lax.scan`` over the stacked batches.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from harness.frameworks.jax import GradientAdapter


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


class Adapter(GradientAdapter):
    """The canonical dict (``lstm{l}.{d}.*``, ``head.*``) is the params pytree; x (N, T*features) ->
    logits (N, classes) or predictions (N, n_outputs), by the dataset's task."""

    MODES = ("step", "epoch")

    def make_forward(self):
        return make_forward(self.model, *self.info.sequence_shape)
