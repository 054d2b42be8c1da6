"""LSTM in JAX: a jax.numpy cell run by lax.scan over time, jax.value_and_grad, optax, jax.jit.

Modes: ``step`` calls a jitted train step from a Python loop (JAX's usual training loop);
``epoch`` fuses the whole epoch into one jitted ``jax.lax.scan`` over the stacked batches.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax

from harness.frameworks.jax import jax_device


def make_tx(train) -> optax.GradientTransformation:
    """optax.sgd / optax.adam are the canonical formulas of harness/optim.py."""
    if train.optimizer == "sgd":
        return optax.sgd(train.lr, momentum=train.momentum)
    return optax.adam(train.lr, b1=train.beta1, b2=train.beta2, eps=train.eps)


def _direction(params: dict, prefix: str, x: jax.Array, reverse: bool) -> jax.Array:
    """x (T, N, in) time-major -> outputs (T, N, H), each stored at its input step."""
    w_ih, w_hh, b = params[f"{prefix}.w_ih"], params[f"{prefix}.w_hh"], params[f"{prefix}.b"]
    hid = w_hh.shape[0]
    xw = x @ w_ih + b  # the input projection of every step at once: one GEMM outside the scan

    def cell(carry, xw_t):
        h, c = carry
        i, f, g, o = jnp.split(xw_t + h @ w_hh, 4, axis=-1)
        c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
        h = jax.nn.sigmoid(o) * jnp.tanh(c)
        return (h, c), h

    zeros = jnp.zeros((x.shape[1], hid), x.dtype)
    _, out = jax.lax.scan(cell, (zeros, zeros), xw, reverse=reverse)  # reverse keeps outputs aligned
    return out


def make_forward(model, steps: int, features: int):
    dirs = ("fw", "bw") if model.bidirectional else ("fw",)

    def forward(params: dict, x: jax.Array) -> jax.Array:
        """x (N, T*features) -> (N, out)."""
        seq = jnp.swapaxes(x.reshape(x.shape[0], steps, features), 0, 1)  # (T, N, F)
        for l in range(model.layers):
            seq = jnp.concatenate([_direction(params, f"lstm{l}.{d}", seq, d == "bw") for d in dirs], axis=-1)
        if model.readout == "mean":
            feat = seq.mean(axis=0)
        elif model.bidirectional:
            feat = jnp.concatenate([seq[-1, :, :model.hidden], seq[0, :, model.hidden:]], axis=-1)
        else:
            feat = seq[-1]
        return feat @ params["head.kernel"] + params["head.bias"]

    return forward


def make_loss(forward, regression: bool):
    def loss(params: dict, x: jax.Array, y: jax.Array) -> jax.Array:
        out = forward(params, x)
        if regression:
            return jnp.mean((out - y) ** 2)
        return optax.softmax_cross_entropy_with_integer_labels(out, y).mean()

    return loss


class Adapter:
    MODES = ("step", "epoch")
    NOTES = ""

    def __init__(self, model, info, train, *, mode="step", device="cpu", seed=0):
        self.model, self.info, self.train, self.mode, self.device = model, info, train, mode, device
        self.dev = jax_device(device)
        self.regression = info.task == "regression"
        self._compile(make_forward(model, *info.sequence_shape), make_tx(train))

    def _compile(self, forward, tx: optax.GradientTransformation) -> None:
        """Define and jit the forward, the step and the epoch once (shapes are static per run)."""
        loss_fn = make_loss(forward, self.regression)

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
        self._forward = jax.jit(forward)
        self._step = jax.jit(step, donate_argnums=(0, 1, 2))  # params, state, total are replaced
        self._epoch = jax.jit(epoch, donate_argnums=(0, 1))

    def build(self, weights: dict[str, np.ndarray]) -> None:
        """weights: the canonical dict (names/shapes of spec.weight_shapes) is the params pytree."""
        self.params = jax.device_put({k: np.asarray(v, np.float32) for k, v in weights.items()}, self.dev)
        self.opt_state = jax.device_put(self.tx.init(self.params), self.dev)

    def get_weights(self) -> dict[str, np.ndarray]:
        """Canonical names -> float32 numpy copies."""
        return {k: np.array(v, dtype=np.float32) for k, v in jax.device_get(self.params).items()}

    def train_epoch(self, xb: np.ndarray, yb: np.ndarray) -> float:
        """xb (steps, B, T*features); yb (steps, B) int labels or (steps, B, out) float targets."""
        steps = xb.shape[0]
        xs = jax.device_put(np.asarray(xb, np.float32), self.dev)
        ys = jax.device_put(yb.astype(np.float32 if self.regression else np.int32), self.dev)
        if self.mode == "epoch":
            self.params, self.opt_state, mean = self._epoch(self.params, self.opt_state, xs, ys)
            return float(mean)
        total = jax.device_put(np.float32(0), self.dev)
        for i in range(steps):
            self.params, self.opt_state, total = self._step(self.params, self.opt_state, total, xs, ys, i)
        return float(total) / steps  # the only host fetch of the epoch

    def predict(self, x: np.ndarray) -> np.ndarray:
        """x (N, T*features) -> logits (N, classes) or predictions (N, n_outputs)."""
        return np.asarray(self._forward(self.params, jax.device_put(np.asarray(x, np.float32), self.dev)))

    def sync(self) -> None:
        jax.block_until_ready(self.params)
