"""MLP in JAX: a dict of jax.numpy arrays as the params pytree, jax.value_and_grad, optax, jax.jit.

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

ACT = {"relu": jax.nn.relu, "tanh": jnp.tanh, "sigmoid": jax.nn.sigmoid}


def forward(params: dict, x: jax.Array, n_layers: int, act) -> jax.Array:
    """x (N, features) -> logits (N, classes); params holds the canonical names and layout."""
    h = x
    for i in range(n_layers):
        h = h @ params[f"dense{i}.kernel"] + params[f"dense{i}.bias"]
        if i < n_layers - 1:
            h = act(h)
    return h


class Adapter(AdapterBase):
    MODES = ("step", "epoch")
    NOTES = ""

    def __init__(self, model, info, train, **kw):
        super().__init__(model, info, train, **kw)
        n_layers, act = len(model.hidden) + 1, ACT[model.activation]

        def fwd(params, x):
            return forward(params, x, n_layers, act)

        self.tx = optax_optimizer(train)
        self._forward = jax.jit(fwd)
        self._fns = optax_fns(lambda params, x, y: batch_loss(fwd(params, x), y, classify=True), self.tx)

    def build(self, weights: dict[str, np.ndarray]) -> None:
        """weights: canonical ``dense{i}.kernel`` (in, out) and ``dense{i}.bias`` (out,), float32."""
        self.params = put_tree(weights, self.dev)
        self.opt_state = init_state(self.tx, self.params, self.dev)

    def get_weights(self) -> dict[str, np.ndarray]:
        """Canonical names -> float32 numpy copies."""
        return host_tree(self.params)

    def train_epoch(self, xb: np.ndarray, yb: np.ndarray) -> float:
        """xb (steps, B, features), yb (steps, B) int -> mean loss over the steps."""
        xs = to_device(xb.reshape(xb.shape[0], xb.shape[1], -1), self.dev)
        ys = to_device(yb.astype(np.int32), self.dev)
        self.params, self.opt_state, loss = optax_epoch(self._fns, self.params, self.opt_state, xs, ys, self.dev,
                                                        fused=self.mode == "epoch")
        return loss

    def predict(self, x: np.ndarray) -> np.ndarray:
        """x (N, features) -> logits (N, classes)."""
        return np.asarray(self._forward(self.params, put_rows(x, self.dev)))

    def sync(self) -> None:
        block(self.params)  # every leaf comes out of the epoch's last jitted call
