"""LSTM (Hochreiter & Schmidhuber 1997) over a sequence view of the input: the neutral spec.

The flat input (N, steps*features) is read as a sequence of ``info.sequence_shape`` =
(steps, features): digits = 8 rows of 8 pixels, mnist1d = 40 steps of 1, adding = (T, 2).

Canonical weights (float32), for layer l = 0 .. layers-1 and direction d in ("fw",) or ("fw", "bw"):
  ``lstm{l}.{d}.w_ih``: (in, 4H)   in = features for l = 0, else (2 if bidirectional else 1) * H
  ``lstm{l}.{d}.w_hh``: (H, 4H)
  ``lstm{l}.{d}.b``:    (4H,)      ONE bias (PyTorch's bias_ih + bias_hh folded into one)
  ``head.kernel``:      ((2 if bidirectional else 1) * H, out)   out = n_classes or n_outputs
  ``head.bias``:        (out,)
The 4H columns are the gates in the order (i, f, g, o) -- PyTorch's order, and Keras's (i, f, c, o):
  z = x_t @ w_ih + h @ w_hh + b;  i, f, o = sigmoid(z_i, z_f, z_o);  g = tanh(z_g)
  c' = f * c + i * g;  h' = o * tanh(c')
with zero initial (h, c). The ``bw`` direction reads the sequence from the last step to the first;
its output at step t is stored at step t. Layer l > 0 reads concat([fw, bw]) outputs of layer l-1.
Readout: ``last`` = fw h after the last step (bidirectional: concat(fw h at step T-1, bw h at step
0), i.e. both final states); ``mean`` = the layer's outputs averaged over time. Then the linear head.

Task follows the dataset: classification (logits, mean softmax cross-entropy; metrics accuracy and
loss) or regression (the adding problem: outputs (N, n_outputs), mean squared error over all
outputs; metrics mse and loss).

Init: glorot-uniform ``w_ih`` (fan in, 4H) and ``w_hh`` (H, 4H) and ``head.kernel``, zero biases
except ``forget_bias_init`` added to the f slice b[H:2H] (Gers et al. 2000: a positive forget bias
lets gradients flow through c at the start of training). Drawn in the order of ``weight_shapes``.
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
# train settings of {architecture: lstm} alone (over harness.config.TrainConfig's defaults)
TRAIN = {"epochs": 10, "batch_size": 32, "optimizer": "adam", "lr": 0.01}
FLOPS_CONVENTION = "backprop: " + _flops.BACKPROP


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid")
    hidden: int = Field(32, gt=0)
    layers: int = Field(1, ge=1, le=4)
    bidirectional: bool = False
    readout: Literal["last", "mean"] = "last"
    forget_bias_init: float = 1.0  # added to the forget-gate bias at init (not a training knob)


def directions(model: Model) -> tuple[str, ...]:
    return ("fw", "bw") if model.bidirectional else ("fw",)


def n_out(info: DataInfo) -> int:
    return info.n_classes if info.task == "classification" else info.n_outputs


def weight_shapes(model: Model, info: DataInfo) -> dict[str, tuple[int, ...]]:
    h, dirs = model.hidden, directions(model)
    shapes: dict[str, tuple[int, ...]] = {}
    for l in range(model.layers):
        fan_in = info.sequence_shape[1] if l == 0 else len(dirs) * h
        for d in dirs:
            shapes[f"lstm{l}.{d}.w_ih"] = (fan_in, 4 * h)
            shapes[f"lstm{l}.{d}.w_hh"] = (h, 4 * h)
            shapes[f"lstm{l}.{d}.b"] = (4 * h,)
    shapes["head.kernel"] = (len(dirs) * h, n_out(info))
    shapes["head.bias"] = (n_out(info),)
    return shapes


def init_weights(model: Model, info: DataInfo, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Glorot-uniform matrices, zero biases plus ``forget_bias_init`` on b[H:2H]."""
    h = model.hidden
    out = _shared.glorot_weights(weight_shapes(model, info), rng)
    for name in out:
        if name.endswith(".b"):
            out[name][h:2 * h] = model.forget_bias_init
    return out


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def _run_direction(w: dict[str, np.ndarray], prefix: str, x: np.ndarray, reverse: bool) -> np.ndarray:
    """One direction of one layer: x (N, T, in) -> outputs (N, T, H), stored at their input step."""
    w_ih, w_hh, b = (np.asarray(w[f"{prefix}.{k}"], np.float64) for k in ("w_ih", "w_hh", "b"))
    n, steps, _ = x.shape
    hid = w_hh.shape[0]
    h, c = np.zeros((n, hid)), np.zeros((n, hid))
    out = np.zeros((n, steps, hid))
    for t in (range(steps - 1, -1, -1) if reverse else range(steps)):
        z = x[:, t] @ w_ih + h @ w_hh + b
        i, f, g, o = (z[:, k * hid:(k + 1) * hid] for k in range(4))
        c = _sigmoid(f) * c + _sigmoid(i) * np.tanh(g)
        h = _sigmoid(o) * np.tanh(c)
        out[:, t] = h
    return out


