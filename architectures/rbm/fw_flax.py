"""RBM in Flax NNX: an nnx.Module with nnx.Param weights, Gibbs sampling with the harness noise, the
CD/PCD update as nnx.grad of mean F(v_data) - mean F(stop_gradient(v_model)) through nnx.Optimizer.

Modes: ``step`` runs one nnx.jit'd CD step per batch from a Python loop (the NNX tutorial's way);
``epoch`` fuses the epoch's steps into one jitted ``nnx.scan`` over the batches and their noise,
carrying the module, optimizer and PCD chain (harness.frameworks.flax's ``scan_steps``).
"""
from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from harness.frameworks.flax import AdapterBase, commit, make_optimizer, scan_steps, to_device

NAMES = ("W", "b_v", "b_h")


class RBM(nnx.Module):
    """Bernoulli-Bernoulli RBM in the canonical layout: W (V, H), b_v (V,), b_h (H,)."""

    def __init__(self, weights: dict[str, np.ndarray]):
        self.W, self.b_v, self.b_h = (nnx.Param(jnp.asarray(weights[k], jnp.float32)) for k in NAMES)

    def hidden_probs(self, v: jax.Array) -> jax.Array:
        return nnx.sigmoid(v @ self.W[...] + self.b_h[...])

    def visible_probs(self, h: jax.Array) -> jax.Array:
        return nnx.sigmoid(h @ self.W[...].T + self.b_v[...])

    def free_energy(self, v: jax.Array) -> jax.Array:
        """F(v) (N,) = -v.b_v - sum_j softplus(v W + b_h)_j."""
        return -(v @ self.b_v[...]) - nnx.softplus(v @ self.W[...] + self.b_h[...]).sum(axis=1)

    def weights(self) -> dict[str, np.ndarray]:
        return {k: np.array(getattr(self, k)[...], dtype=np.float32) for k in NAMES}


def _objective(rbm: RBM, v: jax.Array, vk: jax.Array, wd: float) -> jax.Array:
    # its gradient is the CD statistics: -(v^T p(h|v) - v_k^T p(h|v_k)) / B (+ wd W)
    return rbm.free_energy(v).mean() - rbm.free_energy(vk).mean() + 0.5 * wd * jnp.sum(rbm.W[...] ** 2)


def cd_update(rbm: RBM, opt: nnx.Optimizer, chain: jax.Array, v: jax.Array, u: jax.Array,
              k: int, persistent: bool, wd: float) -> tuple[jax.Array, jax.Array]:
    """One CD-k/PCD-k step in the spec's noise layout; returns (chain, reconstruction error).
    ``chain`` is the PCD hidden state (B, H), passed through unchanged for CD."""
    n_v, n_h = rbm.W.shape
    p0 = rbm.hidden_probs(v)
    err = jnp.mean(jnp.sum((v - rbm.visible_probs(p0)) ** 2, axis=1))
    h = chain if persistent else (u[:, :n_h] < p0).astype(v.dtype)
    for i in range(k):  # k is static: unrolled
        o = n_h + i * (n_v + n_h)
        vk = (u[:, o:o + n_v] < rbm.visible_probs(h)).astype(v.dtype)
        h = (u[:, o + n_v:o + n_v + n_h] < rbm.hidden_probs(vk)).astype(v.dtype)
    grads = nnx.grad(_objective)(rbm, v, jax.lax.stop_gradient(vk), wd)
    opt.update(rbm, grads)
    return (h if persistent else chain), err


@partial(nnx.jit, static_argnames=("k", "persistent", "wd"))
def _step_at(rbm: RBM, opt: nnx.Optimizer, chain: jax.Array, total: jax.Array, xs: jax.Array, us: jax.Array,
             i: jax.Array, *, k: int, persistent: bool, wd: float) -> tuple[jax.Array, jax.Array]:
    """Step on batch i of the epoch arrays: indexing inside the jit saves a dispatch per step and a
    traced i means one compilation; the error is summed on the device."""
    chain, err = cd_update(rbm, opt, chain, xs[i], us[i], k, persistent, wd)
    return chain, total + err


