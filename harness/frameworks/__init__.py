"""Per-framework helpers: importing one of these imports that framework (worker processes only).

Each module offers the same small surface, used by the worker and by adapters:
``setup(threads, seed) -> dict`` (threads actually in force), ``version() -> str``,
``device_available(device) -> str | None`` (None if usable, else the reason), ``sync(device)``,
``reset_gpu_peak()``, ``gpu_peak_mb() -> float | None``.

For the adapters (``architectures/*/fw_<framework>.py``) each also offers, under the same names:
``AdapterBase`` (the one constructor ``Adapter(model, info, train, *, mode, device, seed)``, from
``_common.AdapterCore``, plus the device, input placement and sync), ``make_optimizer(train, ...)``
(harness/optim.py's sgd/adam in the framework) and, where models are trained on a loss,
``GradientAdapter`` (see architectures/README.md).
"""
import importlib
from types import ModuleType


def helper(framework: str) -> ModuleType:
    """Import ``harness.frameworks.<framework>`` (and with it, the framework)."""
    return importlib.import_module(f"harness.frameworks.{framework}")