def forward(weights: dict[str, np.ndarray], x: np.ndarray, model: Model) -> np.ndarray:
    """Reference forward: x (N, steps*features) -> (N, out) logits or predictions, float64."""
    features = weights["lstm0.fw.w_ih"].shape[0]
    seq = np.asarray(x, np.float64).reshape(len(x), -1, features)
    steps, hid = seq.shape[1], model.hidden
    for l in range(model.layers):
        outs = [_run_direction(weights, f"lstm{l}.{d}", seq, reverse=(d == "bw")) for d in directions(model)]
        seq = np.concatenate(outs, axis=-1)
    if model.readout == "mean":
        feat = seq.mean(axis=1)
    elif model.bidirectional:
        feat = np.concatenate([seq[:, steps - 1, :hid], seq[:, 0, hid:]], axis=-1)
    else:
        feat = seq[:, steps - 1]
    return feat @ np.asarray(weights["head.kernel"], np.float64) + np.asarray(weights["head.bias"], np.float64)


def is_regression(y: np.ndarray) -> bool:
    """Regression targets are float (N, n_outputs); class labels are integers (N,)."""
    return np.asarray(y).dtype.kind == "f"


def loss(weights: dict[str, np.ndarray], x: np.ndarray, y: np.ndarray, model: Model) -> float:
    """Mean softmax cross-entropy for integer labels y (N,); mean squared error for float y (N, out)."""
    out = forward(weights, x, model)
    return _shared.mse(out, y) if is_regression(y) else _shared.softmax_xent(out, y)


def activation_count(model: Model, info: DataInfo) -> int:
    """Floats per example kept for backprop through time: per step, layer and direction the input,
    the four gates before and after their nonlinearity (8H), the cell, tanh(cell) and the output (3H);
    then the head."""
    steps, feat = info.sequence_shape
    h, ndir = model.hidden, len(directions(model))
    per_step = sum(ndir * ((feat if l == 0 else ndir * h) + 11 * h) for l in range(model.layers))
    return int(steps * per_step + 2 * n_out(info))


def flops_per_example(model: Model, info: DataInfo) -> dict[str, int]:
    """Per-example FLOPs by ``FLOPS_CONVENTION``. Per step and direction: the two gate GEMMs
    2*(in+H)*4H, then 17H elementwise: their sum and the bias (8H), the 4H gate nonlinearities and
    5H for c' = f*c + i*g, tanh(c'), o*tanh(c'); the first layer computes no gradient of its
    input. ``mean`` readout: one add per output; then the head."""
    steps = info.sequence_shape[0]
    h, ndir = model.hidden, len(directions(model))
    layers = []
    for l in range(model.layers):
        fan_in = info.sequence_shape[1] if l == 0 else ndir * h
        layers += [_flops.recurrent(steps, fan_in, h, 4, 17 * h, input_grad=l > 0)] * ndir
    if model.readout == "mean":
        layers.append(_flops.layer(0, steps * ndir * h))
    layers.append(_flops.dense(ndir * h, n_out(info), activation=False))
    return _flops.counts(layers, n_out(info))


def evaluate(adapter, x: np.ndarray, y: np.ndarray, model: Model) -> dict[str, float]:
    out = adapter.predict(x)
    if is_regression(y):
        return _shared.regression_metrics(out, y)
    return _shared.classification_metrics(out, y)


def validate(model: Model, info: DataInfo, train) -> str | None:
    if info.sequence_shape is None:
        return f"dataset: {info.name} has no sequence view (sequence_shape)"
    if info.task not in ("classification", "regression"):
        return f"dataset: {info.name} is a {info.task} task; the LSTM does classification or regression"
    return None


def check_case() -> dict:
    """A tiny fixed problem for the shared check set (fast enough for finite differences)."""
    from harness.config import TrainConfig

    rng = np.random.default_rng(7)
    info = DataInfo(name="check", input_shape=(12,), task="classification", n_classes=3, sequence_shape=(4, 3))
    return {
        "model": Model(hidden=3, layers=1, bidirectional=True, readout="mean"),
        "info": info,
        "x": rng.normal(size=(8, 12)).astype(np.float32),
        "y": rng.integers(0, 3, 8),
        "batch_size": 4,
        "trains": [TrainConfig(optimizer="sgd", lr=0.1, momentum=0.9), TrainConfig(optimizer="adam", lr=0.01)],
    }
