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


# --- the adapter contract every framework's AdapterBase starts from ---------------------------------


class AdapterCore:
    """What every ``Adapter`` of every framework keeps, under one constructor signature:
    ``Adapter(model, info, train, *, mode=None, device="cpu", seed=0)``. ``mode`` is one of the
    class's ``MODES`` (None: the first); an alias such as ``step`` is resolved before, by
    ``registry.Modes.resolve``. ``LOSS`` is the loss kind of a gradient-trained adapter: ``"xent"``
    (softmax cross-entropy on integer labels), ``"mse"`` (squared error on float targets) or
    ``"task"`` (xent for a classification dataset, else mse); ``classify`` says which applies.

    Each framework's helper derives its ``AdapterBase`` from this (adding the device handle ``dev``
    and ``sync``); adapters with more state extend ``__init__`` (calling ``super().__init__``)."""

    NOTES = ""
    LOSS = "task"
    #: True: inputs enter the framework as sequences (..., T, F) (``info.sequence_shape``), not flat rows
    SEQUENCE = False

    def __init__(self, model, info, train, *, mode: str | None = None, device: str = "cpu", seed: int = 0):
        modes = getattr(self, "MODES", None)
        if mode is None:
            mode = modes[0] if modes else "step"
        elif modes and mode not in modes:
            raise ValueError(f"{type(self).__module__} has no mode {mode!r} (has: {', '.join(modes)})")
        self.model, self.info, self.train = model, info, train
        self.mode, self.device, self.seed = mode, device, seed

    @property
    def classify(self) -> bool:
        """True when the loss is the softmax cross-entropy on integer labels (see ``LOSS``)."""
        return self.LOSS == "xent" or (self.LOSS == "task" and self.info.task == "classification")

    def host_inputs(self, x: np.ndarray, lead: int = 1) -> np.ndarray:
        """Examples (N, ...) (lead=1) or an epoch's batches (steps, B, ...) (lead=2) as C-contiguous
        float32: flat past the ``lead`` axes, or with ``SEQUENCE`` (*lead axes, T, F)."""
        flat = flat32(x, lead)
        if self.SEQUENCE:
            return flat.reshape(*flat.shape[:lead], *self.info.sequence_shape)
        return flat

    def sync(self) -> None:
        """Wait for queued work; nothing by default (numpy, and frameworks whose results are host fetches)."""
