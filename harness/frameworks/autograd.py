"""autograd helper: numpy on the CPU, so threads are numpy's BLAS threads.

Besides the common helper surface it holds what the autograd adapters share: the canonical optimizers
of harness/optim.py written in float32 numpy (``make_optimizer``), the per-step epoch loop
(``step_epoch``) and a few autograd.numpy building blocks whose gradients match the other frameworks'.
"""
from __future__ import annotations

from importlib import metadata
from typing import Callable

import autograd.numpy as anp
import numpy as np
from autograd.scipy.special import logsumexp

from architectures._shared import Unsupported
from harness.frameworks import _common
from harness.frameworks._common import flat32  # noqa: F401  (re-exported for the adapters)


def version() -> str:
    return metadata.version("autograd")


setup = _common.numpy_setup
device_available = _common.cpu_only("autograd runs on numpy: CPU only")
sync = _common.no_sync
reset_gpu_peak = gpu_peak_mb = _common.no_gpu_peak


# --- building blocks for the adapters (autograd.numpy, differentiable) ---

def sigmoid(z):
    return 0.5 * (anp.tanh(0.5 * z) + 1.0)  # = 1 / (1 + exp(-z)) without overflow in exp


def relu(z):
    # not anp.maximum: autograd splits its gradient 0.5/0.5 at z == 0; torch, jax, tensorflow and
    # scikit-learn all use relu'(0) = 0, which this where() gives too
    return anp.where(z > 0, z, 0.0)


def softmax_xent(logits, y):
    """Mean softmax cross-entropy of logits (B, C) against integer labels y (B,)."""
    logp = logits - logsumexp(logits, axis=1, keepdims=True)
    return -anp.mean(logp[anp.arange(len(y)), y])


def mse(out, y):
    """Mean squared error over batch and outputs: out, y (B, out)."""
    return anp.mean((out - y) ** 2)


def float32_params(weights: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Canonical weights -> float32 numpy copies (the adapter's own, updated in place)."""
    return {k: np.array(v, dtype=np.float32) for k, v in weights.items()}


# --- harness/optim.py's optimizers, in place on float32 numpy arrays ---

class SGD:
    """harness/optim.py sgd in place on float32 arrays: v <- momentum v + g; w <- w - lr v."""

    def __init__(self, params: dict[str, np.ndarray], train):
        self.lr, self.momentum = np.float32(train.lr), np.float32(train.momentum)
        self.v = {k: np.zeros_like(p) for k, p in params.items()}

    def step(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray]) -> None:
        for k, p in params.items():
            v = self.v[k]
            v *= self.momentum
            v += grads[k]
            p -= self.lr * v


class Adam:
    """harness/optim.py adam in place on float32 arrays (eps outside the square root, PyTorch's)."""

    def __init__(self, params: dict[str, np.ndarray], train):
        self.train, self.t = train, 0
        # float32 constants keep the moments float32; 1 - beta is formed in float64 first
        self.b1, self.b2 = np.float32(train.beta1), np.float32(train.beta2)
        self.a1, self.a2 = np.float32(1 - train.beta1), np.float32(1 - train.beta2)
        self.lr, self.eps = np.float32(train.lr), np.float32(train.eps)
        self.m = {k: np.zeros_like(p) for k, p in params.items()}
        self.v = {k: np.zeros_like(p) for k, p in params.items()}

    def step(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray]) -> None:
        self.t += 1
        c1 = np.float32(1 - self.train.beta1 ** self.t)
        c2 = np.float32(1 - self.train.beta2 ** self.t)
        for k, p in params.items():
            g, m, v = grads[k], self.m[k], self.v[k]
            m *= self.b1
            m += self.a1 * g
            v *= self.b2
            v += self.a2 * g * g
            p -= self.lr * (m / c1) / (np.sqrt(v / c2) + self.eps)


def make_optimizer(train, params: dict[str, np.ndarray]) -> SGD | Adam:
    """The optimizer ``train.optimizer`` names, with zero state shaped like params (name -> float32
    array); ``opt.step(params, grads)`` updates every array of params in place."""
    return (SGD if train.optimizer == "sgd" else Adam)(params, train)


def step_epoch(value_and_grad: Callable, params: dict[str, np.ndarray], opt: SGD | Adam,
               xs: np.ndarray, ys: np.ndarray) -> float:
    """One optimizer step per batch, in order: xs (steps, B, ...), ys (steps, B, ...);
    ``value_and_grad(params, x, y) -> (loss, grads)``. Returns the mean loss over the steps."""
    total = 0.0
    for x, y in zip(xs, ys):
        loss, grads = value_and_grad(params, x, y)
        opt.step(params, grads)
        total += float(loss)
    return total / len(xs)


class AdapterBase(_common.AdapterCore):
    """The autograd ``Adapter``'s common part: ``AdapterCore``'s job settings (any device but the
    CPU is ``Unsupported``) and its numpy inputs. numpy is synchronous: ``sync`` does nothing."""

    def __init__(self, model, info, train, **kw):
        super().__init__(model, info, train, **kw)
        if (reason := device_available(self.device)) is not None:
            raise Unsupported(reason)

    def inputs(self, x: np.ndarray, lead: int = 1) -> np.ndarray:
        """``host_inputs``: flat rows or sequences, float32."""
        return self.host_inputs(x, lead)

    def targets(self, y: np.ndarray) -> np.ndarray:
        """Labels as int64 (``classify``) or targets as float32, shape kept."""
        return y.astype(np.int64 if self.classify else np.float32)


class GradientAdapter(AdapterBase):
    """The whole adapter contract for a gradient-trained autograd model whose parameters are the
    canonical weights dict, given its forward pass (``make_forward``) and loss kind (``LOSS``):
    training is ``step_epoch`` of ``autograd.value_and_grad`` of the mean loss with ``make_optimizer``
    (numpy executes op by op: a per-step Python loop is the only mode)."""

    def __init__(self, model, info, train, **kw):
        from autograd import value_and_grad

        super().__init__(model, info, train, **kw)
        self._forward = forward = self.make_forward()
        loss = softmax_xent if self.classify else mse
        self._value_and_grad = value_and_grad(lambda params, x, y: loss(forward(params, x), y))

    def make_forward(self) -> Callable:
        """The forward pass f(params, x) -> outputs, x as ``inputs`` makes it (autograd.numpy)."""
        raise NotImplementedError

    def build(self, weights: dict[str, np.ndarray]) -> None:
        """weights: the architecture's canonical arrays, float32."""
        self.params = float32_params(weights)
        self.opt = make_optimizer(self.train, self.params)

    def get_weights(self) -> dict[str, np.ndarray]:
        """Canonical names -> float32 numpy copies."""
        return {k: v.copy() for k, v in self.params.items()}

    def train_epoch(self, xb: np.ndarray, yb: np.ndarray) -> float:
        """xb (steps, B, ...) inputs, yb (steps, B) int labels or (steps, B, ...) float targets ->
        mean loss over the steps."""
        return step_epoch(self._value_and_grad, self.params, self.opt, self.inputs(xb, 2), self.targets(yb))

    def predict(self, x: np.ndarray) -> np.ndarray:
        """x (N, ...) -> outputs (N, ...): logits, predictions or reconstructions."""
        return np.asarray(self._forward(self.params, self.inputs(x)), np.float32)
