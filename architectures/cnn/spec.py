"""CNN: convolution blocks + dense head, the neutral spec (numpy only).

Geometry: a flat example (*input_shape) is read as an image (H, W, 1) when ``info.image_shape`` is
set (2-D convolution), else as a sequence (L, 1) with L = prod(input_shape) (1-D convolution).
Activations are channels-last: (N, H, W, C) or (N, L, C).

Each conv block: symmetric zero padding ``padding`` on every spatial side -> convolution (stride
``stride``, no dilation) + bias -> activation -> max-pool with window = stride = ``pool`` (1 = none),
flooring: a remainder that does not fill a window is dropped (PyTorch's default). At ties the pool's
gradient goes to the first maximal element of the window in row-major order (PyTorch, XLA, TF).
Then the channels-last map is flattened in (H, W, C) / (L, C) order into the dense head; the hidden
dense layers use the same activation; the last dense layer gives the logits.

Canonical weights (float32), "convolution" being cross-correlation as in every framework:
  ``conv{i}.kernel``: (kh, kw, cin, cout) for 2-D, (k, cin, cout) for 1-D  (HWIO: TF/JAX; PyTorch
                      stores (cout, cin, kh, kw) and transposes on transfer)
  ``conv{i}.bias``:   (cout,)
  ``dense{j}.kernel``: (fan_in, fan_out), ``dense{j}.bias``: (fan_out,); j = 0 .. len(dense)
Loss: mean softmax cross-entropy.
"""
from __future__ import annotations

from typing import Literal

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from pydantic import BaseModel, ConfigDict, Field

from architectures import _flops, _shared
from harness.datasets import DataInfo

TASK = "classification"
METRICS = {"accuracy": "higher", "loss": "lower"}
PRIMARY = "accuracy"  # the metric on learning curves; higher is better
DATASETS = ("digits", "digits_unit", "mnist1d", "mnist", "mnist5k")
DEFAULT_DATASET = "digits"
# train settings of {architecture: cnn} alone (over harness.config.TrainConfig's defaults)
TRAIN = {"epochs": 10, "batch_size": 32, "optimizer": "adam", "lr": 0.003}
FLOPS_CONVENTION = "backprop: " + _flops.BACKPROP


class ConvLayer(BaseModel):
    model_config = ConfigDict(extra="forbid")
    channels: int = Field(gt=0)
    kernel: int = Field(gt=0)  # square (2-D) / length (1-D) of the kernel
    stride: int = Field(1, gt=0)
    padding: int = Field(0, ge=0)  # explicit symmetric zero padding; no "same" (frameworks differ)
    pool: int = Field(1, ge=1)  # max-pool window = stride; 1 = no pooling


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid")
    conv: list[ConvLayer] = Field(default_factory=lambda: [ConvLayer(channels=16, kernel=3, padding=1, pool=2)],
                                  min_length=1, max_length=32)
    dense: list[int] = Field(default_factory=lambda: [32], max_length=64)  # hidden sizes of the head
    activation: Literal["relu", "tanh"] = "relu"

    def model_post_init(self, _ctx) -> None:
        if any(h <= 0 for h in self.dense):
            raise ValueError("dense sizes must be positive")


def spatial_shape(info: DataInfo) -> tuple[int, ...]:
    """(H, W) for images, (L,) for sequences: the spatial axes of one example."""
    if info.image_shape is not None:
        return tuple(int(s) for s in info.image_shape)
    return (int(np.prod(info.input_shape)),)


def conv_size(n: int, layer: ConvLayer) -> int:
    """Output length of one spatial axis after the convolution (before pooling)."""
    return (n + 2 * layer.padding - layer.kernel) // layer.stride + 1


