"""Report v1: one self-contained HTML file (figures inline, no network, every string escaped)."""
from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from harness import agreement, plan, registry, results
from harness import config as config_mod
from harness.report import aggregate, codesize, figures, nodes, overview, pictures, scale, verdicts
from harness.report.fmt import ci_text, dropped, fmt_num, interval
from harness.stats import MIN_PAIRS, level_text, summary

HERE = Path(__file__).resolve().parent
__all__ = ["build", "cell", "fmt_num", "ratio_cell", "auto_text"]


def cell(s: dict, unit: str = "", ci: bool = False) -> dict:
    """A table cell: the median, its spread (IQR), optionally its interval in view, the interval's
    coverage and method on hover, and how many values were left out (missing or NaN)."""
    if not s or s.get("median") is None:
        return {"text": "—", "spread": "", "title": "no data" + dropped(s)}
    spread = f"IQR {fmt_num(s['iqr'], unit)}" if s["n"] > 1 else ""
    iv = s.get("ci")
    if ci and iv and s["median"]:
        spread += f" · {ci_text(iv, s['median'])}"
    title = f"n={s['n']}{dropped(s)}"
    if iv:
        title += (f"; {level_text(iv.level)} CI of the median [{fmt_num(iv.low, unit)}, "
                  f"{fmt_num(iv.high, unit)}] ({iv.method}, n={iv.n})")
    return {"text": fmt_num(s["median"], unit), "spread": spread, "title": title}


def _timed(c: dict, row: dict) -> dict:
    """The steady-epoch cell's hover text also says how many steady epochs each job timed (the
    configured ones after the first, plus timing-only ones up to ``min_timed_s``)."""
    n = (row.get("epochs_timed") or {}).get("median")
    if n:
        c["title"] += f"; median of {n:.0f} steady epochs per job"
    return c


def _efficiency(b: aggregate.Bench, peaks: nodes.Peaks) -> list[tuple[str, str]]:
    """Per row (text, hover): achieved training FLOP/s as a fraction of the device's GEMM peak
    measured on the node the row's jobs ran on (the best of numpy and every framework's own matmul
    there; a local run: the machine's). A Ray node without its own peak: the run's, marked †; a row
    whose repeats ran on several nodes (spread_repeats): each node's; above 1 is a bug, flagged."""
    return [nodes.efficiency(b.node_medians(r, "train_flops_per_s"), r["device"], peaks) for r in b.rows]


def _target_cell(t: dict) -> str:
    """Median training time and epochs to the target over the repeats that reached it, k/n reached."""
    if not t["n"]:
        return "–"
    if not t["reached"]:
        return f"not reached (0/{t['n']})"
    return (f"{fmt_num(t['s']['median'], 's')} · {t['epochs']['median']:g} ep"
            + (f" ({t['reached']}/{t['n']})" if t["reached"] < t["n"] or t["n"] > 1 else ""))


def ratio_cell(b: aggregate.Bench, row: dict, fast: dict | None) -> dict:
    """Steady epoch time vs the fastest row: the ratio of the two medians shown in the table (sort
    value ``v``), with the interval of the per-round ratios (paired by round, adjacent in time, so
    machine drift cancels) labelled with its coverage; "unpaired" with the interval it has when
    fewer than stats.MIN_PAIRS rounds are in common; "—" for a row without a steady epoch time.
    Rows measured on different nodes: ⇄ cross-machine, with the unpaired interval (Bench.ratio_ci)."""
    ratio = b.time_ratio(row, fast) if fast is not None else None
    if ratio is None:
        return {"text": "—", "v": None, "ci": None, "title": "no steady epoch time" + dropped(row["epoch_s"])}
    med, f_med = row["epoch_s"]["median"], fast["epoch_s"]["median"]
    if row is fast:
        return {"text": "1.00×", "spread": "fastest", "v": 1.0, "ci": None,
                "title": f"lowest median steady epoch time ({fmt_num(f_med, 's')}): every ratio here is a row's median over it"}
    p = b.ratio_ci(row, fast)
    ci, paired = p.get("ci"), bool(p.get("paired"))
    title = f"{fmt_num(med, 's')} / {fmt_num(f_med, 's')}: the ratio of the medians in this table. "
    if p["cross"]:
        title += nodes.cross_note(row, fast, "the fastest") + "; " + (f"interval: {ci.method}" if ci else
                                                                       "too few values for any interval")
    elif paired:
        title += f"Interval of the per-round ratios: {ci.method}, {ci.n} rounds in common"
    else:
        title += (f"Unpaired: fewer than {MIN_PAIRS} rounds with a time on both sides; "
                  + (f"interval: {ci.method}" if ci else "too few values for any interval"))
    if ci and not ci.low <= ratio <= ci.high:
        title += "; the ratio of the medians lies outside the per-round ratios' interval (the rounds disagree)"
    if p.get("n_dropped"):
        title += f"; {p['n_dropped']} round(s) without a time on both sides left out"
    spread = interval(ci) + ("" if paired else " unpaired")
    mark = f" {nodes.CROSS}" if p["cross"] else ""
    return {"text": f"{ratio:.2f}×{mark}", "spread": spread.strip(), "v": ratio, "ci": ci, "title": title,
            "cross": p["cross"]}


