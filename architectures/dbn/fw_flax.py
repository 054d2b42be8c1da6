"""DBN in Flax NNX: a module holding architectures/rbm's RBM modules and an nnx.Linear classifier;
each layer pretrained by the rbm's CD trainer, the classifier by its own harness.frameworks.flax.Trainer
(nnx.value_and_grad through nnx.Optimizer in an nnx.jit'd step; mode ``epoch``: each epoch one nnx.scan);
the up-pass nnx.jit'd."""
from __future__ import annotations

from functools import partial

import jax
import numpy as np
from flax import nnx

from architectures.dbn import spec
from architectures.rbm.fw_flax import RBM, CDTrainer
from harness.frameworks.flax import AdapterBase, Trainer, commit, const_init, host, to_device, xent


class DBN(nnx.Module):
    def __init__(self, weights: dict[str, np.ndarray], n_layers: int):
        self.rbms = nnx.List([RBM(spec.rbm_weights(weights, l)) for l in range(n_layers)])
        k = weights["clf.kernel"]
        self.clf = nnx.Linear(*k.shape, kernel_init=const_init(k), bias_init=const_init(weights["clf.bias"]),
                              rngs=nnx.Rngs(0))  # Rngs required by nnx.Linear, unused by constant inits

    def up(self, x: jax.Array, n_layers: int) -> jax.Array:
        """Deterministic p(h|v) through the first n_layers RBMs: (N, V) -> (N, V_n)."""
        for rbm in self.rbms[:n_layers]:
            x = rbm.hidden_probs(x)
        return x

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.clf(self.up(x, len(self.rbms)))


@partial(nnx.jit, static_argnames=("n_layers",))
def _up(net: DBN, x: jax.Array, n_layers: int) -> jax.Array:
    return net.up(x, n_layers)


class Adapter(AdapterBase):
    # step: a jitted step per batch from a Python loop (the NNX tutorial's way); epoch: each epoch (a
    # layer's CD pretraining or the classifier's) one jitted nnx.scan over its batches
    MODES = ("step", "epoch")

    def __init__(self, model, info, train, **kw):
        super().__init__(model, info, train, **kw)
        self.widths = spec.noise_widths(model, info)

    def build(self, weights: dict[str, np.ndarray]) -> None:
        """weights: canonical ``rbm{l}.W`` (V_l, H_l), ``rbm{l}.b_v``, ``rbm{l}.b_h``,
        ``clf.kernel`` (H_last, C), ``clf.bias`` (C,), float32."""
        with jax.default_device(self.dev):
            self.net = DBN(weights, len(self.model.hidden))
        commit(self.net, self.dev)
        # one trainer per layer and one for the classifier, each with a fresh optimizer for its own phase
        self.clf_trainer = Trainer(self.net.clf, xent, self.train, self.dev)
        self.trainers = [CDTrainer(rbm, spec.rbm_model(self.model, l), self.train, self.dev,
                                   fused=self.mode == "epoch") for l, rbm in enumerate(self.net.rbms)]
        self.epoch = 0

    def get_weights(self) -> dict[str, np.ndarray]:
        out = {f"rbm{l}.{k}": a for l, rbm in enumerate(self.net.rbms) for k, a in rbm.weights().items()}
        out["clf.kernel"], out["clf.bias"] = host(self.net.clf.kernel), host(self.net.clf.bias)
        return out

    def train_epoch(self, xb: np.ndarray, yb: np.ndarray) -> float:
        """xb (steps, B, V); yb (steps, B, 1 + noise): labels in column 0, then the harness noise.
        Pretraining epochs return the mean reconstruction error, classifier epochs the mean loss."""
        steps, b = xb.shape[:2]
        x = to_device(xb.reshape(steps * b, -1), self.dev)
        layer = spec.phase(self.epoch, self.model)
        self.epoch += 1
        if layer is None:
            feats = _up(self.net, x, n_layers=len(self.model.hidden)).reshape(steps, b, -1)
            ys = to_device(yb[..., 0].astype(np.int32), self.dev)
            if self.mode == "epoch":
                return self.clf_trainer.epoch(feats, ys, "epoch")
            return self.clf_trainer.summed_epoch(feats, ys)
        us = to_device(np.ascontiguousarray(yb[..., 1:1 + self.widths[layer]]), self.dev)
        return self.trainers[layer].epoch(_up(self.net, x, n_layers=layer).reshape(steps, b, -1), us)
