"""Per-framework helpers: importing one of these imports that framework (worker processes only).

Each module offers the same small surface, used by the worker and by adapters:
``setup(threads, seed) -> dict`` (threads actually in force), ``version() -> str``,
``device_available(device) -> str | None`` (None if usable, else the reason), ``sync(device)``,
``reset_gpu_peak()``, ``gpu_peak_mb() -> float | None``.
"""
import importlib
from types import ModuleType


def helper(framework: str) -> ModuleType:
    """Import ``harness.frameworks.<framework>`` (and with it, the framework)."""
    return importlib.import_module(f"harness.frameworks.{framework}")
