"""The environment of a job's process (and of the run-start probes, which must see the same): thread
pools pinned before any framework import, CUDA hidden from CPU jobs, JAX/TF preallocation off, and
this checkout first on PYTHONPATH. The one place it is built (docs/design.md, "Isolation")."""
from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "BLIS_NUM_THREADS",
               "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS")


def thread_env(threads: int, device: str) -> dict[str, str]:
    """The variables that pin every framework's pools to ``threads`` before import."""
    n = str(threads)
    env = {k: n for k in THREAD_VARS}
    env["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                        f" --xla_cpu_multi_thread_eigen={'true' if threads > 1 else 'false'}"
                        f" intra_op_parallelism_threads={threads}").strip()
    env.update({"TF_CPP_MIN_LOG_LEVEL": "2", "KERAS_BACKEND": "tensorflow", "XLA_PYTHON_CLIENT_PREALLOCATE": "false",
                "TF_FORCE_GPU_ALLOW_GROWTH": "true", "PYTHONHASHSEED": "0", "PYTHONUNBUFFERED": "1"})
    if device == "cpu":
        env.update({"CUDA_VISIBLE_DEVICES": "", "JAX_PLATFORMS": "cpu"})
    else:  # one GPU per job: the first this process may use (Ray sets the list for a task with num_gpus)
        visible = [d.strip() for d in os.environ.get("CUDA_VISIBLE_DEVICES", "0").split(",") if d.strip()]
        env.update({"CUDA_VISIBLE_DEVICES": (visible or ["0"])[0], "JAX_PLATFORMS": "cuda"})
    return env


def job_env(threads: int, device: str, base: dict[str, str] | None = None) -> dict[str, str]:
    """The full environment of a job or probe process: ``base`` (default: this process's) with the
    thread variables, and this checkout prepended to PYTHONPATH (kept: what the user put there)."""
    env = {**(os.environ if base is None else base), **thread_env(threads, device)}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env
