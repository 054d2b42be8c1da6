"""Flax (nnx) helper: JAX underneath."""
from __future__ import annotations

import flax

from harness.frameworks.jax import (  # noqa: F401
    device_available, gpu_peak_mb, jax_device, optax_optimizer, reset_gpu_peak, setup, sync)
from harness.frameworks.jax import version as jax_version


def version() -> str:
    return f"{flax.__version__} (jax {jax_version()})"
