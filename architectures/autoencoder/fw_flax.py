"""Autoencoder in Flax NNX: nnx.Linear layers (decoder biases as nnx.Param when tied), trained by
harness.frameworks.flax.Trainer on the mean squared error (nnx.Optimizer over optax).

Modes: ``step`` runs one nnx.jit'd optimizer step per batch from a Python loop (through
nnx.cached_partial, the losses summed on the device); ``epoch`` fuses the whole epoch into one
jitted ``nnx.scan`` over the (corrupted input, clean target) batches (``Trainer.epoch``).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from harness.frameworks.flax import GradientAdapter, const_init, host, sum_steps

ACT = {"relu": jax.nn.relu, "tanh": jnp.tanh, "sigmoid": jax.nn.sigmoid, "linear": lambda h: h}


def _linear(weights: dict[str, np.ndarray], name: str) -> nnx.Linear:
    k = weights[f"{name}.kernel"]  # nnx.Linear stores (in, out), the canonical layout
    return nnx.Linear(k.shape[0], k.shape[1], kernel_init=const_init(k),
                      bias_init=const_init(weights[f"{name}.bias"]), rngs=nnx.Rngs(0))


class AutoEncoder(nnx.Module):
    """enc[i]: nnx.Linear(in_i, out_i); dec[i] mirrors it (out_i -> in_i): an nnx.Linear, or, when
    tied, only a bias used with enc[i].kernel transposed. dec[0] is the output layer."""

    def __init__(self, weights: dict[str, np.ndarray], model):
        # plain hashable attributes: NNX treats them as static graph data
        self.act, self.out, self.tied = model.activation, model.output, model.tied
        k = len(model.encoder)
        self.enc = nnx.List([_linear(weights, f"enc{i}") for i in range(k)])
        if self.tied:
            self.dec_bias = nnx.List([nnx.Param(jnp.asarray(weights[f"dec{i}.bias"])) for i in range(k)])
        else:
            self.dec = nnx.List([_linear(weights, f"dec{i}") for i in range(k)])

    def __call__(self, x: jax.Array) -> jax.Array:
        act = ACT[self.act]
        h = x
        for lin in self.enc:
            h = act(lin(h))
        for i in reversed(range(len(self.enc))):
            if self.tied:
                h = h @ self.enc[i].kernel[...].T + self.dec_bias[i][...]
            else:
                h = self.dec[i](h)
            h = act(h) if i > 0 else ACT[self.out](h)
        return h


class Adapter(GradientAdapter):
    """Canonical ``enc{i}.*``, ``dec{i}.*`` (see the spec); x (N, D) -> reconstruction (N, D); the
    loss is the mean over batch and features of (reconstruction of the corrupted x - clean y)^2."""

    MODES = ("step", "epoch")  # step: jitted step per batch; epoch: one jitted nnx.scan per epoch
    LOSS = "mse"

    def make_net(self, weights: dict[str, np.ndarray]) -> AutoEncoder:
        return AutoEncoder(weights, self.model)

    def get_weights(self) -> dict[str, np.ndarray]:
        out = {}
        for i, lin in enumerate(self.net.enc):
            out[f"enc{i}.kernel"], out[f"enc{i}.bias"] = host(lin.kernel), host(lin.bias)
        for i in range(len(self.net.enc)):
            if self.model.tied:
                out[f"dec{i}.bias"] = host(self.net.dec_bias[i])
            else:
                out[f"dec{i}.kernel"], out[f"dec{i}.bias"] = host(self.net.dec[i].kernel), host(self.net.dec[i].bias)
        return out

    def train_epoch(self, xb: np.ndarray, yb: np.ndarray) -> float:
        """xb (steps, B, D) corrupted inputs, yb (steps, B, D) clean targets -> mean loss over the steps."""
        if self.mode == "epoch":
            return super().train_epoch(xb, yb)
        xs, ys = self.inputs(xb, 2), self.inputs(yb, 2)
        # each loss added outside the jit (not Trainer.summed_epoch, whose add XLA may fuse: other last bits)
        return sum_steps(lambda total, i: total + self.trainer.step(xs, ys, i), xs.shape[0], self.dev)
