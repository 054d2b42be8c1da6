"""Autoencoder (optionally tied, optionally denoising): the neutral spec (numpy only).

Layer sizes: ``D -> encoder[0] -> ... -> encoder[-1] (the code) -> ... -> encoder[0] -> D``; the
decoder mirrors the encoder. Every layer but the last applies ``activation`` (the code layer
included); the last applies ``output`` (linear or sigmoid).

Canonical weights (float32), ``i = 0 .. len(encoder) - 1``:
  ``enc{i}.kernel``: (in_i, out_i), ``enc{i}.bias``: (out_i,)  -- h = act(h @ kernel + bias)
  ``dec{i}.kernel``: (out_i, in_i), ``dec{i}.bias``: (in_i,)   -- mirrors enc{i}: maps out_i back to in_i
The decoder applies ``dec{k-1}`` first and ``dec0`` last (``dec0`` is the output layer). With
``tied`` the decoder kernels are absent and ``dec{i}`` uses ``enc{i}.kernel.T``; the decoder keeps
its own biases.

Denoising (``noise > 0``): masking noise, each input pixel set to 0 with probability ``noise``,
drawn by the harness in ``make_epoch`` so every framework trains on the same corrupted inputs.
Loss: mean over batch and features of the squared error between the output and the clean input.
"""
from __future__ import annotations

from itertools import pairwise
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from architectures import _flops, _shared
from harness.batching import epoch_batches
from harness.datasets import DataInfo

TASK = "reconstruction"
METRICS = {"recon_mse": "lower", "loss": "lower"}
PRIMARY = "recon_mse"  # the metric on learning curves
DATASETS = ("digits", "digits_unit", "mnist1d", "mnist", "mnist5k")
DEFAULT_DATASET = "digits_unit"
# train settings of {architecture: autoencoder} alone (over harness.config.TrainConfig's defaults)
TRAIN = {"epochs": 15, "batch_size": 32, "optimizer": "adam", "lr": 0.01}
FLOPS_CONVENTION = "backprop: " + _flops.BACKPROP


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid")
    encoder: list[int] = Field(default_factory=lambda: [32, 16], min_length=1, max_length=64)  # last = code size
    activation: Literal["relu", "tanh", "sigmoid"] = "tanh"  # hidden layers of encoder and decoder
    output: Literal["linear", "sigmoid"] = "linear"
    tied: bool = False  # decoder kernels are the encoder kernels transposed
    noise: float = Field(0.0, ge=0.0, lt=1.0)  # masking-noise probability during training

    def model_post_init(self, _ctx) -> None:
        if any(h <= 0 for h in self.encoder):
            raise ValueError("encoder sizes must be positive")


def input_size(info: DataInfo) -> int:
    return int(np.prod(info.input_shape))


def encoder_sizes(model: Model, info: DataInfo) -> list[int]:
    """[D, *encoder]: encoder layer i maps sizes[i] -> sizes[i + 1]; decoder layer i maps back."""
    return [input_size(info), *model.encoder]


def weight_shapes(model: Model, info: DataInfo) -> dict[str, tuple[int, ...]]:
    sizes = encoder_sizes(model, info)
    shapes: dict[str, tuple[int, ...]] = {}
    for i, (a, b) in enumerate(pairwise(sizes)):
        shapes[f"enc{i}.kernel"] = (a, b)
        shapes[f"enc{i}.bias"] = (b,)
    for i, (a, b) in enumerate(pairwise(sizes)):
        if not model.tied:
            shapes[f"dec{i}.kernel"] = (b, a)
        shapes[f"dec{i}.bias"] = (a,)
    return shapes


