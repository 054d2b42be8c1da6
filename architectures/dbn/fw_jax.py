"""DBN in JAX: architectures/rbm's jitted CD trainer per layer, a softmax classifier trained by
jax.value_and_grad + optax in a jitted step, the up-pass jitted; dicts of jax.numpy arrays."""
from __future__ import annotations

import jax
import numpy as np
import optax

from architectures.dbn import spec
from architectures.rbm.fw_jax import NAMES, CDTrainer, hidden_probs, make_tx
from harness.frameworks.jax import jax_device


def up_pass(rbms: list[dict], x: jax.Array) -> jax.Array:
    """Deterministic p(h|v) through the given RBMs: (N, V) -> (N, V_n)."""
    for p in rbms:
        x = hidden_probs(p, x)
    return x


def logits(clf: dict, f: jax.Array) -> jax.Array:
    return f @ clf["kernel"] + clf["bias"]


def make_classifier_step(tx: optax.GradientTransformation):
    """step(clf, opt_state, total, feats, ys, i): one optimizer step of mean softmax cross-entropy on
    batch i of the epoch's features (steps, B, H), the RBMs fixed."""

    def loss_fn(clf, f, y):
        return optax.softmax_cross_entropy_with_integer_labels(logits(clf, f), y).mean()

    def step(clf, opt_state, total, feats, ys, i):
        loss, grads = jax.value_and_grad(loss_fn)(clf, feats[i], ys[i])
        updates, opt_state = tx.update(grads, opt_state, clf)
        return optax.apply_updates(clf, updates), opt_state, total + loss

    return jax.jit(step, donate_argnums=(0, 1, 2))


class Adapter:
    MODES = ("step",)  # a jitted step per batch from a Python loop
    NOTES = ""

    def __init__(self, model, info, train, *, mode="step", device="cpu", seed=0):
        self.model, self.info, self.train, self.mode, self.device = model, info, train, mode, device
        self.dev = jax_device(device)
        self.widths = spec.noise_widths(model, info)
        self.tx = make_tx(train)
        self._up = jax.jit(up_pass)  # retraced once per depth (the list length is static)
        self._logits = jax.jit(lambda rbms, clf, x: logits(clf, up_pass(rbms, x)))
        self._clf_step = make_classifier_step(self.tx)

    def build(self, weights: dict[str, np.ndarray]) -> None:
        """weights: canonical ``rbm{l}.W`` (V_l, H_l), ``rbm{l}.b_v``, ``rbm{l}.b_h``,
        ``clf.kernel`` (H_last, C), ``clf.bias`` (C,), float32."""
        # one trainer per layer, each with a fresh optimizer state for its own phase
        self.trainers = [CDTrainer(self._put(spec.rbm_weights(weights, l)), spec.rbm_model(self.model, l), self.train,
                                   self.dev) for l in range(len(self.model.hidden))]
        self.clf = self._put({"kernel": weights["clf.kernel"], "bias": weights["clf.bias"]})
        self.clf_state = jax.device_put(self.tx.init(self.clf), self.dev)
        self.epoch = 0

    def _put(self, arrays: dict[str, np.ndarray]) -> dict[str, jax.Array]:
        return jax.device_put({k: np.asarray(v, np.float32) for k, v in arrays.items()}, self.dev)

    def _rbms(self, n: int | None = None) -> list[dict]:
        return [t.params for t in self.trainers[:n]]

    def get_weights(self) -> dict[str, np.ndarray]:
        out = {f"rbm{l}.{k}": np.array(p[k], np.float32) for l, p in enumerate(jax.device_get(self._rbms())) for k in NAMES}
        out.update({f"clf.{k}": np.array(v, np.float32) for k, v in jax.device_get(self.clf).items()})
        return out

    def train_epoch(self, xb: np.ndarray, yb: np.ndarray) -> float:
        """xb (steps, B, V); yb (steps, B, 1 + noise): labels in column 0, then the harness noise.
        Pretraining epochs return the mean reconstruction error, classifier epochs the mean loss."""
        steps, b = xb.shape[:2]
        x = jax.device_put(xb.reshape(steps * b, -1), self.dev)
        layer = spec.phase(self.epoch, self.model)
        self.epoch += 1
        if layer is None:
            feats = self._up(self._rbms(), x).reshape(steps, b, -1)
            return self._classifier_epoch(feats, jax.device_put(yb[..., 0].astype(np.int32), self.dev))
        us = jax.device_put(np.ascontiguousarray(yb[..., 1:1 + self.widths[layer]]), self.dev)
        return self.trainers[layer].epoch(self._up(self._rbms(layer), x).reshape(steps, b, -1), us)

    def _classifier_epoch(self, feats: jax.Array, ys: jax.Array) -> float:
        total = jax.device_put(np.float32(0), self.dev)
        for i in range(feats.shape[0]):
            self.clf, self.clf_state, total = self._clf_step(self.clf, self.clf_state, total, feats, ys, i)
        return float(total) / feats.shape[0]  # the only host fetch of the epoch

    def predict(self, x: np.ndarray) -> np.ndarray:
        """x (N, V) -> logits (N, C)."""
        xd = jax.device_put(np.ascontiguousarray(x.reshape(len(x), -1), dtype=np.float32), self.dev)
        return np.asarray(self._logits(self._rbms(), self.clf, xd))

    def sync(self) -> None:
        jax.block_until_ready((self._rbms(), self.clf))
