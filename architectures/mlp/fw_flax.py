"""MLP in Flax NNX: nnx.Linear stack trained by harness.frameworks.flax.Trainer (optax through
nnx.Optimizer, nnx.jit'd train step).

Modes: ``step`` runs one jitted optimizer step per batch from a Python loop (the NNX tutorial's
way); ``epoch`` fuses the whole epoch into one jitted ``nnx.scan`` over the steps.
"""
from __future__ import annotations

import jax
import numpy as np
from flax import nnx

from harness.frameworks.flax import (
    Trainer,
    const_init,
    forward,
    jax_device,
    put_rows,
    put_steps,
    to_device,
    xent,
)

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


class Adapter:
    MODES = ("step", "epoch")  # step: jitted step per batch; epoch: one jitted nnx.scan per epoch
    NOTES = ""

    def __init__(self, model, info, train, *, mode="step", device="cpu", seed=0):
        self.model, self.info, self.train, self.mode, self.device = model, info, train, mode, device
        self.dev = jax_device(device)

    def build(self, weights: dict[str, np.ndarray]) -> None:
        """weights: canonical ``dense{i}.kernel`` (in, out) and ``dense{i}.bias`` (out,)."""
        with jax.default_device(self.dev):
            self.net = MLP(weights, len(self.model.hidden) + 1, self.model.activation)
        self.trainer = Trainer(self.net, xent, self.train, self.dev)
        self._forward = nnx.cached_partial(forward, self.net)

    def get_weights(self) -> dict[str, np.ndarray]:
        """Canonical float32 copies: ``dense{i}.kernel`` (in, out), ``dense{i}.bias`` (out,)."""
        out = {}
        for i, lin in enumerate(self.net.layers):
            out[f"dense{i}.kernel"] = np.array(lin.kernel[...], dtype=np.float32)
            out[f"dense{i}.bias"] = np.array(lin.bias[...], dtype=np.float32)
        return out

    def train_epoch(self, xb: np.ndarray, yb: np.ndarray) -> float:
        """xb (steps, B, features), yb (steps, B) int -> mean loss over the steps."""
        xs = put_steps(xb, self.dev)
        ys = to_device(yb.astype(np.int32), self.dev)
        return self.trainer.epoch(xs, ys, self.mode)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """x (N, features) -> logits (N, classes)."""
        return np.asarray(self._forward(put_rows(x, self.dev)))

    def sync(self) -> None:
        jax.block_until_ready(nnx.state(self.net))
