"""MLP in Flax NNX: nnx.Linear stack trained by harness.frameworks.flax.Trainer (optax through
nnx.Optimizer, nnx.jit'd train step).

Modes: ``step`` runs one jitted optimizer step per batch from a Python loop (the NNX tutorial's
way); ``epoch`` fuses the whole epoch into one jitted ``nnx.scan`` over the steps.
"""
from __future__ import annotations

import jax
import numpy as np
from flax import nnx

from harness.frameworks.flax import GradientAdapter, const_init, host

ACT = {"relu": nnx.relu, "tanh": nnx.tanh, "sigmoid": nnx.sigmoid}


class MLP(nnx.Module):
    def __init__(self, weights: dict[str, np.ndarray], n_layers: int, activation: str):
        rngs = nnx.Rngs(0)  # required by nnx.Linear; unused because both initializers are constants
        self.layers = nnx.List([
            nnx.Linear(*weights[f"dense{i}.kernel"].shape, kernel_init=const_init(weights[f"dense{i}.kernel"]),
                       bias_init=const_init(weights[f"dense{i}.bias"]), rngs=rngs)
            for i in range(n_layers)])
        self.act = ACT[activation]

    def __call__(self, x: jax.Array) -> jax.Array:
        for lin in self.layers[:-1]:
            x = self.act(lin(x))
        return self.layers[-1](x)


class Adapter(GradientAdapter):
    """Canonical ``dense{i}.kernel`` (in, out), ``dense{i}.bias`` (out,) in nnx.Linear layers;
    x (N, features) -> logits (N, classes)."""

    MODES = ("step", "epoch")  # step: jitted step per batch; epoch: one jitted nnx.scan per epoch
    LOSS = "xent"

    def make_net(self, weights: dict[str, np.ndarray]) -> MLP:
        return MLP(weights, len(self.model.hidden) + 1, self.model.activation)

    def get_weights(self) -> dict[str, np.ndarray]:
        """Canonical float32 copies: ``dense{i}.kernel`` (in, out), ``dense{i}.bias`` (out,)."""
        out = {}
        for i, lin in enumerate(self.net.layers):
            out[f"dense{i}.kernel"], out[f"dense{i}.bias"] = host(lin.kernel), host(lin.bias)
        return out
