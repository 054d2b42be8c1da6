"""The CUDA path on a machine without a GPU: every cuda job skipped or unsupported with its reason, the
run says nothing ran (exit 3), and the GPU memory/transfer code answers cleanly where it can run here."""
from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from harness import gpu, jobenv, results, runner
from harness.config import parse
from harness.plan import expand

ROOT = Path(__file__).resolve().parent.parent
SMALL = {"model": {"hidden": [8]}, "train": {"epochs": 1, "batch_size": 128, "lr": 0.01}}
no_gpu = pytest.mark.skipif(gpu.no_gpu_reason() is None, reason="a GPU is here: these check the path without one")


def _cfg(**kw) -> dict:
    return {"name": "gpu", "repeats": 2, "devices": ["cuda"], "measure_peaks": False, "min_timed_s": 0,
            "benchmarks": [{"architecture": "mlp", **SMALL}], **kw}


def _annbench(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "harness", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, env=os.environ.copy())


@no_gpu
def test_cuda_run_without_a_gpu_skips_every_job_and_exits_3(tmp_path):
    path = tmp_path / "gpu.yaml"
    path.write_text(yaml.safe_dump(_cfg(frameworks=["torch", "jax", "autograd"])))
    p = _annbench("run", str(path), "--out", str(out := tmp_path / "run"), "--no-report")
    assert p.returncode == 3, p.stdout + p.stderr
    assert p.stderr.strip().splitlines()[-1].startswith("annbench: nothing ran: all 5 job(s) were skipped or unsupported")
    recs = results.read(out / "results.jsonl").records
    by = {(r["framework"], r["repeat"]): r for r in recs}
    assert len(recs) == 5  # torch and jax twice; autograd once (unsupported is said once)
    for fw in ("torch", "jax"):
        for rep in (0, 1):
            r = by[(fw, rep)]
            assert r["status"] == "skipped" and "no CUDA GPU on this machine" in r["error"], r
            assert "wall_s" not in r and r["gpu"] is None  # no process was started
    assert by[("autograd", 0)]["status"] == "unsupported" and "CPU only" in by[("autograd", 0)]["error"]


def test_cpu_only_frameworks_are_unsupported_on_cuda_with_their_reason():
    cfg = parse(_cfg(repeats=1, devices=["cuda", "cpu"],
                     frameworks=["torch", "autograd", "sklearn", "theano"]), "gpu")
    jobs = {(j.framework, j.device): j for j in expand(cfg, "r")}
    for fw in ("autograd", "sklearn", "theano"):
        j = jobs[(fw, "cuda")]
        assert j.preset_status == "unsupported" and j.preset_reason == f"{fw} on cuda: {gpu.CPU_ONLY[fw]}"
        assert jobs[(fw, "cpu")].preset_status is None
    assert "JAX backend" in gpu.CPU_ONLY["theano"]  # PyTensor says what its other backend could do
    assert jobs[("torch", "cuda")].preset_status is None  # decided at run time: is there a GPU?


def test_a_cuda_job_gets_one_gpu_and_jax_on_cuda(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,3")
    env = jobenv.thread_env(2, "cuda")
    assert env["CUDA_VISIBLE_DEVICES"] == "2" and env["JAX_PLATFORMS"] == "cuda"
    assert env["XLA_PYTHON_CLIENT_PREALLOCATE"] == "false" and env["TF_FORCE_GPU_ALLOW_GROWTH"] == "true"
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    assert jobenv.thread_env(2, "cuda")["CUDA_VISIBLE_DEVICES"] == "0"
    assert jobenv.thread_env(2, "cpu")["CUDA_VISIBLE_DEVICES"] == ""


def test_gpu_memory_and_transfer_code_on_the_cpu():
    """jax: memory_stats() on a CPU device is None, and the GPU peak is None (not 0.0); torch the same;
    the transfer timers run on the CPU device (a copy, synced) and give a finite time."""
    import jax

    from harness.frameworks import jax as hjax
    from harness.frameworks import torch as htorch

    assert jax.devices("cpu")[0].memory_stats() is None
    hjax.reset_gpu_peak()
    assert hjax.gpu_peak_mb() is None and hjax.gpu_info("cpu") is None and hjax.gpu_info("cuda") is None
    htorch.reset_gpu_peak()
    assert htorch.gpu_peak_mb() is None and htorch.gpu_info("cuda") is None
    xb, yb = np.ones((3, 4, 5), np.float32), np.zeros((3, 4), np.int64)
    for h in (hjax, htorch):
        dt = h.h2d([xb, yb], "cpu")
        assert math.isfinite(dt) and dt >= 0
    assert results.make_record({"job_id": "a/b/c/cpu/r0", "benchmark": "a", "architecture": "mlp",
                                "dataset": "digits", "framework": "b", "device": "cpu", "seed": 0, "repeat": 0,
                                "mode": "step"}, "ok")["gpu"] is None


@no_gpu
def test_the_worker_skips_a_cuda_job_with_the_frameworks_reason(tmp_path):
    """Past the runner's check (as on a machine whose GPU the framework cannot use): the worker records
    ``skipped`` with the framework's own reason."""
    cfg = parse(_cfg(repeats=1, frameworks=["torch"]), "gpu")
    job = expand(cfg, "r")[0]
    rec = runner.execute(job.to_dict(), tmp_path / "job.log")
    assert rec["status"] == "skipped" and "sees no CUDA device" in rec["error"], rec
    assert rec["node"] and rec["started_at"] <= rec["ended_at"]


@no_gpu
def test_cuda_preflight_says_why_there_is_no_gpu():
    p = _annbench("env", "--probe", "--device", "cuda", "-f", "tensorflow,autograd")
    assert p.returncode == 0, p.stderr
    assert "no GPU: tensorflow" in p.stdout and "sees no GPU" in p.stdout
    assert "no GPU:" in p.stdout.split("autograd", 1)[1]
    assert _annbench("env", "--device", "tpu").returncode == 2
