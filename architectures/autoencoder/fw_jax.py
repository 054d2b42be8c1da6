"""Autoencoder in JAX: a pytree of jnp arrays, jax.value_and_grad of the mean squared error, optax, jax.jit.

Modes: ``step`` calls a jitted train step from a Python loop (JAX's usual training loop);
``epoch`` fuses the whole epoch into one jitted ``jax.lax.scan`` over the stacked batches. Both are
harness.frameworks.jax's ``optax_fns``: the (corrupted input, clean target) batches are its (x, y).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from harness.frameworks.jax import GradientAdapter

ACT = {"relu": jax.nn.relu, "tanh": jnp.tanh, "sigmoid": jax.nn.sigmoid, "linear": lambda h: h}


def forward(params: dict[str, jax.Array], x: jax.Array, model) -> jax.Array:
    """params: canonical names -> arrays; x (B, D) -> reconstruction (B, D)."""
    act = ACT[model.activation]
    k = len(model.encoder)
    h = x
    for i in range(k):
        h = act(h @ params[f"enc{i}.kernel"] + params[f"enc{i}.bias"])
    for i in reversed(range(k)):
        kernel = params[f"enc{i}.kernel"].T if model.tied else params[f"dec{i}.kernel"]
        h = h @ kernel + params[f"dec{i}.bias"]
        h = act(h) if i > 0 else ACT[model.output](h)
    return h


class Adapter(GradientAdapter):
    """Canonical ``enc{i}.*``, ``dec{i}.*`` (see the spec) are the params pytree; x (N, D) ->
    reconstruction (N, D); the loss is the mean over batch and features of (reconstruction of the
    corrupted x - clean y)^2."""

    MODES = ("step", "epoch")  # step: jitted step per batch from Python; epoch: one jitted lax.scan
    LOSS = "mse"

    def make_forward(self):
        model = self.model
        return lambda params, x: forward(params, x, model)
