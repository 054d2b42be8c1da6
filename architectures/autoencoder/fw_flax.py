"""Autoencoder in Flax NNX: nnx.Linear layers (decoder biases as nnx.Param when tied),
nnx.Optimizer over optax, one nnx.jit'd step per batch through nnx.cached_partial."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from harness.frameworks.jax import jax_device

ACT = {"relu": jax.nn.relu, "tanh": jnp.tanh, "sigmoid": jax.nn.sigmoid, "linear": lambda h: h}


def make_tx(train) -> optax.GradientTransformation:
    """optax.sgd (trace) and optax.adam follow the canonical formulas of harness/optim.py."""
    if train.optimizer == "sgd":
        return optax.sgd(train.lr, momentum=train.momentum)
    return optax.adam(train.lr, b1=train.beta1, b2=train.beta2, eps=train.eps)


def _const(a: np.ndarray):
    """An nnx initializer returning the given canonical array (no library initialisation)."""
    return lambda key, shape, dtype=jnp.float32: jnp.asarray(a, jnp.float32)


def _linear(weights: dict[str, np.ndarray], name: str) -> nnx.Linear:
    k = weights[f"{name}.kernel"]  # nnx.Linear stores (in, out), the canonical layout
    return nnx.Linear(k.shape[0], k.shape[1], kernel_init=_const(k),
                      bias_init=_const(weights[f"{name}.bias"]), rngs=nnx.Rngs(0))


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


@nnx.jit
def train_step(net: AutoEncoder, optimizer: nnx.Optimizer, xs: jax.Array, ys: jax.Array, i: jax.Array) -> jax.Array:
    """One optimizer step on batch i of the epoch xs, ys (steps, B, D) held on device; a traced i
    slices inside the one compiled step."""
    def loss_fn(net):
        return jnp.mean((net(xs[i]) - ys[i]) ** 2)  # mean over batch and features

    loss, grads = nnx.value_and_grad(loss_fn)(net)
    optimizer.update(net, grads)
    return loss


@nnx.jit
def predict_fn(net: AutoEncoder, x: jax.Array) -> jax.Array:
    return net(x)


class Adapter:
    MODES = ("step",)  # one nnx.jit-compiled optimizer step per batch
    NOTES = ""

    def __init__(self, model, info, train, *, mode="step", device="cpu", seed=0):
        self.model, self.info, self.train, self.mode, self.device = model, info, train, mode, device
        self.dev = jax_device(device)

    def build(self, weights: dict[str, np.ndarray]) -> None:
        """weights: canonical ``enc{i}.*``, ``dec{i}.*`` (see the spec)."""
        with jax.default_device(self.dev):
            self.net = AutoEncoder(weights, self.model)
            self.optimizer = nnx.Optimizer(self.net, make_tx(self.train), wrt=nnx.Param)
        # caches the graph traversal of net and optimizer: less Python overhead per step
        self._step = nnx.cached_partial(train_step, self.net, self.optimizer)

    def get_weights(self) -> dict[str, np.ndarray]:
        def arr(v) -> np.ndarray:
            return np.asarray(v[...], dtype=np.float32).copy()

        out = {}
        for i, lin in enumerate(self.net.enc):
            out[f"enc{i}.kernel"], out[f"enc{i}.bias"] = arr(lin.kernel), arr(lin.bias)
        for i in range(len(self.net.enc)):
            if self.model.tied:
                out[f"dec{i}.bias"] = arr(self.net.dec_bias[i])
            else:
                out[f"dec{i}.kernel"], out[f"dec{i}.bias"] = arr(self.net.dec[i].kernel), arr(self.net.dec[i].bias)
        return out

    def train_epoch(self, xb: np.ndarray, yb: np.ndarray) -> float:
        """xb (steps, B, D) corrupted inputs, yb (steps, B, D) clean targets -> mean loss over the steps."""
        x = jax.device_put(xb, self.dev)
        y = jax.device_put(yb, self.dev)
        total = jnp.zeros((), jnp.float32)
        for i in range(x.shape[0]):
            total = total + self._step(x, y, i)  # stays on device: no per-step host sync
        return float(total) / x.shape[0]

    def predict(self, x: np.ndarray) -> np.ndarray:
        """x (N, *input_shape) -> reconstruction (N, D)."""
        t = jax.device_put(np.asarray(x, np.float32).reshape(len(x), -1), self.dev)
        return np.asarray(predict_fn(self.net, t))

    def sync(self) -> None:
        jax.block_until_ready(nnx.state(self.net))
