"""Flax (nnx) helper: JAX underneath."""
from __future__ import annotations

import flax

from harness.frameworks.jax import device_available, gpu_peak_mb, jax_device, reset_gpu_peak, setup, sync  # noqa: F401
from harness.frameworks.jax import version as jax_version


def version() -> str:
    return f"{flax.__version__} (jax {jax_version()})"
