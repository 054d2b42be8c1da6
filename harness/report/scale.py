"""Where the ranking flips with size: crossover points of the sweeps, each framework's rank at the
small (default) size beside its rank at the realistic size, and peak memory beside the analytic
estimate. Functions return plain data (for tests and other layouts) and small HTML fragments; the
report's hook is ``section(records, baseline)`` (harness/report/__init__.py: ``build``).
Only the standard library, Jinja2's escaping and harness.stats' words: no framework, nothing measured here.
"""
from __future__ import annotations

import statistics

from markupsafe import escape

from harness.stats import CROSS, CROSS_WHY, cross_machine, node_names


def _ok_epoch(r: dict) -> float | None:
    t = r.get("timing") or {}
    return t.get("epoch_s") if r.get("status") == "ok" and t.get("epoch_s") else None


def _nodes(records: list[dict]) -> list[str]:
    return node_names([r for r in records if _ok_epoch(r) is not None])


def _median(vals: list[float]) -> float | None:
    return statistics.median(vals) if vals else None


def fastest_per_point(records: list[dict]) -> dict[str, list[dict]]:
    """Per sweep group, per swept x (ascending): the fastest ``framework · mode`` by median steady
    epoch time over repeats, that time, the runner-up and its time over the fastest's, and the fewest
    repeats behind a median, and the nodes the point's jobs ran on (more than one: its lead compares
    machines too): {group: [{x, value, fastest, epoch_s, second, margin, repeats, nodes}, ...]}."""
    by: dict[str, dict[float, dict[str, list[float]]]] = {}
    values: dict[tuple[str, float], object] = {}
    point_recs: dict[tuple[str, float], list[dict]] = {}
    for r in records:
        sp, t = (r.get("extra") or {}).get("sweep"), _ok_epoch(r)
        if not sp or t is None:
            continue
        label = f"{r['framework']} · {r['mode']}" + ("" if r.get("device", "cpu") == "cpu" else f" · {r['device']}")
        by.setdefault(sp["group"], {}).setdefault(sp["x"], {}).setdefault(label, []).append(t)
        values[(sp["group"], sp["x"])] = sp.get("value")
        point_recs.setdefault((sp["group"], sp["x"]), []).append(r)
    out = {}
    for group, points in by.items():
        rows = []
        for x in sorted(points):
            meds = {label: _median(ts) for label, ts in points[x].items()}
            ranked = sorted(meds, key=meds.get)
            second = ranked[1] if len(ranked) > 1 else None
            rows.append({"x": x, "value": values[(group, x)], "fastest": ranked[0], "epoch_s": meds[ranked[0]],
                         "second": second, "margin": meds[second] / meds[ranked[0]] if second else None,
                         "repeats": min(len(ts) for ts in points[x].values()),
                         "nodes": _nodes(point_recs[(group, x)])})
        out[group] = rows
    return out


def crossovers(records: list[dict]) -> dict[str, list[dict]]:
    """Per sweep group, the points where the fastest framework (and mode) changes, in sweep order:
    {group: [{"after": value, "at": value, "from": label, "to": label}]}; an empty list when one
    framework is fastest at every point. Equal medians keep the earlier leader (no spurious flip)."""
    out = {}
    for group, rows in fastest_per_point(records).items():
        flips = []
        for prev, cur in zip(rows, rows[1:]):
            if cur["fastest"] != prev["fastest"]:
                flips.append({"after": prev["value"], "at": cur["value"], "from": prev["fastest"], "to": cur["fastest"]})
        out[group] = flips
    return out


def _fw_best(records: list[dict], bench: str) -> dict[str, float]:
    """Per framework, its best (fastest mode's) median steady epoch time on benchmark ``bench``."""
    cells: dict[tuple[str, str], list[float]] = {}
    for r in records:
        if r.get("benchmark") == bench and (t := _ok_epoch(r)) is not None:
            cells.setdefault((r["framework"], r["mode"]), []).append(t)
    best: dict[str, float] = {}
    for (fw, _), ts in cells.items():
        m = _median(ts)
        best[fw] = min(best.get(fw, m), m)
    return best


