"""LSTM in Flax NNX: nnx.OptimizedLSTMCell in nnx.RNN / nnx.Bidirectional, nnx.Linear head, trained
by harness.frameworks.flax.Trainer (optax through nnx.Optimizer, nnx.jit'd train step).

OptimizedLSTMCell is the canonical layout as it stands: ``dense_i.kernel`` (in, 4H) without bias,
``dense_h.kernel`` (H, 4H) and ``dense_h.bias`` (4H,) -- one bias -- with gates split (i, f, g, o).
Modes: ``step`` runs one jitted optimizer step per batch from a Python loop (the NNX tutorial's
way); ``epoch`` fuses the whole epoch into one jitted ``nnx.scan`` over the steps.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from harness.frameworks.flax import GradientAdapter, const_init, host


def _rnn(weights: dict[str, np.ndarray], prefix: str, rngs: nnx.Rngs) -> nnx.RNN:
    w_ih = weights[f"{prefix}.w_ih"]
    cell = nnx.OptimizedLSTMCell(w_ih.shape[0], w_ih.shape[1] // 4, kernel_init=const_init(w_ih),
                                 recurrent_kernel_init=const_init(weights[f"{prefix}.w_hh"]),
                                 bias_init=const_init(weights[f"{prefix}.b"]), rngs=rngs)
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
        self.head = nnx.Linear(*k.shape, kernel_init=const_init(k), bias_init=const_init(weights["head.bias"]), rngs=rngs)

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


class Adapter(GradientAdapter):
    """Canonical ``lstm{l}.{d}.w_ih`` (in, 4H), ``.w_hh`` (H, 4H), ``.b`` (4H,), ``head.kernel``
    (ndir*H, out), ``head.bias`` (out,); x (N, T*features) -> logits (N, classes) or predictions
    (N, n_outputs), by the dataset's task."""

    MODES = ("step", "epoch")  # step: jitted step per batch; epoch: one jitted nnx.scan per epoch

    def make_net(self, weights: dict[str, np.ndarray]) -> LSTMNet:
        return LSTMNet(weights, self.model, *self.info.sequence_shape)

    def get_weights(self) -> dict[str, np.ndarray]:
        out = {}
        for prefix, cell in self.net.cells(("fw", "bw") if self.model.bidirectional else ("fw",)):
            out[f"{prefix}.w_ih"], out[f"{prefix}.w_hh"] = host(cell.dense_i.kernel), host(cell.dense_h.kernel)
            out[f"{prefix}.b"] = host(cell.dense_h.bias)
        out["head.kernel"], out["head.bias"] = host(self.net.head.kernel), host(self.net.head.bias)
        return out
