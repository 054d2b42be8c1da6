"""What machine and software produced a run (``env.json``). Imports no framework: versions are
read from package metadata; per-framework device probes run in subprocesses when asked."""
from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

from harness import registry

REPO = Path(__file__).resolve().parent.parent


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


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


def git_commit() -> str | None:
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True,
                             timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return sha + ("+dirty" if dirty else "")
    except (subprocess.SubprocessError, OSError):
        return None


def collect(cfg=None, gemm: bool = True) -> dict:
    import numpy as np
    import psutil

    from harness import measure

    info = {
        "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "cpu": cpu_model(), "cores_logical": os.cpu_count(), "cores_physical": psutil.cpu_count(logical=False),
        "affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "gpus": gpus(), "os": platform.platform(), "python": platform.python_version(),
        "numpy": np.__version__,
        "frameworks": {fw: registry.version(fw) for fw in registry.FRAMEWORKS},
        "git_commit": git_commit(), "argv": sys.argv,
        "openblas_coretype": os.environ.get("OPENBLAS_CORETYPE"),
    }
    if cfg is not None:
        info["config_name"] = cfg.name
        info["config_hash"] = cfg.hash()
        info["threads"] = cfg.threads
    if gemm:
        info["gemm_peak"] = measure.numpy_gemm_peak()
    return info


def write(path: Path, cfg=None) -> dict:
    info = collect(cfg)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(info, indent=1))
    os.replace(tmp, path)
    return info


PROBE = """
import json, sys
from harness.frameworks import helper
h = helper(sys.argv[1])
out = {"version": h.version(), "threads": h.setup(int(sys.argv[2]), 0),
       "cuda": h.device_available("cuda") or "available"}
print(json.dumps(out, default=str))
"""


def probe(framework: str, threads: int) -> dict:
    """Import one framework in a fresh process and ask it for its threads and devices."""
    from harness.runner import thread_env

    env = {**os.environ, **thread_env(threads, "cuda")}
    env["PYTHONPATH"] = str(REPO)
    try:
        p = subprocess.run([sys.executable, "-c", PROBE, framework, str(threads)], capture_output=True, text=True,
                           env=env, timeout=120, cwd=REPO)
    except subprocess.TimeoutExpired:
        return {"error": "probe timed out"}
    if p.returncode != 0:
        return {"error": (p.stderr.strip().splitlines() or ["failed"])[-1]}
    return json.loads(p.stdout.strip().splitlines()[-1])