def auto_text(outcome: tuple[str, int] | None) -> tuple[str, str]:
    """How a ``repeats: auto`` cell ended (plan.auto_outcomes): (short mark for the n column, full text)."""
    if not outcome:
        return "", ""
    state, n = outcome
    short = {plan.CONVERGED: "auto ✓", plan.AT_CAP: "auto: at cap", plan.GROWING: "auto: growing"}.get(state, "auto: stopped")
    return short, {plan.CONVERGED: f"auto: converged at n={n}", plan.AT_CAP: f"auto: stopped at cap (n={n}), not converged",
                   plan.GROWING: f"auto: not converged yet at n={n} (run incomplete)"}.get(state, f"auto: {state}")


def _timing_cells(r: dict) -> dict[str, dict]:
    """Every timing/memory column's cell, keyed by column; sort value ``v`` = the median."""
    out = {}
    for col, _, _, unit, _ in aggregate.COLUMNS:
        # the interval of the median in view for the steady epoch (the number to compare); all cells have it on hover
        c = _timed(cell(r[col], unit, ci=True), r) if col == "epoch_s" else cell(r[col], unit)
        out[col] = {**c, "v": r[col]["median"]}
    return out


def _head(b: aggregate.Bench, devices: bool, target: str | None) -> list[dict]:
    """Main columns of a benchmark table; everything else folds into the row's detail line."""
    h = [("mode", "", "l")] + ([("device", "", "l")] if devices else []) + [("n", "repeats", "")]
    h += [(m, "median", "") for m in b.metrics[:2]]
    h += [("steady epoch", "median · CI (its coverage)", ""),
          ("vs fastest", "ratio of medians [CI of per-round ratios, its coverage]", ""),
          ("peak RSS", "MB", ""), ("code", "lines", "")]
    h += [("to target", target, "")] if target else []
    return [{"label": a, "sub": sub, "cls": cls} for a, sub, cls in h]


def _n_cell(r: dict, auto: tuple[str, str]) -> dict:
    """The repeats column: n, and for a ``repeats: auto`` cell how it ended (in full on hover)."""
    return {"text": str(r["n"]), "v": r["n"], "spread": auto[0],
            "title": auto[1] + dropped(r["epoch_s"]) if auto[1] else dropped(r["epoch_s"]).strip(" ()")}


def _table_row(b: aggregate.Bench, r: dict, ratio: dict, eff: tuple[str, str], devices: bool, target: bool,
               auto: tuple[str, str] = ("", "")) -> dict:
    t = _timing_cells(r)
    main = [{"text": r["mode"], "cls": "l"}] + ([{"text": r["device"], "cls": "l"}] if devices else [])
    main.append(_n_cell(r, auto))
    main += [{**cell(r[m]), "v": r[m]["median"]} for m in b.metrics[:2]]
    loc = codesize.implementation_lines(b.arch, r["framework"])
    main += [t["epoch_s"], ratio, t["rss_peak_mb"], {"text": "–" if loc is None else str(loc), "v": loc}]
    main += [{"text": _target_cell(r["target"]), "v": r["target"]["s"]["median"]}] if target else []
    more = [("repeats", auto[1], "")] if auto[1] else []
    more += [("params", "{:,}".format(r["params"]) if r["params"] is not None else "–", "")]
    more += [(m, cell(r[m])["text"], "") for m in b.metrics[2:]]
    more += [(f"{c[2]} ({c[3]})", t[c[0]]["text"] + (f" · {t[c[0]]['spread']}" if t[c[0]]["spread"] else ""),
              t[c[0]]["title"]) for c in aggregate.COLUMNS if c[0] not in ("epoch_s", "rss_peak_mb")]
    more.append(("of GEMM peak", *eff))
    return {"label": registry.DISPLAY.get(r["framework"], r["framework"]), "framework": r["framework"],
            "colour": figures.colour(r["framework"]), "cells": main, "more": more, "bad": "⚠" in eff[0],
            "ratio": ratio, "timings": t}


