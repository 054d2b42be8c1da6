"""autograd helper: numpy on the CPU, so threads are numpy's BLAS threads."""
from __future__ import annotations

from importlib import metadata

import autograd  # noqa: F401

from harness.frameworks import _common


def version() -> str:
    return metadata.version("autograd")


def setup(threads: int, seed: int) -> dict:
    _common.limit_blas(threads)
    _common.seed_python(seed)
    return {"blas": _common.blas_threads()}


def device_available(device: str) -> str | None:
    return None if device == "cpu" else "autograd runs on numpy: CPU only"


def sync(device: str) -> None:
    pass  # numpy is synchronous


def reset_gpu_peak() -> None:
    pass


def gpu_peak_mb() -> float | None:
    return None
