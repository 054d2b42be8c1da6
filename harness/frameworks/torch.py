"""PyTorch helper."""
from __future__ import annotations

import torch

from harness.frameworks import _common


def version() -> str:
    return torch.__version__


def setup(threads: int, seed: int) -> dict:
    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(threads)
    except RuntimeError:  # may only be set once, before any parallel work
        pass
    torch.manual_seed(seed)
    _common.seed_python(seed)
    # Full float32 on GPUs too (no TF32), like every other framework: same math, fair comparison.
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    return {"intra_op": torch.get_num_threads(), "inter_op": torch.get_num_interop_threads(),
            "blas": _common.blas_threads()}


def device_available(device: str) -> str | None:
    if device == "cpu":
        return None
    if not torch.cuda.is_available():
        return f"torch {torch.__version__} sees no CUDA device (build cuda={torch.version.cuda})"
    return None


def torch_device(device: str) -> torch.device:
    return torch.device("cuda" if device == "cuda" else "cpu")


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def reset_gpu_peak() -> None:
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()


def gpu_peak_mb() -> float | None:
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        return torch.cuda.max_memory_allocated() / 2**20
    return None
