"""RBM in Theano, through PyTensor: float32 shared variables, the CD/PCD step as one symbolic graph
compiled once in ``build`` (the deeplearning.net RBM tutorial's recipe: Gibbs chain in the graph,
``pytensor.grad`` of mean F(v_data) - mean F(v_model) with ``consider_constant=[v_model]``, the
PCD chain a shared variable in ``updates``). The sampling uses the harness noise, not RandomStreams.
Every constant is a numpy float32: PyTensor turns a Python float into float64 and would upcast.

Modes: ``step`` compiles the step as a ``pytensor.function`` with ``updates=`` and calls it per batch
(Theano's classic loop); ``epoch`` runs the same step inside one ``pytensor.scan`` over the epoch's
batches and their noise, carrying the weights, optimizer state and PCD chain, so one call of one
compiled function trains the whole epoch (harness.frameworks.theano's ``compile_scan``).
"""
from __future__ import annotations

import numpy as np
import pytensor
import pytensor.tensor as pt

from harness.frameworks.theano import MODE, AdapterBase, compile_scan, epoch_mean, flat32, make_optimizer

F32 = np.float32
NAMES = ("W", "b_v", "b_h")


def hidden_probs(W, b_h, v):
    return pt.sigmoid(pt.dot(v, W) + b_h)


def visible_probs(W, b_v, h):
    return pt.sigmoid(pt.dot(h, W.T) + b_v)


def free_energy(W, b_v, b_h, v):
    """F(v) (N,) = -v.b_v - sum_j softplus(v W + b_h)_j."""
    return -pt.dot(v, b_v) - pt.softplus(pt.dot(v, W) + b_h).sum(axis=1)


def sample(u, p):
    return pt.cast(pt.lt(u, p), "float32")  # "1 if u < p"


def cd_step(params: list, chain, v, u, model, n_v: int, n_h: int):
    """Symbolic CD-k / PCD-k on the batch v (B, V) with the noise u (B, H + k (V + H)) in the spec's
    layout: params [W, b_v, b_h]; chain the PCD hidden state (B, H), None for CD. Returns (grads of
    params, h_k (the next PCD state), the batch's reconstruction error before the update)."""
    W, b_v, b_h = params
    p0 = hidden_probs(W, b_h, v)
    err = ((v - visible_probs(W, b_v, p0)) ** 2).sum(axis=1).mean()
    h = chain if model.persistent else sample(u[:, :n_h], p0)
    for i in range(model.cd_k):
        o = n_h + i * (n_v + n_h)
        vk = sample(u[:, o:o + n_v], visible_probs(W, b_v, h))
        h = sample(u[:, o + n_v:o + n_v + n_h], hidden_probs(W, b_h, vk))
    # its gradient is the CD statistics: -(v^T p(h|v) - v_k^T p(h|v_k)) / B (+ wd W)
    cost = (free_energy(W, b_v, b_h, v).mean() - free_energy(W, b_v, b_h, vk).mean()
            + F32(0.5 * model.weight_decay) * (W ** 2).sum())
    return pytensor.grad(cost, params, consider_constant=[vk]), h, err


class CDTrainer:
    """CD-k / PCD-k for one RBM's shared variables: optimizer slots, PCD chain and the compiled
    step (reused by the DBN for each layer's pretraining). ``fused``: compile instead one function
    that runs the epoch's steps in a ``pytensor.scan`` (``compile_scan``)."""

    def __init__(self, params: list, model, train, fused: bool = False):
        self.params, self.persistent, self.fused = params, model.persistent, fused
        W, b_v, b_h = params
        n_v, n_h = W.get_value().shape
        self.chain = pytensor.shared(np.zeros((0, n_h), np.float32), name="chain")
        self.started = False
        opt = make_optimizer(train)
        v, u = pt.matrix("v", dtype="float32"), pt.matrix("u", dtype="float32")
        if fused:  # f(xs (steps, B, V), us (steps, B, width)) -> mean reconstruction error
            state = opt.init_state(params)
            n_s = len(state)

            def update(carry, v, u):
                p, s, chain = carry[:3], carry[3:3 + n_s], carry[3 + n_s:]
                grads, h, err = cd_step(p, chain[0] if chain else None, v, u, model, n_v, n_h)
                new_p, new_s = opt.update(p, grads, s)
                return [*new_p, *new_s, *([h] if chain else [])], err

            carried = [*params, *state, *([self.chain] if model.persistent else [])]
            xs, us = pt.tensor3("xs", dtype="float32"), pt.tensor3("us", dtype="float32")
            self._train = compile_scan(update, carried, xs, us)
        else:  # f(v (B, V), u (B, width)) -> reconstruction error
            grads, h, err = cd_step(params, self.chain, v, u, model, n_v, n_h)
            updates = opt.updates(params, grads) + ([(self.chain, h)] if model.persistent else [])
            self._train = pytensor.function([v, u], err, updates=updates, mode=MODE)
        self._start = pytensor.function([v, u], [], updates=[(self.chain, sample(u[:, :n_h], hidden_probs(W, b_h, v)))],
                                        mode=MODE)

    def epoch(self, xs: np.ndarray, us: np.ndarray) -> float:
        """xs (steps, B, V), us (steps, B, width) float32 -> mean reconstruction error."""
        if self.persistent and not self.started:  # PCD starts from the first batch
            self._start(xs[0], us[0])
            self.started = True
        return epoch_mean(self._train, xs, us, fused=self.fused)


class Adapter(AdapterBase):
    MODES = ("step", "epoch")  # step: compiled step per batch; epoch: one compiled scan per epoch

    def __init__(self, model, info, train, **kw):
        super().__init__(model, info, train, **kw)

    def build(self, weights: dict[str, np.ndarray]) -> None:
        """weights: canonical ``W`` (V, H), ``b_v`` (V,), ``b_h`` (H,)."""
        self.params = [pytensor.shared(np.array(weights[k], np.float32), name=k) for k in NAMES]
        self.trainer = CDTrainer(self.params, self.model, self.train, fused=self.mode == "epoch")
        x = pt.matrix("x", dtype="float32")
        self._predict = pytensor.function([x], hidden_probs(self.params[0], self.params[2], x), mode=MODE)

    def get_weights(self) -> dict[str, np.ndarray]:
        return {k: np.array(p.get_value(), np.float32) for k, p in zip(NAMES, self.params)}

    def train_epoch(self, xb: np.ndarray, yb: np.ndarray) -> float:
        """xb (steps, B, V) data, yb (steps, B, H + k (V + H)) uniform noise -> mean recon error."""
        return self.trainer.epoch(flat32(xb, lead=2), np.ascontiguousarray(yb, dtype=np.float32))

    def predict(self, x: np.ndarray) -> np.ndarray:
        """x (N, V) -> p(h=1|v) (N, H)."""
        return self._predict(flat32(x))
