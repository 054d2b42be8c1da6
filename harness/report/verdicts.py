"""What a reader can act on. Per benchmark: the fastest, the most accurate and the least-memory row,
each with its margin over the best row of another framework (times and memory: the ratio of the two
medians), whether that margin is significant (the order-statistic interval of the per-round ratios,
or of the per-round differences for a metric, excludes no change; every interval is labelled with
its own coverage -- 75% with 3 rounds, 95% needs 6 -- never a nominal 95%) and whether it is
rank-stable (better in every round of the run). Between rows measured on different nodes of a Ray
run every such claim says it is cross-machine (⇄): a time or memory ratio then has the unpaired
interval (pairing by round holds on one machine only), and a metric stays paired by seed (the same
seed is the same work on any machine). And the course text's claim that every library "performs
better than sklearn on NN building", checked on speed."""
from __future__ import annotations

import math

from harness import registry
from harness.report.aggregate import Bench
from harness.report.fmt import fmt_num, interval
from harness.report.nodes import CROSS, CROSS_WHY, node_text
from harness.stats import MIN_PAIRS, Interval, level_text, summary

TIE_REL = 1e-3  # metrics closer than this (relative) are a tie: identical training up to float rounding


def label(row: dict) -> str:
    """'JAX · epoch' (device added when not the CPU)."""
    name = registry.DISPLAY.get(row["framework"], row["framework"])
    return f"{name} · {row['mode']}" + ("" if row["device"] == "cpu" else f" · {row['device']}")


def _excludes(ci: Interval | None, null: float) -> bool | None:
    """Whether an interval excludes the no-change value (at the coverage it is labelled with);
    None when there is no interval (too few rounds)."""
    return None if not ci else bool(ci.low > null or ci.high < null)


def _rounds(best: dict, other: dict, lower: bool) -> tuple[int, int]:
    """(rounds the best row beat the other, common rounds), rounds paired by repeat."""
    keys = [k for k in best if k in other]
    wins = sum(1 for k in keys if (best[k] < other[k] if lower else best[k] > other[k]))
    return wins, len(keys)


def _ranked(bench: Bench, col: str, lower: bool) -> list[dict]:
    """Rows best first by ``col``; equal values: the faster row first."""
    rows = [r for r in bench.rows if (r.get(col) or {}).get("median") is not None]
    return sorted(rows, key=lambda r: ((1 if lower else -1) * r[col]["median"], r["epoch_s"]["median"] or math.inf))


def _margin(bench: Bench, col: str, best: dict, other: dict, lower: bool) -> dict:
    """Margin of ``best`` over ``other``. Times and memory: the ratio of the medians (other/best,
    as the tables show them) with the interval of the per-round ratios; a metric: the difference,
    with the interval of the per-round differences (none below stats.MIN_PAIRS common rounds).
    ``cross``: the two rows ran on different nodes (Bench.ratio_ci: a ratio's interval is then unpaired)."""
    vcol = col if col in ("epoch_s", "rss_peak_mb") else f"m.{col}"
    bv, ov = bench.values(best, vcol), bench.values(other, vcol)
    wins, n = _rounds(bv, ov, lower)
    if vcol == col:
        pr = bench.ratio_ci(other, best, vcol)
        ci, paired, null = pr.get("ci"), bool(pr.get("paired")), 1.0
        b_med, o_med = best[col]["median"], other[col]["median"]
        ratio = o_med / b_med if b_med else None
    else:
        keys = [k for k in bv if k in ov]
        ci = summary([bv[k] - ov[k] for k in keys], seq=bench.seq)["ci"] if len(keys) >= MIN_PAIRS else None
        paired, null, ratio = True, 0.0, None
    cross = bench.cross(best, other)
    return {"ci": ci, "paired": paired, "ratio": ratio, "significant": _excludes(ci, null), "wins": wins,
            "rounds": n, "stable": None if n < 2 else wins == n, "cross": cross,
            "nodes": (node_text(best), node_text(other)) if cross else None}


