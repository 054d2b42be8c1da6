"""Autoencoder in JAX: a pytree of jnp arrays, jax.grad, one jax.jit'd optimizer step, optax."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from harness.frameworks.jax import (
    AdapterBase,
    batch_loss,
    host_tree,
    init_state,
    optax_optimizer,
    optax_update,
    put_rows,
    put_tree,
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
    MODES = ("step",)  # one jit-compiled optimizer step per batch
    NOTES = ""

    def __init__(self, model, info, train, **kw):
        super().__init__(model, info, train, **kw)

        def fwd(params, x):
            return forward(params, x, model)

        self.tx = optax_optimizer(train)
        self._predict = jax.jit(fwd)
        update = optax_update(lambda params, x, y: batch_loss(fwd(params, x), y, classify=False), self.tx)
        # xs, ys: the whole epoch on device; a traced i slices inside the one compiled step. The loss
        # is summed outside the jit (not as drive_steps does inside it: that rounds the sum differently)
        self._step = jax.jit(lambda params, opt_state, xs, ys, i: update(params, opt_state, xs[i], ys[i]))

    def build(self, weights: dict[str, np.ndarray]) -> None:
        """weights: canonical ``enc{i}.*``, ``dec{i}.*`` (see the spec)."""
        self.params = put_tree(weights, self.dev)
        self.opt_state = init_state(self.tx, self.params, self.dev)

    def get_weights(self) -> dict[str, np.ndarray]:
        return host_tree(self.params)

    def train_epoch(self, xb: np.ndarray, yb: np.ndarray) -> float:
        """xb (steps, B, D) corrupted inputs, yb (steps, B, D) clean targets -> mean loss over the steps."""
        x = jax.device_put(xb, self.dev)
        y = jax.device_put(yb, self.dev)
        total = jnp.zeros((), jnp.float32)
        for i in range(x.shape[0]):
            self.params, self.opt_state, loss = self._step(self.params, self.opt_state, x, y, i)
            total = total + loss  # stays on device: dispatch is async, no per-step host sync
        return float(total) / x.shape[0]

    def predict(self, x: np.ndarray) -> np.ndarray:
        """x (N, *input_shape) -> reconstruction (N, D)."""
        return np.asarray(self._predict(self.params, put_rows(x, self.dev)))

    def sync(self) -> None:
        jax.block_until_ready(self.params)
