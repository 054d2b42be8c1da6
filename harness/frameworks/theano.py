"""Theano helper, through PyTensor (Theano's maintained successor).

PyTensor compiles graphs to C; it runs on the CPU here (its GPU backends are JAX/Numba-based, not
the old Theano CUDA backend), so ``cuda`` is reported as unavailable.
"""
from __future__ import annotations

import pytensor

from harness.frameworks import _common


def version() -> str:
    return f"pytensor {pytensor.__version__}"


def setup(threads: int, seed: int) -> dict:
    _common.limit_blas(threads)
    _common.seed_python(seed)
    return {"blas": _common.blas_threads(), "floatX": pytensor.config.floatX, "cxx": bool(pytensor.config.cxx)}


def device_available(device: str) -> str | None:
    return None if device == "cpu" else "PyTensor's C backend is CPU only"


def sync(device: str) -> None:
    pass  # compiled functions return numpy arrays: synchronous


def reset_gpu_peak() -> None:
    pass


def gpu_peak_mb() -> float | None:
    return None
