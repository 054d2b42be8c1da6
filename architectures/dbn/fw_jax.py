"""DBN in JAX: architectures/rbm's jitted CD trainer per layer, a softmax classifier trained by
jax.value_and_grad + optax in a jitted step (or, mode ``epoch``, both as one jitted lax.scan per
epoch), the up-pass jitted; dicts of jax.numpy arrays."""
from __future__ import annotations

import jax
import numpy as np

from architectures.dbn import spec
from architectures.rbm.fw_jax import NAMES, CDTrainer, hidden_probs
from harness.frameworks.jax import (
    AdapterBase,
    batch_loss,
    host_tree,
    init_state,
    make_optimizer,
    optax_epoch,
    optax_fns,
    put_rows,
    put_tree,
    to_device,
)


def up_pass(rbms: list[dict], x: jax.Array) -> jax.Array:
    """Deterministic p(h|v) through the given RBMs: (N, V) -> (N, V_n)."""
    for p in rbms:
        x = hidden_probs(p, x)
    return x


def logits(clf: dict, f: jax.Array) -> jax.Array:
    return f @ clf["kernel"] + clf["bias"]


class Adapter(AdapterBase):
    # step: a jitted step per batch from a Python loop; epoch: each epoch (a layer's CD pretraining or
    # the classifier's) one jitted lax.scan over its batches
    MODES = ("step", "epoch")

    def __init__(self, model, info, train, **kw):
        super().__init__(model, info, train, **kw)
        self.widths = spec.noise_widths(model, info)
        self.tx = make_optimizer(train)
        self._up = jax.jit(up_pass)  # retraced once per depth (the list length is static)
        self._logits = jax.jit(lambda rbms, clf, x: logits(clf, up_pass(rbms, x)))
        # the classifier's mean softmax cross-entropy on features (B, H_last), the RBMs fixed
        self._clf_fns = optax_fns(lambda clf, f, y: batch_loss(logits(clf, f), y, classify=True), self.tx)

    def build(self, weights: dict[str, np.ndarray]) -> None:
        """weights: canonical ``rbm{l}.W`` (V_l, H_l), ``rbm{l}.b_v``, ``rbm{l}.b_h``,
        ``clf.kernel`` (H_last, C), ``clf.bias`` (C,), float32."""
        # one trainer per layer, each with a fresh optimizer state for its own phase
        self.trainers = [CDTrainer(put_tree(spec.rbm_weights(weights, l), self.dev), spec.rbm_model(self.model, l),
                                   self.train, self.dev, fused=self.mode == "epoch")
                         for l in range(len(self.model.hidden))]
        self.clf = put_tree({"kernel": weights["clf.kernel"], "bias": weights["clf.bias"]}, self.dev)
        self.clf_state = init_state(self.tx, self.clf, self.dev)
        self.epoch = 0

    def _rbms(self, n: int | None = None) -> list[dict]:
        return [t.params for t in self.trainers[:n]]

    def get_weights(self) -> dict[str, np.ndarray]:
        out = {f"rbm{l}.{k}": np.array(p[k], np.float32) for l, p in enumerate(jax.device_get(self._rbms())) for k in NAMES}
        out.update({f"clf.{k}": v for k, v in host_tree(self.clf).items()})
        return out

    def train_epoch(self, xb: np.ndarray, yb: np.ndarray) -> float:
        """xb (steps, B, V); yb (steps, B, 1 + noise): labels in column 0, then the harness noise.
        Pretraining epochs return the mean reconstruction error, classifier epochs the mean loss."""
        steps, b = xb.shape[:2]
        x = to_device(xb.reshape(steps * b, -1), self.dev)
        layer = spec.phase(self.epoch, self.model)
        self.epoch += 1
        if layer is None:
            feats = self._up(self._rbms(), x).reshape(steps, b, -1)
            return self._classifier_epoch(feats, to_device(yb[..., 0].astype(np.int32), self.dev))
        us = to_device(np.ascontiguousarray(yb[..., 1:1 + self.widths[layer]]), self.dev)
        return self.trainers[layer].epoch(self._up(self._rbms(layer), x).reshape(steps, b, -1), us)

    def _classifier_epoch(self, feats: jax.Array, ys: jax.Array) -> float:
        """feats (steps, B, H_last), ys (steps, B) int on the device -> mean loss over the steps."""
        self.clf, self.clf_state, loss = optax_epoch(self._clf_fns, self.clf, self.clf_state, feats, ys, self.dev,
                                                     fused=self.mode == "epoch")
        return loss

    def predict(self, x: np.ndarray) -> np.ndarray:
        """x (N, V) -> logits (N, C)."""
        return np.asarray(self._logits(self._rbms(), self.clf, put_rows(x, self.dev)))

    def sync(self) -> None:
        jax.block_until_ready((self._rbms(), self.clf))
