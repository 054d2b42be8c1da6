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
import optax
from jax import lax

from architectures.cnn import spec
from harness.frameworks.jax import jax_device

ACT = {"relu": jax.nn.relu, "tanh": jnp.tanh}
LAYOUT = {1: ("NWC", "WIO", "NWC"), 2: ("NHWC", "HWIO", "NHWC")}


def make_optimizer(train) -> optax.GradientTransformation:
    """optax.sgd (trace: v <- momentum v + g) and optax.adam are harness/optim.py's formulas."""
    if train.optimizer == "sgd":
        return optax.sgd(train.lr, momentum=train.momentum)
    return optax.adam(train.lr, b1=train.beta1, b2=train.beta2, eps=train.eps)


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


class Adapter:
    MODES = ("step", "epoch")
    NOTES = ""

    def __init__(self, model, info, train, *, mode="step", device="cpu", seed=0):
        self.model, self.info, self.train, self.mode, self.device = model, info, train, mode, device
        self.dev = jax_device(device)
        self._compile(lambda params, x: forward(params, x, model, spec.spatial_shape(info)), make_optimizer(train))

    def _compile(self, fwd, tx: optax.GradientTransformation) -> None:
        """Define and jit the forward, the step and the epoch once (shapes are static per run)."""

        def loss_fn(params, x, y):
            return optax.softmax_cross_entropy_with_integer_labels(fwd(params, x), y).mean()

        def update(params, opt_state, x, y):
            loss, grads = jax.value_and_grad(loss_fn)(params, x, y)
            updates, opt_state = tx.update(grads, opt_state, params)
            return optax.apply_updates(params, updates), opt_state, loss

        def step(params, opt_state, total, xs, ys, i):
            # The batch is sliced inside the jit and the loss summed there: one dispatch per step.
            params, opt_state, loss = update(params, opt_state, xs[i], ys[i])
            return params, opt_state, total + loss

        def epoch(params, opt_state, xs, ys):
            def body(carry, batch):
                params, opt_state, loss = update(*carry, *batch)
                return (params, opt_state), loss

            (params, opt_state), losses = jax.lax.scan(body, (params, opt_state), (xs, ys))
            return params, opt_state, losses.mean()

        self.tx = tx
        self._forward = jax.jit(fwd)
        self._step = jax.jit(step, donate_argnums=(0, 1, 2))  # params, state, total are replaced
        self._epoch = jax.jit(epoch, donate_argnums=(0, 1))

    def build(self, weights: dict[str, np.ndarray]) -> None:
        """weights: canonical ``conv{i}.kernel`` (*K, cin, cout), ``conv{i}.bias`` (cout,),
        ``dense{j}.kernel`` (in, out), ``dense{j}.bias`` (out,), float32."""
        self.params = jax.device_put({k: np.asarray(v, np.float32) for k, v in weights.items()}, self.dev)
        self.opt_state = jax.device_put(self.tx.init(self.params), self.dev)

    def get_weights(self) -> dict[str, np.ndarray]:
        """Canonical names -> float32 numpy copies."""
        return {k: np.array(v, dtype=np.float32) for k, v in jax.device_get(self.params).items()}

    def train_epoch(self, xb: np.ndarray, yb: np.ndarray) -> float:
        """xb (steps, B, *input_shape), yb (steps, B) int -> mean loss over the steps."""
        steps = xb.shape[0]
        xs = jax.device_put(xb.reshape(steps, xb.shape[1], -1), self.dev)
        ys = jax.device_put(yb.astype(np.int32), self.dev)
        if self.mode == "epoch":
            self.params, self.opt_state, mean = self._epoch(self.params, self.opt_state, xs, ys)
            return float(mean)
        total = jax.device_put(np.float32(0), self.dev)
        for i in range(steps):
            self.params, self.opt_state, total = self._step(self.params, self.opt_state, total, xs, ys, i)
        return float(total) / steps  # the only host fetch of the epoch

    def predict(self, x: np.ndarray) -> np.ndarray:
        """x (N, *input_shape) -> logits (N, classes)."""
        xd = jax.device_put(np.ascontiguousarray(x.reshape(len(x), -1), dtype=np.float32), self.dev)
        return np.asarray(self._forward(self.params, xd))

    def sync(self) -> None:
        jax.block_until_ready(self.params)
