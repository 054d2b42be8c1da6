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
