"""What a reader can act on. Per benchmark: the fastest, the most accurate and the least-memory row,
each with its margin over the best row of another framework, whether that margin is significant
(the 95% bootstrap CI of the paired ratio, or of the paired difference for a metric, excludes no
change) and whether it is rank-stable (better in every round of the run). And the course text's
claim that every library "performs better than sklearn on NN building", checked on speed."""
from __future__ import annotations

import math

from harness import registry
from harness.report.aggregate import Bench
from harness.results import lower_is_better
from harness.stats import paired_ratio_ci, summary

TIE_REL = 1e-3  # metrics closer than this (relative) are a tie: identical training up to float rounding


def label(row: dict) -> str:
    """'JAX · epoch' (device added when not the CPU)."""
    name = registry.DISPLAY.get(row["framework"], row["framework"])
    return f"{name} · {row['mode']}" + ("" if row["device"] == "cpu" else f" · {row['device']}")


def _excludes(ci: list | None, null: float) -> bool | None:
    """Whether a CI excludes the no-change value; None when there is no CI (fewer than 3 rounds)."""
    return None if not ci else bool(ci[0] > null or ci[1] < null)


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
    """Margin of ``best`` over ``other``: ratio for times and memory, difference for a metric."""
    vcol = col if col in ("epoch_s", "rss_peak_mb") else f"m.{col}"
    bv, ov = bench.values(best, vcol), bench.values(other, vcol)
    wins, n = _rounds(bv, ov, lower)
    if vcol == col:
        pr = paired_ratio_ci(ov, bv) or {}
        sig, ci = _excludes(pr.get("ci"), 1.0), pr.get("ci")
        ratio = pr.get("ratio")
    else:
        keys = [k for k in bv if k in ov]
        ci = summary([bv[k] - ov[k] for k in keys])["ci"]
        sig, ratio = _excludes(ci, 0.0), None
    return {"ci": ci, "ratio": ratio, "significant": sig, "wins": wins, "rounds": n,
            "stable": None if n < 2 else wins == n}


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


def picks(bench: Bench) -> list[dict]:
    """Fastest, most accurate (the primary metric, in its direction) and least memory."""
    out = [("fastest", _pick(bench, "fastest", "epoch_s", True))]
    if bench.primary:
        kind = "lowest " + bench.primary if lower_is_better(bench.primary) else "most accurate"
        out.append(("accurate", _pick(bench, kind, bench.primary, lower_is_better(bench.primary))))
    out.append(("memory", _pick(bench, "least memory", "rss_peak_mb", True)))
    return [{**p, "slot": slot} for slot, p in out if p]


def _claim_row(bench: Bench, sk: dict, row: dict) -> dict:
    """One framework against scikit-learn: speedup = sklearn's epoch time / its own (> 1: faster)."""
    pr = paired_ratio_ci(bench.values(sk, "epoch_s"), bench.values(row, "epoch_s")) or {}
    ci = pr.get("ci")
    verdict = "n.s." if not ci or ci[0] <= 1 <= ci[1] else ("faster" if ci[0] > 1 else "slower")
    m = bench.primary
    delta = None
    if m and row[m]["median"] is not None and sk[m]["median"] is not None:
        delta = row[m]["median"] - sk[m]["median"]
    return {"label": label(row), "framework": row["framework"], "speedup": pr.get("ratio"), "ci": ci,
            "verdict": verdict, "metric_delta": delta}


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
            "verdict": verdict}


def _value(col: str, v: float) -> str:
    from harness.report import fmt_num  # the report's number format (imported late: it imports us)

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
        if p.get("ci"):  # the paired ratio other/best per round, like the margin itself
            margin += f", CI [{p['ci'][0]:.2f}, {p['ci'][1]:.2f}]"
    else:
        diff = p["value"] - p["other_value"]
        margin = f"{diff:+.4g} over {p['other']} ({_value(p['col'], p['other_value'])})"
        if p.get("ci"):
            margin += f", difference CI [{p['ci'][0]:+.3g}, {p['ci'][1]:+.3g}]"
    return {"slot": p["slot"], "kind": p["kind"], "what": what, "margin": margin, "flags": _flags(p)}


def _flags(p: dict) -> list[tuple[str, str]]:
    sig = {True: ("significant", "yes"), False: ("not significant", "no"),
           None: ("significance unknown (< 3 rounds)", "unknown")}[p.get("significant")]
    if p.get("stable") is None:
        stable = (f"rank stability unknown ({p.get('rounds', 0)} round)", "unknown")
    else:
        stable = ((f"rank-stable ({p['wins']}/{p['rounds']} rounds)", "yes") if p["stable"]
                  else (f"rank changed ({p['wins']}/{p['rounds']} rounds ahead)", "no"))
    return [sig, stable]
