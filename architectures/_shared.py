"""Helpers shared by architecture specs: numpy only (the reference hub), no framework."""
from __future__ import annotations

from typing import Callable

import numpy as np

from harness.errors import Unsupported  # noqa: F401  (re-exported: adapters raise it)
from harness.optim import OptState, apply_update


def log_softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def softmax_xent(logits: np.ndarray, y: np.ndarray) -> float:
    """Mean softmax cross-entropy of integer labels y (N,) under logits (N, C)."""
    lp = log_softmax(np.asarray(logits, dtype=np.float64))
    return float(-lp[np.arange(len(y)), np.asarray(y, dtype=np.int64)].mean())


def mse(pred: np.ndarray, target: np.ndarray) -> float:
    d = np.asarray(pred, dtype=np.float64) - np.asarray(target, dtype=np.float64)
    return float(np.mean(d * d))


def classification_metrics(logits: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """accuracy and loss (mean cross-entropy) from logits (N, C) and labels (N,)."""
    logits = np.asarray(logits)
    if not np.all(np.isfinite(logits)):
        return {"accuracy": float("nan"), "loss": float("nan")}
    return {"accuracy": float((logits.argmax(axis=1) == y).mean()), "loss": softmax_xent(logits, y)}


def regression_metrics(pred: np.ndarray, y: np.ndarray) -> dict[str, float]:
    m = mse(pred, y)
    return {"mse": m, "loss": m}


def activation(name: str, z: np.ndarray) -> np.ndarray:
    if name == "relu":
        return np.maximum(z, 0)
    if name == "tanh":
        return np.tanh(z)
    if name == "sigmoid":
        return 1.0 / (1.0 + np.exp(-z))
    if name == "identity":
        return z
    raise ValueError(f"unknown activation {name!r}")


def glorot_uniform(rng: np.random.Generator, fan_in: int, fan_out: int, shape: tuple[int, ...]) -> np.ndarray:
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=shape).astype(np.float32)


def glorot_weights(shapes: dict[str, tuple[int, ...]], rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Glorot-uniform for every 2-D (in, out) array, zeros for the rest, drawn in ``shapes`` order."""
    return {name: glorot_uniform(rng, shape[0], shape[1], shape) if len(shape) == 2 else np.zeros(shape, np.float32)
            for name, shape in shapes.items()}


def fd_gradient(loss: Callable[[dict[str, np.ndarray]], float], weights: dict[str, np.ndarray],
                eps: float = 1e-6) -> dict[str, np.ndarray]:
    """Central finite-difference gradient in float64: slow, exact to ~1e-8, and independent of
    every framework's autodiff, which is why the check set uses it on tiny models."""
    w64 = {k: np.array(v, dtype=np.float64) for k, v in weights.items()}
    grads = {}
    for name, w in w64.items():
        g = np.zeros_like(w)
        flat, gflat = w.reshape(-1), g.reshape(-1)
        for i in range(flat.size):
            old = flat[i]
            flat[i] = old + eps
            up = loss(w64)
            flat[i] = old - eps
            down = loss(w64)
            flat[i] = old
            gflat[i] = (up - down) / (2 * eps)
        grads[name] = g
    return grads


def reference_steps(loss: Callable[[dict[str, np.ndarray], np.ndarray, np.ndarray], float],
                    weights: dict[str, np.ndarray], xb: np.ndarray, yb: np.ndarray, train,
                    trainable: set[str] | None = None) -> dict[str, np.ndarray]:
    """Run the reference optimizer over stacked batches xb (steps, B, ...), yb (steps, B, ...).

    ``loss(weights, x, y)`` is the spec's numpy loss on one batch. Returns float64 weights.
    """
    state = OptState()
    w = {k: np.asarray(v, dtype=np.float64) for k, v in weights.items()}
    for x, y in zip(xb, yb):
        sub = {k: v for k, v in w.items() if trainable is None or k in trainable}
        grads = fd_gradient(lambda ww: loss({**w, **ww}, x, y), sub)
        w, state = apply_update(w, grads, train, state)
    return w


def activation_count(spec, model, info) -> int:
    """Floats one example keeps alive through a training step (the forward values backprop needs):
    the spec's ``activation_count`` (``spec``: a harness.contract.Spec) where it defines one, else
    the input twice (a value and its gradient) twice over, a floor for one-layer models."""
    if spec.activation_count is not None:
        return int(spec.activation_count(model, info))
    return 2 * int(np.prod(info.input_shape)) * 2


def memory_estimate_mb(spec, model, info, train) -> dict[str, float]:
    """Analytic memory of a training step in float32 (MiB): the weights, their gradients and the
    optimizer's slots (Adam 2, SGD with momentum 1, plain SGD 0; none for rules without an optimizer,
    ``TRAINS_WITH_OPTIMIZER = False``), and the activations of one batch (``activation_count`` x
    batch). A floor: a framework that holds several times this holds copies (caches, compiled
    buffers, its runtime) beyond what the model needs; the interpreter and the framework's own
    import come on top and show in the record's ``rss_base_mb``."""
    params = spec.params(model, info)
    optimized = spec.TRAINS_WITH_OPTIMIZER
    slots = (2 if train.optimizer == "adam" else int(train.momentum > 0)) if optimized else 0
    mib = 4 / 2**20
    parts = {"params_mb": params * mib, "grads_mb": params * mib if optimized else 0.0,
             "optimizer_mb": slots * params * mib,
             "activations_mb": activation_count(spec, model, info) * train.batch_size * mib}
    return {**{k: round(v, 3) for k, v in parts.items()}, "total_mb": round(sum(parts.values()), 3)}
