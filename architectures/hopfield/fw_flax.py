"""Hopfield network in Flax: an ``nnx.Module`` holding ``W`` and ``b`` as ``nnx.Param``.

Storage and recall are ``nnx.jit`` functions of the module; storage writes the Params in place
(``module.W[...] = ...``), the way nnx mutates state under jit. No optimizer: the rules are closed form.
Storkey's rule is a ``lax.scan`` over patterns, async recall a ``lax.fori_loop`` over the update order.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from architectures.hopfield.fw_jax import pm1, sign, zero_diagonal
from architectures.hopfield.fw_jax import (
    recall_async as jax_recall_async,  # flax is jax: the same array helpers
)
from harness.frameworks.flax import AdapterBase, host, to_device


class Hopfield(nnx.Module):
    """W (N, N) symmetric zero-diagonal couplings and b (N,) biases of +-1 units."""

    def __init__(self, w: jax.Array, b: jax.Array, rule: str):
        self.W = nnx.Param(w)
        self.b = nnx.Param(b)
        self.rule = rule

    def __call__(self, s: jax.Array) -> jax.Array:
        """One synchronous update of s (n, N)."""
        return sign(s @ self.W[...].T + self.b[...])

    def add(self, p: jax.Array) -> None:
        """Store patterns p (P, N) by the rule, in row order."""
        w, n = self.W[...], p.shape[1]
        if self.rule == "hebbian":
            self.W[...] = zero_diagonal(w + p.T @ p / n)
            return

        def one(w, xi):  # Storkey (1997): each pattern sees the W left by the previous ones
            h = w @ xi
            hij = h[:, None] - w * xi[None, :]  # field at i leaving out units i and j
            return zero_diagonal(w + (jnp.outer(xi, xi) - xi[:, None] * hij.T - hij * xi[None, :]) / n), None

        self.W[...] = jax.lax.scan(one, w, p)[0]

    def energy(self, s: jax.Array) -> jax.Array:
        """Mean energy -1/2 s^T W s - b^T s over rows of s (n, N)."""
        return jnp.mean(-0.5 * jnp.sum((s @ self.W[...]) * s, axis=1) - s @ self.b[...])


@nnx.jit
def train_step(net: Hopfield, p: jax.Array) -> jax.Array:
    net.add(p)
    return net.energy(p)


@nnx.jit
def store_fresh(net: Hopfield, p: jax.Array) -> None:
    net.W[...] = jnp.zeros_like(net.W[...])
    net.b[...] = jnp.zeros_like(net.b[...])
    net.add(p)


@nnx.jit
def recall_sync(net: Hopfield, s: jax.Array, steps: jax.Array) -> jax.Array:
    def cond(c):
        t, _, changed = c
        return (t < steps) & changed

    def body(c):
        t, s, _ = c
        new = net(s)
        return t + 1, new, jnp.any(new != s)

    return jax.lax.while_loop(cond, body, (jnp.int32(0), s, jnp.bool_(True)))[1]


@nnx.jit
def recall_async(net: Hopfield, s: jax.Array, order: jax.Array) -> jax.Array:
    """order: flattened (steps * N,) unit indices, updated one at a time (the jax adapter's loop)."""
    return jax_recall_async(net.W[...], net.b[...], s, order)


class Adapter(AdapterBase):
    MODES = ("step",)

    def __init__(self, model, info, train, **kw):
        super().__init__(model, info, train, **kw)
        self.n = int(np.prod(info.input_shape))

    def build(self, weights: dict[str, np.ndarray]) -> None:
        """weights: canonical ``W`` (N, N) and ``b`` (N,), float32."""
        w, b = (jax.device_put(np.asarray(weights[k], np.float32), self.dev) for k in ("W", "b"))
        self.net = Hopfield(w, b, self.model.rule)

    def get_weights(self) -> dict[str, np.ndarray]:
        return {"W": host(self.net.W), "b": host(self.net.b)}

    def _put(self, x: np.ndarray) -> jax.Array:
        return to_device(pm1(x), self.dev)

    def train_epoch(self, xb: np.ndarray, yb: np.ndarray) -> float:
        """xb (steps, B, N) patterns, stored in order -> mean energy of those patterns after storage."""
        return float(train_step(self.net, self._put(xb.reshape(-1, self.n))))

    def store(self, patterns: np.ndarray) -> None:
        """patterns (P, N): replace the memory with W stored from zero, b = 0."""
        store_fresh(self.net, self._put(patterns))

    def predict(self, x: np.ndarray) -> np.ndarray:
        """x (n, N) -> one synchronous update sign(s W^T + b) (n, N) +-1."""
        return super().predict(pm1(x))

    def recall(self, x: np.ndarray, steps: int, mode: str, order: np.ndarray | None = None) -> np.ndarray:
        """x (n, N) -> final +-1 states (n, N) after ``steps`` synchronous updates (mode "sync") or
        ``steps`` asynchronous sweeps in ``order`` (steps, N) (mode "async")."""
        s = self._put(x)
        if mode == "sync":
            return np.asarray(recall_sync(self.net, s, jnp.int32(steps)))
        flat = to_device(np.asarray(order)[:steps].reshape(-1).astype(np.int32), self.dev)
        return np.asarray(recall_async(self.net, s, flat))
