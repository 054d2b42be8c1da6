"""CNN in JAX: lax.conv_general_dilated (channels-last, HWIO kernels) + lax.reduce_window max-pool
on a dict params pytree, jax.value_and_grad, optax, jax.jit.

The canonical layout is JAX's own (NHWC / HWIO), so weights pass through unchanged.
Modes: ``step`` calls a jitted train step from a Python loop (JAX's usual training loop);
``epoch`` fuses the whole epoch into one jitted ``jax.lax.scan`` over the stacked batches.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from architectures.cnn import spec
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
    n_dense = len(model.dense) + 1
    for j in range(n_dense):
        h = h @ params[f"dense{j}.kernel"] + params[f"dense{j}.bias"]
        if j < n_dense - 1:
            h = act(h)
    return h


class Adapter(AdapterBase):
    MODES = ("step", "epoch")
    NOTES = ""

    def __init__(self, model, info, train, **kw):
        super().__init__(model, info, train, **kw)
        spatial = spec.spatial_shape(info)

        def fwd(params, x):
            return forward(params, x, model, spatial)

        self.tx = optax_optimizer(train)
        self._forward = jax.jit(fwd)
        self._fns = optax_fns(lambda params, x, y: batch_loss(fwd(params, x), y, classify=True), self.tx)

    def build(self, weights: dict[str, np.ndarray]) -> None:
        """weights: canonical ``conv{i}.kernel`` (*K, cin, cout), ``conv{i}.bias`` (cout,),
        ``dense{j}.kernel`` (in, out), ``dense{j}.bias`` (out,), float32."""
        self.params = put_tree(weights, self.dev)
        self.opt_state = init_state(self.tx, self.params, self.dev)

    def get_weights(self) -> dict[str, np.ndarray]:
        """Canonical names -> float32 numpy copies."""
        return host_tree(self.params)

    def train_epoch(self, xb: np.ndarray, yb: np.ndarray) -> float:
        """xb (steps, B, *input_shape), yb (steps, B) int -> mean loss over the steps."""
        xs = to_device(xb.reshape(xb.shape[0], xb.shape[1], -1), self.dev)
        ys = to_device(yb.astype(np.int32), self.dev)
        self.params, self.opt_state, loss = optax_epoch(self._fns, self.params, self.opt_state, xs, ys, self.dev,
                                                        fused=self.mode == "epoch")
        return loss

    def predict(self, x: np.ndarray) -> np.ndarray:
        """x (N, *input_shape) -> logits (N, classes)."""
        return np.asarray(self._forward(self.params, put_rows(x, self.dev)))

    def sync(self) -> None:
        block(self.params)  # every leaf comes out of the epoch's last jitted call
