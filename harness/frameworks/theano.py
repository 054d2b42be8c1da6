"""Theano helper, through PyTensor (Theano's maintained successor).

PyTensor 3 defaults to its Numba backend; annbench pins the C virtual machine (``CVM``), Theano's
own C backend, for every theano adapter (importing this module sets it), so compile happens in
``build`` and all architectures are measured the same way. It runs on the CPU (PyTensor's GPU
paths go through JAX, not the old Theano CUDA backend), so ``cuda`` is reported as unavailable.
"""
from __future__ import annotations

import pytensor

from harness.frameworks import _common

MODE = "CVM"
pytensor.config.mode = MODE


def version() -> str:
    return f"pytensor {pytensor.__version__}"


def setup(threads: int, seed: int) -> dict:
    _common.limit_blas(threads)
    _common.seed_python(seed)
    return {"blas": _common.blas_threads(), "floatX": pytensor.config.floatX, "cxx": bool(pytensor.config.cxx),
            "mode": MODE, "blas_ldflags": pytensor.config.blas__ldflags or "none (numpy C-API dot)"}


def device_available(device: str) -> str | None:
    return None if device == "cpu" else "PyTensor's C backend is CPU only"


def sync(device: str) -> None:
    pass  # compiled functions return numpy arrays: synchronous


def reset_gpu_peak() -> None:
    pass


def gpu_peak_mb() -> float | None:
    return None
