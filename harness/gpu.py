"""The CUDA path's decisions that need no framework import: whether this machine has a GPU at all
(a cuda job is then ``skipped`` without starting a process) and which frameworks cannot run on one
(their cuda jobs are ``unsupported``, with the reason, at planning time)."""
from __future__ import annotations

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
    from harness import envinfo

    if envinfo.gpus():
        return None
    return ("no CUDA GPU on this machine (nvidia-smi is missing or lists none): cuda jobs need an NVIDIA GPU "
            "and the CUDA builds of the frameworks (make setup-gpu)")


def driver_version() -> str | None:
    """The NVIDIA driver's version from nvidia-smi (the frameworks do not report it); None without one."""
    from harness import envinfo

    found = envinfo.gpus()
    return found[0]["driver"] if found else None
