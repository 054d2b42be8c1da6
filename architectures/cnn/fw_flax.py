"""CNN in Flax NNX: nnx.Conv + nnx.max_pool + nnx.Linear, trained by harness.frameworks.flax.Trainer
(optax through nnx.Optimizer, nnx.jit steps).

nnx.Conv is channels-last with (*K, cin, cout) kernels, the canonical layout. Its padding is given
as explicit (low, high) pairs: Flax's "SAME" would pad asymmetrically for even kernels/strides.
Modes: ``step`` runs one jitted optimizer step per batch from a Python loop (the NNX tutorial's
way); ``epoch`` fuses the whole epoch into one jitted ``nnx.scan`` over the steps.
"""
from __future__ import annotations

import jax
import numpy as np
from flax import nnx

from architectures.cnn import spec
from harness.frameworks.flax import GradientAdapter, const_init, host

ACT = {"relu": nnx.relu, "tanh": nnx.tanh}


def _init(weights: dict[str, np.ndarray], name: str) -> dict:
    return {"kernel_init": const_init(weights[f"{name}.kernel"]), "bias_init": const_init(weights[f"{name}.bias"])}


class CNN(nnx.Module):
    def __init__(self, weights: dict[str, np.ndarray], model, spatial: tuple[int, ...]):
        rngs = nnx.Rngs(0)  # required by nnx.Conv/Linear; unused because every initializer is a constant
        d = len(spatial)
        self.spatial, self.pools = spatial, tuple(c.pool for c in model.conv)
        self.convs = nnx.List([
            nnx.Conv(*weights[f"conv{i}.kernel"].shape[-2:], kernel_size=(c.kernel,) * d, strides=(c.stride,) * d,
                     padding=[(c.padding, c.padding)] * d, rngs=rngs, **_init(weights, f"conv{i}"))
            for i, c in enumerate(model.conv)])
        self.denses = nnx.List([
            nnx.Linear(*weights[f"dense{j}.kernel"].shape, rngs=rngs, **_init(weights, f"dense{j}"))
            for j in range(len(model.dense) + 1)])
        self.act = ACT[model.activation]

    def __call__(self, x: jax.Array) -> jax.Array:
        """x (N, prod(spatial)) -> logits (N, classes)."""
        h = x.reshape(x.shape[0], *self.spatial, 1)
        for conv, p in zip(self.convs, self.pools):
            h = self.act(conv(h))
            if p > 1:
                h = nnx.max_pool(h, (p,) * len(self.spatial), strides=(p,) * len(self.spatial), padding="VALID")
        h = h.reshape(h.shape[0], -1)  # channels-last flatten: the canonical order
        for lin in self.denses[:-1]:
            h = self.act(lin(h))
        return self.denses[-1](h)


class Adapter(GradientAdapter):
    """Canonical ``conv{i}.kernel`` (*K, cin, cout), ``conv{i}.bias`` (cout,), ``dense{j}.kernel``
    (in, out), ``dense{j}.bias`` (out,); x (N, *input_shape) -> logits (N, classes)."""

    MODES = ("step", "epoch")  # step: jitted step per batch; epoch: one jitted nnx.scan per epoch
    LOSS = "xent"

    def make_net(self, weights: dict[str, np.ndarray]) -> CNN:
        return CNN(weights, self.model, spec.spatial_shape(self.info))

    def get_weights(self) -> dict[str, np.ndarray]:
        out = {}
        for prefix, layers in (("conv", self.net.convs), ("dense", self.net.denses)):
            for i, layer in enumerate(layers):
                out[f"{prefix}{i}.kernel"], out[f"{prefix}{i}.bias"] = host(layer.kernel), host(layer.bias)
        return out
