"""Boltzmann machine in JAX: a {W, b} pytree, jitted Gibbs phases, optax on the AHS gradient.

Sequential Gibbs sweeps are a ``lax.scan`` over the flattened (sweep, unit) sequence with the matching
uniforms; states are unit-major (n, B). The gradient is the difference of sampled statistics (no
jax.grad) and goes through optax.sgd/optax.adam, which are harness/optim.py's formulas.

Modes (harness.frameworks.jax's ``update_fns``): ``step`` calls one jitted step per batch from a
Python loop, slicing the step's batch and noise from the epoch arrays (one dispatch per step);
``epoch`` fuses the epoch's steps into one jitted ``lax.scan`` over the batches and their noise
(around the sweeps' scans), carrying the weights, optimizer state and chains.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax

from harness.frameworks.jax import (
    AdapterBase,
    host_tree,
    init_state,
    make_optimizer,
    put_tree,
    run_epoch,
    to_device,
    update_fns,
)


def sweeps(params: dict, s: jax.Array, units: jax.Array, u: jax.Array) -> jax.Array:
    """Sequential Gibbs updates of s (n, B): units (steps,) in order, u (steps, B) their uniforms."""

    def one(s, iu):
        i, ui = iu
        p = jax.nn.sigmoid(params["W"][i] @ s + params["b"][i])
        return s.at[i].set((ui < p).astype(s.dtype)), None

    return jax.lax.scan(one, s, (units, u))[0]


def energy(params: dict, s: jax.Array) -> jax.Array:
    """Mean energy over the columns of s (n, B)."""
    return jnp.mean(-0.5 * jnp.sum((params["W"] @ s) * s, axis=0) - params["b"] @ s)


def make_update(model, nv: int, tx: optax.GradientTransformation):
    """The pure per-batch update (params, opt_state, chains, v (B, V), u (B, noise)) -> (params,
    opt_state, chains, energy gap); ``chains`` (n, B) are the negative states, returned for PCD."""
    k, h = model.gibbs_steps, model.hidden
    n = nv + h
    pos_units = jnp.tile(jnp.arange(nv, n), k)  # sweep-major, as the noise layout
    neg_units = jnp.tile(jnp.arange(n), k)

    def update(params, opt_state, chains, v, u):
        batch = v.shape[0]
        pos = jnp.concatenate([v.T, jnp.zeros((h, batch), v.dtype)])
        pos = sweeps(params, pos, pos_units, u[:, : k * h].T)
        neg = sweeps(params, chains if model.persistent else pos, neg_units, u[:, k * h:].T)
        gap = energy(params, pos) - energy(params, neg)
        grad_w = -(pos @ pos.T - neg @ neg.T) / batch + model.weight_decay * params["W"]
        grad_w = grad_w * (1.0 - jnp.eye(n, dtype=grad_w.dtype))
        grads = {"W": grad_w, "b": -(pos.sum(1) - neg.sum(1)) / batch}
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, neg, gap

    return update


class Adapter(AdapterBase):
    MODES = ("step", "epoch")  # step: jitted step per batch from Python; epoch: one jitted lax.scan

    def __init__(self, model, info, train, **kw):
        super().__init__(model, info, train, **kw)
        self.nv = int(np.prod(info.input_shape))
        self.n = self.nv + model.hidden
        self.tx = make_optimizer(train)
        self._fns = update_fns(make_update(model, self.nv, self.tx), 3)  # state (params, opt_state, chains)
        self._forward = jax.jit(lambda params, s: jax.nn.sigmoid(s @ params["W"] + params["b"]))

    def build(self, weights: dict[str, np.ndarray]) -> None:
        """weights: canonical ``W`` (n, n) symmetric zero-diagonal and ``b`` (n,); chains reset to zero."""
        self.params = put_tree({k: weights[k] for k in ("W", "b")}, self.dev)
        self.opt_state = init_state(self.tx, self.params, self.dev)
        self.chains = None  # (n, B) persistent negative chains, created on first use

    def get_weights(self) -> dict[str, np.ndarray]:
        return host_tree(self.params)

    def train_epoch(self, xb: np.ndarray, yb: np.ndarray) -> float:
        """xb (steps, B, V) {0,1} visibles, yb (steps, B, noise) uniforms (spec layout) -> mean energy gap."""
        steps, batch = xb.shape[:2]
        xs = to_device(np.asarray(xb, np.float32).reshape(steps, batch, -1), self.dev)
        us = to_device(np.asarray(yb, np.float32), self.dev)
        if self.chains is None:  # also the (unused) carry when chains are not persistent
            self.chains = jax.device_put(np.zeros((self.n, batch), np.float32), self.dev)
        (self.params, self.opt_state, self.chains), gap = run_epoch(
            self._fns, (self.params, self.opt_state, self.chains), xs, us, self.dev, fused=self.mode == "epoch")
        return gap

    def predict(self, x: np.ndarray) -> np.ndarray:
        """x (N, n) states, or (N, V) visibles with hidden off -> p(s_i = 1 | s_-i) (N, n)."""
        flat = np.asarray(x, np.float32).reshape(len(x), -1)
        s = np.pad(flat, ((0, 0), (0, self.n - flat.shape[1])))
        return np.asarray(self._forward(self.params, to_device(s, self.dev)))

    def sync(self) -> None:
        jax.block_until_ready(self.params)
