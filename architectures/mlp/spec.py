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

from architectures import _flops, _shared
from harness.datasets import DataInfo

TASK = "classification"
METRICS = {"accuracy": "higher", "loss": "lower"}
PRIMARY = "accuracy"  # the metric on learning curves; higher is better
DATASETS = ("digits", "digits_unit", "mnist1d", "toy2d", "mnist", "mnist5k")
DEFAULT_DATASET = "digits"
# train settings of {architecture: mlp} alone (over harness.config.TrainConfig's defaults)
TRAIN = {"epochs": 10, "batch_size": 32, "optimizer": "adam", "lr": 0.003}
FLOPS_CONVENTION = "backprop: " + _flops.BACKPROP


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


def init_weights(model: Model, info: DataInfo, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Glorot-uniform kernels, zero biases, drawn in layer order from ``rng``."""
    return _shared.glorot_weights(weight_shapes(model, info), rng)


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
    """Per-example FLOPs by ``FLOPS_CONVENTION``: every dense layer's GEMM, bias and (hidden layers)
    activation; in training also the loss and the backward pass, the first layer without its input
    gradient (about 2x forward with one hidden layer, towards 3x when deeper)."""
    sizes = layer_sizes(model, info)
    last = len(sizes) - 2
    return _flops.counts([_flops.dense(a, b, activation=i < last, input_grad=i > 0)
                          for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:]))], info.n_classes)


def activation_count(model: Model, info: DataInfo) -> int:
    """Floats per example kept for backprop: the input, each hidden layer's pre-activation and
    output, the logits and their softmax."""
    sizes = layer_sizes(model, info)
    return int(sizes[0] + 2 * sum(sizes[1:]))


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


def gradients(weights: dict[str, np.ndarray], x: np.ndarray, y: np.ndarray, model: Model) -> dict[str, np.ndarray]:
    """Analytic backprop of the mean cross-entropy in numpy float64 (for gradient-norm diagnostics)."""
    n_layers = len(model.hidden) + 1
    hs = [np.asarray(x, np.float64).reshape(len(x), -1)]
    zs = []
    for i in range(n_layers):
        z = hs[-1] @ np.asarray(weights[f"dense{i}.kernel"], np.float64) + weights[f"dense{i}.bias"]
        zs.append(z)
        hs.append(_shared.activation(model.activation, z) if i < n_layers - 1 else z)
    p = np.exp(_shared.log_softmax(hs[-1]))
    delta = p
    delta[np.arange(len(y)), y] -= 1.0
    delta /= len(y)
    grads = {}
    for i in reversed(range(n_layers)):
        grads[f"dense{i}.kernel"] = hs[i].T @ delta
        grads[f"dense{i}.bias"] = delta.sum(axis=0)
        if i > 0:
            delta = (delta @ np.asarray(weights[f"dense{i}.kernel"], np.float64).T) * _act_grad(model.activation, zs[i - 1])
    return grads


def _act_grad(name: str, z: np.ndarray) -> np.ndarray:
    if name == "relu":
        return (z > 0).astype(np.float64)
    if name == "tanh":
        return 1.0 - np.tanh(z) ** 2
    s = 1.0 / (1.0 + np.exp(-z))
    return s * (1.0 - s)


def layer_grad_norms(weights: dict[str, np.ndarray], x: np.ndarray, y: np.ndarray, model: Model) -> list[float]:
    """L2 norm of each dense layer's kernel gradient, input layer first."""
    g = gradients(weights, x, y, model)
    return [float(np.linalg.norm(g[f"dense{i}.kernel"])) for i in range(len(model.hidden) + 1)]


def extras(adapter, data, model: Model, initial: dict[str, np.ndarray]) -> dict:
    """Per-layer gradient norms at initialisation and after training, on the first 256 training
    examples, computed in numpy from canonical weights: the vanishing-gradient diagnostic."""
    x, y = data.x_train[:256], data.y_train[:256]
    return {"grad_norms": {"init": layer_grad_norms(initial, x, y, model),
                           "trained": layer_grad_norms(adapter.get_weights(), x, y, model)}}


def report_figures(records: list[dict], figures) -> list[tuple[str, str | None]]:
    """Gradient norm by layer (log scale), at init and after training, one line per framework."""
    series = {}
    for r in records:
        gn = (r.get("extra") or {}).get("grad_norms")
        if not gn or r.get("repeat") != 0:
            continue
        layers = list(range(1, len(gn["init"]) + 1))
        if "init" not in series:
            series["init (same for all)"] = (layers, gn["init"])
        series[f"{r['framework']} {r['mode']} trained"] = (layers, gn["trained"])
    if not series:
        return []
    return [("gradient norm by layer (vanishing gradients show as a fall towards layer 1)",
             figures.lines("‖∂loss/∂W‖ per dense layer", series, "layer (1 = input side)", "gradient L2 norm", logy=True))]


def data_extent(x: np.ndarray, pad: float = 0.1) -> tuple[float, float, float, float]:
    """(x0, x1, y0, y1): the range of 2-D points x (n, 2), widened by ``pad`` of it on every side."""
    lo, hi = x.min(axis=0), x.max(axis=0)
    m = pad * (hi - lo)
    return float(lo[0] - m[0]), float(hi[0] + m[0]), float(lo[1] - m[1]), float(hi[1] + m[1])


def decision_grid(weights: dict[str, np.ndarray], model: Model, extent: tuple[float, float, float, float],
                  n: int = 200) -> np.ndarray:
    """The class the reference ``forward`` predicts (argmax) on an n x n grid over ``extent``:
    (n, n) ints, row i at the i-th of n y values from y0 to y1, column j at the j-th x (an image
    with its origin at the lower left)."""
    gx, gy = np.meshgrid(np.linspace(extent[0], extent[1], n), np.linspace(extent[2], extent[3], n))
    return forward(weights, np.stack([gx.ravel(), gy.ravel()], axis=1), model).argmax(axis=1).reshape(n, n)


def weight_figures(jobs: list[tuple[dict, dict]], data, model: Model,
                   figures) -> list[tuple[str, str | None]]:
    """The playground (2-D data: toy2d): each framework's trained MLP as its decision regions, the
    test points on top."""
    if tuple(data.info.input_shape) != (2,):
        return []
    extent = data_extent(np.concatenate([data.x_train, data.x_test]))
    panels = []
    for r, w in jobs:
        acc = (r.get("metrics") or {}).get("accuracy")
        label = f"{r['framework']} · {r['mode']}" + (f"\ntest accuracy {acc:.3f}" if acc is not None else "")
        panels.append((label, r["framework"], decision_grid(w, model, extent)))
    return [(f"playground: {data.info.notes}; each framework's decision regions (the class the numpy reference "
             "predicts from its trained weights), test points on top",
             figures.regions("decision regions", panels, extent, data.x_test, data.y_test))]
