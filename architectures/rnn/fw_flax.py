"""RNN in Flax NNX: nnx.RNN / nnx.Bidirectional over cells, nnx.Linear head, optax through
nnx.Optimizer, nnx.jit'd train step.

Cells: the simple cell is ``nnx.SimpleCell`` (its dense_i carries the one bias, dense_h has none:
the canonical layout exactly). ``nnx.GRUCell`` has no recurrent bias, so PyTorch's
``b_hn`` inside ``r * (h W_hn + b_hn)`` cannot be expressed with it; the GRU cell here is a small
``nnx.RNNCellBase`` with canonical ``nnx.Param``s, run by the same ``nnx.RNN`` scan.

Modes: ``step`` runs one jitted optimizer step per batch from a Python loop (the NNX tutorial's
way); ``epoch`` fuses the whole epoch into one jitted ``nnx.scan`` over the steps.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from architectures.rnn.spec import directions
from harness.frameworks.flax import jax_device


def _const(value: np.ndarray):
    """An nnx initializer that returns the canonical array (never the library's random init)."""
    return lambda key, shape, dtype=jnp.float32: jnp.asarray(value, dtype=dtype)


class GRUCell(nnx.RNNCellBase):
    """The canonical (PyTorch, reset-after) GRU cell; gate columns (r, z, n)."""

    def __init__(self, w_ih: np.ndarray, w_hh: np.ndarray, b_ih: np.ndarray, b_hh: np.ndarray):
        self.w_ih, self.w_hh = nnx.Param(jnp.asarray(w_ih)), nnx.Param(jnp.asarray(w_hh))
        self.b_ih, self.b_hh = nnx.Param(jnp.asarray(b_ih)), nnx.Param(jnp.asarray(b_hh))

    def __call__(self, h: jax.Array, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        """h (N, H), x (N, in) -> (h', h')."""
        gi = x @ self.w_ih[...] + self.b_ih[...]
        gh = h @ self.w_hh[...] + self.b_hh[...]
        gi_r, gi_z, gi_n = jnp.split(gi, 3, axis=-1)
        gh_r, gh_z, gh_n = jnp.split(gh, 3, axis=-1)
        r = nnx.sigmoid(gi_r + gh_r)
        z = nnx.sigmoid(gi_z + gh_z)
        n = nnx.tanh(gi_n + r * gh_n)
        h = (1 - z) * n + z * h
        return h, h

    @property
    def num_feature_axes(self) -> int:
        return 1


def _cell(weights: dict[str, np.ndarray], prefix: str, cell: str) -> nnx.RNNCellBase:
    w_ih, w_hh = weights[prefix + "w_ih"], weights[prefix + "w_hh"]
    if cell == "gru":
        return GRUCell(w_ih, w_hh, weights[prefix + "b_ih"], weights[prefix + "b_hh"])
    return nnx.SimpleCell(w_ih.shape[0], w_hh.shape[0], kernel_init=_const(w_ih),
                          recurrent_kernel_init=_const(w_hh), bias_init=_const(weights[prefix + "b"]),
                          rngs=nnx.Rngs(0))  # rngs required, unused: every initializer is a constant


class Net(nnx.Module):
    def __init__(self, weights: dict[str, np.ndarray], model):
        layers = []
        for layer in range(model.layers):
            fw, *bw = [nnx.RNN(_cell(weights, f"rnn{layer}.{d}.", model.cell), rngs=False)
                       for d in directions(model)]  # rngs=False: the zero initial state is passed in
            layers.append(nnx.Bidirectional(fw, bw[0], rngs=False) if bw else fw)
        self.layers = nnx.List(layers)
        k = weights["head.kernel"]
        self.head = nnx.Linear(*k.shape, kernel_init=_const(k), bias_init=_const(weights["head.bias"]),
                               rngs=nnx.Rngs(0))
        self.hidden, self.readout, self.bidirectional = model.hidden, model.readout, model.bidirectional

    def __call__(self, x: jax.Array) -> jax.Array:
        """x (N, T, F) -> (N, out)."""
        h0 = jnp.zeros((x.shape[0], self.hidden), x.dtype)
        hs = x
        for rnn in self.layers:  # bw outputs come back in the original time order (keep_order)
            hs = rnn(hs, initial_carry=(h0, h0) if self.bidirectional else h0)
        if self.readout == "mean":
            feat = hs.mean(axis=1)
        elif self.bidirectional:
            feat = jnp.concatenate([hs[:, -1, :self.hidden], hs[:, 0, self.hidden:]], axis=-1)
        else:
            feat = hs[:, -1]
        return self.head(feat)

    def canonical(self, model) -> dict[str, jax.Array]:
        """Current parameters under their canonical names."""
        out = {}
        for layer, rnn in enumerate(self.layers):
            pair = (rnn.forward_rnn, rnn.backward_rnn) if self.bidirectional else (rnn,)
            for d, r in zip(directions(model), pair):
                p, c = f"rnn{layer}.{d}.", r.cell
                if model.cell == "gru":
                    out.update({p + "w_ih": c.w_ih, p + "w_hh": c.w_hh, p + "b_ih": c.b_ih, p + "b_hh": c.b_hh})
                else:
                    out.update({p + "w_ih": c.dense_i.kernel, p + "w_hh": c.dense_h.kernel, p + "b": c.dense_i.bias})
        out.update({"head.kernel": self.head.kernel, "head.bias": self.head.bias})
        return {k: v[...] for k, v in out.items()}


def make_tx(train) -> optax.GradientTransformation:
    """optax.sgd (trace: v = momentum v + g) and optax.adam are harness/optim.py's formulas."""
    if train.optimizer == "sgd":
        return optax.sgd(train.lr, momentum=train.momentum or None)
    return optax.adam(train.lr, b1=train.beta1, b2=train.beta2, eps=train.eps)


def _xent(net: Net, x: jax.Array, y: jax.Array) -> jax.Array:
    return optax.softmax_cross_entropy_with_integer_labels(net(x), y).mean()


def _mse(net: Net, x: jax.Array, y: jax.Array) -> jax.Array:
    return jnp.mean((net(x) - y) ** 2)


def _train_step(net: Net, optimizer: nnx.Optimizer, loss_fn, x: jax.Array, y: jax.Array) -> jax.Array:
    loss, grads = nnx.value_and_grad(loss_fn)(net, x, y)
    optimizer.update(net, grads)
    return loss


@nnx.jit(static_argnums=2)
def _step_at(net: Net, optimizer: nnx.Optimizer, loss_fn, xs: jax.Array, ys: jax.Array, i: jax.Array) -> jax.Array:
    """One step on batch i of the epoch arrays: indexing inside the jit saves a dispatch per step,
    and a traced (not static) i means one compilation for every step."""
    return _train_step(net, optimizer, loss_fn, xs[i], ys[i])


@nnx.jit(static_argnums=2)
def _epoch(net: Net, optimizer: nnx.Optimizer, loss_fn, xs: jax.Array, ys: jax.Array) -> jax.Array:
    """The whole epoch as one scan over the steps; returns the mean loss."""
    @nnx.scan(in_axes=(nnx.Carry, 0, 0), out_axes=(nnx.Carry, 0))
    def body(carry, x, y):
        return carry, _train_step(*carry, loss_fn, x, y)

    _, losses = body((net, optimizer), xs, ys)
    return losses.mean()


@nnx.jit
def _forward(net: Net, x: jax.Array) -> jax.Array:
    return net(x)


class Adapter:
    MODES = ("step", "epoch")  # step: jitted step per batch; epoch: one jitted nnx.scan per epoch
    NOTES = ""

    def __init__(self, model, info, train, *, mode="step", device="cpu", seed=0):
        self.model, self.info, self.train, self.mode, self.device = model, info, train, mode, device
        self.dev = jax_device(device)
        self.classify = info.task == "classification"

    def build(self, weights: dict[str, np.ndarray]) -> None:
        """weights: canonical ``rnn{l}.{d}.*`` and ``head.*`` (see spec)."""
        with jax.default_device(self.dev):
            self.net = Net(weights, self.model)
            self.opt = nnx.Optimizer(self.net, make_tx(self.train), wrt=nnx.Param)
        for node in (self.net, self.opt):  # commit the state to the device, as jit's outputs will be:
            nnx.update(node, jax.device_put(nnx.state(node), self.dev))  # otherwise epoch 2 recompiles
        loss_fn = _xent if self.classify else _mse
        # cached_partial skips NNX's per-call graph traversal of the model and optimizer
        self._step = nnx.cached_partial(_step_at, self.net, self.opt, loss_fn)
        self._epoch = nnx.cached_partial(_epoch, self.net, self.opt, loss_fn)

    def get_weights(self) -> dict[str, np.ndarray]:
        return {k: np.array(v, dtype=np.float32) for k, v in self.net.canonical(self.model).items()}

    def _seq(self, x: np.ndarray) -> jax.Array:
        """(..., T*F) -> (..., T, F) on the device."""
        shape = (*x.shape[:-1], *self.info.sequence_shape)
        return jax.device_put(np.ascontiguousarray(x.reshape(shape), dtype=np.float32), self.dev)

    def train_epoch(self, xb: np.ndarray, yb: np.ndarray) -> float:
        """xb (steps, B, T*F), yb (steps, B) int or (steps, B, out) float -> mean loss over the steps."""
        xs = self._seq(xb)
        ys = jax.device_put(yb.astype(np.int32) if self.classify else yb.astype(np.float32), self.dev)
        if self.mode == "epoch":
            return float(self._epoch(xs, ys))
        losses = [self._step(xs, ys, i) for i in range(xs.shape[0])]  # no host sync per step
        return float(jnp.mean(jnp.stack(losses)))

    def predict(self, x: np.ndarray) -> np.ndarray:
        """x (N, T*F) -> logits (N, classes) or predictions (N, outputs)."""
        return np.asarray(_forward(self.net, self._seq(x)))

    def sync(self) -> None:
        jax.block_until_ready(nnx.state(self.net))
