"""CNN in JAX: lax.conv_general_dilated (channels-last, HWIO kernels) + lax.reduce_window max-pool
on a dict params pytree, jax.value_and_grad, optax, jax.jit.

The canonical layout is JAX's own (NHWC / HWIO), so weights pass through unchanged.
Modes: ``step`` calls a jitted train step from a Python loop (JAX's usual training loop);
``epoch`` fuses the whole epoch into one jitted ``jax.lax.scan`` over the stacked batches.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax

from architectures.cnn import spec
from architectures.mlp.fw_jax import forward as dense_stack
from harness.frameworks.jax import GradientAdapter

ACT = {"relu": jax.nn.relu, "tanh": jnp.tanh}
LAYOUT = {1: ("NWC", "WIO", "NWC"), 2: ("NHWC", "HWIO", "NHWC")}


def max_pool(h: jax.Array, p: int) -> jax.Array:
    """(N, *S, C) -> (N, *(S // p), C): window = stride = p, VALID floors like the spec."""
    window = (1,) + (p,) * (h.ndim - 2) + (1,)
    return lax.reduce_window(h, -jnp.inf, lax.max, window, window, "VALID")


def forward(params: dict, x: jax.Array, model, spatial: tuple[int, ...]) -> jax.Array:
    """x (N, prod(spatial)) -> logits (N, classes); params holds the canonical names and layout."""
    d, act = len(spatial), ACT[model.activation]
    h = x.reshape(x.shape[0], *spatial, 1)
    for i, c in enumerate(model.conv):
        h = lax.conv_general_dilated(h, params[f"conv{i}.kernel"], (c.stride,) * d, [(c.padding, c.padding)] * d,
                                     dimension_numbers=LAYOUT[d]) + params[f"conv{i}.bias"]
        h = act(h)
        if c.pool > 1:
            h = max_pool(h, c.pool)
    h = h.reshape(h.shape[0], -1)  # channels-last flatten: the canonical order
    return dense_stack(params, h, len(model.dense) + 1, act)  # the head is the MLP's, same names


class Adapter(GradientAdapter):
    """Canonical ``conv{i}.kernel`` (*K, cin, cout), ``conv{i}.bias`` (cout,), ``dense{j}.kernel``
    (in, out), ``dense{j}.bias`` (out,) are the params pytree; x (N, *input_shape) -> logits (N, classes)."""

    MODES = ("step", "epoch")
    LOSS = "xent"

    def make_forward(self):
        model, spatial = self.model, spec.spatial_shape(self.info)
        return lambda params, x: forward(params, x, model, spatial)
