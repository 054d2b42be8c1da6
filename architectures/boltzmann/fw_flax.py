"""Boltzmann machine in Flax: an ``nnx.Module`` with ``W``/``b`` Params and the persistent chains as an
nnx Variable, ``nnx.Optimizer`` and ``nnx.jit``.

The AHS gradient is a difference of sampled statistics (no nnx.grad); it is wrapped as an
``nnx.State`` of Params and applied with ``optimizer.update`` (harness.frameworks.flax.make_optimizer:
optax.sgd/adam = harness/optim.py).
Gibbs sweeps are a ``lax.scan`` over the flattened (sweep, unit) sequence; states are unit-major (n, B).

Modes: ``step`` runs one jitted train step per batch from a Python loop; ``epoch`` fuses the epoch's
steps into one jitted ``nnx.scan`` over the batches and their noise (harness.frameworks.flax's
``scan_steps``), carrying the module (weights and chains) and the optimizer.
"""
from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from harness.frameworks.flax import AdapterBase, host, make_optimizer, scan_steps, sum_steps


class Chains(nnx.Variable):
    """Persistent negative-phase states (n, B): model state that no optimizer touches."""


class BoltzmannMachine(nnx.Module):
    """n = V + H fully connected binary units: W (n, n) symmetric zero-diagonal, b (n,)."""

    def __init__(self, w: jax.Array, b: jax.Array, model, nv: int):
        self.W, self.b = nnx.Param(w), nnx.Param(b)
        self.chains = Chains(jnp.zeros((w.shape[0], 0), w.dtype))  # sized on the first epoch
        self.k, self.h, self.nv = model.gibbs_steps, model.hidden, nv
        self.persistent, self.weight_decay = model.persistent, model.weight_decay

    def __call__(self, s: jax.Array) -> jax.Array:
        """Gibbs conditionals p(s_i = 1 | s_-i) for full states s (N, n)."""
        return jax.nn.sigmoid(s @ self.W[...] + self.b[...])

    def sweeps(self, s: jax.Array, units: jax.Array, u: jax.Array) -> jax.Array:
        """Sequential Gibbs updates of s (n, B): units (steps,) in order, u (steps, B) their uniforms."""
        w, b = self.W[...], self.b[...]

        def one(s, iu):
            i, ui = iu
            return s.at[i].set((ui < jax.nn.sigmoid(w[i] @ s + b[i])).astype(s.dtype)), None

        return jax.lax.scan(one, s, (units, u))[0]

    def energy(self, s: jax.Array) -> jax.Array:
        """Mean energy over the columns of s (n, B)."""
        return jnp.mean(-0.5 * jnp.sum((self.W[...] @ s) * s, axis=0) - self.b[...] @ s)

    def phases(self, v: jax.Array, u: jax.Array) -> tuple[jax.Array, jax.Array]:
        """Positive and negative states (n, B) for visibles v (B, V) and uniforms u (B, noise)."""
        k, h, n = self.k, self.h, self.W.shape[0]
        pos = jnp.concatenate([v.T, jnp.zeros((h, v.shape[0]), v.dtype)])
        pos = self.sweeps(pos, jnp.tile(jnp.arange(self.nv, n), k), u[:, : k * h].T)
        start = self.chains[...] if self.persistent else pos
        neg = self.sweeps(start, jnp.tile(jnp.arange(n), k), u[:, k * h:].T)
        self.chains[...] = neg
        return pos, neg


def ahs_update(bm: BoltzmannMachine, optimizer: nnx.Optimizer, v: jax.Array, u: jax.Array) -> jax.Array:
    """One batch v (B, V) with uniforms u (B, noise): AHS update of the Params (and the chains);
    returns the energy gap, computed with the weights before the update."""
    pos, neg = bm.phases(v, u)
    gap = bm.energy(pos) - bm.energy(neg)
    n, batch = pos.shape
    grad_w = -(pos @ pos.T - neg @ neg.T) / batch + bm.weight_decay * bm.W[...]
    grads = nnx.State({"W": nnx.Param(grad_w * (1.0 - jnp.eye(n, dtype=grad_w.dtype))),
                       "b": nnx.Param(-(pos.sum(1) - neg.sum(1)) / batch)})
    optimizer.update(bm, grads)
    return gap


@nnx.jit
def train_step(bm: BoltzmannMachine, optimizer: nnx.Optimizer, total: jax.Array, xs: jax.Array,
               us: jax.Array, i: jax.Array) -> jax.Array:
    """One batch xs[i] (B, V) with uniforms us[i] (``ahs_update``); returns total + energy gap."""
    return total + ahs_update(bm, optimizer, xs[i], us[i])


@nnx.jit
def train_scan(bm: BoltzmannMachine, optimizer: nnx.Optimizer, xs: jax.Array, us: jax.Array) -> jax.Array:
    """The whole epoch as one ``nnx.scan`` of ``ahs_update`` over xs (steps, B, V), us (steps, B,
    noise); returns the mean energy gap."""
    def update(carry, v, u):
        return carry, ahs_update(*carry, v, u)

    return scan_steps(update, (bm, optimizer), xs, us)[1]


class Adapter(AdapterBase):
    MODES = ("step", "epoch")  # step: jitted step per batch; epoch: one jitted nnx.scan per epoch

    def __init__(self, model, info, train, **kw):
        super().__init__(model, info, train, **kw)
        self.nv = int(np.prod(info.input_shape))
        self.n = self.nv + model.hidden

    def build(self, weights: dict[str, np.ndarray]) -> None:
        """weights: canonical ``W`` (n, n) symmetric zero-diagonal and ``b`` (n,); chains reset to zero."""
        w, b = (jax.device_put(np.asarray(weights[k], np.float32), self.dev) for k in ("W", "b"))
        self.net = BoltzmannMachine(w, b, self.model, self.nv)
        self.optimizer = make_optimizer(self.train, self.net, self.dev)

    def get_weights(self) -> dict[str, np.ndarray]:
        return {"W": host(self.net.W), "b": host(self.net.b)}

    def train_epoch(self, xb: np.ndarray, yb: np.ndarray) -> float:
        """xb (steps, B, V) {0,1} visibles, yb (steps, B, noise) uniforms (spec layout) -> mean energy gap."""
        steps, batch = xb.shape[:2]
        if self.net.chains.shape[1] != batch:  # first epoch after build: all-zero chains
            self.net.chains = Chains(jax.device_put(np.zeros((self.n, batch), np.float32), self.dev))
        xs, us = self.inputs(xb, 2), self.inputs(yb, 2)
        if self.mode == "epoch":
            return float(train_scan(self.net, self.optimizer, xs, us))
        # a plain partial: nnx.cached_partial needs a fixed graph, and the chains Variable is replaced above
        step = partial(train_step, self.net, self.optimizer)
        return sum_steps(step, steps, self.dev, xs, us)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """x (N, n) states, or (N, V) visibles with hidden off -> p(s_i = 1 | s_-i) (N, n)."""
        flat = np.asarray(x, np.float32).reshape(len(x), -1)
        return super().predict(np.pad(flat, ((0, 0), (0, self.n - flat.shape[1]))))
