"""scikit-learn helper: numpy/scipy on the CPU."""
from __future__ import annotations

from importlib import metadata

import sklearn  # noqa: F401

from harness.frameworks import _common


def version() -> str:
    return metadata.version("scikit-learn")


setup = _common.numpy_setup
device_available = _common.cpu_only("scikit-learn has no GPU support")
sync = _common.no_sync
reset_gpu_peak = gpu_peak_mb = _common.no_gpu_peak


#: the scikit-learn ``Adapter``'s common part is ``AdapterCore`` as it is (numpy: synchronous, no device)
AdapterBase = _common.AdapterCore