def _table(b: aggregate.Bench, peaks: nodes.Peaks, target: str | None, outcomes: dict | None = None) -> tuple[list[dict], list[dict]]:
    """(header, rows) of a benchmark's table: each row against the fastest (the lowest median)."""
    fastest = b.fastest()
    devices = len({r["device"] for r in b.rows}) > 1
    rows = []
    for r, eff in zip(b.rows, _efficiency(b, peaks)):
        auto = auto_text((outcomes or {}).get((b.name, r["framework"], r["mode"], r["device"])))
        rows.append(_table_row(b, r, ratio_cell(b, r, fastest), eff, devices, bool(target), auto))
    return _head(b, devices, target), rows


def _tradeoff(b: aggregate.Bench) -> str | None:
    """The metric/time trade-off figure with its Pareto front."""
    m = b.primary
    pts = [{"label": verdicts.label(r), "framework": r["framework"], "mode": r["mode"], "time": r["epoch_s"]["median"],
            "metric": r[m]["median"], "rss": r["rss_peak_mb"]["median"]}
           for r in b.rows if m and r["epoch_s"]["median"] and r[m]["median"] is not None]
    lower = b.lower_is_better(m) if m else False
    return figures.tradeoff(pts, aggregate.pareto(pts, lower), m or "", lower)


def _figures(b: aggregate.Bench) -> list[dict]:
    figs = [{"title": "trade-off: primary metric against steady epoch time; marker area = peak RSS; "
                      "dashed line joins the Pareto-optimal rows (nothing else is both faster and better)",
             "png": _tradeoff(b)}]
    for col, label, unit, log in (("epoch_s", "steady-state epoch time", "s", True), ("rss_peak_mb", "peak RSS", "MB", False)):
        figs.append({"title": label, "png": figures.bars(b.rows, col, label, unit, log)})
    figs.append({"title": "learning curves", "png": figures.curves(b.records, b.primary or "metric")})
    try:
        spec = registry.spec(b.arch)  # architecture-specific pictures (reconstructions, filters, ...)
        figs += [{"title": title, "png": png}
                 for title, png in spec.figures([r for r in b.records if r.get("status") == "ok"], figures)]
    except Exception as e:  # a broken extra figure must not cost the report
        figs.append({"title": f"architecture figures unavailable: {results.one_line(str(e), 150)}", "png": None})
    return [f for f in figs if f["png"] or "unavailable" in f["title"]]


def _bench_section(b: aggregate.Bench, config: dict, peaks: nodes.Peaks | None = None, outcomes: dict | None = None,
                   out_dir: Path | None = None) -> dict:
    """``peaks``: the run's and each node's GEMM peaks (nodes.peaks); ``outcomes``: how each
    ``repeats: auto`` cell ended (from ``_auto_info``); ``out_dir``: the run directory, whose saved
    weights the architecture's pictures are drawn from (harness/report/pictures.py)."""
    recs = b.records
    notes = sorted({(r["framework"], (r.get("extra") or {}).get("notes")) for r in recs
                    if (r.get("extra") or {}).get("notes")})
    fingerprints = sorted({(r.get("extra") or {}).get("data_fingerprint") for r in recs if r.get("status") == "ok"} - {None})
    targets = {f"{r['target'].get('metric')} {r['target'].get('value')}" for r in recs if r.get("target")}
    target = next(iter(targets)) if len(targets) == 1 else None
    head, rows = _table(b, peaks or nodes.Peaks(), target, outcomes)
    agree = agreement.check(recs)
    return {"name": b.name, "anchor": overview.anchor(b.name), "arch": b.arch, "dataset": recs[0]["dataset"],
            "config": config, "target": target, "head": head, "rows": rows,
            "flops_convention": _flops_convention(b.arch),
            "rss_methods": sorted({(r.get("memory") or {}).get("rss_method") for r in recs} - {None}),
            "picks": [verdicts.describe(p) for p in verdicts.picks(b, _drift_after(agree))],
            "claim": verdicts.sklearn_claim(b),
            "figures": _figures(b) + pictures.section(b.arch, recs, config, out_dir),
            "notes": notes, "fingerprints": fingerprints, "agreement": _agreement(agree),
            "statuses": dict(Counter(r["status"] for r in recs))}


def _agreement(a: dict | None) -> dict | None:
    """The section's line on whether its jobs trained the same model (harness/agreement.py)."""
    return {"text": agreement.sentence(a), "bad": a["state"] == "differ"} if a else None


