"""Clock, memory probes and the GEMM peak. Standard library + numpy + psutil only.

Memory: on Linux the peak RSS of a phase is measured by resetting the kernel's high-water mark
(write "5" to /proc/self/clear_refs) and reading VmHWM afterwards; where that is not allowed a
background sampler takes the maximum of RSS every 5 ms instead, and the record says which.
"""
from __future__ import annotations

import statistics
import threading
import time
from pathlib import Path
from typing import Callable

import numpy as np

_STATUS = Path("/proc/self/status")
_CLEAR = Path("/proc/self/clear_refs")


def now() -> float:
    return time.perf_counter()


def _status_kb(field: str) -> int | None:
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def rss_mb() -> float:
    kb = _status_kb("VmRSS")
    if kb is not None:
        return kb / 1024
    import psutil

    return psutil.Process().memory_info().rss / 2**20


class PeakRSS:
    """Peak resident memory over a phase: ``with PeakRSS() as p: ...; p.peak_mb``."""

    def __init__(self) -> None:
        self.method = "vmhwm"
        self.peak_mb = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> "PeakRSS":
        try:
            _CLEAR.write_text("5")  # reset VmHWM to the current RSS
            if _status_kb("VmHWM") is None:
                raise OSError("no VmHWM")
        except OSError:
            self.method = "sampled-5ms"
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak_mb = max(self.peak_mb, rss_mb())
            self._stop.wait(0.005)

    def __exit__(self, *exc) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self.peak_mb = max(self.peak_mb, rss_mb())
        else:
            self.peak_mb = (_status_kb("VmHWM") or 0) / 1024


def median(xs: list[float]) -> float | None:
    return float(statistics.median(xs)) if xs else None


def time_repeated(fn: Callable[[], object], repeats: int, warmup: int) -> list[float]:
    """Seconds per call of ``fn`` (which must itself sync), after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(repeats):
        t = now()
        fn()
        out.append(now() - t)
    return out


def machine_speed(n: int = 512, repeats: int = 40) -> float:
    """~50 ms of numpy float32 GEMM: the median rate in GFLOP/s. Taken in every job
    before and after training, it shows how much the machine itself sped up or slowed down between
    jobs (other tenants of a VM, frequency scaling), apart from the framework being measured."""
    rng = np.random.default_rng(n)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    times = time_repeated(lambda: a @ b, repeats, 3)
    return 2 * n**3 / float(np.median(times)) / 1e9
