"""RNN in JAX: jax.numpy cells, lax.scan over time, jax.value_and_grad, optax, jax.jit.

Modes: ``step`` calls a jitted train step from a Python loop (JAX's usual training loop);
``epoch`` fuses the whole epoch into one jitted ``jax.lax.scan`` over the stacked batches.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from architectures.rnn.spec import directions
from harness.frameworks.jax import GradientAdapter


def _run_direction(p: dict, prefix: str, cell: str, xs: jax.Array, reverse: bool) -> jax.Array:
    """xs (T, N, in) -> outputs (T, N, H); scan(reverse=True) keeps ys in the original order."""
    w_hh = p[prefix + "w_hh"]
    n_h = w_hh.shape[0]
    # the input projection of every step is one GEMM outside the sequential loop
    gi = xs @ p[prefix + "w_ih"] + p[prefix + ("b" if cell == "simple" else "b_ih")]

    def simple(h, g):
        h = jnp.tanh(g + h @ w_hh)
        return h, h

    def gru(h, g):
        gh = h @ w_hh + p[prefix + "b_hh"]
        r = jax.nn.sigmoid(g[:, :n_h] + gh[:, :n_h])
        z = jax.nn.sigmoid(g[:, n_h:2 * n_h] + gh[:, n_h:2 * n_h])
        n = jnp.tanh(g[:, 2 * n_h:] + r * gh[:, 2 * n_h:])
        h = (1 - z) * n + z * h
        return h, h

    h0 = jnp.zeros((xs.shape[1], n_h), xs.dtype)
    _, out = jax.lax.scan(simple if cell == "simple" else gru, h0, gi, reverse=reverse)
    return out


def make_forward(model):
    """Returns f(params, x (N, T, F)) -> (N, out)."""

    def forward(p: dict, x: jax.Array) -> jax.Array:
        hs = jnp.swapaxes(x, 0, 1)  # time-major for the scan
        for layer in range(model.layers):
            hs = jnp.concatenate([_run_direction(p, f"rnn{layer}.{d}.", model.cell, hs, d == "bw")
                                  for d in directions(model)], axis=-1)
        if model.readout == "mean":
            feat = hs.mean(axis=0)
        elif model.bidirectional:
            feat = jnp.concatenate([hs[-1, :, :model.hidden], hs[0, :, model.hidden:]], axis=-1)
        else:
            feat = hs[-1]
        return feat @ p["head.kernel"] + p["head.bias"]

    return forward


class Adapter(GradientAdapter):
    """The canonical dict (``rnn{l}.{d}.*``, ``head.*``) is the params pytree; x (N, T*F) -> logits
    (N, classes) or predictions (N, outputs), by the dataset's task."""

    SEQUENCE = True
    MODES = ("step", "epoch")  # step: jitted step per batch from Python; epoch: one jitted lax.scan

    def make_forward(self):
        return make_forward(self.model)
