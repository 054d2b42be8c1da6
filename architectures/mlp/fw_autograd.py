"""MLP in autograd: an autograd.numpy forward, autograd.value_and_grad, optimizers written in numpy."""
from __future__ import annotations

import autograd.numpy as anp
import numpy as np
from autograd import value_and_grad
from autograd.scipy.special import logsumexp


def _sigmoid(z):
    return 0.5 * (anp.tanh(0.5 * z) + 1.0)  # = 1 / (1 + exp(-z)) without overflow in exp


def _relu(z):
    # not anp.maximum: autograd splits its gradient 0.5/0.5 at z == 0; torch, jax, tensorflow and
    # scikit-learn all use relu'(0) = 0, which this where() gives too
    return anp.where(z > 0, z, 0.0)


ACT = {"relu": _relu, "tanh": anp.tanh, "sigmoid": _sigmoid}


def forward(params: dict, x, n_layers: int, act):
    """x (N, features) -> logits (N, classes); params holds the canonical names and layout."""
    h = x
    for i in range(n_layers):
        h = anp.dot(h, params[f"dense{i}.kernel"]) + params[f"dense{i}.bias"]
        if i < n_layers - 1:
            h = act(h)
    return h


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


class Adapter:
    MODES = ("step",)  # numpy executes op by op: a per-step Python loop is the only way
    NOTES = ""

    def __init__(self, model, info, train, *, mode="step", device="cpu", seed=0):
        self.model, self.info, self.train, self.mode, self.device = model, info, train, mode, device
        n_layers, act = len(model.hidden) + 1, ACT[model.activation]

        def loss_fn(params, x, y):
            logits = forward(params, x, n_layers, act)
            logp = logits - logsumexp(logits, axis=1, keepdims=True)
            return -anp.mean(logp[anp.arange(len(y)), y])

        self._forward = lambda params, x: forward(params, x, n_layers, act)
        self._value_and_grad = value_and_grad(loss_fn)

    def build(self, weights: dict[str, np.ndarray]) -> None:
        """weights: canonical ``dense{i}.kernel`` (in, out) and ``dense{i}.bias`` (out,), float32."""
        self.params = {k: np.array(v, dtype=np.float32) for k, v in weights.items()}
        self.opt = (SGD if self.train.optimizer == "sgd" else Adam)(self.params, self.train)

    def get_weights(self) -> dict[str, np.ndarray]:
        """Canonical names -> float32 numpy copies."""
        return {k: v.copy() for k, v in self.params.items()}

    def train_epoch(self, xb: np.ndarray, yb: np.ndarray) -> float:
        """xb (steps, B, features), yb (steps, B) int -> mean loss over the steps."""
        xs = np.asarray(xb.reshape(xb.shape[0], xb.shape[1], -1), dtype=np.float32)
        total = 0.0
        for x, y in zip(xs, yb):
            loss, grads = self._value_and_grad(self.params, x, y)
            self.opt.step(self.params, grads)
            total += float(loss)
        return total / len(xs)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """x (N, features) -> logits (N, classes)."""
        return np.asarray(self._forward(self.params, np.asarray(x.reshape(len(x), -1), dtype=np.float32)))

    def sync(self) -> None:
        pass  # numpy is synchronous
