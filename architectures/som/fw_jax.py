"""Self-organizing map in JAX: jax.numpy, one ``jax.jit``'d epoch that is a ``lax.scan``.

The "step" of a SOM is one sample (online) or one batch (batch algorithm), not a gradient step: the
online rule is sequential in the samples, so the epoch is one compiled ``lax.scan`` over its samples
(over its batches for the batch algorithm), vectorised over the units. No ``jax.grad``, no optax: the
update is the SOM's own rule (see spec.py). The iteration counter and T enter the compiled function
as arrays, so every epoch reuses one compilation.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from architectures.som.spec import decay  # operators only: the reference runs on tensors as it is
from harness.frameworks.jax import AdapterBase, put_rows, to_device


def schedule(model, t0: jax.Array, n: int, total: jax.Array) -> tuple[jax.Array, jax.Array]:
    """eta and sigma (n,) for iterations t0 .. t0+n-1."""
    t = (t0 + jnp.arange(n)).astype(jnp.float32)
    tot = total.astype(jnp.float32)
    return (decay(model.learning_rate, t, tot, model.decay, "learning_rate"),
            decay(model.sigma, t, tot, model.decay, "sigma"))


def online_update(ar: jax.Array, ac: jax.Array, w: jax.Array, x: jax.Array, eta: jax.Array, sig: jax.Array
                  ) -> tuple[jax.Array, jax.Array]:
    """One sample x (D,) on w (units, D) -> (new w, distance to the winner before the update).
    ar (rows,), ac (cols,): the grid coordinates."""
    diff = x - w
    d2 = jnp.sum(diff * diff, axis=1)
    c, cols = jnp.argmin(d2), ac.shape[0]  # first minimum, as np.argmin
    d = 2 * sig * sig
    # MiniSom's separable gaussian: exps over the rows and the columns, then their outer product
    g = jnp.outer(jnp.exp(-(ar - c // cols) ** 2 / d), jnp.exp(-(ac - c % cols) ** 2 / d))
    return w + (g.reshape(-1) * eta)[:, None] * diff, jnp.sqrt(d2[c])


def batch_update(ar: jax.Array, ac: jax.Array, w: jax.Array, x: jax.Array, eta: jax.Array, sig: jax.Array
                 ) -> tuple[jax.Array, jax.Array]:
    """One batch x (B, D) on w (units, D) -> (new w, summed distance to the winners before the update)."""
    d2 = jnp.sum((x[:, None, :] - w[None]) ** 2, axis=-1)  # (B, units)
    c, cols = jnp.argmin(d2, axis=1), ac.shape[0]
    di = (ar[None, :, None] - (c // cols)[:, None, None]) ** 2  # (B, rows, 1)
    dj = (ac[None, None, :] - (c % cols)[:, None, None]) ** 2  # (B, 1, cols)
    logh = (-(di + dj) / (2 * sig * sig)).reshape(x.shape[0], -1)  # (B, units)
    h = jnp.exp(logh - logh.max(axis=0, keepdims=True))  # per-unit max 1: sums never underflow
    mean = (h.T @ x) / h.sum(axis=0)[:, None]
    return (1 - eta) * w + eta * mean, jnp.sum(jnp.sqrt(jnp.min(d2, axis=1)))


def make_epoch(model):
    """The jit'd epoch for this model (the model's settings are compile-time constants):
    x (n, D) samples (online) or (steps, B, D) batches -> (new w, summed distance to the winners)."""
    update = online_update if model.algorithm == "online" else batch_update

    @jax.jit
    def epoch(ar, ac, w, x, t0, total):
        eta, sig = schedule(model, t0, x.shape[0], total)
        w, dists = jax.lax.scan(lambda w, inp: update(ar, ac, w, *inp), w, (x, eta, sig))
        return w, jnp.sum(dists)

    return epoch


@jax.jit
def distances(w: jax.Array, x: jax.Array) -> jax.Array:
    """x (N, D) -> (N, units) euclidean distances from differences."""
    return jnp.sqrt(jnp.sum((x[:, None, :] - w[None]) ** 2, axis=-1))


class Adapter(AdapterBase):
    MODES = ("epoch",)  # the whole epoch is one jit'd scan over SOM steps (samples or batches)
    ALIASES = {"step": "epoch"}  # there is no per-step loop here: a request for step runs the fused epoch

    def __init__(self, model, info, train, **kw):
        super().__init__(model, info, train, **kw)
        self.ar = jax.device_put(np.arange(model.rows, dtype=np.float32), self.dev)  # grid row coordinates
        self.ac = jax.device_put(np.arange(model.cols, dtype=np.float32), self.dev)  # grid column coordinates
        self._epoch = make_epoch(model)

    def build(self, weights: dict[str, np.ndarray]) -> None:
        """weights: canonical ``W`` (rows, cols, D) float32."""
        self.t = 0  # iterations done, counted across train_epoch calls
        w = weights["W"]
        self.shape = w.shape
        self.W = jax.device_put(np.asarray(w, np.float32).reshape(-1, w.shape[-1]), self.dev)

    def get_weights(self) -> dict[str, np.ndarray]:
        return {"W": np.array(self.W, np.float32).reshape(self.shape)}

    def train_epoch(self, xb: np.ndarray, yb: np.ndarray) -> float:
        """xb (steps, B, D) -> mean distance of the epoch's samples to their winners (before each update)."""
        steps, b = xb.shape[:2]
        online = self.model.algorithm == "online"
        x = np.asarray(xb, np.float32).reshape((steps * b, -1) if online else (steps, b, -1))
        n = x.shape[0]
        self.W, dist = self._epoch(self.ar, self.ac, self.W, to_device(x, self.dev),
                                   jnp.int32(self.t), jnp.int32(self.train.epochs * n))
        self.t += n
        return float(dist) / (steps * b)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """x (N, D) -> distances (N, rows*cols) to every unit, float32."""
        return np.asarray(distances(self.W, put_rows(x, self.dev)))

    def sync(self) -> None:
        self.W.block_until_ready()
