"""Autoencoder in JAX: a pytree of jnp arrays, jax.value_and_grad of the mean squared error, optax, jax.jit.

Modes: ``step`` calls a jitted train step from a Python loop (JAX's usual training loop);
``epoch`` fuses the whole epoch into one jitted ``jax.lax.scan`` over the stacked batches. Both are
harness.frameworks.jax's ``optax_fns``: the (corrupted input, clean target) batches are its (x, y).
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


class Adapter(AdapterBase):
    MODES = ("step", "epoch")  # step: jitted step per batch from Python; epoch: one jitted lax.scan
    NOTES = ""

    def __init__(self, model, info, train, **kw):
        super().__init__(model, info, train, **kw)

        def fwd(params, x):
            return forward(params, x, model)

        self.tx = optax_optimizer(train)
        self._predict = jax.jit(fwd)
        # mean over batch and features of (reconstruction of the corrupted x - clean y)^2
        self._fns = optax_fns(lambda params, x, y: batch_loss(fwd(params, x), y, classify=False), self.tx)

    def build(self, weights: dict[str, np.ndarray]) -> None:
        """weights: canonical ``enc{i}.*``, ``dec{i}.*`` (see the spec)."""
        self.params = put_tree(weights, self.dev)
        self.opt_state = init_state(self.tx, self.params, self.dev)

    def get_weights(self) -> dict[str, np.ndarray]:
        return host_tree(self.params)

    def train_epoch(self, xb: np.ndarray, yb: np.ndarray) -> float:
        """xb (steps, B, D) corrupted inputs, yb (steps, B, D) clean targets -> mean loss over the steps."""
        xs = to_device(np.asarray(xb, np.float32), self.dev)
        ys = to_device(np.asarray(yb, np.float32), self.dev)
        self.params, self.opt_state, loss = optax_epoch(self._fns, self.params, self.opt_state, xs, ys, self.dev,
                                                        fused=self.mode == "epoch")
        return loss

    def predict(self, x: np.ndarray) -> np.ndarray:
        """x (N, *input_shape) -> reconstruction (N, D)."""
        return np.asarray(self._predict(self.params, put_rows(x, self.dev)))

    def sync(self) -> None:
        block(self.params)  # every leaf comes out of the epoch's last jitted call
