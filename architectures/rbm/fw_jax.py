"""RBM in JAX: a dict of jax.numpy arrays, Gibbs sampling with the harness noise, the CD/PCD update
as jax.grad of mean F(v_data) - mean F(stop_gradient(v_model)), optax, jax.jit.

Modes: ``step`` calls the jitted CD step per batch from a Python loop; ``epoch`` fuses the epoch's
steps into one jitted ``jax.lax.scan`` over the batches and their noise, carrying the weights,
optimizer state and PCD chain (both from harness.frameworks.jax's ``update_fns``).
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
    put_rows,
    put_tree,
    run_epoch,
    to_device,
    update_fns,
)

NAMES = ("W", "b_v", "b_h")


def hidden_probs(p: dict, v: jax.Array) -> jax.Array:
    return jax.nn.sigmoid(v @ p["W"] + p["b_h"])


def visible_probs(p: dict, h: jax.Array) -> jax.Array:
    return jax.nn.sigmoid(h @ p["W"].T + p["b_v"])


def free_energy(p: dict, v: jax.Array) -> jax.Array:
    """F(v) (N,) = -v.b_v - sum_j softplus(v W + b_h)_j."""
    return -(v @ p["b_v"]) - jax.nn.softplus(v @ p["W"] + p["b_h"]).sum(axis=1)


def make_update(model, tx: optax.GradientTransformation):
    """update(params, opt_state, chain, v, u) -> (params, opt_state, chain, recon_error): one
    CD-k/PCD-k step in the spec's noise layout, pure (for jax.jit). ``chain`` is the PCD hidden
    state (B, H), ignored (and returned unchanged) for CD; the DBN reuses this per layer."""
    k, persistent, wd = model.cd_k, model.persistent, model.weight_decay

    def objective(p, v, vk):
        # its gradient is the CD statistics: -(v^T p(h|v) - v_k^T p(h|v_k)) / B (+ wd W)
        return free_energy(p, v).mean() - free_energy(p, vk).mean() + 0.5 * wd * jnp.sum(p["W"] ** 2)

    def update(p, opt_state, chain, v, u):
        n_v, n_h = p["W"].shape
        p0 = hidden_probs(p, v)
        err = jnp.mean(jnp.sum((v - visible_probs(p, p0)) ** 2, axis=1))
        h = chain if persistent else (u[:, :n_h] < p0).astype(v.dtype)
        for i in range(k):  # k is static: unrolled
            o = n_h + i * (n_v + n_h)
            vk = (u[:, o:o + n_v] < visible_probs(p, h)).astype(v.dtype)
            h = (u[:, o + n_v:o + n_v + n_h] < hidden_probs(p, vk)).astype(v.dtype)
        grads = jax.grad(objective)(p, v, jax.lax.stop_gradient(vk))
        updates, opt_state = tx.update(grads, opt_state, p)
        return optax.apply_updates(p, updates), opt_state, (h if persistent else chain), err

    return update


def make_chain_start(p: dict, v: jax.Array, u: jax.Array) -> jax.Array:
    """PCD's initial chain: h0 = [u < p(h|v)] on the first batch, as CD's chain start."""
    return (u[:, :p["W"].shape[1]] < hidden_probs(p, v)).astype(v.dtype)


class CDTrainer:
    """One RBM's jitted step and fused epoch, optimizer state and PCD chain (reused by the DBN per
    layer). ``fused``: each epoch is one jitted ``lax.scan`` over the steps, not a step per batch."""

    def __init__(self, params: dict, model, train, dev, fused: bool = False):
        self.model, self.dev, self.fused = model, dev, fused
        tx = make_optimizer(train)
        # state (params, opt_state, chain); the batches' y is the harness noise u
        self._fns = update_fns(make_update(model, tx), 3)
        self._chain_start = jax.jit(make_chain_start)
        self.params = params
        self.opt_state = init_state(tx, params, dev)
        self.chain: jax.Array | None = None

    def epoch(self, xs: jax.Array, us: jax.Array) -> float:
        """xs (steps, B, V), us (steps, B, width) on the device -> mean reconstruction error."""
        if self.chain is None:  # CD carries a dummy; PCD starts from the first batch
            self.chain = self._chain_start(self.params, xs[0], us[0])
        (self.params, self.opt_state, self.chain), err = run_epoch(
            self._fns, (self.params, self.opt_state, self.chain), xs, us, self.dev, self.fused)
        return err


class Adapter(AdapterBase):
    MODES = ("step", "epoch")  # step: jitted step per batch from Python; epoch: one jitted lax.scan

    def __init__(self, model, info, train, **kw):
        super().__init__(model, info, train, **kw)
        self._hidden = jax.jit(hidden_probs)

    def build(self, weights: dict[str, np.ndarray]) -> None:
        """weights: canonical ``W`` (V, H), ``b_v`` (V,), ``b_h`` (H,), float32."""
        params = put_tree({k: weights[k] for k in NAMES}, self.dev)
        self.trainer = CDTrainer(params, self.model, self.train, self.dev, fused=self.mode == "epoch")

    def get_weights(self) -> dict[str, np.ndarray]:
        return host_tree(self.trainer.params)

    def train_epoch(self, xb: np.ndarray, yb: np.ndarray) -> float:
        """xb (steps, B, V) data, yb (steps, B, H + k (V + H)) uniform noise -> mean recon error."""
        xs = to_device(xb.reshape(xb.shape[0], xb.shape[1], -1), self.dev)
        return self.trainer.epoch(xs, to_device(yb, self.dev))

    def predict(self, x: np.ndarray) -> np.ndarray:
        """x (N, V) -> p(h=1|v) (N, H)."""
        return np.asarray(self._hidden(self.trainer.params, put_rows(x, self.dev)))

    def sync(self) -> None:
        jax.block_until_ready(self.trainer.params)
