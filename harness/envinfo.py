"""What machine and software produced a run (``env.json``). Imports no framework: versions are
read from package metadata; per-framework device probes run in subprocesses when asked."""
from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

from harness import gpu, registry
from harness.jobenv import REPO, job_env


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def git_commit() -> str | None:
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True,
                             timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return sha + ("+dirty" if dirty else "")
    except (subprocess.SubprocessError, OSError):
        return None


def _run_frameworks(cfg) -> list[str]:
    """The installed frameworks some benchmark of ``cfg`` runs."""
    fws = {fw for b in cfg.benchmarks for fw in cfg.frameworks_for(b)}
    return [fw for fw in registry.FRAMEWORKS if fw in fws and registry.installed(fw)]


def numpy_peak(threads: int) -> dict:
    """numpy's float32 GEMM peak, measured like the frameworks': in a fresh process with the jobs'
    thread settings (this process may see every core)."""
    p = probe("numpy", threads, "cpu")
    return {**(p.get("gemm") or {"flops": None, "error": p.get("error")}), "library": "numpy"}


def machine_limits(cfg, progress=None) -> dict:
    """Per framework of the run and device: version, threads actually in force, and the best float32
    GEMM rate of its own matmul; plus ``gemm_peak`` per device, the best of them all (numpy included):
    the machine limit every job's efficiency is measured against."""
    from harness.frameworks.gemm import BUILDERS

    probes: dict[str, dict] = {}
    peaks: dict[str, dict] = {"cpu": numpy_peak(cfg.threads)}
    # a matmul measured once is not measured again: autograd, scikit-learn and MiniSom multiply with
    # numpy's, flax with jax's (their processes still report their own versions and threads)
    measured = {(BUILDERS["numpy"], "cpu"): ("numpy", peaks["cpu"])} if peaks["cpu"].get("flops") else {}
    for fw in _run_frameworks(cfg):
        for device in cfg.devices:
            same = measured.get((BUILDERS[fw], device))
            if progress:
                progress(f"measuring {fw}'s own float32 GEMM peak on {device}" if same is None else
                         f"probing {fw}'s threads on {device} (its matmul is {same[0]}'s, measured)")
            p = probe(fw, cfg.threads, device, gemm=same is None)
            if same is not None and "error" not in p and "gemm_error" not in p:
                p["gemm"] = {k: v for k, v in same[1].items() if k in ("flops", "size")} | {"same_as": same[0]}
            elif (p.get("gemm") or {}).get("flops"):
                measured[(BUILDERS[fw], device)] = (fw, p["gemm"])
            entry = probes.setdefault(fw, {k: v for k, v in p.items() if k in ("version", "threads", "error")})
            entry.setdefault("gemm", {})[device] = p.get("gemm") or {"error": p.get("gemm_error") or p.get("error")}
            rate = (p.get("gemm") or {}).get("flops") or 0.0
            if rate > (peaks.get(device) or {}).get("flops", 0.0):
                peaks[device] = {**p["gemm"], "library": fw}
    return {"framework_probe": probes, "gemm_peaks": peaks}


def collect(cfg=None, gemm: bool = True, progress=None) -> dict:
    import numpy as np
    import psutil

    info = {
        "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "cpu": cpu_model(), "cores_logical": os.cpu_count(), "cores_physical": psutil.cpu_count(logical=False),
        "affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "gpus": gpu.gpus(), "os": platform.platform(), "python": platform.python_version(),
        "numpy": np.__version__,
        "frameworks": {fw: registry.version(fw) for fw in registry.FRAMEWORKS},
        "git_commit": git_commit(), "argv": sys.argv,
        "openblas_coretype": os.environ.get("OPENBLAS_CORETYPE"),
    }
    if cfg is not None:
        info["config_name"] = cfg.name
        info["config_hash"] = cfg.hash()
        info["threads"] = cfg.threads
    if gemm and cfg is not None and cfg.measure_peaks:
        info.update(machine_limits(cfg, progress))
    elif gemm:
        info["gemm_peaks"] = {"cpu": numpy_peak(cfg.threads if cfg is not None else 2)}
    if gemm:  # the CPU limit under its first name, which reports of older runs read
        info["gemm_peak"] = info["gemm_peaks"]["cpu"]
    return info


def write(path: Path, cfg=None, progress=None) -> dict:
    info = collect(cfg, progress=progress)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(info, indent=1))
    os.replace(tmp, path)
    return info


def probe(framework: str, threads: int, device: str = "cpu", gemm: bool = True) -> dict:
    """In a fresh process with a job's thread environment: the framework's version, the threads it
    actually uses, and (``gemm``) its own float32 GEMM peak on ``device`` (harness/frameworks/gemm.py)."""
    env = job_env(threads, device)
    try:
        p = subprocess.run([sys.executable, "-m", "harness.frameworks.gemm", framework, str(threads), device,
                            *([] if gemm else ["--no-gemm"])], capture_output=True, text=True, env=env, timeout=180,
                           cwd=REPO)
    except subprocess.TimeoutExpired:
        return {"error": "probe timed out"}
    if p.returncode != 0:
        return {"error": (p.stderr.strip().splitlines() or ["failed"])[-1]}
    return json.loads(p.stdout.strip().splitlines()[-1])
