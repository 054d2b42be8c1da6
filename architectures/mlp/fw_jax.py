"""MLP in JAX: a dict of jax.numpy arrays as the params pytree, jax.value_and_grad, optax, jax.jit.

Modes: ``step`` calls a jitted train step from a Python loop (JAX's usual training loop);
``epoch`` fuses the whole epoch into one jitted ``jax.lax.scan`` over the stacked batches.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from harness.frameworks.jax import GradientAdapter

ACT = {"relu": jax.nn.relu, "tanh": jnp.tanh, "sigmoid": jax.nn.sigmoid}


def forward(params: dict, x: jax.Array, n_layers: int, act) -> jax.Array:
    """x (N, features) -> logits (N, classes); params holds the canonical names and layout."""
    h = x
    for i in range(n_layers):
        h = h @ params[f"dense{i}.kernel"] + params[f"dense{i}.bias"]
        if i < n_layers - 1:
            h = act(h)
    return h


class Adapter(GradientAdapter):
    """Canonical ``dense{i}.kernel`` (in, out) and ``dense{i}.bias`` (out,) are the params pytree;
    x (N, features) -> logits (N, classes)."""

    MODES = ("step", "epoch")
    LOSS = "xent"

    def make_forward(self):
        n_layers, act = len(self.model.hidden) + 1, ACT[self.model.activation]
        return lambda params, x: forward(params, x, n_layers, act)
