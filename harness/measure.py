"""Clock, memory probes and the GEMM peak. Standard library + numpy + psutil only.

Memory: on Linux the peak RSS of a phase is measured by resetting the kernel's high-water mark
(write "5" to /proc/self/clear_refs), checking that the reset took effect (VmHWM back at VmRSS), and
reading VmHWM afterwards; where the reset is not allowed or is ignored a background sampler takes the
maximum of RSS every 5 ms instead, and the record says which (``memory.rss_method``).
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


# VmHWM just after a reset may exceed VmRSS by what the process touched between the two reads;
# more than this means the kernel ignored the reset (VmHWM still holds an earlier, higher peak).
RESET_SLACK_MB = 4.0


def hwm_reset_took_effect() -> tuple[bool, str]:
    """Whether VmHWM was just reset: (ok, why not). After a reset VmHWM is the current VmRSS; if
    it stays above VmRSS by more than ``RESET_SLACK_MB`` the reset did not take effect (a kernel or
    sandbox that accepts the write and ignores it), and a peak read later would be an old one."""
    hwm, rss = _status_kb("VmHWM"), _status_kb("VmRSS")
    if hwm is None or rss is None:
        return False, "no VmHWM/VmRSS in /proc/self/status"
    if hwm / 1024 > rss / 1024 + RESET_SLACK_MB:
        return False, f"VmHWM reset had no effect ({hwm / 1024:.0f} MB after reset, VmRSS {rss / 1024:.0f} MB)"
    return True, ""


class PeakRSS:
    """Peak resident memory over a phase: ``with PeakRSS() as p: ...; p.peak_mb``, ``p.method``
    ("vmhwm": the kernel's high-water mark, reset at entry and checked to have been reset;
    "sampled-5ms": the maximum of RSS sampled every 5 ms, where the reset is not possible or did
    not take effect; ``p.reason`` says why)."""

    def __init__(self) -> None:
        self.method = "vmhwm"
        self.reason = ""
        self.peak_mb = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> "PeakRSS":
        try:
            _CLEAR.write_text("5")  # reset VmHWM to the current RSS
            ok, self.reason = hwm_reset_took_effect()
        except OSError as e:
            ok, self.reason = False, f"cannot reset VmHWM: {e.strerror or e}"
        if not ok:
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
