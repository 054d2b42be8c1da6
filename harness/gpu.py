"""The CUDA path's decisions that need no framework import: whether this machine has a GPU at all
(a cuda job is then ``skipped`` without starting a process) and which frameworks cannot run on one
(their cuda jobs are ``unsupported``, with the reason, at planning time)."""
from __future__ import annotations

import shutil
import subprocess
from functools import lru_cache

# Frameworks that compute with numpy or their own C code on the host: no device to put work on.
CPU_ONLY = {
    "autograd": "autograd differentiates numpy code, and numpy runs on the CPU only",
    "sklearn": "scikit-learn's MLPClassifier/BernoulliRBM compute with numpy/SciPy on the CPU only",
    "minisom": "MiniSom is written in numpy and runs on the CPU only",
    "theano": "PyTensor's C backend (the one measured here) is CPU-only; its JAX backend could run the "
              "graph on a GPU, but that would time jax's XLA code, not PyTensor's, so it is not offered",
}

# Whether torch.backends.cudnn.benchmark is on for cuda jobs, and why (recorded in each cuda record).
CUDNN_BENCHMARK = True
CUDNN_BENCHMARK_WHY = ("on: TensorFlow and XLA autotune their convolution algorithms by themselves, so torch "
                       "is let to do the same; every batch has one shape (the last partial batch is dropped), "
                       "so it tunes once, in the first epoch (part of compile_s), never in the steady ones")


def cpu_only_reason(framework: str) -> str | None:
    """Why ``framework`` cannot run a cuda job, or None when it can."""
    return CPU_ONLY.get(framework)


@lru_cache(maxsize=1)
def no_gpu_reason() -> str | None:
    """None when nvidia-smi lists at least one GPU here, else the one line a skipped cuda job records."""
    if gpus():
        return None
    return ("no CUDA GPU on this machine (nvidia-smi is missing or lists none): cuda jobs need an NVIDIA GPU "
            "and the CUDA builds of the frameworks (make setup-gpu)")


def driver_version() -> str | None:
    """The NVIDIA driver's version from nvidia-smi (the frameworks do not report it); None without one."""
    found = gpus()
    return found[0]["driver"] if found else None


def gpus() -> list[dict]:
    """NVIDIA GPUs from nvidia-smi (empty when there is none or no driver)."""
    smi = shutil.which("nvidia-smi")
    if not smi:
        return []
    try:
        out = subprocess.run([smi, "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=20, check=True).stdout
    except (subprocess.SubprocessError, OSError):
        return []
    rows = []
    for line in out.strip().splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) == 3:
            rows.append({"name": parts[0], "memory": parts[1], "driver": parts[2]})
    return rows
