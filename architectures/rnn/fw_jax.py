"""RNN in JAX: jax.numpy cells, lax.scan over time, jax.value_and_grad, optax, jax.jit.

Modes: ``step`` calls a jitted train step from a Python loop (JAX's usual training loop);
``epoch`` fuses the whole epoch into one jitted ``jax.lax.scan`` over the stacked batches.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax

from architectures.rnn.spec import directions
from harness.frameworks.jax import jax_device


def make_optimizer(train) -> optax.GradientTransformation:
    """optax's sgd (trace) and adam (eps outside the sqrt) are harness/optim.py's formulas."""
    if train.optimizer == "sgd":
        return optax.sgd(train.lr, momentum=train.momentum)
    return optax.adam(train.lr, b1=train.beta1, b2=train.beta2, eps=train.eps)


def _run_direction(p: dict, prefix: str, cell: str, xs: jax.Array, reverse: bool) -> jax.Array:
    """xs (T, N, in) -> outputs (T, N, H); scan(reverse=True) keeps ys in the original order."""
    w_hh = p[prefix + "w_hh"]
    n_h = w_hh.shape[0]
    # the input projection of every step is one GEMM outside the sequential loop
    gi = xs @ p[prefix + "w_ih"] + p[prefix + ("b" if cell == "simple" else "b_ih")]

    def simple(h, g):
        h = jnp.tanh(g + h @ w_hh)
        return h, h

    def gru(h, g):
        gh = h @ w_hh + p[prefix + "b_hh"]
        r = jax.nn.sigmoid(g[:, :n_h] + gh[:, :n_h])
        z = jax.nn.sigmoid(g[:, n_h:2 * n_h] + gh[:, n_h:2 * n_h])
        n = jnp.tanh(g[:, 2 * n_h:] + r * gh[:, 2 * n_h:])
        h = (1 - z) * n + z * h
        return h, h

    h0 = jnp.zeros((xs.shape[1], n_h), xs.dtype)
    _, out = jax.lax.scan(simple if cell == "simple" else gru, h0, gi, reverse=reverse)
    return out


def make_forward(model):
    """Returns f(params, x (N, T, F)) -> (N, out)."""

    def forward(p: dict, x: jax.Array) -> jax.Array:
        hs = jnp.swapaxes(x, 0, 1)  # time-major for the scan
        for layer in range(model.layers):
            hs = jnp.concatenate([_run_direction(p, f"rnn{layer}.{d}.", model.cell, hs, d == "bw")
                                  for d in directions(model)], axis=-1)
        if model.readout == "mean":
            feat = hs.mean(axis=0)
        elif model.bidirectional:
            feat = jnp.concatenate([hs[-1, :, :model.hidden], hs[0, :, model.hidden:]], axis=-1)
        else:
            feat = hs[-1]
        return feat @ p["head.kernel"] + p["head.bias"]

    return forward


class Adapter:
    MODES = ("step", "epoch")  # step: jitted step per batch from Python; epoch: one jitted lax.scan
    NOTES = ""

    def __init__(self, model, info, train, *, mode="step", device="cpu", seed=0):
        self.model, self.info, self.train, self.mode, self.device = model, info, train, mode, device
        self.dev = jax_device(device)
        self._compile(make_forward(model), info.task == "classification", make_optimizer(train))

    def _compile(self, forward, classify: bool, tx: optax.GradientTransformation) -> None:
        """Define and jit the forward, the step and the epoch once (shapes are static per run)."""

        def loss_fn(params, x, y):
            out = forward(params, x)
            if classify:
                return optax.softmax_cross_entropy_with_integer_labels(out, y).mean()
            return jnp.mean((out - y) ** 2)

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

        self.tx, self.classify = tx, classify
        self._forward = jax.jit(forward)
        self._step = jax.jit(step, donate_argnums=(0, 1, 2))  # params, state, total are replaced
        self._epoch = jax.jit(epoch, donate_argnums=(0, 1))

    def build(self, weights: dict[str, np.ndarray]) -> None:
        """weights: canonical names and layout (see spec), used as the params pytree as they are."""
        self.params = jax.device_put({k: np.asarray(v, np.float32) for k, v in weights.items()}, self.dev)
        self.opt_state = jax.device_put(self.tx.init(self.params), self.dev)

    def get_weights(self) -> dict[str, np.ndarray]:
        """Canonical names -> float32 numpy copies."""
        return {k: np.array(v, dtype=np.float32) for k, v in jax.device_get(self.params).items()}

    def _seq(self, x: np.ndarray) -> jax.Array:
        """(..., T*F) -> (..., T, F) on the device."""
        shape = (*x.shape[:-1], *self.info.sequence_shape)
        return jax.device_put(np.ascontiguousarray(x.reshape(shape), dtype=np.float32), self.dev)

    def train_epoch(self, xb: np.ndarray, yb: np.ndarray) -> float:
        """xb (steps, B, T*F), yb (steps, B) int or (steps, B, out) float -> mean loss over the steps."""
        steps = xb.shape[0]
        xs = self._seq(xb)
        ys = jax.device_put(yb.astype(np.int32) if self.classify else yb.astype(np.float32), self.dev)
        if self.mode == "epoch":
            self.params, self.opt_state, mean = self._epoch(self.params, self.opt_state, xs, ys)
            return float(mean)
        total = jax.device_put(np.float32(0), self.dev)
        for i in range(steps):
            self.params, self.opt_state, total = self._step(self.params, self.opt_state, total, xs, ys, i)
        return float(total) / steps  # the only host fetch of the epoch

    def predict(self, x: np.ndarray) -> np.ndarray:
        """x (N, T*F) -> logits (N, classes) or predictions (N, outputs)."""
        return np.asarray(self._forward(self.params, self._seq(x)))

    def sync(self) -> None:
        jax.block_until_ready(self.params)
