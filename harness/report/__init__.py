"""Report v1: one self-contained HTML file (figures inline, no network, every string escaped)."""
from __future__ import annotations

import importlib
import json
import os
from collections import Counter
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from harness import registry, results
from harness.report import aggregate, figures, scale
from harness.stats import paired_ratio_ci, summary

HERE = Path(__file__).resolve().parent
WIDE = 0.10  # IQR/median above this: the spread is too wide to rank by this number


def fmt_num(v, unit: str = "") -> str:
    if v is None:
        return "–"
    if unit == "s":
        if v < 1e-3:
            return f"{v * 1e6:.0f} µs"
        if v < 1:
            return f"{v * 1e3:.1f} ms"
        return f"{v:.2f} s"
    if unit == "MB":
        return f"{v:.0f} MB"
    if unit == "ex/s":
        return f"{v:,.0f}/s"
    if unit == "GFLOP/s":
        return f"{v / 1e9:.2f}"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def cell(s: dict, unit: str = "", rank: bool = True, ci: bool = False) -> dict:
    """A table cell: the median, its spread (IQR) and a flag when the spread is too wide to rank."""
    if not s or s.get("median") is None:
        return {"text": "–", "spread": "", "wide": False, "title": "no data"}
    spread = ""
    if s["n"] > 1:
        spread = f"IQR {fmt_num(s['iqr'], unit)}"
    if ci and s.get("ci") and s["median"]:  # the 95% CI of the median, as ± of the median
        half = max(s["ci"][1] - s["median"], s["median"] - s["ci"][0]) / abs(s["median"])
        spread += f" · CI ±{half:.1%}"
    title = f"n={s['n']}"
    if s.get("ci"):
        title += f"; 95% CI of median [{fmt_num(s['ci'][0], unit)}, {fmt_num(s['ci'][1], unit)}]"
    wide = bool(rank and s["n"] > 1 and s.get("rel_iqr") is not None and s["rel_iqr"] > WIDE)
    return {"text": fmt_num(s["median"], unit), "spread": spread, "wide": wide, "title": title}


def _timed(c: dict, row: dict) -> dict:
    """The steady-epoch cell's hover text also says how many steady epochs each job timed (the
    configured ones after the first, plus timing-only ones up to ``min_timed_s``)."""
    n = (row.get("epochs_timed") or {}).get("median")
    if n:
        c["title"] += f"; median of {n:.0f} steady epochs per job"
    return c


def _efficiency(rows: list[dict], peaks: dict) -> list[str]:
    """Achieved training FLOP/s as a fraction of the device's measured GEMM peak (the best of numpy
    and every framework's own matmul); above 1 is a bug, flagged."""
    out = []
    for r in rows:
        med = r["train_flops_per_s"]["median"]
        peak = (peaks.get(r["device"]) or {}).get("flops")
        if not peak or not med:
            out.append("–")
        else:
            e = med / peak
            out.append(f"{e:.1%}" + (" ⚠ >100%: FLOP count or timing is wrong" if e > 1 else ""))
    return out


def _target_cell(t: dict) -> str:
    """Median training time and epochs to the target over the repeats that reached it, k/n reached."""
    if not t["n"]:
        return "–"
    if not t["reached"]:
        return f"not reached (0/{t['n']})"
    return (f"{fmt_num(t['s']['median'], 's')} · {t['epochs']['median']:g} ep"
            + (f" ({t['reached']}/{t['n']})" if t["reached"] < t["n"] or t["n"] > 1 else ""))


