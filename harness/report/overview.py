"""The report's first screen: one line on the machine, the counts per status and the overview
matrix (benchmark rows grouped by architecture x framework columns) with the code size beside it."""
from __future__ import annotations

import math
import re
from collections import Counter

from matplotlib import colormaps
from matplotlib.colors import to_hex

from harness import registry, results
from harness.report.aggregate import Bench
from harness.report.codesize import implementation_lines
from harness.report.fmt import interval
from harness.report.nodes import cross_note, machines_text
from harness.report.verdicts import label

RATIO_CAP = 30.0  # colour scale: 1x (fastest) .. 30x and beyond, logarithmic


def anchor(name: str) -> str:
    """The id of a benchmark's section: safe in a URL fragment and a CSS selector."""
    return "bench-" + re.sub(r"[^A-Za-z0-9_-]+", "-", name).strip("-")


def ratio_colour(ratio: float) -> str:
    """Background for a time ratio to the fastest: green at 1x through yellow to orange at >= 30x,
    on a log scale, lightened so black text stays readable (red is kept for failures)."""
    t = min(max(math.log(max(ratio, 1.0)) / math.log(RATIO_CAP), 0.0), 1.0)
    r, g, b, _ = colormaps["RdYlGn_r"](0.12 + 0.62 * t)
    return to_hex((0.55 * r + 0.45, 0.55 * g + 0.45, 0.55 * b + 0.45))


def legend() -> list[tuple[str, str]]:
    return [(f"{v:g}×" if v < RATIO_CAP else f"≥{v:g}×", ratio_colour(v)) for v in (1, 1.5, 3, 10, RATIO_CAP)]


def counts(records: list[dict]) -> dict[str, int]:
    """Jobs per status, every status listed (zeros too), in the contract's order."""
    c = Counter(r["status"] for r in records)
    return {s: c.get(s, 0) for s in results.STATUSES}


def _peak_text(peaks: dict) -> str:
    out = []
    for dev, g in sorted((peaks or {}).items()):
        if (g or {}).get("flops"):
            lib = registry.DISPLAY.get(g.get("library"), g.get("library") or "?")
            out.append(f"{dev} {g['flops'] / 1e9:.1f} GFLOP/s ({lib}'s matmul, n={g.get('size')})")
    return "float32 GEMM peak " + "; ".join(out) if out else "GEMM peak not measured"


def machine_line(env: dict, records: list[dict]) -> str:
    """'CPU · cores · memory · measured GEMM peak and whose · devices · threads per job'; a Ray run:
    its nodes (harness.report.nodes.machines_text) in place of the driver's machine and the first node's peak."""
    if not env:
        return "machine unknown (the run has no env.json)"
    devices = sorted({r["device"] for r in records}) or ["cpu"]
    if env.get("nodes"):
        return " · ".join(p for p in [machines_text(env), "device " + ", ".join(devices),
                                      f"threads per job {env.get('threads')}" if env.get("threads") else None] if p)
    cores = f"{env.get('cores_logical')} logical / {env.get('cores_physical')} physical cores"
    if env.get("affinity") and env.get("affinity") != env.get("cores_logical"):
        cores += f" ({env['affinity']} usable)"
    gpus = ", ".join(g.get("name", "?") for g in env.get("gpus") or [])
    parts = [env.get("cpu") or "CPU unknown", cores, f"{env.get('memory_gb')} GB RAM",
             _peak_text(env.get("gemm_peaks") or {"cpu": env.get("gemm_peak") or {}}),
             "device " + ", ".join(devices) + (f" (GPU: {gpus})" if gpus else " (no GPU)"),
             f"threads per job {env.get('threads')}" if env.get("threads") else None]
    return " · ".join(p for p in parts if p)


def _ok_cell(bench: Bench, row: dict, fastest: dict | None, many_modes: bool) -> dict:
    """A cell with data: the framework's fastest row against the benchmark's fastest (``cross``: the
    two rows ran on different nodes, a cross-machine ratio with an unpaired interval)."""
    m = bench.primary
    metric = row[m]["median"] if m else None
    cell = {"state": "ok", "ratio": None, "mode": row["mode"] + ("" if row["device"] == "cpu" else f" · {row['device']}")
            if many_modes else "", "metric": "–" if metric is None else f"{metric:.4g}", "metric_v": metric}
    title = [f"{label(row)}, n={row['n']}"]
    ratio = bench.time_ratio(row, fastest) if fastest is not None else None
    if ratio is not None:  # the ratio of the medians, as in the benchmark's table: the fastest is exactly 1
        cell["ratio"], cell["colour"] = ratio, ratio_colour(ratio)
        ci = ""
        if row is not fastest:  # the interval of the per-round ratios, at its own coverage
            pr = bench.ratio_ci(row, fastest)
            ci = f" CI {interval(pr['ci'])}" + ("" if pr.get("paired") else " unpaired") if pr.get("ci") else ""
            cell["cross"] = pr["cross"]
        title.append(f"steady epoch {ratio:.2f}× the fastest ({label(fastest)}; ratio of medians){ci}")
        if cell.get("cross"):
            title.append(cross_note(row, fastest, "the fastest"))
    if m:
        title.append(f"{m} {cell['metric']}")
    cell["title"] = "; ".join(title)
    return cell


