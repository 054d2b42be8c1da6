"""Deep belief network: greedily pretrained stacked RBMs + a softmax classifier on top (numpy only).

Canonical weights (float32), for l = 0 .. L-1 (L = len(hidden)):
  ``rbm{l}.W`` (V_l, H_l), ``rbm{l}.b_v`` (V_l,), ``rbm{l}.b_h`` (H_l,)   with V_0 = input width,
  V_l = H_{l-1}; ``clf.kernel`` (H_{L-1}, C), ``clf.bias`` (C,).
Init: each RBM as architectures/rbm (W ~ N(0, 0.01^2), zero biases), in layer order; then a
Glorot-uniform ``clf.kernel`` and a zero ``clf.bias``.

Schedule (one ``train_epoch`` call per epoch; the adapter counts epochs):
  epochs [l P, (l+1) P), P = pretrain_epochs: pretrain RBM l exactly as architectures/rbm trains
      one RBM (CD-k/PCD-k, its statistics, noise layout, weight decay and recon-error loss), on the
      deterministic up-pass p(h|v) of the layers below (real values in [0, 1], not samples: the
      usual choice for higher layers in Hinton's guide), with a fresh optimizer state and (PCD) a
      chain started from that layer's first batch;
  epochs >= L P: the classifier: logits = p(h_{L-1}|...) @ clf.kernel + clf.bias, mean softmax
      cross-entropy, backpropagated to the classifier only (the RBMs stay fixed), with a fresh
      optimizer state shared by all classifier epochs; loss = the cross-entropy before each step.
Every phase uses the benchmark's train config (optimizer, lr, momentum, ...).
predict(x) = the logits (N, C).
"""
from __future__ import annotations

import itertools

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from architectures import _flops, _shared
from architectures.rbm import spec as rbm_spec
from harness.batching import epoch_batches
from harness.datasets import DataInfo
from harness.optim import OptState, apply_update

TASK = "classification"
METRICS = {"accuracy": "higher", "loss": "lower"}
PRIMARY = "accuracy"
DATASETS = ("digits_binary", "mnist5k_binary", "mnist_binary")
DEFAULT_DATASET = "digits_binary"
# train settings of {architecture: dbn} alone (over harness.config.TrainConfig's defaults)
# 2 x 5 pretraining + 10 classifier epochs
TRAIN = {"epochs": 20, "batch_size": 16, "optimizer": "sgd", "lr": 0.5}
# No timing-only epochs past train.epochs (harness/worker.py): they would all be classifier epochs,
# while the steady epochs they extend mix pretraining and classifier phases.
EXTRA_TIMING = False
FLOPS_CONVENTION = (
    "per phase, per example: a pretraining phase = the deterministic up-pass to the layer (GEMM, bias and "
    "sigmoid, 1 FLOP per element each) + the RBM's CD-k step counted as architectures/rbm (multiply-adds "
    "only); the classifier phase = the up-pass + the softmax layer by backprop (weight gradient only: the "
    "RBMs are fixed), loss 3 per class. The train figure is the mean of the L + 1 phases, each counted once. "
    "Multiply-add = 2 FLOPs; the optimizer update is left out.")


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid")
    hidden: list[int] = Field(default_factory=lambda: [64, 32], min_length=1, max_length=16)
    cd_k: int = Field(1, ge=1, le=1000)
    persistent: bool = False
    weight_decay: float = Field(0.0, ge=0)
    pretrain_epochs: int = Field(5, ge=0, le=100_000)  # per layer

    def model_post_init(self, _ctx) -> None:
        if any(h <= 0 for h in self.hidden):
            raise ValueError("hidden sizes must be positive")


def rbm_model(model: Model, layer: int) -> rbm_spec.Model:
    """The architectures/rbm Model that layer ``layer`` is pretrained as."""
    return rbm_spec.Model(hidden=model.hidden[layer], cd_k=model.cd_k, persistent=model.persistent,
                          weight_decay=model.weight_decay)


def layer_sizes(model: Model, info: DataInfo) -> list[int]:
    return [int(np.prod(info.input_shape)), *model.hidden]


def phase(epoch: int, model: Model) -> int | None:
    """The RBM layer that epoch ``epoch`` (0-based) pretrains, or None for a classifier epoch."""
    layer = epoch // model.pretrain_epochs if model.pretrain_epochs else len(model.hidden)
    return layer if layer < len(model.hidden) else None