def init_weights(model: Model, info: DataInfo, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Glorot-uniform kernels, zero biases, drawn in the order of ``weight_shapes`` from ``rng``."""
    return _shared.glorot_weights(weight_shapes(model, info), rng)


def decoder_kernel(weights: dict[str, np.ndarray], i: int, model: Model) -> np.ndarray:
    """Kernel (out_i, in_i) of decoder layer i: its own, or enc{i}.kernel transposed when tied."""
    return weights[f"enc{i}.kernel"].T if model.tied else weights[f"dec{i}.kernel"]


def output_activation(model: Model) -> str:
    return "identity" if model.output == "linear" else "sigmoid"


def forward(weights: dict[str, np.ndarray], x: np.ndarray, model: Model) -> np.ndarray:
    """Reference forward: x (N, *input_shape) -> reconstruction (N, D), computed in float64."""
    w = {k: np.asarray(v, np.float64) for k, v in weights.items()}
    h = np.asarray(x, np.float64).reshape(len(x), -1)
    k = len(model.encoder)
    for i in range(k):
        h = _shared.activation(model.activation, h @ w[f"enc{i}.kernel"] + w[f"enc{i}.bias"])
    for i in reversed(range(k)):
        h = h @ decoder_kernel(w, i, model) + w[f"dec{i}.bias"]
        h = _shared.activation(model.activation if i > 0 else output_activation(model), h)
    return h


def loss(weights: dict[str, np.ndarray], x: np.ndarray, y: np.ndarray, model: Model) -> float:
    """x: (possibly corrupted) inputs (B, D); y: clean targets (B, D). Mean squared error."""
    return _shared.mse(forward(weights, x, model), np.reshape(y, (len(y), -1)))


def make_epoch(x: np.ndarray, y: np.ndarray, batch_size: int, perm: np.ndarray, model: Model,
               rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One epoch as (inputs, targets), both (steps, B, D) float32: targets are the clean batches;
    inputs are them with masking noise drawn from ``rng`` (the clean batches when noise == 0).
    The labels ``y`` are unused."""
    clean, _ = epoch_batches(np.reshape(x, (len(x), -1)), y, batch_size, perm)
    if model.noise == 0:
        return clean, clean
    keep = rng.random(clean.shape) >= model.noise
    return clean * keep, clean  # bool mask keeps float32


def activation_count(model: Model, info: DataInfo) -> int:
    """Floats per example kept for backprop: the input and every layer's pre-activation and output,
    encoder and mirrored decoder."""
    sizes = encoder_sizes(model, info)
    return int(sizes[0] + 2 * (sum(sizes[1:]) + sum(sizes[:-1])))


def flops_per_example(model: Model, info: DataInfo) -> dict[str, int]:
    """Per-example FLOPs by ``FLOPS_CONVENTION``: the encoder's and the decoder's dense layers (bias,
    activation; a linear output has none), the first encoder layer without its input gradient;
    tied weights add one FLOP per kernel entry to sum the encoder's and decoder's gradients."""
    sizes = encoder_sizes(model, info)
    layers = [_flops.dense(a, b, input_grad=i > 0) for i, (a, b) in enumerate(pairwise(sizes))]
    layers += [_flops.dense(b, a, activation=i > 0 or model.output != "linear") for i, (a, b) in enumerate(pairwise(sizes))]
    if model.tied:
        layers.append((0, sum(a * b for a, b in pairwise(sizes))))
    return _flops.counts(layers, input_size(info))


def evaluate(adapter, x: np.ndarray, y: np.ndarray, model: Model) -> dict[str, float]:
    """Reconstruction error of the clean inputs x (N, D); the labels y are unused."""
    pred = np.asarray(adapter.predict(x))
    if not np.all(np.isfinite(pred)):
        return {"recon_mse": float("nan"), "loss": float("nan")}
    m = _shared.mse(pred, np.reshape(x, (len(x), -1)))
    return {"recon_mse": m, "loss": m}


def check_case(**model_overrides) -> dict:
    """A tiny fixed problem for the shared check set (fast enough for finite differences).
    ``model_overrides`` change the model (tests use it for tied weights and a sigmoid output)."""
    from harness.config import TrainConfig

    rng = np.random.default_rng(7)
    info = DataInfo(name="check", input_shape=(6,), task="classification", n_classes=3)
    model = Model(**{"encoder": [4, 2], "activation": "tanh", "noise": 0.25, **model_overrides})
    return {
        "model": model,
        "info": info,
        "x": rng.random(size=(8, 6)).astype(np.float32),
        "y": rng.integers(0, 3, 8),
        "batch_size": 4,
        "trains": [TrainConfig(optimizer="sgd", lr=0.1, momentum=0.9), TrainConfig(optimizer="adam", lr=0.01)],
    }


def weight_figures(jobs: list[tuple[dict, dict]], data, model: Model,
                   figures) -> list[tuple[str, str | None]]:
    """Eight test inputs (top row) and each framework's reconstructions of them: the reference
    ``forward`` on its trained weights."""
    if not data.info.image_shape:
        return []
    x = data.x_test[:8]
    rows = [("test inputs", list(x))]
    rows += [(f"{r['framework']} · {r['mode']}", list(forward(w, x, model))) for r, w in jobs]
    return [("reconstructions of test inputs from each framework's trained weights (originals on top)",
             figures.images("inputs and reconstructions", rows, tuple(data.info.image_shape)))]


def report_figures(records: list[dict], figures) -> list[tuple[str, str | None]]:
    """Runs from before the trained weights were saved kept reconstructions in each record's extras
    (``weight_figures`` draws them now): test inputs (top row) and each framework's reconstructions."""
    rows, shape = [], None
    for r in records:
        rec = (r.get("extra") or {}).get("reconstructions")
        if r.get("repeat") != 0 or not rec or not rec.get("image_shape"):
            continue
        shape = tuple(rec["image_shape"])
        if not rows:
            rows.append(("test inputs", rec["inputs"]))
        rows.append((f"{r['framework']} {r['mode']}", rec["outputs"]))
    if not rows:
        return []
    return [("reconstructions of test digits", figures.images("inputs and reconstructions", rows, shape))]
