"""The result record (contract in docs/design.md): one JSON line per job in <out>/results.jsonl.

Records are appended with a single write + flush + fsync per line, so a killed runner loses at
most the line being written; a torn last line is detected on read and reported, never fatal.
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SCHEMA = "annbench.result/1"
STATUSES = ("ok", "failed", "timeout", "skipped", "unsupported")
FIELDS = ("schema", "run", "benchmark", "architecture", "dataset", "framework", "device", "seed", "repeat",
          "status", "error", "params", "flops_per_example", "mode", "metrics", "curve", "timing", "memory",
          "threads", "versions")
TIMING_KEYS = ("import_s", "build_s", "first_epoch_s", "epoch_s", "train_s", "eval_s", "infer_ms", "infer_per_s")
MEMORY_KEYS = ("rss_base_mb", "rss_peak_mb", "gpu_peak_mb", "rss_method", "tree_peak_mb")


def _clean(x: Any) -> Any:
    """JSON-safe: NaN/inf become null (JSON has no NaN), numpy scalars become Python numbers."""
    if isinstance(x, dict):
        return {str(k): _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    if hasattr(x, "item") and callable(x.item) and getattr(x, "ndim", 1) == 0:
        x = x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def one_line(msg: str, limit: int = 300) -> str:
    s = " ".join(str(msg).split())
    return s if len(s) <= limit else s[: limit - 1] + "…"


def make_record(job: dict, status: str, error: str | None = None, **fields: Any) -> dict:
    """A record with every contract field present (defaults for what the job did not reach)."""
    assert status in STATUSES, status
    rec: dict[str, Any] = {
        "schema": SCHEMA, "run": job.get("run"), "benchmark": job["benchmark"], "architecture": job["architecture"],
        "dataset": job["dataset"], "framework": job["framework"], "device": job["device"], "seed": job["seed"],
        "repeat": job["repeat"], "status": status, "error": one_line(error) if error else None,
        "params": None, "flops_per_example": None, "mode": job["mode"], "metrics": {}, "curve": [],
        "timing": {k: None for k in TIMING_KEYS}, "memory": {k: None for k in MEMORY_KEYS},
        "threads": {"requested": job.get("threads")}, "versions": {}, "gpu": None,
        "job_id": job["job_id"], "extra": dict(job.get("extra") or {}),
        "weights_file": None,  # trained weights, relative to the run directory (harness.worker.save_weights)
    }
    for k, v in fields.items():
        if isinstance(v, dict) and isinstance(rec.get(k), dict):
            rec[k] = {**rec[k], **v}
        else:
            rec[k] = v
    return _clean(rec)


def append(path: Path, record: dict) -> None:
    """Append one record atomically enough for crash safety: one write, flush, fsync."""
    line = json.dumps(_clean(record), sort_keys=False, allow_nan=False) + "\n"
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass
class ReadResult:
    records: list[dict] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # torn or invalid lines, one message each


def read(path: Path) -> ReadResult:
    out = ReadResult()
    if not Path(path).exists():
        return out
    raw = Path(path).read_bytes()
    lines = raw.split(b"\n")
    for i, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
            if not isinstance(rec, dict) or rec.get("schema") != SCHEMA:
                raise ValueError("not an annbench record")
            out.records.append(rec)
        except ValueError as e:
            torn = i == len(lines) and not raw.endswith(b"\n")
            kind = "torn last line (runner killed mid-write?)" if torn else "invalid line"
            out.problems.append(f"{path.name}:{i}: {kind}: {one_line(str(e), 120)}")
    return out


def repair(path: Path) -> list[str]:
    """Drop unreadable lines so appends start on a clean line; returns what was dropped."""
    res = read(path)
    if res.problems:
        tmp = path.with_suffix(".jsonl.tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            for rec in res.records:
                f.write(json.dumps(rec) + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    return res.problems

