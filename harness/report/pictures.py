"""Pictures drawn from each job's trained canonical weights: ``<run>/<weights_file>`` (the worker
saves repeat 0's, ``harness.worker.save_weights``). A spec's ``weight_figures(jobs, data, model,
figures)`` draws them in numpy (its own reference forward, U-matrix, recall, ...) on the benchmark's
data, reloaded here through harness.datasets with the options of the run's config.json.

One job per framework: the first ok repeat-0 record, in record order, whose weights file reads (a
cpu one before a cuda one). A missing or unreadable file costs that framework's pictures; data
that no longer matches the fingerprint the jobs recorded, or a hook that fails, costs the
benchmark's pictures and says so in a caption: never the report. numpy only (no framework).
"""
from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

# the module itself, for the spec hooks to draw with (``from harness.report import figures`` would
# import the package that imports this module: a cycle)
import harness.report.figures as figures
from harness import datasets, registry, results


def load_weights(out_dir: Path, rel: str) -> dict[str, np.ndarray] | None:
    """The arrays of ``out_dir / rel`` (no pickles), or None when it is missing, unreadable, or
    outside the run directory."""
    base = Path(out_dir).resolve()
    path = (base / rel).resolve()
    if not path.is_relative_to(base) or not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except (OSError, ValueError, zipfile.BadZipFile):
        return None


def jobs(records: list[dict], out_dir: Path) -> list[tuple[dict, dict]]:
    """(record, weights) for one job per framework (see the module docstring)."""
    out, seen = [], set()
    for r in sorted(records, key=lambda r: r.get("device") != "cpu"):  # stable: record order otherwise
        if r.get("status") != "ok" or r.get("repeat") != 0 or not r.get("weights_file"):
            continue
        if r["framework"] in seen:
            continue
        w = load_weights(out_dir, r["weights_file"])
        if w is not None:
            out.append((r, w))
            seen.add(r["framework"])
    return out


def _data(pairs: list[tuple[dict, dict]], bench_config: dict) -> datasets.Dataset:
    rec = pairs[0][0]
    data = datasets.load(rec["dataset"], **(bench_config.get("data") or {}))
    trained_on = {(r.get("extra") or {}).get("data_fingerprint") for r, _ in pairs} - {None}
    if trained_on and trained_on != {data.fingerprint()}:
        raise ValueError(f"{rec['dataset']} as loaded now is not the data the jobs trained on (fingerprint)")
    return data


def section(arch: str, records: list[dict], bench_config: dict, out_dir: Path | None) -> list[dict]:
    """The benchmark's pictures from saved weights, as the report's figures ({title, png}); [] when
    the spec draws none or no job saved weights."""
    try:
        spec = registry.spec(arch)
    except ImportError:  # a run of an architecture this checkout does not have
        return []
    if out_dir is None or spec.weight_figures is None:
        return []
    pairs = jobs(records, out_dir)
    if not pairs:
        return []
    try:
        data = _data(pairs, bench_config)
        model = spec.Model(**(bench_config.get("model") or {}))
        drawn = spec.pictures(pairs, data, model, figures)
    except Exception as e:  # noqa: BLE001 - a picture is never worth the report
        return [{"title": f"pictures from the trained weights unavailable: {results.one_line(str(e), 150)}",
                 "png": None}]
    return [{"title": title, "png": png} for title, png in drawn if png]
