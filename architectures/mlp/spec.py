"""MLP / deep net: the neutral spec (numpy only).

Canonical weights (float32):
  ``dense{i}.kernel``: (fan_in, fan_out)  -- y = x @ kernel + bias (PyTorch stores the transpose)
  ``dense{i}.bias``:   (fan_out,)
for i = 0 .. len(hidden); the last layer is the linear output (logits). No hidden layers = logistic
regression. Hidden activation is the same for every hidden layer. Loss: mean softmax cross-entropy.
"""
from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from architectures import _shared
from harness.datasets import DataInfo

TASK = "classification"
METRICS = ("accuracy", "loss")
PRIMARY = "accuracy"  # the metric on learning curves; higher is better
DATASETS = ("digits", "digits_unit", "mnist1d", "toy2d", "mnist")
DEFAULT_DATASET = "digits"


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid")
    hidden: list[int] = Field(default_factory=lambda: [64], max_length=64)
    activation: Literal["relu", "tanh", "sigmoid"] = "relu"

    def model_post_init(self, _ctx) -> None:
        if any(h <= 0 for h in self.hidden):
            raise ValueError("hidden sizes must be positive")


def layer_sizes(model: Model, info: DataInfo) -> list[int]:
    return [int(np.prod(info.input_shape)), *model.hidden, info.n_classes]


def weight_shapes(model: Model, info: DataInfo) -> dict[str, tuple[int, ...]]:
    sizes = layer_sizes(model, info)
    shapes: dict[str, tuple[int, ...]] = {}
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        shapes[f"dense{i}.kernel"] = (a, b)
        shapes[f"dense{i}.bias"] = (b,)
    return shapes


def param_count(model: Model, info: DataInfo) -> int:
    return int(sum(np.prod(s) for s in weight_shapes(model, info).values()))


def init_weights(model: Model, info: DataInfo, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Glorot-uniform kernels, zero biases, drawn in layer order from ``rng``."""
    out = {}
    for name, shape in weight_shapes(model, info).items():
        if name.endswith(".kernel"):
            out[name] = _shared.glorot_uniform(rng, shape[0], shape[1], shape)
        else:
            out[name] = np.zeros(shape, np.float32)
    return out


def forward(weights: dict[str, np.ndarray], x: np.ndarray, model: Model) -> np.ndarray:
    """Reference forward: x (N, *input_shape) -> logits (N, n_classes), computed in float64."""
    h = np.asarray(x, np.float64).reshape(len(x), -1)
    n_layers = len(model.hidden) + 1
    for i in range(n_layers):
        h = h @ np.asarray(weights[f"dense{i}.kernel"], np.float64) + np.asarray(weights[f"dense{i}.bias"], np.float64)
        if i < n_layers - 1:
            h = _shared.activation(model.activation, h)
    return h


def loss(weights: dict[str, np.ndarray], x: np.ndarray, y: np.ndarray, model: Model) -> float:
    return _shared.softmax_xent(forward(weights, x, model), y)


def flops_per_example(model: Model, info: DataInfo) -> dict[str, int]:
    """Analytic FLOPs (multiply-add = 2). Training ~ 3x forward (forward + two backward GEMMs)."""
    sizes = layer_sizes(model, info)
    fwd = sum(2 * a * b + b for a, b in zip(sizes[:-1], sizes[1:]))
    return {"forward": int(fwd), "train": int(3 * fwd)}


def evaluate(adapter, x: np.ndarray, y: np.ndarray, model: Model) -> dict[str, float]:
    return _shared.classification_metrics(adapter.predict(x), y)


def check_case() -> dict:
    """A tiny fixed problem for the shared check set (fast enough for finite differences)."""
    from harness.config import TrainConfig

    rng = np.random.default_rng(7)
    info = DataInfo(name="check", input_shape=(6,), task="classification", n_classes=3)
    return {
        "model": Model(hidden=[5, 4], activation="tanh"),
        "info": info,
        "x": rng.normal(size=(8, 6)).astype(np.float32),
        "y": rng.integers(0, 3, 8),
        "batch_size": 4,
        "trains": [TrainConfig(optimizer="sgd", lr=0.1, momentum=0.9), TrainConfig(optimizer="adam", lr=0.01)],
    }
