"""JAX helper (also used by flax). JAX_PLATFORMS and preallocation are set by the runner."""
from __future__ import annotations

import os

import jax

from harness.frameworks import _common

jax.config.update("jax_enable_x64", False)
# Full float32 matmuls/convolutions on GPUs (XLA may otherwise use TF32): same math as the reference.
jax.config.update("jax_default_matmul_precision", "highest")


def version() -> str:
    import jaxlib

    return f"{jax.__version__} (jaxlib {jaxlib.__version__})"


def setup(threads: int, seed: int) -> dict:
    _common.seed_python(seed)
    return {"xla_flags": os.environ.get("XLA_FLAGS", ""), "backend": jax.default_backend(),
            "devices": [str(d) for d in jax.devices()], "blas": _common.blas_threads()}


def jax_device(device: str):
    return jax.devices("gpu" if device == "cuda" else "cpu")[0]


def device_available(device: str) -> str | None:
    if device == "cpu":
        return None
    try:
        jax.devices("gpu")
    except RuntimeError as e:
        return f"jax {jax.__version__} has no GPU backend: {str(e).splitlines()[0]}"
    return None


def sync(device: str) -> None:
    """JAX is async: adapters call ``block_until_ready`` on their outputs (see adapters)."""


def reset_gpu_peak() -> None:
    pass  # XLA exposes no reset; peak is over the process, which is fresh per job


def gpu_peak_mb() -> float | None:
    try:
        d = jax.devices("gpu")[0]
    except RuntimeError:
        return None
    stats = d.memory_stats() or {}
    return stats.get("peak_bytes_in_use", 0) / 2**20


def optax_optimizer(train):
    """optax.sgd (trace: v <- momentum v + g) and optax.adam are harness/optim.py's formulas exactly.
    Shared by the jax and flax adapters."""
    import optax

    if train.optimizer == "sgd":
        return optax.sgd(train.lr, momentum=train.momentum)
    return optax.adam(train.lr, b1=train.beta1, b2=train.beta2, eps=train.eps)