def _bad_cell(recs: list[dict]) -> dict:
    """No ok job: red with the one-line error when something failed, grey with the reason otherwise."""
    bad = [r for r in recs if r["status"] in ("failed", "timeout")]
    reasons = sorted({f"{r['mode']}: {r.get('error') or r['status']}" for r in (bad or recs)})
    if bad:
        short = (bad[0].get("error") or bad[0]["status"]).split(":")[0][:24]
        return {"state": "failed", "text": bad[0]["status"], "sub": short, "title": "; ".join(reasons)[:600]}
    skipped = all(r["status"] == "skipped" for r in recs)
    return {"state": "unsupported", "text": "skipped" if skipped else "n/a", "sub": "",
            "title": "; ".join(reasons)[:600]}


def _cells(bench: Bench, fws: list[str]) -> list[dict]:
    fastest = bench.fastest()
    best = bench.best_per_framework()
    many = len({(r["mode"], r["device"]) for r in bench.rows}) > 1
    by_fw: dict[str, list[dict]] = {}
    for r in bench.records:
        by_fw.setdefault(r["framework"], []).append(r)
    cells = []
    for fw in fws:
        recs = by_fw.get(fw, [])
        if fw in best:
            cell = _ok_cell(bench, best[fw], fastest, many)
            failed = [r for r in recs if r["status"] in ("failed", "timeout")]
            if failed:  # another mode of this framework failed: say so on the cell
                cell["warn"] = f"{len(failed)} job(s) failed: " + "; ".join(
                    sorted({f"{r['mode']}: {r.get('error')}" for r in failed}))[:400]
        elif recs:
            cell = _bad_cell(recs)
        else:
            cell = {"state": "absent", "text": "", "sub": "", "title": f"{fw} is not in this benchmark"}
        cells.append({**cell, "framework": fw})
    _mark_best(cells, bench.primary, bool(bench.primary) and bench.lower_is_better(bench.primary))
    return cells


def _mark_best(cells: list[dict], metric: str | None, lower: bool) -> None:
    """Bold the fastest cell and the best primary metric of a row."""
    ok = [c for c in cells if c["state"] == "ok"]
    timed = [c for c in ok if c["ratio"] is not None]
    if timed:
        min(timed, key=lambda c: c["ratio"])["fast"] = True
    vals = [c["metric_v"] for c in ok if c["metric_v"] is not None]
    if metric and vals:
        best = min(vals) if lower else max(vals)
        for c in ok:
            c["top"] = c["metric_v"] is not None and math.isclose(c["metric_v"], best, rel_tol=1e-3, abs_tol=1e-12)


def frameworks_in(records: list[dict]) -> list[str]:
    """The run's frameworks, in the registry's order (unknown ids last)."""
    seen = {r["framework"] for r in records}
    return [f for f in registry.FRAMEWORKS if f in seen] + sorted(seen - set(registry.FRAMEWORKS))


def matrix(benches: list[Bench], records: list[dict]) -> dict:
    """Rows: benchmarks grouped by architecture (first appearance order); columns: the run's frameworks;
    and the code size of each (architecture, framework) implementation."""
    fws = frameworks_in(records)
    order = list(dict.fromkeys(b.arch for b in benches))
    rows = []
    for arch in order:
        group = [b for b in benches if b.arch == arch]
        loc = [implementation_lines(arch, fw) if fw in registry.FRAMEWORKS else None for fw in fws]
        for i, b in enumerate(group):
            rows.append({"bench": b.name, "anchor": anchor(b.name), "arch": arch, "metric": b.primary or "",
                         "span": len(group) if i == 0 else 0, "cells": _cells(b, fws), "loc": loc})
    return {"frameworks": fws, "names": [registry.DISPLAY.get(f, f) for f in fws], "rows": rows,
            "legend": legend(), "cross": any(c.get("cross") for r in rows for c in r["cells"])}