def _drift_after(a: dict | None) -> int | None:
    return a["through"] if a and a["state"] == "drift" else None


def _flops_convention(arch: str) -> str | None:
    """The spec's ``FLOPS_CONVENTION`` (how its training FLOPs are counted), None for an architecture
    this checkout does not have."""
    try:
        return registry.spec(arch).FLOPS_CONVENTION or None
    except ImportError:
        return None


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


def _read(out_dir: Path) -> tuple[results.ReadResult, dict, dict]:
    """The run's records, env.json and config.json (empty dicts when absent)."""
    res = results.read(out_dir / "results.jsonl")
    env = json.loads((out_dir / "env.json").read_text()) if (out_dir / "env.json").exists() else {}
    config = json.loads((out_dir / "config.json").read_text()) if (out_dir / "config.json").exists() else {}
    return res, env, config


def _auto_info(config: dict, records: list[dict]) -> tuple[dict, dict]:
    """For the run's ``repeats: auto`` benchmarks: {name: (min, max)} and plan.auto_outcomes (how
    each cell ended), from config.json and the records. A config this code cannot read (an older
    run's) gives neither; the intervals then use the fixed-n rule, and the report still builds."""
    try:
        cfg = config_mod.parse(config)
    except Exception:  # noqa: BLE001  (a report is never lost to an unreadable config)
        return {}, {}
    a = cfg.auto_repeats
    seqs = {cfg.bench_name(i): (a.min, a.max) for i, b in enumerate(cfg.benchmarks)
            if (b.repeats if b.repeats is not None else cfg.repeats) == "auto"}
    return seqs, plan.auto_outcomes(cfg, records)


def _context(out_dir: Path, baseline: Path | None = None) -> dict:
    """Everything the template shows, computed once. ``baseline``: a small-size run directory, for
    the scale section's rank table."""
    res, env, config = _read(out_dir)
    base_recs = results.read(Path(baseline) / "results.jsonl").records if baseline else None
    bench_cfg = {b.get("name") or f"{b['architecture']}-{b['dataset']}": b for b in config.get("benchmarks", [])}
    by_bench: dict[str, list[dict]] = {}
    for r in res.records:
        by_bench.setdefault(r["benchmark"], []).append(r)
    seqs, outcomes = _auto_info(config, res.records)
    benches = [aggregate.bench(n, rs, seqs.get(n)) for n, rs in by_bench.items()]
    peaks = env.get("gemm_peaks") or {"cpu": env.get("gemm_peak") or {}}
    sections = [_bench_section(b, bench_cfg.get(b.name, {}), nodes.peaks(env), outcomes, out_dir) for b in benches]
    loads = [v for r in res.records for v in (r.get("load_avg_1m") or {}).values() if isinstance(v, (int, float))]
    cores = env.get("cores_logical") or os.cpu_count() or 1
    return dict(
        run=out_dir.name, env=env, config=config, sections=sections, overview=overview.matrix(benches, res.records),
        machine=overview.machine_line(env, res.records), counts=overview.counts(res.records),
        claims=[s["claim"] for s in sections if s["claim"]], colours=figures.FRAMEWORK_COLOURS,
        claim_ci=verdicts.ci_header([s["claim"] for s in sections if s["claim"]]),
        sweeps=_sweep_sections(res.records), peaks=peaks, probes=_probe_rows(env),
        problems=[r for r in res.records if r["status"] in ("failed", "timeout")],
        skipped=_grouped([r for r in res.records if r["status"] in ("skipped", "unsupported")]),
        read_problems=res.problems, total=len(res.records), display=registry.DISPLAY,
        busy={"max": max(loads), "cores": cores} if loads and max(loads) > cores + 0.5 else None,
        drift=_machine_drift(res.records),
        scale_html=Markup(scale.section(res.records, base_recs)))  # escaped in harness/report/scale.py


def build(out_dir: Path, baseline: Path | None = None) -> Path:
    """Render ``<out_dir>/report.html`` from results.jsonl and env.json; returns its path.
    ``baseline``: a small-size run directory, for the scale section's rank table."""
    out_dir = Path(out_dir)
    jenv = Environment(loader=FileSystemLoader(HERE), autoescape=select_autoescape(default=True, default_for_string=True))
    html = jenv.get_template("template.html.j2").render(**_context(out_dir, baseline))
    path = out_dir / "report.html"
    tmp = out_dir / ".report.html.tmp"
    tmp.write_text(html, encoding="utf-8")
    os.replace(tmp, path)  # readers never see a half-written report
    return path