def _pick(bench: Bench, kind: str, col: str, lower: bool) -> dict | None:
    ranked = _ranked(bench, col, lower)
    if not ranked:
        return None
    best = ranked[0]
    out = {"kind": kind, "best": label(best), "framework": best["framework"], "value": best[col]["median"],
           "col": col, "other": None, "tie": []}
    others = [r for r in ranked if r["framework"] != best["framework"]]
    if not others:
        return out
    other = others[0]
    out.update(other=label(other), other_value=other[col]["median"], **_margin(bench, col, best, other, lower))
    if col not in ("epoch_s", "rss_peak_mb"):
        tied = [r["framework"] for r in ranked if math.isclose(r[col]["median"], best[col]["median"],
                                                               rel_tol=TIE_REL, abs_tol=1e-12)]
        out["tie"] = [registry.DISPLAY.get(f, f) for f in dict.fromkeys(tied)]
        if len(out["tie"]) > 1:
            out["significant"], out["stable"] = False, False
    return out


def picks(bench: Bench, drift_after: int | None = None) -> list[dict]:
    """Fastest, most accurate (the primary metric, in its direction) and least memory. ``drift_after``:
    the epoch after which the jobs' losses drift apart (harness/agreement.py), so that a lead in the
    metric is float rounding's, not the framework's: the accurate pick says so."""
    out = [("fastest", _pick(bench, "fastest", "epoch_s", True))]
    if bench.primary:
        lower = bench.lower_is_better(bench.primary)
        kind = "lowest " + bench.primary if lower else "most accurate"
        p = _pick(bench, kind, bench.primary, lower)
        out.append(("accurate", p and {**p, "drift_after": drift_after}))
    out.append(("memory", _pick(bench, "least memory", "rss_peak_mb", True)))
    return [{**p, "slot": slot} for slot, p in out if p]


def _claim_row(bench: Bench, sk: dict, row: dict) -> dict:
    """One framework against scikit-learn: speedup = sklearn's median epoch time / its own (> 1:
    faster), with the interval of the per-round ratios at its own coverage (the unpaired one when the
    two ran on different nodes: ``cross``); the verdict is "faster"/"slower" only when that interval
    excludes 1."""
    pr = bench.ratio_ci(sk, row)
    ci = pr.get("ci")
    verdict = "n.s." if not ci or ci.low <= 1 <= ci.high else ("faster" if ci.low > 1 else "slower")
    m = bench.primary
    delta = None
    if m and row[m]["median"] is not None and sk[m]["median"] is not None:
        delta = row[m]["median"] - sk[m]["median"]
    return {"label": label(row), "framework": row["framework"], "ci": ci, "verdict": verdict, "metric_delta": delta,
            "speedup": sk["epoch_s"]["median"] / row["epoch_s"]["median"],
            "ci_text": interval(ci) + ("" if pr.get("paired") or not ci else " unpaired") + (f" {CROSS}" if pr["cross"] else ""),
            "ci_title": (ci.method + f", n={ci.n}" if ci else "too few rounds for any interval")
            + (f"; {CROSS} cross-machine: it ran on {node_text(row)}, scikit-learn on {node_text(sk)}: {CROSS_WHY}"
               if pr["cross"] else ""), "cross": pr["cross"]}


def sklearn_claim(bench: Bench) -> dict | None:
    """Every other framework's speed against scikit-learn's in a benchmark where sklearn ran;
    the verdict holds only when every one is significantly faster."""
    best = bench.best_per_framework()
    sk = best.get("sklearn")
    if sk is None or not sk["epoch_s"]["median"]:
        return None
    rows = [_claim_row(bench, sk, r) for fw, r in best.items() if fw != "sklearn" and r["epoch_s"]["median"]]
    if not rows:
        return None
    verdicts = {r["verdict"] for r in rows}
    verdict = "holds" if verdicts == {"faster"} else ("does not hold" if "slower" in verdicts else "not significant")
    return {"benchmark": bench.name, "sklearn": label(sk), "metric": bench.primary, "rows": rows,
            "verdict": verdict, "levels": sorted({r["ci"].level for r in rows if r["ci"]}),
            "cross": [r["label"] for r in rows if r["cross"]]}


