"""MLP in Flax NNX: nnx.Linear stack, optax through nnx.Optimizer, nnx.jit'd train step.

Modes: ``step`` runs one jitted optimizer step per batch from a Python loop (the NNX tutorial's
way); ``epoch`` fuses the whole epoch into one jitted ``nnx.scan`` over the steps.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from harness.frameworks.flax import jax_device

ACT = {"relu": nnx.relu, "tanh": nnx.tanh, "sigmoid": nnx.sigmoid}


def _const(value: np.ndarray):
    """An nnx initializer that returns the canonical array (never the library's random init)."""
    return lambda key, shape, dtype=jnp.float32: jnp.asarray(value, dtype=dtype)


class MLP(nnx.Module):
    def __init__(self, weights: dict[str, np.ndarray], n_layers: int, activation: str):
        rngs = nnx.Rngs(0)  # required by nnx.Linear; unused because both initializers are constants
        self.layers = nnx.List([
            nnx.Linear(*weights[f"dense{i}.kernel"].shape, kernel_init=_const(weights[f"dense{i}.kernel"]),
                       bias_init=_const(weights[f"dense{i}.bias"]), rngs=rngs)
            for i in range(n_layers)])
        self.act = ACT[activation]

    def __call__(self, x: jax.Array) -> jax.Array:
        for lin in self.layers[:-1]:
            x = self.act(lin(x))
        return self.layers[-1](x)


def make_tx(train) -> optax.GradientTransformation:
    """optax.sgd (trace: v = momentum v + g) and optax.adam are harness/optim.py's formulas."""
    if train.optimizer == "sgd":
        return optax.sgd(train.lr, momentum=train.momentum or None)
    return optax.adam(train.lr, b1=train.beta1, b2=train.beta2, eps=train.eps)


def _loss(model: MLP, x: jax.Array, y: jax.Array) -> jax.Array:
    return optax.softmax_cross_entropy_with_integer_labels(model(x), y).mean()


def _train_step(model: MLP, optimizer: nnx.Optimizer, x: jax.Array, y: jax.Array) -> jax.Array:
    loss, grads = nnx.value_and_grad(_loss)(model, x, y)
    optimizer.update(model, grads)
    return loss


@nnx.jit
def _step_at(model: MLP, optimizer: nnx.Optimizer, xs: jax.Array, ys: jax.Array, i: int) -> jax.Array:
    """One step on batch i of the epoch arrays: indexing inside the jit saves a dispatch per step,
    and jit traces a Python int as a dynamic scalar, so one compilation serves every step."""
    return _train_step(model, optimizer, xs[i], ys[i])


@nnx.jit
def _epoch(model: MLP, optimizer: nnx.Optimizer, xs: jax.Array, ys: jax.Array) -> jax.Array:
    """The whole epoch as one scan over the steps; returns the mean loss."""
    @nnx.scan(in_axes=(nnx.Carry, 0, 0), out_axes=(nnx.Carry, 0))
    def body(carry, x, y):
        return carry, _train_step(*carry, x, y)

    _, losses = body((model, optimizer), xs, ys)
    return losses.mean()


@nnx.jit
def _forward(model: MLP, x: jax.Array) -> jax.Array:
    return model(x)


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
            self.opt = nnx.Optimizer(self.net, make_tx(self.train), wrt=nnx.Param)
        for node in (self.net, self.opt):  # commit the state to the device, as jit's outputs will be:
            nnx.update(node, jax.device_put(nnx.state(node), self.dev))  # otherwise epoch 2 recompiles
        # cached_partial skips NNX's per-call graph traversal of the model and optimizer
        self._step = nnx.cached_partial(_step_at, self.net, self.opt)
        self._epoch = nnx.cached_partial(_epoch, self.net, self.opt)
        self._forward = nnx.cached_partial(_forward, self.net)

    def get_weights(self) -> dict[str, np.ndarray]:
        """Canonical float32 copies: ``dense{i}.kernel`` (in, out), ``dense{i}.bias`` (out,)."""
        out = {}
        for i, lin in enumerate(self.net.layers):
            out[f"dense{i}.kernel"] = np.array(lin.kernel[...], dtype=np.float32)
            out[f"dense{i}.bias"] = np.array(lin.bias[...], dtype=np.float32)
        return out

    def train_epoch(self, xb: np.ndarray, yb: np.ndarray) -> float:
        """xb (steps, B, features), yb (steps, B) int -> mean loss over the steps."""
        xs = jax.device_put(xb.reshape(xb.shape[0], xb.shape[1], -1), self.dev)
        ys = jax.device_put(yb.astype(np.int32), self.dev)
        if self.mode == "epoch":
            return float(self._epoch(xs, ys))
        losses = [self._step(xs, ys, i) for i in range(xs.shape[0])]  # no host sync per step
        return float(jnp.mean(jnp.stack(losses)))

    def predict(self, x: np.ndarray) -> np.ndarray:
        """x (N, features) -> logits (N, classes)."""
        return np.asarray(self._forward(jax.device_put(x.reshape(len(x), -1), self.dev)))

    def sync(self) -> None:
        jax.block_until_ready(nnx.state(self.net))
