"""Autoencoder in JAX: a pytree of jnp arrays, jax.grad, one jax.jit'd optimizer step, optax."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax

from harness.frameworks.jax import jax_device

ACT = {"relu": jax.nn.relu, "tanh": jnp.tanh, "sigmoid": jax.nn.sigmoid, "linear": lambda h: h}


def make_tx(train) -> optax.GradientTransformation:
    """optax.sgd (trace) and optax.adam follow the canonical formulas of harness/optim.py."""
    if train.optimizer == "sgd":
        return optax.sgd(train.lr, momentum=train.momentum)
    return optax.adam(train.lr, b1=train.beta1, b2=train.beta2, eps=train.eps)


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


class Adapter:
    MODES = ("step",)  # one jit-compiled optimizer step per batch
    NOTES = ""

    def __init__(self, model, info, train, *, mode="step", device="cpu", seed=0):
        self.model, self.info, self.train, self.mode, self.device = model, info, train, mode, device
        self.dev = jax_device(device)

    def build(self, weights: dict[str, np.ndarray]) -> None:
        """weights: canonical ``enc{i}.*``, ``dec{i}.*`` (see the spec)."""
        model = self.model
        self.params = {k: jax.device_put(np.asarray(v, np.float32), self.dev) for k, v in weights.items()}
        tx = make_tx(self.train)
        self.opt_state = tx.init(self.params)

        def loss_fn(params, x, y):
            return jnp.mean((forward(params, x, model) - y) ** 2)

        def step(params, opt_state, xs, ys, i):
            # xs, ys: the whole epoch on device; a traced i slices inside the one compiled step
            loss, grads = jax.value_and_grad(loss_fn)(params, xs[i], ys[i])
            updates, opt_state = tx.update(grads, opt_state, params)
            return optax.apply_updates(params, updates), opt_state, loss

        self._step = jax.jit(step)  # traced once per epoch shape (the same every epoch)
        self._predict = jax.jit(lambda params, x: forward(params, x, model))

    def get_weights(self) -> dict[str, np.ndarray]:
        return {k: np.asarray(v, dtype=np.float32).copy() for k, v in self.params.items()}

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
        t = jax.device_put(np.asarray(x, np.float32).reshape(len(x), -1), self.dev)
        return np.asarray(self._predict(self.params, t))

    def sync(self) -> None:
        jax.block_until_ready(self.params)
