"""LSTM in Flax NNX: nnx.OptimizedLSTMCell in nnx.RNN / nnx.Bidirectional, nnx.Linear head,
optax through nnx.Optimizer, nnx.jit'd train step.

OptimizedLSTMCell is the canonical layout as it stands: ``dense_i.kernel`` (in, 4H) without bias,
``dense_h.kernel`` (H, 4H) and ``dense_h.bias`` (4H,) -- one bias -- with gates split (i, f, g, o).
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


def _const(value: np.ndarray):
    """An nnx initializer that returns the canonical array (never the library's random init)."""
    return lambda key, shape, dtype=jnp.float32: jnp.asarray(value, dtype=dtype)


def _rnn(weights: dict[str, np.ndarray], prefix: str, rngs: nnx.Rngs) -> nnx.RNN:
    w_ih = weights[f"{prefix}.w_ih"]
    cell = nnx.OptimizedLSTMCell(w_ih.shape[0], w_ih.shape[1] // 4, kernel_init=_const(w_ih),
                                 recurrent_kernel_init=_const(weights[f"{prefix}.w_hh"]),
                                 bias_init=_const(weights[f"{prefix}.b"]), rngs=rngs)
    return nnx.RNN(cell)  # zero initial carry (the cell's default carry_init)


class LSTMNet(nnx.Module):
    def __init__(self, weights: dict[str, np.ndarray], model, steps: int, features: int):
        rngs = nnx.Rngs(0)  # required by the constructors; unused because every initializer is a constant
        self.steps, self.features, self.hidden = steps, features, model.hidden
        self.bidirectional, self.readout = model.bidirectional, model.readout
        layers = []
        for l in range(model.layers):
            if model.bidirectional:
                # Bidirectional runs backward_rnn reversed with keep_order=True and concatenates [fw, bw]
                layers.append(nnx.Bidirectional(_rnn(weights, f"lstm{l}.fw", rngs), _rnn(weights, f"lstm{l}.bw", rngs)))
            else:
                layers.append(_rnn(weights, f"lstm{l}.fw", rngs))
        self.layers = nnx.List(layers)
        k = weights["head.kernel"]
        self.head = nnx.Linear(*k.shape, kernel_init=_const(k), bias_init=_const(weights["head.bias"]), rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        """x (N, T*features) -> (N, out)."""
        seq = x.reshape(x.shape[0], self.steps, self.features)
        for layer in self.layers:
            seq = layer(seq)  # (N, T, ndir*H)
        if self.readout == "mean":
            feat = seq.mean(axis=1)
        elif self.bidirectional:
            feat = jnp.concatenate([seq[:, -1, :self.hidden], seq[:, 0, self.hidden:]], axis=-1)
        else:
            feat = seq[:, -1]
        return self.head(feat)

    def cells(self, directions: tuple[str, ...]):
        """(canonical prefix, OptimizedLSTMCell) for every layer and direction."""
        for l, layer in enumerate(self.layers):
            rnns = (layer.forward_rnn, layer.backward_rnn) if self.bidirectional else (layer,)
            for d, rnn in zip(directions, rnns):
                yield f"lstm{l}.{d}", rnn.cell


def make_tx(train) -> optax.GradientTransformation:
    """optax.sgd (trace: v = momentum v + g) and optax.adam are harness/optim.py's formulas."""
    if train.optimizer == "sgd":
        return optax.sgd(train.lr, momentum=train.momentum or None)
    return optax.adam(train.lr, b1=train.beta1, b2=train.beta2, eps=train.eps)


def _loss(net: LSTMNet, x: jax.Array, y: jax.Array) -> jax.Array:
    out = net(x)
    if jnp.issubdtype(y.dtype, jnp.floating):  # regression targets (static: decided at trace time)
        return jnp.mean((out - y) ** 2)
    return optax.softmax_cross_entropy_with_integer_labels(out, y).mean()


def _train_step(net: LSTMNet, optimizer: nnx.Optimizer, x: jax.Array, y: jax.Array) -> jax.Array:
    loss, grads = nnx.value_and_grad(_loss)(net, x, y)
    optimizer.update(net, grads)
    return loss


@nnx.jit
def _step_at(net: LSTMNet, optimizer: nnx.Optimizer, xs: jax.Array, ys: jax.Array, i: jax.Array) -> jax.Array:
    """One step on batch i of the epoch arrays: indexing inside the jit saves a dispatch per step,
    and a traced (not static) i means one compilation for every step."""
    return _train_step(net, optimizer, xs[i], ys[i])


@nnx.jit
def _epoch(net: LSTMNet, optimizer: nnx.Optimizer, xs: jax.Array, ys: jax.Array) -> jax.Array:
    """The whole epoch as one scan over the steps; returns the mean loss."""
    @nnx.scan(in_axes=(nnx.Carry, 0, 0), out_axes=(nnx.Carry, 0))
    def body(carry, x, y):
        return carry, _train_step(*carry, x, y)

    _, losses = body((net, optimizer), xs, ys)
    return losses.mean()


@nnx.jit
def _forward(net: LSTMNet, x: jax.Array) -> jax.Array:
    return net(x)


class Adapter:
    MODES = ("step", "epoch")  # step: jitted step per batch; epoch: one jitted nnx.scan per epoch
    NOTES = ""

    def __init__(self, model, info, train, *, mode="step", device="cpu", seed=0):
        self.model, self.info, self.train, self.mode, self.device = model, info, train, mode, device
        self.dev = jax_device(device)
        self.regression = info.task == "regression"
        self.dirs = ("fw", "bw") if model.bidirectional else ("fw",)

    def build(self, weights: dict[str, np.ndarray]) -> None:
        """weights: canonical ``lstm{l}.{d}.w_ih`` (in, 4H), ``.w_hh`` (H, 4H), ``.b`` (4H,),
        ``head.kernel`` (ndir*H, out), ``head.bias`` (out,)."""
        with jax.default_device(self.dev):
            self.net = LSTMNet(weights, self.model, *self.info.sequence_shape)
            self.opt = nnx.Optimizer(self.net, make_tx(self.train), wrt=nnx.Param)
        for node in (self.net, self.opt):  # commit the state to the device, as jit's outputs will be:
            nnx.update(node, jax.device_put(nnx.state(node), self.dev))  # otherwise epoch 2 recompiles
        # cached_partial skips NNX's per-call graph traversal of the model and optimizer
        self._step = nnx.cached_partial(_step_at, self.net, self.opt)
        self._epoch = nnx.cached_partial(_epoch, self.net, self.opt)

    def get_weights(self) -> dict[str, np.ndarray]:
        out = {}
        for prefix, cell in self.net.cells(self.dirs):
            out[f"{prefix}.w_ih"] = np.array(cell.dense_i.kernel[...], dtype=np.float32)
            out[f"{prefix}.w_hh"] = np.array(cell.dense_h.kernel[...], dtype=np.float32)
            out[f"{prefix}.b"] = np.array(cell.dense_h.bias[...], dtype=np.float32)
        out["head.kernel"] = np.array(self.net.head.kernel[...], dtype=np.float32)
        out["head.bias"] = np.array(self.net.head.bias[...], dtype=np.float32)
        return out

    def train_epoch(self, xb: np.ndarray, yb: np.ndarray) -> float:
        """xb (steps, B, T*features); yb (steps, B) int labels or (steps, B, out) float targets."""
        xs = jax.device_put(np.asarray(xb, np.float32), self.dev)
        ys = jax.device_put(yb.astype(np.float32 if self.regression else np.int32), self.dev)
        if self.mode == "epoch":
            return float(self._epoch(xs, ys))
        losses = [self._step(xs, ys, i) for i in range(xs.shape[0])]  # no host sync per step
        return float(jnp.mean(jnp.stack(losses)))

    def predict(self, x: np.ndarray) -> np.ndarray:
        """x (N, T*features) -> logits (N, classes) or predictions (N, n_outputs)."""
        return np.asarray(_forward(self.net, jax.device_put(np.asarray(x, np.float32), self.dev)))

    def sync(self) -> None:
        jax.block_until_ready(nnx.state(self.net))
