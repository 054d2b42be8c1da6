"""Small synthetic run directories (records as the worker writes them, through results.make_record),
so compare/export tests run no job."""
from __future__ import annotations

import copy
import json
from pathlib import Path

from harness import results

ENV = {"created_utc": "2026-01-01T00:00:00+00:00", "cpu": "Test CPU 3000", "cores_logical": 4, "gpus": [],
       "gemm_peaks": {"cpu": {"flops": 100e9, "size": 1024, "library": "numpy"}},
       "gemm_peak": {"flops": 100e9, "size": 1024, "library": "numpy"}}

# (benchmark, architecture, framework, mode, base steady epoch s, accuracy-like primary or None)
CELLS = [
    ("mlp-digits", "mlp", "torch", "eager", 0.020, 0.95),
    ("mlp-digits", "mlp", "jax", "step", 0.015, 0.94),
    ("mlp-digits", "mlp", "tensorflow", "step", 0.030, 0.95),
    ("som-blobs", "som", "autograd", "step", 0.100, None),
]


def record(bench: str, arch: str, fw: str, mode: str, repeat: int, status: str = "ok", epoch_s: float = 0.02,
           metrics: dict | None = None, epochs: int = 3, error: str | None = None, device: str = "cpu") -> dict:
    job = {"run": "r", "benchmark": bench, "architecture": arch, "dataset": "d", "framework": fw, "device": device,
           "seed": repeat, "repeat": repeat, "mode": mode, "threads": 2,
           "job_id": f"{bench}/{fw}/{mode}/{device}/r{repeat}"}
    if status != "ok":
        return results.make_record(job, status, error or f"{fw} cannot")
    metrics = metrics or {}
    primary = next(iter(metrics.values()), None)
    curve = [{"epoch": e + 1, "loss": 1.0 / (e + 1), "metric": primary, "seconds": epoch_s * (e + 1)}
             for e in range(epochs)]
    return results.make_record(job, "ok", metrics=metrics, curve=curve,
                               timing={"epoch_s": epoch_s, "first_epoch_s": 3 * epoch_s, "train_s": epochs * epoch_s,
                                       "epochs_timed": epochs - 1},
                               memory={"rss_peak_mb": 300.0 + repeat}, params=1234,
                               extra={"n_train": 100, "grad_norms": [1.0, 2.0]})


def records(repeats: int = 3) -> list[dict]:
    """Every cell of CELLS with ``repeats`` jobs (timings vary a few % by repeat), plus one
    unsupported and one failed cell."""
    out = []
    for bench, arch, fw, mode, t, acc in CELLS:
        for rep in range(repeats):
            wobble = 1 + 0.03 * ((rep % 3) - 1)  # 0.97, 1.00, 1.03: a spread, never 1.5x
            if acc is None:
                metrics = {"quantization_error": 0.5 + 0.001 * rep, "topographic_error": 0.1}
            else:
                metrics = {"accuracy": acc, "loss": 0.2}
            out.append(record(bench, arch, fw, mode, rep, epoch_s=t * wobble, metrics=metrics))
    out.append(record("mlp-digits", "mlp", "theano", "step", 0, status="unsupported", error="no such layer"))
    out.append(record("som-blobs", "som", "minisom", "step", 0, status="failed", error="ValueError: boom"))
    return out


def write_run(path: Path, recs: list[dict], env: dict | None = ENV) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    with open(path / "results.jsonl", "w") as f:
        for r in recs:
            f.write(json.dumps(r) + "\n")
    if env is not None:
        (path / "env.json").write_text(json.dumps(env))
    return path


def scaled(recs: list[dict], factor: float) -> list[dict]:
    """A copy whose timing.epoch_s values are multiplied by ``factor``."""
    out = copy.deepcopy(recs)
    for r in out:
        if (r.get("timing") or {}).get("epoch_s") is not None:
            r["timing"]["epoch_s"] *= factor
    return out


def accuracy_drop(recs: list[dict], drop: float) -> list[dict]:
    out = copy.deepcopy(recs)
    for r in out:
        if "accuracy" in (r.get("metrics") or {}):
            r["metrics"]["accuracy"] -= drop
    return out