def _bench_section(name: str, recs: list[dict], config: dict, peaks: dict | None = None) -> dict:
    df = aggregate.frame(recs)
    arch = recs[0]["architecture"]
    metrics, rows = aggregate.table(df, arch)
    fastest = None
    if rows:
        timed = [r for r in rows if r["epoch_s"]["median"]]
        fastest = min(timed, key=lambda r: r["epoch_s"]["median"]) if timed else None
    table_rows = []
    effs = _efficiency(rows, peaks or {})

    def epoch_by_repeat(row: dict) -> dict:
        sel = df[(df.status == "ok") & (df.framework == row["framework"]) & (df["mode"] == row["mode"])
                 & (df.device == row["device"])]
        return dict(zip(sel.repeat, sel.epoch_s))

    fastest_times = epoch_by_repeat(fastest) if fastest is not None else None
    for r, eff in zip(rows, effs):
        ratio = paired_ratio_ci(epoch_by_repeat(r), fastest_times) if fastest_times is not None else None
        table_rows.append({
            "label": f"{registry.DISPLAY.get(r['framework'], r['framework'])}", "mode": r["mode"], "device": r["device"],
            "n": r["n"], "params": r["params"],
            "metrics": [cell(r[m], rank=False) for m in metrics],  # seed-to-seed spread of a metric is not noise
            # the CI of the median in view for the steady epoch (the number to compare); all cells have it on hover
            "timings": [_timed(cell(r[c[0]], c[3], ci=c[0] == "epoch_s"), r) if c[0] == "epoch_s"
                        else cell(r[c[0]], c[3]) for c in aggregate.COLUMNS],
            "efficiency": eff, "target": _target_cell(r["target"]),
            "ratio": (f"{ratio['ratio']:.2f}×" + (f" [{ratio['ci'][0]:.2f}, {ratio['ci'][1]:.2f}]" if ratio.get("ci") else ""))
            if ratio else "–",
        })
    notes = sorted({(r["framework"], (r.get("extra") or {}).get("notes")) for r in recs
                    if (r.get("extra") or {}).get("notes")})
    figs = []
    for col, label, unit, log in (("epoch_s", "steady-state epoch time", "s", True), ("rss_peak_mb", "peak RSS", "MB", False)):
        img = figures.bars(rows, col, label, unit, log)
        if img:
            figs.append({"title": label, "png": img})
    img = figures.curves(recs, metrics[0] if metrics else "metric")
    if img:
        figs.append({"title": "learning curves", "png": img})
    try:
        spec = importlib.import_module(f"architectures.{arch}.spec")
        if hasattr(spec, "report_figures"):  # architecture-specific pictures (reconstructions, filters, ...)
            for title, png in spec.report_figures([r for r in recs if r.get("status") == "ok"], figures):
                if png:
                    figs.append({"title": title, "png": png})
    except Exception as e:  # a broken extra figure must not cost the report
        figs.append({"title": f"architecture figures unavailable: {results.one_line(str(e), 150)}", "png": None})
    fingerprints = sorted({(r.get("extra") or {}).get("data_fingerprint") for r in recs if r.get("status") == "ok"} - {None})
    targets = {f"{r['target'].get('metric')} {r['target'].get('value')}" for r in recs if r.get("target")}
    return {"name": name, "arch": arch, "dataset": recs[0]["dataset"], "config": config,
            "target": next(iter(targets)) if len(targets) == 1 else None,
            "metrics": metrics, "columns": [(c[2], c[3]) for c in aggregate.COLUMNS], "rows": table_rows,
            "figures": figs, "notes": notes, "fingerprints": fingerprints,
            "statuses": dict(Counter(r["status"] for r in recs))}


def _slope(x: list[float], y: list[float]) -> float | None:
    """Least-squares slope of log y on log x: cost ~ size^slope (1 = linear)."""
    import numpy as np

    pts = [(a, b) for a, b in zip(x, y) if a and b and a > 0 and b > 0]
    if len({a for a, _ in pts}) < 2:
        return None
    lx, ly = np.log([a for a, _ in pts]), np.log([b for _, b in pts])
    return float(np.polyfit(lx, ly, 1)[0])


