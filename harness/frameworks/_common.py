"""Bits shared by framework helpers (no framework import here)."""
from __future__ import annotations

import random

import numpy as np


def blas_threads() -> list[dict]:
    """BLAS/OpenMP pools in this process, as threadpoolctl sees them."""
    try:
        from threadpoolctl import threadpool_info

        return [{"api": p.get("internal_api"), "threads": p.get("num_threads"), "lib": p.get("filepath", "").split("/")[-1]}
                for p in threadpool_info()]
    except Exception as e:  # threadpoolctl is best effort
        return [{"error": str(e)}]


def seed_python(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)


def limit_blas(threads: int) -> None:
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(threads)
    except Exception:
        pass


def flat32(x: np.ndarray, lead: int = 1) -> np.ndarray:
    """Keep the first ``lead`` axes, flatten the rest, as C-contiguous float32: examples
    (N, *input_shape) -> (N, D) with lead=1, an epoch (steps, B, *input_shape) -> (steps, B, D) with lead=2.
    The one numpy-side flattening every framework helper converts from."""
    x = np.asarray(x)
    return np.ascontiguousarray(x.reshape(*x.shape[:lead], -1), dtype=np.float32)


# --- the helper surface shared by the numpy-on-CPU frameworks (autograd, scikit-learn, MiniSom) ---

def numpy_setup(threads: int, seed: int) -> dict:
    """Threads are numpy's BLAS/OpenMP pools: limit them, seed numpy and random."""
    limit_blas(threads)
    seed_python(seed)
    return {"blas": blas_threads()}


def cpu_only(why: str):
    """device_available() for a CPU-only framework: None on cpu, else ``why``."""
    return lambda device: None if device == "cpu" else why


def no_sync(device: str) -> None:
    """numpy is synchronous: nothing to wait for."""


def no_gpu_peak() -> None:
    """No GPU memory to reset or report."""
    return None
