"""Recurrent network (simple tanh RNN or GRU) over a sequence view of the input: the neutral spec.

The flat input (N, steps*features) is read as (N, steps, features) from ``info.sequence_shape``:
digits = 8 rows of 8 pixels, mnist1d = 40 steps of 1 value, adding = (T, 2) (value, marker).

Canonical weights (float32), for layer l = 0 .. layers-1 and direction d in ("fw",) or ("fw", "bw"):
  ``rnn{l}.{d}.w_ih``: (in, G*H)   input kernel; in = features for l = 0, else D*H
  ``rnn{l}.{d}.w_hh``: (H, G*H)    recurrent kernel
  simple cell (G = 1):  ``rnn{l}.{d}.b``    (H,)    h' = tanh(x w_ih + h w_hh + b)
  gru cell (G = 3):     ``rnn{l}.{d}.b_ih`` (3H,),  ``rnn{l}.{d}.b_hh`` (3H,)
      PyTorch's GRU ("reset_after": the reset gate multiplies the recurrent product), gate columns
      in the order (r, z, n):
        r  = sigmoid(x W_ir + b_ir + h W_hr + b_hr)
        z  = sigmoid(x W_iz + b_iz + h W_hz + b_hz)
        n  = tanh(x W_in + b_in + r * (h W_hn + b_hn))
        h' = (1 - z) * n + z * h
  ``head.kernel``: (D*H, out), ``head.bias``: (out,)   out = n_classes, or n_outputs (regression)
with D = 2 if bidirectional else 1. The initial state is zero. Layer l > 0 reads the concatenation
[fw, bw] of layer l-1's outputs at each step; the bw direction runs from the last step to the first
and its outputs are kept in the original time order. Readout from the last layer: ``last`` =
concat(fw state after the last step, bw state after step 0, i.e. the bw output at time 0);
``mean`` = mean over time of the [fw, bw] outputs.

Mapping notes: PyTorch stores kernels transposed, (G*H, in), in the same gate order, and has two
simple-cell biases (b_ih + b_hh): the canonical ``b`` lives in ``bias_ih`` and ``bias_hh`` is
frozen at zero. Keras GRU(reset_after=True) orders gates (z, r, h) and stores the biases as one
(2, 3H) array [input bias; recurrent bias]; adapters reorder on transfer.

Task: classification (logits, mean softmax cross-entropy; integer labels) or, on ``adding``,
regression (output (N, n_outputs), mean squared error; float targets). The numpy reference tells
the two apart by the label dtype, adapters by ``info.task``.
"""
from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from architectures import _flops, _shared
from harness.datasets import DataInfo

TASK = "classification"  # "regression" on adding: info.task decides per dataset (see evaluate)
# evaluate returns the ones that apply to the task (accuracy on classification, mse on regression)
METRICS = {"accuracy": "higher", "mse": "lower", "loss": "lower"}
PRIMARY = "accuracy"  # higher is better; absent on regression, where the worker falls back to mse
DATASETS = ("digits", "digits_unit", "mnist1d", "adding", "mnist", "mnist5k")
DEFAULT_DATASET = "digits"
# train settings of {architecture: rnn} alone (over harness.config.TrainConfig's defaults)
TRAIN = {"epochs": 10, "batch_size": 32, "optimizer": "adam", "lr": 0.01}
FLOPS_CONVENTION = "backprop: " + _flops.BACKPROP

GATES = {"simple": 1, "gru": 3}


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid")
    cell: Literal["simple", "gru"] = "gru"
    hidden: int = Field(32, gt=0)
    layers: int = Field(1, ge=1, le=4)
    bidirectional: bool = False
    readout: Literal["last", "mean"] = "last"


def directions(model: Model) -> tuple[str, ...]:
    return ("fw", "bw") if model.bidirectional else ("fw",)


def n_out(info: DataInfo) -> int:
    return info.n_classes if info.task == "classification" else info.n_outputs


def validate(model: Model, info: DataInfo, train) -> str | None:
    if info.sequence_shape is None:
        return f"dataset: {info.name} has no sequence view (sequence_shape)"
    if info.task not in ("classification", "regression"):
        return f"dataset: {info.name} is a {info.task} task (rnn needs classification or regression)"
    return None


def bias_names(model: Model) -> tuple[str, ...]:
    return ("b",) if model.cell == "simple" else ("b_ih", "b_hh")


def weight_shapes(model: Model, info: DataInfo) -> dict[str, tuple[int, ...]]:
    h, g = model.hidden, GATES[model.cell]
    width = len(directions(model)) * h
    shapes: dict[str, tuple[int, ...]] = {}
    for layer in range(model.layers):
        fan_in = info.sequence_shape[1] if layer == 0 else width
        for d in directions(model):
            p = f"rnn{layer}.{d}."
            shapes[p + "w_ih"] = (fan_in, g * h)
            shapes[p + "w_hh"] = (h, g * h)
            for b in bias_names(model):
                shapes[p + b] = (g * h,)
    shapes["head.kernel"] = (width, n_out(info))
    shapes["head.bias"] = (n_out(info),)
    return shapes