def ci_header(claims: list[dict]) -> str:
    """The claim table's interval column header: the one coverage every interval has ('75% CI'),
    else 'CI, its coverage' (each cell then names its own)."""
    levels = {lv for c in claims for lv in c["levels"]}
    return f"{level_text(levels.pop())} CI" if len(levels) == 1 else "CI, its coverage"


def _value(col: str, v: float) -> str:
    if col in ("epoch_s", "rss_peak_mb"):
        return fmt_num(v, {"epoch_s": "s", "rss_peak_mb": "MB"}[col])
    return f"{col} {fmt_num(v)}"  # a metric says which


def describe(p: dict) -> dict:
    """A pick as text: ``what`` (who and the value), ``margin`` (over whom, by how much) and
    ``flags`` [(text, css class)] for significance and rank stability."""
    what = f"{p['best']} ({_value(p['col'], p['value'])})"
    if len(p["tie"]) > 1:
        return {"slot": p["slot"], "kind": p["kind"], "what": f"tie: {', '.join(p['tie'])} ({_value(p['col'], p['value'])})",
                "margin": f"within {TIE_REL:.1%} of each other", "flags": []}
    if p["other"] is None:
        return {"slot": p["slot"], "kind": p["kind"], "what": what, "margin": "the only framework with this number", "flags": []}
    if p["col"] in ("epoch_s", "rss_peak_mb"):
        ratio = p.get("ratio") or (p["other_value"] / p["value"] if p["value"] else float("nan"))
        word = "faster" if p["col"] == "epoch_s" else "less memory"
        margin = f"{ratio:.2f}× {word} than {p['other']}"
        if p.get("ci"):  # the per-round ratios other/best, the margin being the ratio of the medians
            margin += f", CI {interval(p['ci'])}" + ("" if p.get("paired") else " unpaired")
    else:
        diff = p["value"] - p["other_value"]
        margin = f"{diff:+.4g} over {p['other']} ({_value(p['col'], p['other_value'])})"
        if p.get("ci"):
            margin += f", difference CI {interval(p['ci'], '+.3g')}"
    if p.get("cross"):
        margin += f" {CROSS} cross-machine ({p['best']} on {p['nodes'][0]}, {p['other']} on {p['nodes'][1]})"
    if p.get("drift_after") is not None:
        margin += (f" — but the training losses drift apart after epoch {p['drift_after']} (float rounding): "
                   "a lead here is not the framework's")
    return {"slot": p["slot"], "kind": p["kind"], "what": what, "margin": margin, "flags": _flags(p)}


def _flags(p: dict) -> list[tuple[str, str]]:
    """Significance at the interval's own coverage ('significant (75% CI)'), and rank stability;
    both say 'cross-machine' when the two rows ran on different nodes."""
    x = ", cross-machine" if p.get("cross") else ""
    at = f" ({level_text(p['ci'].level)} CI{x})" if p.get("ci") else (f" ({x[2:]})" if x else "")
    sig = {True: (f"significant{at}", "yes"), False: (f"not significant{at}", "no"),
           None: (f"significance unknown (< {MIN_PAIRS} rounds{x})", "unknown")}[p.get("significant")]
    if p.get("stable") is None:
        stable = (f"rank stability unknown ({p.get('rounds', 0)} round{x})", "unknown")
    else:
        stable = ((f"rank-stable ({p['wins']}/{p['rounds']} rounds{x})", "yes") if p["stable"]
                  else (f"rank changed ({p['wins']}/{p['rounds']} rounds ahead{x})", "no"))
    return [sig, stable]