@partial(nnx.jit, static_argnames=("k", "persistent", "wd"))
def _scan_epoch(rbm: RBM, opt: nnx.Optimizer, chain: jax.Array, xs: jax.Array, us: jax.Array, *, k: int,
                persistent: bool, wd: float) -> tuple[jax.Array, jax.Array]:
    """The whole epoch as one ``nnx.scan`` of ``cd_update`` over the batches xs (steps, B, V) and
    their noise us (steps, B, width); returns (chain, mean reconstruction error)."""
    def update(carry, v, u):
        rbm, opt, chain = carry
        chain, err = cd_update(rbm, opt, chain, v, u, k, persistent, wd)
        return (rbm, opt, chain), err

    (_, _, chain), mean = scan_steps(update, (rbm, opt, chain), xs, us)
    return chain, mean


@nnx.jit
def _chain_start(rbm: RBM, v: jax.Array, u: jax.Array) -> jax.Array:
    """PCD's initial chain: h0 = [u < p(h|v)] on the first batch, as CD's chain start."""
    return (u[:, :rbm.W.shape[1]] < rbm.hidden_probs(v)).astype(v.dtype)


@nnx.jit
def _hidden(rbm: RBM, x: jax.Array) -> jax.Array:
    return rbm.hidden_probs(x)


class CDTrainer:
    """One RBM's optimizer, PCD chain and cached jitted step or fused epoch (reused by the DBN per
    layer). ``fused``: each epoch is one jitted ``nnx.scan`` over the steps, not a step per batch."""

    def __init__(self, rbm: RBM, model, train, dev, fused: bool = False):
        self.rbm, self.dev, self.fused = rbm, dev, fused
        self.opt = make_optimizer(train, rbm, dev)
        knobs = {"k": model.cd_k, "persistent": model.persistent, "wd": model.weight_decay}
        # cached_partial skips NNX's per-call graph traversal of the module and optimizer
        self._step = nnx.cached_partial(partial(_step_at, **knobs), rbm, self.opt)
        self._scan = nnx.cached_partial(partial(_scan_epoch, **knobs), rbm, self.opt)
        self.chain: jax.Array | None = None

    def epoch(self, xs: jax.Array, us: jax.Array) -> float:
        """xs (steps, B, V), us (steps, B, width) on the device -> mean reconstruction error."""
        if self.chain is None:  # CD carries it unused; PCD starts from the first batch
            self.chain = _chain_start(self.rbm, xs[0], us[0])
        if self.fused:
            self.chain, mean = self._scan(self.chain, xs, us)
            return float(mean)  # the only host fetch of the epoch
        total = to_device(np.float32(0), self.dev)
        for i in range(xs.shape[0]):
            self.chain, total = self._step(self.chain, total, xs, us, i)
        return float(total) / xs.shape[0]  # the only host fetch of the epoch


class Adapter(AdapterBase):
    MODES = ("step", "epoch")  # step: jitted step per batch; epoch: one jitted nnx.scan per epoch

    def build(self, weights: dict[str, np.ndarray]) -> None:
        """weights: canonical ``W`` (V, H), ``b_v`` (V,), ``b_h`` (H,), float32."""
        with jax.default_device(self.dev):
            self.net = RBM(weights)
        commit(self.net, self.dev)
        self.trainer = CDTrainer(self.net, self.model, self.train, self.dev, fused=self.mode == "epoch")

    def get_weights(self) -> dict[str, np.ndarray]:
        return self.net.weights()

    def train_epoch(self, xb: np.ndarray, yb: np.ndarray) -> float:
        """xb (steps, B, V) data, yb (steps, B, H + k (V + H)) uniform noise -> mean recon error."""
        return self.trainer.epoch(self.inputs(xb, 2), to_device(yb, self.dev))

    def predict(self, x: np.ndarray) -> np.ndarray:
        """x (N, V) -> p(h=1|v) (N, H)."""
        return np.asarray(_hidden(self.net, self.inputs(x)))