def block_shapes(model: Model, info: DataInfo) -> list[tuple[tuple[int, ...], tuple[int, ...]]]:
    """Per conv block: (spatial size after the convolution, spatial size after the pool)."""
    size, out = spatial_shape(info), []
    for layer in model.conv:
        conv = tuple(conv_size(n, layer) for n in size)
        size = tuple(n // layer.pool for n in conv)
        out.append((conv, size))
    return out


def flat_size(model: Model, info: DataInfo) -> int:
    """Features entering the dense head: prod(final spatial size) * last channels."""
    return int(np.prod(block_shapes(model, info)[-1][1])) * model.conv[-1].channels


def validate(model: Model, info: DataInfo, train) -> str | None:
    """'model.conv[i].<key>: problem' when a block would leave no output positions."""
    size = spatial_shape(info)
    for i, layer in enumerate(model.conv):
        padded = tuple(n + 2 * layer.padding for n in size)
        if min(padded) < layer.kernel:
            return f"model.conv[{i}].kernel: {layer.kernel} is larger than the padded input {padded}"
        conv = tuple(conv_size(n, layer) for n in size)
        if min(conv) < layer.pool:
            return f"model.conv[{i}].pool: window {layer.pool} is larger than the convolution output {conv}"
        size = tuple(n // layer.pool for n in conv)
    return None


def weight_shapes(model: Model, info: DataInfo) -> dict[str, tuple[int, ...]]:
    ndim = len(spatial_shape(info))
    shapes: dict[str, tuple[int, ...]] = {}
    cin = 1
    for i, layer in enumerate(model.conv):
        shapes[f"conv{i}.kernel"] = (layer.kernel,) * ndim + (cin, layer.channels)
        shapes[f"conv{i}.bias"] = (layer.channels,)
        cin = layer.channels
    sizes = [flat_size(model, info), *model.dense, info.n_classes]
    for j, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        shapes[f"dense{j}.kernel"] = (a, b)
        shapes[f"dense{j}.bias"] = (b,)
    return shapes


def init_weights(model: Model, info: DataInfo, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Glorot-uniform kernels (conv: fan_in = k^d * cin, fan_out = k^d * cout), zero biases,
    drawn in layer order from ``rng``."""
    out = {}
    for name, shape in weight_shapes(model, info).items():
        if name.endswith(".kernel"):
            field = int(np.prod(shape[:-2]))  # 1 for dense kernels
            out[name] = _shared.glorot_uniform(rng, field * shape[-2], field * shape[-1], shape)
        else:
            out[name] = np.zeros(shape, np.float32)
    return out


def _as_spatial(x: np.ndarray, ndim: int) -> np.ndarray:
    """x (N, L) for 1-D; (N, H, W) or flat (N, H*W) with H = W for 2-D -> (N, *spatial, 1) float64.

    The reference has no DataInfo, so a flat image batch is read as square (digits, MNIST); pass
    (N, H, W) for other images."""
    x = np.asarray(x, np.float64)
    n = len(x)
    if ndim == 1:
        return x.reshape(n, -1, 1)
    if x.ndim == 3:
        return x[..., None]
    side = int(round(np.sqrt(x[0].size)))
    if side * side != x[0].size:
        raise ValueError(f"flat input of {x[0].size} features is not a square image; pass x as (N, H, W)")
    return x.reshape(n, side, side, 1)


def conv(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray, stride: int, padding: int) -> np.ndarray:
    """Reference cross-correlation: x (N, *S, cin), kernel (*K, cin, cout) -> (N, *S', cout)."""
    d = kernel.ndim - 2
    x = np.pad(x, [(0, 0)] + [(padding, padding)] * d + [(0, 0)])
    win = sliding_window_view(x, kernel.shape[:d], axis=tuple(range(1, d + 1)))  # (N, *S'', cin, *K)
    win = win[(slice(None),) + (slice(None, None, stride),) * d]
    k = np.moveaxis(np.asarray(kernel, np.float64), d, 0)  # (cin, *K, cout)
    return np.tensordot(win, k, axes=d + 1) + np.asarray(bias, np.float64)


def max_pool(x: np.ndarray, p: int) -> np.ndarray:
    """Reference max-pool, window = stride = p, flooring: x (N, *S, C) -> (N, *(S // p), C)."""
    if p == 1:
        return x
    d = x.ndim - 2
    out = [s // p for s in x.shape[1:-1]]
    x = x[(slice(None),) + tuple(slice(0, o * p) for o in out)]
    x = x.reshape(len(x), *[v for o in out for v in (o, p)], x.shape[-1])
    return x.max(axis=tuple(2 + 2 * i for i in range(d)))


def forward(weights: dict[str, np.ndarray], x: np.ndarray, model: Model) -> np.ndarray:
    """Reference forward in float64: x (N, L) / (N, H, W) / square flat (N, H*W) -> logits (N, C)."""
    h = _as_spatial(x, weights["conv0.kernel"].ndim - 2)
    for i, layer in enumerate(model.conv):
        h = conv(h, weights[f"conv{i}.kernel"], weights[f"conv{i}.bias"], layer.stride, layer.padding)
        h = max_pool(_shared.activation(model.activation, h), layer.pool)
    h = h.reshape(len(h), -1)  # channels-last flatten: (H, W, C) order
    n_dense = len(model.dense) + 1
    for j in range(n_dense):
        h = h @ np.asarray(weights[f"dense{j}.kernel"], np.float64) + np.asarray(weights[f"dense{j}.bias"], np.float64)
        if j < n_dense - 1:
            h = _shared.activation(model.activation, h)
    return h


def loss(weights: dict[str, np.ndarray], x: np.ndarray, y: np.ndarray, model: Model) -> float:
    return _shared.softmax_xent(forward(weights, x, model), y)


def activation_count(model: Model, info: DataInfo) -> int:
    """Floats per example kept for backprop: the input; per conv block the convolution's output before
    and after the activation and the pooled map; per dense layer its pre-activation and output."""
    n = int(np.prod(spatial_shape(info)))
    for layer, (conv, pooled) in zip(model.conv, block_shapes(model, info)):
        n += layer.channels * (2 * int(np.prod(conv)) + (int(np.prod(pooled)) if layer.pool > 1 else 0))
    return int(n + 2 * (sum(model.dense) + info.n_classes))


def flops_per_example(model: Model, info: DataInfo) -> dict[str, int]:
    """Per-example FLOPs by ``FLOPS_CONVENTION``. Conv block: 2 * k^d * cin * cout multiply-add FLOPs
    per output position (all taps, padding included), bias and activation one each per output
    element, the pool one comparison per element it reads; the first block computes no input
    gradient. Then the dense head as in architectures/mlp."""
    layers, cin = [], 1
    for i, (layer, (conv_out, _)) in enumerate(zip(model.conv, block_shapes(model, info))):
        positions, taps = int(np.prod(conv_out)), layer.kernel ** len(conv_out)
        elementwise = (2 + (layer.pool > 1)) * layer.channels * positions
        layers.append(_flops.layer(2 * taps * cin * layer.channels * positions, elementwise, input_grad=i > 0))
        cin = layer.channels
    sizes = [flat_size(model, info), *model.dense, info.n_classes]
    last = len(sizes) - 2
    layers += [_flops.dense(a, b, activation=j < last) for j, (a, b) in enumerate(zip(sizes[:-1], sizes[1:]))]
    return _flops.counts(layers, info.n_classes)


def evaluate(adapter, x: np.ndarray, y: np.ndarray, model: Model) -> dict[str, float]:
    return _shared.classification_metrics(adapter.predict(x), y)


def check_case() -> dict:
    """A tiny fixed 2-D problem for the shared check set (fast enough for finite differences).
    tests/test_cnn.py adds the 1-D path (strides, flooring pools, tanh)."""
    from harness.config import TrainConfig

    rng = np.random.default_rng(7)
    info = DataInfo(name="check", input_shape=(36,), task="classification", n_classes=3, image_shape=(6, 6))
    return {
        "model": Model(conv=[ConvLayer(channels=3, kernel=3, padding=1, pool=2)], dense=[4]),
        "info": info,
        "x": rng.normal(size=(8, 36)).astype(np.float32),
        "y": rng.integers(0, 3, 8),
        "batch_size": 4,
        "trains": [TrainConfig(optimizer="sgd", lr=0.1, momentum=0.9), TrainConfig(optimizer="adam", lr=0.01)],
    }
