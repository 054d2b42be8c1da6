"""RNN in Flax NNX: nnx.RNN / nnx.Bidirectional over cells, nnx.Linear head, trained by
harness.frameworks.flax.Trainer (optax through nnx.Optimizer, nnx.jit'd train step).

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
from flax import nnx

from architectures.rnn.spec import directions
from harness.frameworks.flax import GradientAdapter, const_init


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
    return nnx.SimpleCell(w_ih.shape[0], w_hh.shape[0], kernel_init=const_init(w_ih),
                          recurrent_kernel_init=const_init(w_hh), bias_init=const_init(weights[prefix + "b"]),
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
        self.head = nnx.Linear(*k.shape, kernel_init=const_init(k), bias_init=const_init(weights["head.bias"]),
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


class Adapter(GradientAdapter):
    """Canonical ``rnn{l}.{d}.*`` and ``head.*`` (see spec); x (N, T*F) -> logits (N, classes) or
    predictions (N, outputs), by the dataset's task."""

    SEQUENCE = True
    MODES = ("step", "epoch")  # step: jitted step per batch; epoch: one jitted nnx.scan per epoch

    def make_net(self, weights: dict[str, np.ndarray]) -> Net:
        return Net(weights, self.model)

    def get_weights(self) -> dict[str, np.ndarray]:
        return {k: np.array(v, dtype=np.float32) for k, v in self.net.canonical(self.model).items()}