def init_weights(model: Model, info: DataInfo, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Glorot-uniform on every kernel (w_ih, w_hh and head, each over its own 2-D shape; no
    orthogonal recurrent init, to keep it framework-neutral and simple), zero biases; drawn in
    ``weight_shapes`` order from ``rng``."""
    return _shared.glorot_weights(weight_shapes(model, info), rng)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def _step(w: dict[str, np.ndarray], p: str, cell: str, x: np.ndarray, h: np.ndarray) -> np.ndarray:
    """One cell step: x (N, in), h (N, H) -> h' (N, H)."""
    if cell == "simple":
        return np.tanh(x @ w[p + "w_ih"] + h @ w[p + "w_hh"] + w[p + "b"])
    n_h = h.shape[1]
    gi = x @ w[p + "w_ih"] + w[p + "b_ih"]
    gh = h @ w[p + "w_hh"] + w[p + "b_hh"]
    r = _sigmoid(gi[:, :n_h] + gh[:, :n_h])
    z = _sigmoid(gi[:, n_h:2 * n_h] + gh[:, n_h:2 * n_h])
    n = np.tanh(gi[:, 2 * n_h:] + r * gh[:, 2 * n_h:])
    return (1 - z) * n + z * h


def _direction(w: dict[str, np.ndarray], p: str, cell: str, xs: np.ndarray, reverse: bool) -> np.ndarray:
    """Run one direction over xs (N, T, in) -> outputs (N, T, H) in the original time order."""
    n, steps = xs.shape[:2]
    h = np.zeros((n, w[p + "w_hh"].shape[0]))
    out = [None] * steps
    for t in (reversed(range(steps)) if reverse else range(steps)):
        h = _step(w, p, cell, xs[:, t], h)
        out[t] = h
    return np.stack(out, axis=1)


def sequences(x: np.ndarray, features: int) -> np.ndarray:
    """Flat x (N, steps*features) -> (N, steps, features)."""
    return np.asarray(x).reshape(len(x), -1, features)


def forward(weights: dict[str, np.ndarray], x: np.ndarray, model: Model) -> np.ndarray:
    """Reference forward: x (N, steps*features) -> (N, out) logits or predictions, in float64."""
    w = {k: np.asarray(v, np.float64) for k, v in weights.items()}
    hs = sequences(np.asarray(x, np.float64), w["rnn0.fw.w_ih"].shape[0])
    n_h = model.hidden
    for layer in range(model.layers):
        hs = np.concatenate([_direction(w, f"rnn{layer}.{d}.", model.cell, hs, d == "bw")
                             for d in directions(model)], axis=2)
    if model.readout == "mean":
        feat = hs.mean(axis=1)
    else:
        feat = hs[:, -1, :n_h]
        if model.bidirectional:
            feat = np.concatenate([feat, hs[:, 0, n_h:]], axis=1)
    return feat @ w["head.kernel"] + w["head.bias"]


def is_classification(y: np.ndarray) -> bool:
    """Integer labels -> classification; float targets -> regression."""
    return np.issubdtype(np.asarray(y).dtype, np.integer)


def loss(weights: dict[str, np.ndarray], x: np.ndarray, y: np.ndarray, model: Model) -> float:
    out = forward(weights, x, model)
    return _shared.softmax_xent(out, y) if is_classification(y) else _shared.mse(out, y)


def activation_count(model: Model, info: DataInfo) -> int:
    """Floats per example kept for backprop through time: per step, layer and direction the input,
    the gate pre-activations and outputs (2 x gates x H) and the new state; then the head."""
    steps, feat = info.sequence_shape
    h, g, ndir = model.hidden, GATES[model.cell], len(directions(model))
    per_step = sum(ndir * ((feat if l == 0 else ndir * h) + 2 * g * h + h) for l in range(model.layers))
    return int(steps * per_step + 2 * n_out(info))


def flops_per_example(model: Model, info: DataInfo) -> dict[str, int]:
    """Per-example FLOPs by ``FLOPS_CONVENTION``. Per cell step and direction: the two GEMMs
    2*(in+H)*G*H plus the cell's elementwise work (simple: bias, sum, tanh = 3H; GRU: the two 3H
    bias adds, r and z (sum, sigmoid), n (r*gh_n, sum, tanh) and the 4-op state update = 17H); the
    first layer computes no gradient of its input. ``mean`` readout: one add per output; the head."""
    steps, features = info.sequence_shape
    h, g, dirs = model.hidden, GATES[model.cell], len(directions(model))
    elementwise = 3 * h if model.cell == "simple" else 17 * h
    layers = []
    for layer in range(model.layers):
        fan_in = features if layer == 0 else dirs * h
        layers += [_flops.recurrent(steps, fan_in, h, g, elementwise, input_grad=layer > 0)] * dirs
    if model.readout == "mean":
        layers.append(_flops.layer(0, dirs * h * steps))
    layers.append(_flops.dense(dirs * h, n_out(info), activation=False))
    return _flops.counts(layers, n_out(info))


def evaluate(adapter, x: np.ndarray, y: np.ndarray, model: Model) -> dict[str, float]:
    """accuracy + loss on classification; mse + loss on regression (no accuracy there)."""
    out = adapter.predict(x)
    return _shared.classification_metrics(out, y) if is_classification(y) else _shared.regression_metrics(out, y)


def check_case() -> dict:
    """A tiny fixed problem for the shared check set: one-layer bidirectional GRU, mean readout (tests/test_rnn.py stacks two layers)."""
    from harness.config import TrainConfig

    rng = np.random.default_rng(7)
    info = DataInfo(name="check", input_shape=(12,), task="classification", n_classes=3, sequence_shape=(4, 3))
    return {
        "model": Model(cell="gru", hidden=3, layers=1, bidirectional=True, readout="mean"),
        "info": info,
        "x": rng.normal(size=(8, 12)).astype(np.float32),
        "y": rng.integers(0, 3, 8),
        "batch_size": 4,
        "trains": [TrainConfig(optimizer="sgd", lr=0.1, momentum=0.9), TrainConfig(optimizer="adam", lr=0.01)],
    }
