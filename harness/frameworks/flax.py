"""Flax (nnx) helper: JAX underneath, plus the pieces every ``architectures/*/fw_flax.py`` shares.

Shared pieces: the adapter bases (``AdapterBase`` and, for a module trained on a loss,
``GradientAdapter``), the canonical-array initializer (``const_init``), device placement (``commit``,
``put_rows``, ``put_steps``), the optimizer (``make_optimizer``: ``nnx.Optimizer`` over the jax
helper's optax ``make_optimizer``), the jitted forward pass (``forward``), the two losses of the gradient-trained
adapters (``xent``, ``mse``) and the epoch drivers (``Trainer`` for ``loss_fn(net, x, y)`` models,
``sum_steps`` for a hand-written jitted step that sums its losses, ``scan_steps`` for the same step
fused into one ``nnx.scan`` over the epoch).
"""
from __future__ import annotations

from collections.abc import Callable

import flax
import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from harness.frameworks import jax as _jax
from harness.frameworks._common import flat32
from harness.frameworks.jax import (  # noqa: F401
    device_available,
    gpu_peak_mb,
    jax_device,
    put_rows,
    reset_gpu_peak,
    setup,
    sync,
    to_device,
)
from harness.frameworks.jax import version as jax_version


def version() -> str:
    return f"{flax.__version__} (jax {jax_version()})"


# --- parameters and placement ---------------------------------------------------------------------


def const_init(value: np.ndarray):
    """An nnx initializer (``kernel_init=``, ``bias_init=``, ...) that returns the canonical array
    ``value`` as it is (shape included), never the library's random init."""
    return lambda key, shape, dtype=jnp.float32: jnp.asarray(value, dtype=dtype)


def commit(node, dev) -> None:
    """Commit an nnx node's state (module or optimizer) to ``dev``, as jit's outputs will be:
    otherwise the second call sees committed arrays and compiles again."""
    nnx.update(node, jax.device_put(nnx.state(node), dev))


def put_steps(xb: np.ndarray, dev) -> jax.Array:
    """xb (steps, B, ...) -> (steps, B, prod(...)) float32 on ``dev`` (an epoch's flat batches)."""
    return to_device(flat32(xb, 2), dev)


def make_optimizer(train, net: nnx.Module, dev) -> nnx.Optimizer:
    """``nnx.Optimizer`` over ``net``'s ``nnx.Param``s with the jax helper's ``make_optimizer(train)``
    (harness/optim.py's sgd/adam), its state created on ``dev`` and committed there."""
    with jax.default_device(dev):
        opt = nnx.Optimizer(net, _jax.make_optimizer(train), wrt=nnx.Param)
    commit(opt, dev)
    return opt


@nnx.jit
def forward(net: nnx.Module, x: jax.Array) -> jax.Array:
    """``net(x)`` compiled (one compilation per module structure and input shape)."""
    return net(x)


# --- losses: loss_fn(net, x (B, ...), y (B, ...)) -> scalar mean over the batch ---------------------


def xent(net: nnx.Module, x: jax.Array, y: jax.Array) -> jax.Array:
    """Softmax cross-entropy of the logits net(x) (B, C) against integer labels y (B,), batch mean."""
    return optax.softmax_cross_entropy_with_integer_labels(net(x), y).mean()


def mse(net: nnx.Module, x: jax.Array, y: jax.Array) -> jax.Array:
    """Mean squared error of net(x) against y (same shape), mean over batch and outputs."""
    return jnp.mean((net(x) - y) ** 2)


# --- epoch drivers ---------------------------------------------------------------------------------


def _loss_step(net: nnx.Module, opt: nnx.Optimizer, loss_fn: Callable, x: jax.Array, y: jax.Array) -> jax.Array:
    """One optimizer step on the batch x, y; returns its loss (before the update)."""
    loss, grads = nnx.value_and_grad(loss_fn)(net, x, y)
    opt.update(net, grads)
    return loss


@nnx.jit(static_argnums=2)
def _step_at(net: nnx.Module, opt: nnx.Optimizer, loss_fn: Callable, xs: jax.Array, ys: jax.Array,
             i: jax.Array) -> jax.Array:
    """One step on batch i of the epoch arrays xs (steps, B, ...), ys (steps, B, ...): indexing inside
    the jit saves a dispatch per step, and a traced (not static) i means one compilation for every step."""
    return _loss_step(net, opt, loss_fn, xs[i], ys[i])


@nnx.jit(static_argnums=2)
def _step_sum_at(net: nnx.Module, opt: nnx.Optimizer, loss_fn: Callable, total: jax.Array, xs: jax.Array,
                 ys: jax.Array, i: jax.Array) -> jax.Array:
    """``_step_at`` that returns total + the step's loss (the sum stays on the device)."""
    return total + _loss_step(net, opt, loss_fn, xs[i], ys[i])


def scan_steps(update: Callable, carry, xs: jax.Array, ys: jax.Array) -> tuple[object, jax.Array]:
    """The epoch's steps as one ``nnx.scan`` (call it inside an ``nnx.jit``): ``update(carry, x, y) ->
    (carry, loss)`` on each batch of xs (steps, B, ...), ys (steps, B, ...) in order; ``carry`` is a
    tuple of nnx graph nodes (module, optimizer: updated in place, as in a jitted step) and arrays
    (e.g. a sampler's chain). Returns (carry after the last step, mean loss over the steps)."""
    body = nnx.scan(update, in_axes=(nnx.Carry, 0, 0), out_axes=(nnx.Carry, 0))
    carry, losses = body(carry, xs, ys)
    return carry, losses.mean()


