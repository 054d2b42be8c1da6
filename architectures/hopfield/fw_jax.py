"""Hopfield network in JAX: jax.numpy arrays and jitted functions (no gradients, no optimizer).

Storkey's rule is a ``lax.scan`` over the patterns, async recall a ``lax.fori_loop`` over the flattened
update order (one unit at a time, vectorised over examples), sync recall a ``lax.while_loop`` that
stops at a fixed point. Each function is jitted once; a new number of examples compiles once more.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from harness.frameworks.jax import AdapterBase, host_tree, to_device


def pm1(x: np.ndarray) -> np.ndarray:
    """(n, ...) -> (n, N) float32 +-1: +1 where x > 0 (so {0,1} digits map 0 -> -1)."""
    return np.where(np.asarray(x).reshape(len(x), -1) > 0, 1.0, -1.0).astype(np.float32)


def sign(h: jax.Array) -> jax.Array:
    """sign with sign(0) = +1."""
    return jnp.where(h >= 0, 1.0, -1.0).astype(h.dtype)


def zero_diagonal(w: jax.Array) -> jax.Array:
    return w * (1.0 - jnp.eye(w.shape[0], dtype=w.dtype))


def hebbian(w: jax.Array, p: jax.Array) -> jax.Array:
    """W (N, N) plus patterns p (P, N): W + p^T p / N, zero diagonal."""
    return zero_diagonal(w + p.T @ p / p.shape[1])


def storkey(w: jax.Array, p: jax.Array) -> jax.Array:
    """Storkey (1997), one pattern at a time in row order."""
    n = p.shape[1]

    def one(w, xi):
        h = w @ xi
        hij = h[:, None] - w * xi[None, :]  # field at i leaving out units i and j
        return zero_diagonal(w + (jnp.outer(xi, xi) - xi[:, None] * hij.T - hij * xi[None, :]) / n), None

    return jax.lax.scan(one, w, p)[0]


def energy(w: jax.Array, b: jax.Array, s: jax.Array) -> jax.Array:
    """Mean energy -1/2 s^T W s - b^T s over rows of s (n, N)."""
    return jnp.mean(-0.5 * jnp.sum((s @ w) * s, axis=1) - s @ b)


def recall_sync(w: jax.Array, b: jax.Array, s: jax.Array, steps: jax.Array) -> jax.Array:
    def cond(c):
        t, _, changed = c
        return (t < steps) & changed

    def body(c):
        t, s, _ = c
        new = sign(s @ w.T + b)
        return t + 1, new, jnp.any(new != s)

    return jax.lax.while_loop(cond, body, (jnp.int32(0), s, jnp.bool_(True)))[1]


def recall_async(w: jax.Array, b: jax.Array, s: jax.Array, order: jax.Array) -> jax.Array:
    """order: flattened (steps * N,) unit indices, updated one at a time."""

    def body(k, s):
        i = order[k]
        return s.at[:, i].set(sign(s @ w[i] + b[i]))

    return jax.lax.fori_loop(0, order.shape[0], body, s)


class Adapter(AdapterBase):
    MODES = ("step",)

    def __init__(self, model, info, train, **kw):
        super().__init__(model, info, train, **kw)
        self.n = int(np.prod(info.input_shape))
        rule = hebbian if model.rule == "hebbian" else storkey

        def train_step(w, b, p):
            w = rule(w, p)
            return w, energy(w, b, p)

        self._train = jax.jit(train_step, donate_argnums=(0,))
        self._store = jax.jit(lambda p: rule(jnp.zeros((p.shape[1], p.shape[1]), p.dtype), p))
        self._forward = jax.jit(lambda w, b, s: sign(s @ w.T + b))
        self._sync = jax.jit(recall_sync)
        self._async = jax.jit(recall_async)

    def build(self, weights: dict[str, np.ndarray]) -> None:
        """weights: canonical ``W`` (N, N) and ``b`` (N,), float32."""
        self.W = jax.device_put(np.asarray(weights["W"], np.float32), self.dev)
        self.b = jax.device_put(np.asarray(weights["b"], np.float32), self.dev)

    def get_weights(self) -> dict[str, np.ndarray]:
        return host_tree({"W": self.W, "b": self.b})

    def _put(self, x: np.ndarray) -> jax.Array:
        return to_device(pm1(x), self.dev)

    def train_epoch(self, xb: np.ndarray, yb: np.ndarray) -> float:
        """xb (steps, B, N) patterns, stored in order -> mean energy of those patterns after storage."""
        self.W, e = self._train(self.W, self.b, self._put(xb.reshape(-1, self.n)))
        return float(e)

    def store(self, patterns: np.ndarray) -> None:
        """patterns (P, N): replace the memory with W stored from zero, b = 0."""
        self.W = self._store(self._put(patterns))
        self.b = jnp.zeros_like(self.b)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """x (n, N) -> one synchronous update sign(s W^T + b) (n, N) +-1."""
        return np.asarray(self._forward(self.W, self.b, self._put(x)))

    def recall(self, x: np.ndarray, steps: int, mode: str, order: np.ndarray | None = None) -> np.ndarray:
        """x (n, N) -> final +-1 states (n, N) after ``steps`` synchronous updates (mode "sync") or
        ``steps`` asynchronous sweeps in ``order`` (steps, N) (mode "async")."""
        s = self._put(x)
        if mode == "sync":
            return np.asarray(self._sync(self.W, self.b, s, jnp.int32(steps)))
        flat = to_device(np.asarray(order)[:steps].reshape(-1).astype(np.int32), self.dev)
        return np.asarray(self._async(self.W, self.b, s, flat))

    def sync(self) -> None:
        jax.block_until_ready((self.W, self.b))
