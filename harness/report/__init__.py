"""Report v1: one self-contained HTML file (figures inline, no network, every string escaped)."""
from __future__ import annotations

import importlib
import json
import os
from collections import Counter
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape

from harness import registry, results
from harness.report import aggregate, figures
from harness.report.stats import ratio_ci

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


def cell(s: dict, unit: str = "", rank: bool = True) -> dict:
    """A table cell: the median, its spread (IQR) and a flag when the spread is too wide to rank."""
    if not s or s.get("median") is None:
        return {"text": "–", "spread": "", "wide": False, "title": "no data"}
    spread = ""
    if s["n"] > 1:
        spread = f"IQR {fmt_num(s['iqr'], unit)}"
    title = f"n={s['n']}"
    if s.get("ci"):
        title += f"; 95% CI of median [{fmt_num(s['ci'][0], unit)}, {fmt_num(s['ci'][1], unit)}]"
    wide = bool(rank and s["n"] > 1 and s.get("rel_iqr") is not None and s["rel_iqr"] > WIDE)
    return {"text": fmt_num(s["median"], unit), "spread": spread, "wide": wide, "title": title}


def _efficiency(rows: list[dict], peak: float | None) -> list[str]:
    """Achieved training FLOP/s as a fraction of the measured GEMM peak; above 1 is a bug, flagged."""
    out = []
    for r in rows:
        med = r["train_flops_per_s"]["median"]
        if not peak or not med:
            out.append("–")
        else:
            e = med / peak
            out.append(f"{e:.1%}" + (" ⚠ >100%: FLOP count or timing is wrong" if e > 1 else ""))
    return out


def _bench_section(name: str, recs: list[dict], config: dict, peak: float | None = None) -> dict:
    df = aggregate.frame(recs)
    arch = recs[0]["architecture"]
    metrics, rows = aggregate.table(df, arch)
    fastest = None
    if rows:
        timed = [r for r in rows if r["epoch_s"]["median"]]
        fastest = min(timed, key=lambda r: r["epoch_s"]["median"]) if timed else None
    table_rows = []
    effs = _efficiency(rows, peak)
    for r, eff in zip(rows, effs):
        key = (r["framework"], r["mode"], r["device"])
        sel = df[(df.status == "ok") & (df.framework == key[0]) & (df["mode"] == key[1]) & (df.device == key[2])]
        ratio = None
        if fastest is not None:
            fsel = df[(df.status == "ok") & (df.framework == fastest["framework"]) & (df["mode"] == fastest["mode"])
                      & (df.device == fastest["device"])]
            ratio = ratio_ci(sel.epoch_s.tolist(), fsel.epoch_s.tolist())
        table_rows.append({
            "label": f"{registry.DISPLAY.get(r['framework'], r['framework'])}", "mode": r["mode"], "device": r["device"],
            "n": r["n"], "params": r["params"],
            "metrics": [cell(r[m], rank=False) for m in metrics],  # seed-to-seed spread of a metric is not noise
            "timings": [cell(r[c[0]], c[3]) for c in aggregate.COLUMNS],
            "efficiency": eff,
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
    return {"name": name, "arch": arch, "dataset": recs[0]["dataset"], "config": config,
            "metrics": metrics, "columns": [(c[2], c[3]) for c in aggregate.COLUMNS], "rows": table_rows,
            "figures": figs, "notes": notes, "fingerprints": fingerprints,
            "statuses": dict(Counter(r["status"] for r in recs))}


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
                state = "ok" if ok == len(rs) else ("unsupported" if c.get("unsupported") == len(rs) else
                                                   ("bad" if ok == 0 else "mixed"))
                text = f"{ok}/{len(rs)} ok" if state != "unsupported" else "unsupported"
                title = "; ".join(sorted({r.get("error") or "" for r in rs} - {""}))[:400]
            else:
                state = {"implemented": "notrun", "unsupported": "unsupported", "missing": "missing"}[impl.status]
                text = {"notrun": "not in run", "unsupported": "unsupported", "missing": "—"}[state]
                title = impl.reason or ""
            row.append({"state": state, "text": text, "title": title})
        grid.append({"arch": a, "cells": row})
    return {"frameworks": [registry.DISPLAY.get(f, f) for f in fws], "rows": grid}


def build(out_dir: Path) -> Path:
    """Render ``<out_dir>/report.html`` from results.jsonl and env.json; returns its path."""
    out_dir = Path(out_dir)
    res = results.read(out_dir / "results.jsonl")
    env = json.loads((out_dir / "env.json").read_text()) if (out_dir / "env.json").exists() else {}
    config = json.loads((out_dir / "config.json").read_text()) if (out_dir / "config.json").exists() else {}
    bench_cfg = {}
    for b in config.get("benchmarks", []):
        bench_cfg[b.get("name") or f"{b['architecture']}-{b['dataset']}"] = b
    by_bench: dict[str, list[dict]] = {}
    for r in res.records:
        by_bench.setdefault(r["benchmark"], []).append(r)
    peak = (env.get("gemm_peak") or {}).get("flops")
    sections = [_bench_section(n, rs, bench_cfg.get(n, {}), peak) for n, rs in by_bench.items()]
    problems = [r for r in res.records if r["status"] in ("failed", "timeout")]
    skipped = [r for r in res.records if r["status"] in ("skipped", "unsupported")]
    loads = [v for r in res.records for v in (r.get("load_avg_1m") or {}).values() if isinstance(v, (int, float))]
    cores = env.get("cores_logical") or os.cpu_count() or 1
    busy = {"max": max(loads), "cores": cores} if loads and max(loads) > cores + 0.5 else None
    jenv = Environment(loader=FileSystemLoader(HERE), autoescape=select_autoescape(default=True, default_for_string=True))
    html = jenv.get_template("template.html.j2").render(
        run=out_dir.name, env=env, config=config, sections=sections, matrix=_matrix(res.records),
        problems=problems, skipped=skipped, read_problems=res.problems,
        counts=dict(Counter(r["status"] for r in res.records)), total=len(res.records),
        display=registry.DISPLAY, wide=WIDE, busy=busy)
    path = out_dir / "report.html"
    tmp = out_dir / ".report.html.tmp"
    tmp.write_text(html, encoding="utf-8")
    os.replace(tmp, path)  # readers never see a half-written report
    return path
