"""CNN in Flax NNX: nnx.Conv + nnx.max_pool + nnx.Linear, optax through nnx.Optimizer, nnx.jit steps.

nnx.Conv is channels-last with (*K, cin, cout) kernels, the canonical layout. Its padding is given
as explicit (low, high) pairs: Flax's "SAME" would pad asymmetrically for even kernels/strides.
Modes: ``step`` runs one jitted optimizer step per batch from a Python loop (the NNX tutorial's
way); ``epoch`` fuses the whole epoch into one jitted ``nnx.scan`` over the steps.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from architectures.cnn import spec
from harness.frameworks.flax import jax_device

ACT = {"relu": nnx.relu, "tanh": nnx.tanh}


def _const(value: np.ndarray):
    """An nnx initializer that returns the canonical array (never the library's random init)."""
    return lambda key, shape, dtype=jnp.float32: jnp.asarray(value, dtype=dtype)


def _init(weights: dict[str, np.ndarray], name: str) -> dict:
    return {"kernel_init": _const(weights[f"{name}.kernel"]), "bias_init": _const(weights[f"{name}.bias"])}


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


def make_tx(train) -> optax.GradientTransformation:
    """optax.sgd (trace: v = momentum v + g) and optax.adam are harness/optim.py's formulas."""
    if train.optimizer == "sgd":
        return optax.sgd(train.lr, momentum=train.momentum or None)
    return optax.adam(train.lr, b1=train.beta1, b2=train.beta2, eps=train.eps)


def _loss(model: CNN, x: jax.Array, y: jax.Array) -> jax.Array:
    return optax.softmax_cross_entropy_with_integer_labels(model(x), y).mean()


def _train_step(model: CNN, optimizer: nnx.Optimizer, x: jax.Array, y: jax.Array) -> jax.Array:
    loss, grads = nnx.value_and_grad(_loss)(model, x, y)
    optimizer.update(model, grads)
    return loss


@nnx.jit
def _step_at(model: CNN, optimizer: nnx.Optimizer, xs: jax.Array, ys: jax.Array, i: jax.Array) -> jax.Array:
    """One step on batch i of the epoch arrays: indexing inside the jit saves a dispatch per step,
    and a traced (not static) i means one compilation for every step."""
    return _train_step(model, optimizer, xs[i], ys[i])


@nnx.jit
def _epoch(model: CNN, optimizer: nnx.Optimizer, xs: jax.Array, ys: jax.Array) -> jax.Array:
    """The whole epoch as one scan over the steps; returns the mean loss."""
    @nnx.scan(in_axes=(nnx.Carry, 0, 0), out_axes=(nnx.Carry, 0))
    def body(carry, x, y):
        return carry, _train_step(*carry, x, y)

    _, losses = body((model, optimizer), xs, ys)
    return losses.mean()


@nnx.jit
def _forward(model: CNN, x: jax.Array) -> jax.Array:
    return model(x)


class Adapter:
    MODES = ("step", "epoch")  # step: jitted step per batch; epoch: one jitted nnx.scan per epoch
    NOTES = ""

    def __init__(self, model, info, train, *, mode="step", device="cpu", seed=0):
        self.model, self.info, self.train, self.mode, self.device = model, info, train, mode, device
        self.dev = jax_device(device)

    def build(self, weights: dict[str, np.ndarray]) -> None:
        """weights: canonical ``conv{i}.kernel`` (*K, cin, cout), ``conv{i}.bias`` (cout,),
        ``dense{j}.kernel`` (in, out), ``dense{j}.bias`` (out,)."""
        with jax.default_device(self.dev):
            self.net = CNN(weights, self.model, spec.spatial_shape(self.info))
            self.opt = nnx.Optimizer(self.net, make_tx(self.train), wrt=nnx.Param)
        for node in (self.net, self.opt):  # commit the state to the device, as jit's outputs will be:
            nnx.update(node, jax.device_put(nnx.state(node), self.dev))  # otherwise epoch 2 recompiles
        # cached_partial skips NNX's per-call graph traversal of the model and optimizer
        self._step = nnx.cached_partial(_step_at, self.net, self.opt)
        self._epoch = nnx.cached_partial(_epoch, self.net, self.opt)

    def get_weights(self) -> dict[str, np.ndarray]:
        out = {}
        for prefix, layers in (("conv", self.net.convs), ("dense", self.net.denses)):
            for i, layer in enumerate(layers):
                out[f"{prefix}{i}.kernel"] = np.array(layer.kernel[...], dtype=np.float32)
                out[f"{prefix}{i}.bias"] = np.array(layer.bias[...], dtype=np.float32)
        return out

    def train_epoch(self, xb: np.ndarray, yb: np.ndarray) -> float:
        """xb (steps, B, *input_shape), yb (steps, B) int -> mean loss over the steps."""
        xs = jax.device_put(xb.reshape(xb.shape[0], xb.shape[1], -1), self.dev)
        ys = jax.device_put(yb.astype(np.int32), self.dev)
        if self.mode == "epoch":
            return float(self._epoch(xs, ys))
        losses = [self._step(xs, ys, i) for i in range(xs.shape[0])]  # no host sync per step
        return float(jnp.mean(jnp.stack(losses)))

    def predict(self, x: np.ndarray) -> np.ndarray:
        """x (N, *input_shape) -> logits (N, classes)."""
        return np.asarray(_forward(self.net, jax.device_put(x.reshape(len(x), -1), self.dev)))

    def sync(self) -> None:
        jax.block_until_ready(nnx.state(self.net))