def noise_widths(model: Model, info_or_width) -> list[int]:
    """Noise columns each layer's pretraining uses (architectures/rbm's layout)."""
    n_in = info_or_width if isinstance(info_or_width, int) else int(np.prod(info_or_width.input_shape))
    sizes = [n_in, *model.hidden]
    return [rbm_spec.noise_width(sizes[l], sizes[l + 1], model.cd_k) for l in range(len(model.hidden))]


def weight_shapes(model: Model, info: DataInfo) -> dict[str, tuple[int, ...]]:
    sizes = layer_sizes(model, info)
    shapes: dict[str, tuple[int, ...]] = {}
    for l, (v, h) in enumerate(itertools.pairwise(sizes)):
        shapes.update({f"rbm{l}.W": (v, h), f"rbm{l}.b_v": (v,), f"rbm{l}.b_h": (h,)})
    shapes.update({"clf.kernel": (sizes[-1], info.n_classes), "clf.bias": (info.n_classes,)})
    return shapes


def init_weights(model: Model, info: DataInfo, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """RBM layers as architectures/rbm (W ~ N(0, 0.01^2), zero biases) in layer order, then a
    Glorot-uniform classifier kernel and a zero bias, all from ``rng``."""
    shapes = weight_shapes(model, info)
    out = {}
    for l in range(len(model.hidden)):
        out[f"rbm{l}.W"] = rng.normal(0.0, 0.01, size=shapes[f"rbm{l}.W"]).astype(np.float32)
        out[f"rbm{l}.b_v"] = np.zeros(shapes[f"rbm{l}.b_v"], np.float32)
        out[f"rbm{l}.b_h"] = np.zeros(shapes[f"rbm{l}.b_h"], np.float32)
    k = shapes["clf.kernel"]
    out["clf.kernel"] = _shared.glorot_uniform(rng, k[0], k[1], k)
    out["clf.bias"] = np.zeros(shapes["clf.bias"], np.float32)
    return out


def rbm_weights(weights: dict[str, np.ndarray], layer: int) -> dict[str, np.ndarray]:
    """Layer ``layer``'s weights under architectures/rbm's names (W, b_v, b_h)."""
    return {k: weights[f"rbm{layer}.{k}"] for k in ("W", "b_v", "b_h")}


def up_pass(weights: dict[str, np.ndarray], x: np.ndarray, n_layers: int) -> np.ndarray:
    """Deterministic p(h|v) through the first ``n_layers`` RBMs: x (N, V) -> (N, V_n), float64."""
    h = np.asarray(x, np.float64).reshape(len(x), -1)
    for l in range(n_layers):
        h = rbm_spec.forward(rbm_weights(weights, l), h)
    return h


def forward(weights: dict[str, np.ndarray], x: np.ndarray, model: Model) -> np.ndarray:
    """x (N, V) -> class logits (N, C), float64."""
    f = up_pass(weights, x, len(model.hidden))
    return f @ np.asarray(weights["clf.kernel"], np.float64) + np.asarray(weights["clf.bias"], np.float64)


def loss(weights: dict[str, np.ndarray], x: np.ndarray, y: np.ndarray, model: Model) -> float:
    """The classifier phase's loss: mean softmax cross-entropy."""
    return _shared.softmax_xent(forward(weights, x, model), y)


def validate(model: Model, info: DataInfo, train) -> str | None:
    n_pre = len(model.hidden) * model.pretrain_epochs
    if train.epochs <= n_pre:
        return (f"train.epochs: must exceed len(model.hidden) * model.pretrain_epochs = {n_pre} "
                f"(greedy pretraining first, then at least one classifier epoch; got {train.epochs})")
    if info.n_classes < 2:
        return "dataset: the DBN's classifier needs labelled data with at least two classes"
    return None


# ----------------------------------------------------------------------------- training reference


def make_epoch(x: np.ndarray, y: np.ndarray, batch_size: int, perm: np.ndarray, model: Model,
               rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """xb (steps, B, V) float32; yb (steps, B, 1 + max_l width_l) float32: column 0 the label (an
    integer, exact in float32), then uniform [0, 1) noise. make_epoch does not know the phase, so
    it draws for the widest layer; pretraining layer l reads columns 1 .. width_l (architectures/rbm's
    layout for that layer); classifier epochs read only the label."""
    xb, labels = epoch_batches(np.asarray(x, np.float32).reshape(len(x), -1), y, batch_size, perm)
    noise = rng.random((*labels.shape, max(noise_widths(model, xb.shape[2]))), dtype=np.float32)
    return xb, np.concatenate([labels[..., None].astype(np.float32), noise], axis=2)


def split_targets(yb: np.ndarray, width: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """yb -> (labels (steps, B) int64, noise (steps, B, width))."""
    return yb[..., 0].astype(np.int64), yb[..., 1:1 + width] if width else yb[..., 1:]


class Trainer:
    """The numpy float64 reference: the whole schedule, with each phase's optimizer and chain state."""

    def __init__(self, weights: dict[str, np.ndarray], model: Model, train, epoch: int = 0):
        self.w = {k: np.asarray(v, np.float64) for k, v in weights.items()}
        self.model, self.train, self.epoch_index = model, train, epoch
        self.layer: int | None = None
        self.rbm: rbm_spec.Trainer | None = None
        self.clf_opt: OptState | None = None

    def epoch(self, xb: np.ndarray, yb: np.ndarray) -> float:
        """One epoch of the current phase; returns its mean loss."""
        layer = phase(self.epoch_index, self.model)
        self.epoch_index += 1
        xs = xb.reshape(xb.shape[0], xb.shape[1], -1)
        return self._pretrain(layer, xs, yb) if layer is not None else self._classifier(xs, yb)

    def _pretrain(self, layer: int, xs: np.ndarray, yb: np.ndarray) -> float:
        if self.layer != layer:  # a new phase: fresh optimizer state and chain
            self.layer = layer
            self.rbm = rbm_spec.Trainer(rbm_weights(self.w, layer), rbm_model(self.model, layer), self.train)
        v = up_pass(self.w, xs.reshape(-1, xs.shape[2]), layer).reshape(xs.shape[0], xs.shape[1], -1)
        _, noise = split_targets(yb, noise_widths(self.model, xs.shape[2])[layer])
        mean = self.rbm.epoch(v, noise)
        self.w.update({f"rbm{layer}.{k}": a for k, a in self.rbm.w.items()})
        return mean

    def _classifier(self, xs: np.ndarray, yb: np.ndarray) -> float:
        self.clf_opt = self.clf_opt or OptState()
        labels, _ = split_targets(yb)
        n_layers = len(self.model.hidden)
        losses = []
        for x, y in zip(xs, labels):
            f = up_pass(self.w, x, n_layers)
            logits = f @ self.w["clf.kernel"] + self.w["clf.bias"]
            losses.append(_shared.softmax_xent(logits, y))
            d = np.exp(_shared.log_softmax(logits))
            d[np.arange(len(y)), y] -= 1.0
            d /= len(y)  # d mean-CE / d logits
            grads = {"clf.kernel": f.T @ d, "clf.bias": d.sum(axis=0)}
            self.w, self.clf_opt = apply_update(self.w, grads, self.train, self.clf_opt)
        return float(np.mean(losses))


def reference_epoch(weights: dict[str, np.ndarray], xb: np.ndarray, yb: np.ndarray, model: Model,
                    train) -> tuple[dict[str, np.ndarray], float]:
    """One epoch of a fresh adapter: layer 0's first pretraining epoch (or the classifier's first
    epoch when pretrain_epochs = 0). Later phases: Trainer(weights, model, train, epoch=e)."""
    trainer = Trainer(weights, model, train)
    mean = trainer.epoch(xb, yb)
    return trainer.w, mean


def activation_count(model: Model, info: DataInfo) -> int:
    """The largest phase: an RBM layer's CD-k step (architectures/rbm) on top of the up-pass below
    it, or the classifier's up-pass, logits and softmax."""
    sizes = layer_sizes(model, info)
    phases = [sum(sizes[:l + 1]) + rbm_spec.activation_count(rbm_model(model, l), DataInfo(
        name="layer", input_shape=(sizes[l],), task="binary")) for l in range(len(model.hidden))]
    return int(max(*phases, sum(sizes) + 2 * info.n_classes))


def epoch_phase(epoch: int, model: Model) -> str:
    """The phase label of epoch ``epoch`` (0-based): ``pretrain{l}`` for greedy pretraining of RBM
    layer l, ``classifier`` after. Phases are different programs (and compiles): the worker times them
    apart."""
    layer = phase(epoch, model)
    return "classifier" if layer is None else f"pretrain{layer}"


def phase_flops(model: Model, info: DataInfo) -> list[int]:
    """Training FLOPs per example of one step of each phase, in schedule order: pretraining RBM l
    (the up-pass below it, then architectures/rbm's CD count for a V_l x H_l RBM) for l = 0 .. L-1,
    then the classifier (the whole up-pass, forward only, then the softmax layer by backprop with no
    input gradient: the RBMs are fixed)."""
    sizes = layer_sizes(model, info)
    ups = [_flops.dense(v, h, input_grad=False)[0] for v, h in itertools.pairwise(sizes)]
    out = [sum(ups[:l]) + rbm_spec.cd_flops(sizes[l], sizes[l + 1], model.cd_k) for l in range(len(model.hidden))]
    out.append(sum(ups) + _flops.counts([_flops.dense(sizes[-1], info.n_classes, activation=False, input_grad=False)],
                                        info.n_classes)["train"])
    return out


def flops_per_example(model: Model, info: DataInfo) -> dict:
    """Per-example FLOPs by ``FLOPS_CONVENTION``. forward: the up-pass (GEMM, bias, sigmoid per
    layer) and the classifier. ``phases``: ``phase_flops`` by ``epoch_phase`` label (the worker's
    FLOP/s weighs each steady epoch by its own phase's count). train: their mean, each phase counted
    once (a summary, not weighted by its number of epochs)."""
    sizes = layer_sizes(model, info)
    fwd = sum(_flops.dense(v, h)[0] for v, h in itertools.pairwise(sizes))
    fwd += _flops.dense(sizes[-1], info.n_classes, activation=False)[0]
    per = phase_flops(model, info)
    labels = [f"pretrain{l}" for l in range(len(model.hidden))] + ["classifier"]
    return {"forward": int(fwd), "train": int(np.mean(per)), "phases": dict(zip(labels, map(int, per)))}


def evaluate(adapter, x: np.ndarray, y: np.ndarray, model: Model) -> dict[str, float]:
    return _shared.classification_metrics(adapter.predict(x), y)


def check_case() -> dict:
    """A tiny problem for the shared check set. A fresh adapter's first epoch pretrains layer 0, in
    the setting every framework can run (scikit-learn's BernoulliRBM: PCD-1, plain SGD); later
    phases and other settings are checked per framework in tests/test_dbn.py."""
    from harness.config import TrainConfig

    rng = np.random.default_rng(11)
    info = DataInfo(name="check", input_shape=(6,), task="classification", n_classes=3)
    return {
        "model": Model(hidden=[5, 4], cd_k=1, persistent=True, pretrain_epochs=1),
        "info": info,
        "x": (rng.random((8, 6)) < 0.5).astype(np.float32),
        "y": rng.integers(0, 3, 8),
        "batch_size": 4,
        "trains": [TrainConfig(optimizer="sgd", lr=0.1, momentum=0.0)],
    }


def check_weights(model: Model, info: DataInfo) -> dict[str, np.ndarray]:
    """Starting weights of the option check (tests/test_options.py): ``init_weights`` with every
    ``rbm{l}.W`` ~ N(0, 1), so that CD and PCD (``persistent``) pretrain differently in one epoch
    (from N(0, 0.01^2) every Gibbs step is a coin flip whatever the chain held)."""
    rng = np.random.default_rng(5)
    w = init_weights(model, info, rng)
    return {k: rng.normal(0.0, 1.0, v.shape).astype(np.float32) if k.endswith(".W") else v for k, v in w.items()}


def weight_figures(jobs: list[tuple[dict, dict]], data, model: Model,
                   figures) -> list[tuple[str, str | None]]:
    """The first RBM layer's filters (``rbm0.W``), as architectures/rbm draws an RBM's."""
    return rbm_spec.filter_figures(jobs, "rbm0.W", data.info, figures, "DBN (its first RBM)")