def _sweep_sections(records: list[dict]) -> list[dict]:
    """One section per sweep: epoch time, peak memory and throughput against the swept parameter,
    per framework/mode/device, with the fitted log-log slope."""
    import numpy as np

    groups: dict[str, list[dict]] = {}
    for r in records:
        sp = (r.get("extra") or {}).get("sweep")
        if sp and r.get("status") == "ok":
            groups.setdefault(sp["group"], []).append(r)
    out = []
    for group, recs in groups.items():
        sp0 = recs[0]["extra"]["sweep"]
        numeric = all(r["extra"]["sweep"].get("numeric") for r in recs)
        cells: dict[tuple, dict[float, list[dict]]] = {}
        for r in recs:
            cells.setdefault((r["framework"], r["mode"], r["device"]), {}).setdefault(r["extra"]["sweep"]["x"], []).append(r)
        panels = {"steady epoch time (s)": {}, "peak RSS (MB)": {}, "throughput (examples/s)": {}}
        rows = []
        xs = sorted({r["extra"]["sweep"]["x"] for r in recs})  # every row on the same columns
        for (fw, mode, dev), by_x in sorted(cells.items()):
            def med(get):
                return [float(np.median(v)) if (v := [get(r) for r in by_x.get(x, []) if get(r)]) else None for x in xs]
            ep = med(lambda r: r["timing"].get("epoch_s"))
            mem = med(lambda r: (r.get("memory") or {}).get("rss_peak_mb"))
            thr = med(lambda r: (r["timing"].get("examples_per_epoch") or 0) / r["timing"]["epoch_s"]
                      if r["timing"].get("epoch_s") else None)
            label = f"{fw} · {mode}" + ("" if dev == "cpu" else f" · {dev}")
            for series, ys in zip(panels.values(), (ep, mem, thr)):
                pts = [(x, y) for x, y in zip(xs, ys) if y]
                if pts:
                    series[label] = ([x for x, _ in pts], [y for _, y in pts])
            slopes = [_slope(xs, ys) if numeric else None for ys in (ep, mem, thr)]
            rows.append({"label": label, "points": len(by_x),
                         "slopes": [f"{s:+.2f}" if s is not None else "–" for s in slopes],
                         "epoch": [fmt_num(v, "s") for v in ep]})
        labels = {r["extra"]["sweep"]["x"]: json.dumps(r["extra"]["sweep"]["value"]) for r in recs}
        img = figures.sweep(list(panels.items()), sp0["param"] + ("" if numeric else " (point)"), loglog=numeric)
        out.append({"group": group, "param": sp0["param"], "numeric": numeric, "rows": rows,
                    "xlabels": [labels[x] for x in xs], "figure": img})
    return out


def _matrix(records: list[dict]) -> dict:
    archs = registry.architectures()
    fws = list(registry.FRAMEWORKS)
    by = {}
    for r in records:
        by.setdefault((r["architecture"], r["framework"]), []).append(r)
    grid = []
    for a in archs:
        row = []
        for f in fws:
            rs = by.get((a, f), [])
            impl = registry.implementation(a, f)
            if rs:
                c = Counter(r["status"] for r in rs)
                ok = c.get("ok", 0)
                ran = len(rs) - c.get("unsupported", 0)  # a mode the framework lacks is not a failure
                state = "unsupported" if not ran else ("ok" if ok == ran else ("bad" if ok == 0 else "mixed"))
                text = f"{ok}/{ran} ok" if state != "unsupported" else "unsupported"
                title = "; ".join(sorted({r.get("error") or "" for r in rs} - {""}))[:400]
            else:
                state = {"implemented": "notrun", "unsupported": "unsupported", "missing": "missing"}[impl.status]
                text = {"notrun": "not in run", "unsupported": "unsupported", "missing": "—"}[state]
                title = impl.reason or ""
            row.append({"state": state, "text": text, "title": title})
        grid.append({"arch": a, "cells": row})
    return {"frameworks": [registry.DISPLAY.get(f, f) for f in fws], "rows": grid}


def _machine_drift(records: list[dict]) -> dict | None:
    """How much the machine's own speed moved between jobs: the spread of the numpy GEMM probe every
    job takes before its framework import and after its measurements."""
    vals = [v for r in records for v in ((r.get("machine_speed_gflops") or {}).values()) if v]
    if len(vals) < 4:
        return None
    s = summary(vals)
    return {"median": s["median"], "min": min(vals), "max": max(vals), "rel_iqr": s["rel_iqr"],
            "range": (max(vals) - min(vals)) / s["median"], "wide": s["rel_iqr"] > 0.05}


