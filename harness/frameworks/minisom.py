"""MiniSom helper: numpy on the CPU."""
from __future__ import annotations

from importlib import metadata

import minisom  # noqa: F401

from harness.frameworks import _common


def version() -> str:
    return metadata.version("minisom")


def setup(threads: int, seed: int) -> dict:
    _common.limit_blas(threads)
    _common.seed_python(seed)
    return {"blas": _common.blas_threads()}


def device_available(device: str) -> str | None:
    return None if device == "cpu" else "MiniSom runs on numpy: CPU only"


def sync(device: str) -> None:
    pass  # numpy is synchronous


def reset_gpu_peak() -> None:
    pass


def gpu_peak_mb() -> float | None:
    return None