@nnx.jit(static_argnums=2)
def _scan_epoch(net: nnx.Module, opt: nnx.Optimizer, loss_fn: Callable, xs: jax.Array, ys: jax.Array) -> jax.Array:
    """The whole epoch as one ``nnx.scan`` over the steps of xs, ys (steps, B, ...); returns the mean loss."""
    def update(carry, x, y):
        return carry, _loss_step(*carry, loss_fn, x, y)

    return scan_steps(update, (net, opt), xs, ys)[1]


def sum_steps(step: Callable, steps: int, dev, *arrays: jax.Array) -> float:
    """Drive one epoch of ``step(total, *arrays, i) -> total + loss_i`` (normally jitted, the arrays
    the epoch's (steps, B, ...) batches on the device), i = 0 .. steps-1 in order, from a float32 zero
    on ``dev``; returns total / steps as a Python float (the epoch's only host fetch)."""
    total = to_device(np.float32(0), dev)
    for i in range(steps):
        total = step(total, *arrays, i)
    return float(total) / steps


class Trainer:
    """Trains the module ``net`` on ``loss_fn(net, x, y)`` with ``make_optimizer(train, net, dev)``;
    commits ``net`` to ``dev``. The compiled steps are ``nnx.cached_partial``s, which skip NNX's
    per-call graph traversal of the module and optimizer (so ``net``'s structure must not change).

    Epoch arrays: xs (steps, B, ...), ys (steps, B, ...) on ``dev``, one optimizer step per batch in order.
    """

    def __init__(self, net: nnx.Module, loss_fn: Callable, train, dev):
        self.dev = dev
        commit(net, dev)
        self.opt = make_optimizer(train, net, dev)
        #: step(xs, ys, i) -> loss of batch i (a 0-d array, left on the device)
        self.step = nnx.cached_partial(_step_at, net, self.opt, loss_fn)
        self._step_sum = nnx.cached_partial(_step_sum_at, net, self.opt, loss_fn)
        self._scan = nnx.cached_partial(_scan_epoch, net, self.opt, loss_fn)

    def epoch(self, xs: jax.Array, ys: jax.Array, mode: str = "step") -> float:
        """Mean loss over the steps. mode "step": a jitted step per batch from a Python loop (the NNX
        tutorial's way; no host sync per step), the mean taken by ``jnp.mean`` of the stacked
        losses; mode "epoch": the whole epoch as one jitted ``nnx.scan``."""
        if mode == "epoch":
            return float(self._scan(xs, ys))
        losses = [self.step(xs, ys, i) for i in range(xs.shape[0])]
        return float(jnp.mean(jnp.stack(losses)))

    def summed_epoch(self, xs: jax.Array, ys: jax.Array) -> float:
        """Mean loss over the steps as ``sum_steps`` takes it: a jitted step per batch that adds its loss
        to a float32 total inside the jit, the total divided by the steps on the host. Its last bits
        differ from ``epoch``'s mean and from an add outside the jit (XLA may fuse the add)."""
        return sum_steps(self._step_sum, xs.shape[0], self.dev, xs, ys)


# --- adapter bases: architectures/*/fw_flax.py ------------------------------------------------------


def host(v) -> np.ndarray:
    """An nnx Variable (or array) -> its own float32 numpy copy (what ``get_weights`` returns)."""
    return np.array(v[...], dtype=np.float32)


class AdapterBase(_jax.AdapterBase):
    """The flax ``Adapter``'s common part: the jax one's job settings, device ``dev`` and input
    placement, with the nnx module ``net`` that ``build`` makes: ``predict`` is ``net`` jitted on the
    flat rows, ``sync`` waits for its state."""

    net: nnx.Module

    def predict(self, x: np.ndarray) -> np.ndarray:
        """x (N, ...) -> net(x) (N, ...)."""
        return np.asarray(forward(self.net, self.inputs(x)))

    def sync(self) -> None:
        jax.block_until_ready(nnx.state(self.net))


class GradientAdapter(AdapterBase):
    """A module trained on its loss by ``Trainer``: a subclass gives the module (``make_net``: the
    parameter layout and forward pass), its loss kind (``LOSS``: ``xent`` or ``mse``) and
    ``get_weights``. Mode ``step``: one jitted optimizer step per batch from a Python loop (the NNX
    tutorial's way); ``epoch``: the whole epoch as one jitted ``nnx.scan`` over the steps."""

    def make_net(self, weights: dict[str, np.ndarray]) -> nnx.Module:
        """The nnx module holding the canonical ``weights`` (float32) as its parameters."""
        raise NotImplementedError

    def build(self, weights: dict[str, np.ndarray]) -> None:
        """weights: the canonical dict (names and shapes of the spec's ``weight_shapes``), float32."""
        with jax.default_device(self.dev):
            self.net = self.make_net(weights)
        self.trainer = Trainer(self.net, xent if self.classify else mse, self.train, self.dev)
        self._forward = nnx.cached_partial(forward, self.net)

    def train_epoch(self, xb: np.ndarray, yb: np.ndarray) -> float:
        """xb (steps, B, ...) inputs, yb (steps, B) int labels or (steps, B, ...) float targets ->
        mean loss over the steps."""
        return self.trainer.epoch(self.inputs(xb, 2), self.targets(yb), self.mode)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """x (N, ...) -> outputs (N, ...): logits, predictions or reconstructions."""
        return np.asarray(self._forward(self.inputs(x)))