def _main_bench(records: list[dict]) -> dict[str, str]:
    """Per architecture, the first benchmark of the run (in record order) that is not a sweep point."""
    out: dict[str, str] = {}
    for r in records:
        if not (r.get("extra") or {}).get("sweep"):
            out.setdefault(r["architecture"], r["benchmark"])
    return out


def _ranks(times: dict[str, float]) -> dict[str, int]:
    return {fw: i + 1 for i, fw in enumerate(sorted(times, key=times.get))}


def rank_table(small: list[dict], realistic: list[dict]) -> list[dict]:
    """Per architecture present in both runs: each framework's rank (1 = fastest steady epoch, its
    best mode) at the small size beside its rank at the realistic size, with the benchmark names
    compared (each run's first non-sweep benchmark of that architecture). Rows:
    {architecture, small, realistic, frameworks: [{framework, small_rank, realistic_rank,
    small_s, realistic_s, moved}], small_nodes, realistic_nodes} (the nodes each size's ranking was
    measured on; more than one: it ranks machines too); a framework missing at one size has rank None."""
    a, b = _main_bench(small), _main_bench(realistic)
    rows = []
    for arch in sorted(set(a) & set(b)):
        ta, tb = _fw_best(small, a[arch]), _fw_best(realistic, b[arch])
        if not ta and not tb:
            continue
        ra, rb = _ranks(ta), _ranks(tb)
        fws = sorted(set(ta) | set(tb), key=lambda f: (rb.get(f, 99), ra.get(f, 99)))
        rows.append({"architecture": arch, "small": a[arch], "realistic": b[arch],
                     "small_nodes": _nodes([r for r in small if r.get("benchmark") == a[arch]]),
                     "realistic_nodes": _nodes([r for r in realistic if r.get("benchmark") == b[arch]]),
                     "frameworks": [
            {"framework": f, "small_rank": ra.get(f), "realistic_rank": rb.get(f), "small_s": ta.get(f),
             "realistic_s": tb.get(f),
             "moved": (ra[f] - rb[f]) if f in ra and f in rb else None} for f in fws]})
    return rows


def memory_rows(records: list[dict]) -> list[dict]:
    """Per ok record of repeat 0: peak RSS, what the job added above its base (after data and weights
    were loaded: the framework's build, training and evaluation), and the analytic estimate
    (``memory_estimate`` in the record's extra) with the ratio added / estimate."""
    rows = []
    for r in records:
        est = ((r.get("extra") or {}).get("memory_estimate") or {}).get("total_mb")
        mem = r.get("memory") or {}
        if r.get("status") != "ok" or r.get("repeat", 0) != 0 or est is None or mem.get("rss_peak_mb") is None:
            continue
        added = mem["rss_peak_mb"] - (mem.get("rss_base_mb") or 0.0)
        rows.append({"benchmark": r["benchmark"], "framework": r["framework"], "mode": r["mode"],
                     "rss_peak_mb": mem["rss_peak_mb"], "added_mb": added, "estimate_mb": est,
                     "ratio": added / est if est > 0 else None})
    return rows


def _fmt(v, spec: str = ".3g") -> str:
    return "–" if v is None else format(v, spec)