def _grouped(records: list[dict]) -> list[dict]:
    """Skipped/unsupported records, one row per (benchmark, status, reason) with the cells it covers."""
    rows: dict[tuple, dict] = {}
    for r in records:
        key = (r["benchmark"], r["status"], r.get("error") or "")
        row = rows.setdefault(key, {"benchmark": key[0], "status": key[1], "error": key[2], "cells": []})
        cell = f"{r['framework']}/{r['mode']}" + ("" if r["device"] == "cpu" else f"/{r['device']}")
        if cell not in row["cells"]:
            row["cells"].append(cell)
    return list(rows.values())


def _probe_rows(env: dict) -> list[dict]:
    """Per framework: the threads it reported in force and its own float32 GEMM peak per device."""
    rows = []
    for fw, p in (env.get("framework_probe") or {}).items():
        gemm = []
        for dev, g in (p.get("gemm") or {}).items():
            same = f", {registry.DISPLAY.get(g['same_as'], g['same_as'])}'s matmul" if g.get("same_as") else ""
            gemm.append(f"{dev}: {g['flops'] / 1e9:.1f} GFLOP/s (n={g['size']}{same})" if g.get("flops")
                        else f"{dev}: n/a — {g.get('error')}")
        rows.append({"fw": registry.DISPLAY.get(fw, fw), "version": p.get("version") or "",
                     "threads": json.dumps(p.get("threads"), separators=(", ", ": ")) if p.get("threads") else
                     (p.get("error") or ""), "gemm": "; ".join(gemm)})
    return rows


def build(out_dir: Path, baseline: Path | None = None) -> Path:
    """Render ``<out_dir>/report.html`` from results.jsonl and env.json; returns its path.
    ``baseline``: a small-size run directory, for the scale section's rank table."""
    out_dir = Path(out_dir)
    res = results.read(out_dir / "results.jsonl")
    base_recs = results.read(Path(baseline) / "results.jsonl").records if baseline else None
    env = json.loads((out_dir / "env.json").read_text()) if (out_dir / "env.json").exists() else {}
    config = json.loads((out_dir / "config.json").read_text()) if (out_dir / "config.json").exists() else {}
    bench_cfg = {}
    for b in config.get("benchmarks", []):
        bench_cfg[b.get("name") or f"{b['architecture']}-{b['dataset']}"] = b
    by_bench: dict[str, list[dict]] = {}
    for r in res.records:
        by_bench.setdefault(r["benchmark"], []).append(r)
    peaks = env.get("gemm_peaks") or {"cpu": env.get("gemm_peak") or {}}
    sections = [_bench_section(n, rs, bench_cfg.get(n, {}), peaks) for n, rs in by_bench.items()]
    problems = [r for r in res.records if r["status"] in ("failed", "timeout")]
    skipped = _grouped([r for r in res.records if r["status"] in ("skipped", "unsupported")])
    loads = [v for r in res.records for v in (r.get("load_avg_1m") or {}).values() if isinstance(v, (int, float))]
    cores = env.get("cores_logical") or os.cpu_count() or 1
    busy = {"max": max(loads), "cores": cores} if loads and max(loads) > cores + 0.5 else None
    drift = _machine_drift(res.records)
    jenv = Environment(loader=FileSystemLoader(HERE), autoescape=select_autoescape(default=True, default_for_string=True))
    html = jenv.get_template("template.html.j2").render(
        run=out_dir.name, env=env, config=config, sections=sections, matrix=_matrix(res.records),
        sweeps=_sweep_sections(res.records), peaks=peaks, probes=_probe_rows(env),
        problems=problems, skipped=skipped, read_problems=res.problems,
        counts=dict(Counter(r["status"] for r in res.records)), total=len(res.records),
        display=registry.DISPLAY, wide=WIDE, busy=busy, drift=drift,
        scale_html=Markup(scale.section(res.records, base_recs)))  # already escaped there
    path = out_dir / "report.html"
    tmp = out_dir / ".report.html.tmp"
    tmp.write_text(html, encoding="utf-8")
    os.replace(tmp, path)  # readers never see a half-written report
    return path
