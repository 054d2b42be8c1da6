"""Self-organizing map in Flax: an ``nnx.Module`` holding the codebook ``W`` as an ``nnx.Param`` and
the iteration counter as an ``nnx.Variable``.

One ``nnx.jit``'d epoch per call: a ``lax.scan`` over the samples (online) or the batches (batch
algorithm), after which the module's state is written in place (``som.W[...] = ...``), the way nnx
mutates state under jit. No optimizer and no gradients: the update is the SOM's own rule (see
spec.py); the "step" of a SOM is one sample or one batch.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from architectures.som.spec import decay  # operators only: the reference runs on jax arrays as it is
from harness.frameworks.flax import AdapterBase, host, to_device


class SOM(nnx.Module):
    """W (units, D) codebook of a rows x cols map (units in row-major order); t iterations done."""

    def __init__(self, w: np.ndarray, model, device):
        # committed to the device (device_put): the jit'd epoch returns committed arrays, and an
        # uncommitted first state would make the second epoch compile again
        self.W = nnx.Param(jax.device_put(w, device))
        self.t = nnx.Variable(jax.device_put(np.int32(0), device))
        self.rows, self.cols = model.rows, model.cols
        self.lr, self.sigma, self.decay, self.algorithm = model.learning_rate, model.sigma, model.decay, model.algorithm

    def __call__(self, x: jax.Array) -> jax.Array:
        """x (N, D) -> (N, units) euclidean distances from differences."""
        return jnp.sqrt(jnp.sum((x[:, None, :] - self.W[...][None]) ** 2, axis=-1))

    def grid(self) -> tuple[jax.Array, jax.Array]:
        """Grid coordinates of the rows (rows,) and of the columns (cols,)."""
        return jnp.arange(self.rows, dtype=jnp.float32), jnp.arange(self.cols, dtype=jnp.float32)

    def schedule(self, n: int, total: jax.Array) -> tuple[jax.Array, jax.Array]:
        """eta and sigma (n,) for the next n iterations."""
        t = (self.t[...] + jnp.arange(n)).astype(jnp.float32)
        tot = total.astype(jnp.float32)
        return (decay(self.lr, t, tot, self.decay, "learning_rate"), decay(self.sigma, t, tot, self.decay, "sigma"))

    def online(self, w, x, eta, sig, ar, ac):
        """One sample x (D,) -> (new w, distance to the winner before the update)."""
        diff = x - w
        d2 = jnp.sum(diff * diff, axis=1)
        c = jnp.argmin(d2)  # first minimum, as np.argmin
        d = 2 * sig * sig
        # MiniSom's separable gaussian: exps over the rows and the columns, then their outer product
        g = jnp.outer(jnp.exp(-(ar - c // self.cols) ** 2 / d), jnp.exp(-(ac - c % self.cols) ** 2 / d))
        return w + (g.reshape(-1) * eta)[:, None] * diff, jnp.sqrt(d2[c])

    def batch(self, w, x, eta, sig, ar, ac):
        """One batch x (B, D) -> (new w, summed distance to the winners before the update)."""
        d2 = jnp.sum((x[:, None, :] - w[None]) ** 2, axis=-1)  # (B, units)
        c = jnp.argmin(d2, axis=1)
        di = (ar[None, :, None] - (c // self.cols)[:, None, None]) ** 2  # (B, rows, 1)
        dj = (ac[None, None, :] - (c % self.cols)[:, None, None]) ** 2  # (B, 1, cols)
        logh = (-(di + dj) / (2 * sig * sig)).reshape(x.shape[0], -1)  # (B, units)
        h = jnp.exp(logh - logh.max(axis=0, keepdims=True))  # per-unit max 1: sums never underflow
        mean = (h.T @ x) / h.sum(axis=0)[:, None]
        return (1 - eta) * w + eta * mean, jnp.sum(jnp.sqrt(jnp.min(d2, axis=1)))

    def fit_epoch(self, x: jax.Array, total: jax.Array) -> jax.Array:
        """x (n, D) samples or (steps, B, D) batches, in order -> summed distance to the winners."""
        eta, sig = self.schedule(x.shape[0], total)
        ar, ac = self.grid()
        update = self.online if self.algorithm == "online" else self.batch
        w, dists = jax.lax.scan(lambda w, inp: update(w, *inp, ar, ac), self.W[...], (x, eta, sig))
        self.W[...] = w
        self.t[...] = self.t[...] + x.shape[0]
        return jnp.sum(dists)


@nnx.jit
def train_epoch(som: SOM, x: jax.Array, total: jax.Array) -> jax.Array:
    return som.fit_epoch(x, total)


class Adapter(AdapterBase):
    MODES = ("epoch",)  # the whole epoch is one nnx.jit'd scan over SOM steps (samples or batches)
    ALIASES = {"step": "epoch"}  # there is no per-step loop here: a request for step runs the fused epoch

    def build(self, weights: dict[str, np.ndarray]) -> None:
        """weights: canonical ``W`` (rows, cols, D) float32."""
        w = weights["W"]
        self.shape = w.shape
        self.net = SOM(np.asarray(w, np.float32).reshape(-1, w.shape[-1]), self.model, self.dev)

    def get_weights(self) -> dict[str, np.ndarray]:
        return {"W": host(self.net.W).reshape(self.shape)}

    def train_epoch(self, xb: np.ndarray, yb: np.ndarray) -> float:
        """xb (steps, B, D) -> mean distance of the epoch's samples to their winners (before each update)."""
        steps, b = xb.shape[:2]
        online = self.model.algorithm == "online"
        x = np.asarray(xb, np.float32).reshape((steps * b, -1) if online else (steps, b, -1))
        dist = train_epoch(self.net, to_device(x, self.dev), jnp.int32(self.train.epochs * x.shape[0]))
        return float(dist) / (steps * b)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """x (N, D) -> distances (N, rows*cols) to every unit, float32."""
        return super().predict(x)