def _table(head: list[str], rows: list[list]) -> str:
    th = "".join(f"<th>{escape(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{th}</tr>{body}</table>"


def crossovers_html(records: list[dict]) -> str:
    """The fastest framework at each sweep point and the crossover points, one table per sweep."""
    parts = []
    flips = crossovers(records)
    for group, rows in fastest_per_point(records).items():
        said = "; ".join(f"between {f['after']} and {f['at']}: {f['from']} → {f['to']}" for f in flips[group])
        parts.append(f"<h3>{escape(group)}: fastest per point</h3><p>crossovers: {escape(said or 'none')}</p>"
                     + _noise_note(rows) + _cross_note([r["nodes"] for r in rows], "point")
                     + _table(["value", "fastest", "steady epoch (s)", "runner-up", "runner-up / fastest"],
                              [[str(r["value"]), r["fastest"], _fmt(r["epoch_s"]), r["second"] or "–",
                                (f"{r['margin']:.2f}×" if r["margin"] else "–") + _mark(r["nodes"])]
                               for r in rows]))
    return "".join(parts)


def _mark(nodes: list[str]) -> str:
    return f" {CROSS}" if cross_machine(nodes) else ""


def _cross_note(node_sets: list[list[str]], what: str) -> str:
    """One line when some ``what`` (a sweep point, a size's ranking) was measured on several nodes."""
    if not any(cross_machine(ns) for ns in node_sets):
        return ""
    return (f"<p class=\"note\">{CROSS} cross-machine: a {escape(what)} so marked ran its jobs on several nodes; "
            f"{escape(CROSS_WHY)}.</p>")


NOISE = 1.10  # this VM's speed moves 5-10% between jobs minutes apart (README, "Measured on ...")


def _noise_note(rows: list[dict]) -> str:
    """One line when a point's lead rests on single measurements within the machine's job-to-job
    spread: such a crossover is a tie, not a flip."""
    close = [str(r["value"]) for r in rows if r["repeats"] < 3 and r["margin"] and r["margin"] < NOISE]
    if not close:
        return ""
    return (f"<p class=\"note\">At {escape(', '.join(close))} the lead is under {NOISE - 1:.0%} on one measurement "
            "per cell (fewer than 3 repeats): within this machine's job-to-job spread, so a tie, not a flip. "
            "Run the sweep with more repeats to tell them apart.</p>")


def rank_table_html(small: list[dict], realistic: list[dict]) -> str:
    parts = []
    for row in rank_table(small, realistic):
        heading = (f"{row['architecture']}: {row['small']}{_mark(row['small_nodes'])} → "
                   f"{row['realistic']}{_mark(row['realistic_nodes'])}")
        parts.append(f"<h3>{escape(heading)}</h3>" + _cross_note([row["small_nodes"], row["realistic_nodes"]], "ranking")
                     + _table(["framework", "rank small", "rank realistic", "epoch small (s)", "epoch realistic (s)"],
                              [[f["framework"], _fmt(f["small_rank"], "d"), _fmt(f["realistic_rank"], "d"),
                                _fmt(f["small_s"]), _fmt(f["realistic_s"])] for f in row["frameworks"]]))
    return "".join(parts)


def memory_html(records: list[dict]) -> str:
    rows = memory_rows(records)
    if not rows:
        return ""
    return ("<h3>Peak memory beside the analytic estimate</h3><p>added = peak RSS − the job's RSS after "
            "loading data and weights; estimate = weights + gradients + optimizer state + one batch's "
            "activations (float32). A ratio far above 1 is memory the model does not need.</p>"
            + _table(["benchmark", "framework · mode", "peak RSS (MB)", "added (MB)", "estimate (MB)", "added / estimate"],
                     [[r["benchmark"], f"{r['framework']} · {r['mode']}", _fmt(r["rss_peak_mb"], ".0f"),
                       _fmt(r["added_mb"], ".0f"), _fmt(r["estimate_mb"], ".1f"), _fmt(r["ratio"], ".1f")]
                      for r in rows]))


def section(records: list[dict], baseline: list[dict] | None = None) -> str:
    """The report's scale section (HTML, already escaped): crossovers of every sweep, the rank table
    when a baseline (small-size) run's records are given, and memory beside the estimate."""
    parts = [crossovers_html(records)]
    if baseline:
        parts.append("<h3>Rank at the small size vs the realistic size</h3>" + rank_table_html(baseline, records))
    parts.append(memory_html(records))
    body = "".join(p for p in parts if p)
    return f'<h2 id="scale">Scale: crossovers, ranks, memory</h2>{body}' if body else ""
