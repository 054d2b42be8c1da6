"""``annbench compare A B``: run B (candidate) against run A (baseline), cell by cell.

A cell is (benchmark, framework, mode, device). Per cell:

* **time**: the steady-epoch ratio B/A (``timing.epoch_s``) as the Hodges–Lehmann estimate: the
  median of all pairwise ratios B_j/A_i (with one job per side it is plain B/A). With >= 3 jobs on
  each side: the distribution-free (Moses) interval of that ratio from the order statistics of the
  pairwise ratios, with its exact coverage (95% or more where the sample sizes allow it; 3 vs 3
  allows at most 90%, which is then the label), and the two-sided Mann–Whitney U p-value. It is
  *significant* when the interval excludes 1 or p < 0.01. With < 3 jobs on a side no test exists;
  the change counts only when *every* pairwise ratio lies beyond the threshold (min(B)/max(A) >
  threshold for a slowdown).
* **regression**: ratio > threshold and significant; **improvement**: ratio < 1/threshold and
  significant; **inconclusive**: beyond the threshold but not significant (never fails a build).
  The two runs' jobs are independent samples in time, so the test is unpaired: with a within-run
  spread wider than the change, no test at 3 jobs per side can call it (the interval says so).
* **primary metric** (the spec's PRIMARY, else the first of its METRICS both sides report): jobs
  of the same seed do the same work, so where seeds match the change is the median of the per-seed
  differences B - A and the run-to-run spread their range; otherwise the change of the medians and
  the larger of the two sides' ranges over repeats. Worse by more than the spread is a regression;
  the spread is at least 0.01 for a fraction (accuracy, recall), 1% of the value for other metrics.
* a cell ok in A but failed / timed out / unsupported in B is a regression (and the reverse an
  improvement); skipped cells (device absent) and cells on one side only are listed, never flagged.
* **machines**: a cell whose A jobs and B jobs ran on different nodes (each record's ``node``: a Ray
  node's name, a local run's hostname; the sets of nodes differ) is marked cross-machine (⇄, with
  both sides' nodes): its ratio measures the machines as much as the code. The verdict stands (the
  test is unpaired anyway); records that name no node (older runs) mark nothing. The runs' machines
  are compared too (``machine_warnings``): a Ray run's by its nodes' own probes (env.json ``nodes``).
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from harness import registry
from harness.export import Run, load_run, markdown_table, median, primary_metric
from harness.stats import CROSS, node_names  # CROSS: a cell measured on different nodes in A and B

KEY = ("benchmark", "framework", "mode", "device")
FORMATS = ("table", "markdown", "json")
CONFIDENCE = 0.95
P_SIGNIFICANT = 0.01
FRACTION_FLOOR = 0.01  # accuracy-like metrics: a change under one point in a hundred is noise
RELATIVE_FLOOR = 0.01  # other metrics: under 1% of the value
GEMM_TOLERANCE = 1.25  # same machine, but GEMM peaks further apart than this: its speed changed


@dataclass
class Cell:
    benchmark: str
    framework: str
    mode: str
    device: str
    architecture: str | None = None
    status_a: str | None = None  # None: the cell is not in that run
    status_b: str | None = None
    n_a: int = 0  # steady-epoch samples (ok jobs with a timed steady epoch)
    n_b: int = 0
    epoch_a: float | None = None  # median steady epoch, s
    epoch_b: float | None = None
    ratio: float | None = None  # B/A
    ci: list[float] | None = None  # interval of the ratio (n >= 3 per side)
    ci_coverage: float | None = None  # its exact coverage under the shift model
    pair_range: list[float] | None = None  # min and max pairwise ratio (n < 3 on a side)
    p: float | None = None  # Mann–Whitney U, two-sided
    time_evidence: str | None = None  # what made the time change significant
    time_verdict: str | None = None  # regression / improvement / inconclusive (beyond the threshold, not
    # significant) / same; None: not timed on both sides
    metric: str | None = None
    metric_a: float | None = None
    metric_b: float | None = None
    metric_change: float | None = None  # B - A: median of the per-seed differences where seeds match
    metric_pairs: int = 0  # seeds run on both sides (0: the change of the medians)
    metric_spread: float | None = None
    lower_is_better: bool | None = None
    metric_verdict: str | None = None
    nodes_a: list[str] = field(default_factory=list)  # the nodes its jobs ran on (record["node"])
    nodes_b: list[str] = field(default_factory=list)
    cross_machine: bool = False  # both sides name their nodes and the two sets differ
    verdict: str = "same"  # regression / improvement / inconclusive / same / only in A / only in B / not comparable
    reasons: list[str] = field(default_factory=list)


@dataclass
class Comparison:
    a: str
    b: str
    threshold: float
    cells: list[Cell]
    warnings: list[str]

    @property
    def regressions(self) -> list[Cell]:
        return [c for c in self.cells if c.verdict == "regression"]

    @property
    def improvements(self) -> list[Cell]:
        return [c for c in self.cells if c.verdict == "improvement"]


# ---- statistics -----------------------------------------------------------------------------------

@lru_cache(maxsize=256)
def u_null_cdf(m: int, n: int) -> tuple[float, ...]:
    """P(U <= u), u = 0..m*n, for the Mann–Whitney U of samples of sizes m and n under the null: the
    coefficients of the Gaussian binomial [m+n choose m]_q = prod_i (1 - q^(n+i)) / (1 - q^i), as
    power series truncated at degree m*n (exact: each step only uses lower degrees)."""
    size = m * n + 1
    c = np.zeros(size)
    c[0] = 1.0
    for i in range(1, m + 1):
        if n + i < size:
            c[n + i:] -= c[: size - n - i].copy()  # times (1 - q^(n+i))
        for r in range(i):  # divided by (1 - q^i): a running sum with stride i
            c[r::i] = np.cumsum(c[r::i])
    return tuple(np.cumsum(c) / c.sum())


def shift_interval(pairs: np.ndarray, m: int, n: int) -> tuple[float, float, float]:
    """Moses' distribution-free interval for a shift from the sorted pairwise differences: [d_(k),
    d_(mn+1-k)] with the largest k whose exact coverage 1 - 2 P(U <= k-1) is >= CONFIDENCE (k = 1, the
    full range, when even that falls short). Returns (low, high, coverage). Normal approximation of
    U beyond 100 x 100 pairs."""
    mn = m * n
    if mn <= 10_000:
        cdf = np.asarray(u_null_cdf(m, n))
        # cdf rises with u: the u with P(U <= u) <= alpha/2 are 0..k-1
        k = max(int(np.count_nonzero(cdf <= (1 - CONFIDENCE) / 2 + 1e-12)), 1)
        coverage = 1 - 2 * float(cdf[k - 1])
    else:
        from scipy.stats import norm

        z = norm.ppf(1 - (1 - CONFIDENCE) / 2)
        k = max(int(math.floor(mn / 2 - z * math.sqrt(mn * (m + n + 1) / 12))), 1)
        coverage = CONFIDENCE
    return float(pairs[k - 1]), float(pairs[mn - k]), coverage


def time_change(a: list, b: list, threshold: float) -> dict:
    """Ratio B/A of steady epochs with its evidence and verdict (module docstring)."""
    a = np.array([x for x in a if isinstance(x, (int, float)) and math.isfinite(x) and x > 0], dtype=float)
    b = np.array([x for x in b if isinstance(x, (int, float)) and math.isfinite(x) and x > 0], dtype=float)
    out: dict = {"n_a": int(a.size), "n_b": int(b.size)}
    if not a.size or not b.size:
        return out
    pairs = np.sort((np.log(b)[None, :] - np.log(a)[:, None]).ravel())
    out["ratio"] = float(np.exp(np.median(pairs)))
    lim = math.log(threshold)
    if min(a.size, b.size) >= 3:
        from scipy.stats import mannwhitneyu

        lo, hi, cov = shift_interval(pairs, a.size, b.size)
        out.update(ci=[math.exp(lo), math.exp(hi)], ci_coverage=cov,
                   p=float(mannwhitneyu(b, a, alternative="two-sided").pvalue))
        excludes = lo > 0 or hi < 0
        significant = excludes or out["p"] < P_SIGNIFICANT
        out["time_evidence"] = ((f"{cov:.0%} interval excludes 1" if excludes else "") +
                                (" and " if excludes and out["p"] < P_SIGNIFICANT else "") +
                                (f"p={out['p']:.2g}" if out["p"] < P_SIGNIFICANT else "")) or None
    else:
        out["pair_range"] = [math.exp(pairs[0]), math.exp(pairs[-1])]
        significant = pairs[0] > lim or pairs[-1] < -lim  # every pair beyond the threshold
        out["time_evidence"] = f"n<3: all pairs beyond ×{threshold:g}" if significant else None
    slower, faster = out["ratio"] > threshold, out["ratio"] < 1 / threshold
    out["time_verdict"] = ("regression" if slower and significant else "improvement" if faster and significant
                           else "inconclusive" if slower or faster else "same")
    return out


def metric_floor(metric: str, a: float, b: float) -> float:
    fraction = any(w in metric for w in ("accuracy", "recall")) and 0 <= a <= 1 and 0 <= b <= 1
    return FRACTION_FLOOR if fraction else RELATIVE_FLOOR * max(abs(a), abs(b))


def _finite_by_seed(values: dict) -> dict:
    return {k: v for k, v in values.items() if isinstance(v, (int, float)) and math.isfinite(v)}


def metric_change(metric: str, a: dict, b: dict, lower: bool = False) -> dict:
    """Change B - A of a metric given per seed on each side, against the run-to-run spread. Jobs of
    the same seed do the same work (data order, initial weights), so where seeds match the change is
    the median of the per-seed differences and the spread their range (what differs between two runs
    of the same job); otherwise the change of the medians against the larger range over repeats.
    Either way at least the floor (``metric_floor``). ``lower``: the metric is better lower (the
    spec's METRICS direction)."""
    a, b = _finite_by_seed(a), _finite_by_seed(b)
    if not a or not b:
        return {}
    ma, mb = median(list(a.values())), median(list(b.values()))
    common = [s for s in a if s in b]
    if common:
        diffs = [b[s] - a[s] for s in common]
        change, spread = median(diffs), max(diffs) - min(diffs)
    else:
        change = mb - ma
        spread = max(max(a.values()) - min(a.values()), max(b.values()) - min(b.values()))
    spread = max(spread, metric_floor(metric, ma, mb))
    low = lower
    gain = -change if low else change
    verdict = "regression" if gain < -spread else "improvement" if gain > spread else "same"
    return {"metric_a": ma, "metric_b": mb, "metric_change": change, "metric_spread": spread,
            "metric_pairs": len(common), "lower_is_better": low, "metric_verdict": verdict}


# ---- cells ----------------------------------------------------------------------------------------

def _cells(records: list[dict]) -> dict[tuple, list[dict]]:
    out: dict[tuple, list[dict]] = {}
    for r in records:
        out.setdefault(tuple(str(r.get(k)) for k in KEY), []).append(r)
    return out


def _status(recs: list[dict] | None) -> str | None:
    """The cell's status in one run: ok when any job of it is; else its first job's."""
    if not recs:
        return None
    return "ok" if any(r.get("status") == "ok" for r in recs) else recs[0].get("status")


def _error(recs: list[dict]) -> str:
    return next((r["error"] for r in recs if r.get("error")), "")


def compare_cell(key: tuple, ra: list[dict] | None, rb: list[dict] | None, threshold: float) -> Cell:
    cell = Cell(*key, architecture=(ra or rb)[0].get("architecture"), status_a=_status(ra), status_b=_status(rb),
                nodes_a=node_names(ra or []), nodes_b=node_names(rb or []))
    if ra is None or rb is None:
        cell.verdict = "only in B" if ra is None else "only in A"
        return cell
    cell.cross_machine = bool(cell.nodes_a and cell.nodes_b) and cell.nodes_a != cell.nodes_b
    if cell.status_a != "ok" or cell.status_b != "ok":
        return _cross_reason(_status_change(cell, ra, rb))
    oka = [r for r in ra if r.get("status") == "ok"]
    okb = [r for r in rb if r.get("status") == "ok"]
    epochs = [[(r.get("timing") or {}).get("epoch_s") for r in side] for side in (oka, okb)]
    for k, v in time_change(*epochs, threshold).items():
        setattr(cell, k, v)
    cell.epoch_a, cell.epoch_b = median(epochs[0]), median(epochs[1])
    cell.metric = primary_metric(cell.architecture, oka + okb)
    if cell.metric:
        values = [{r.get("seed", r.get("repeat")): (r.get("metrics") or {}).get(cell.metric) for r in side}
                  for side in (oka, okb)]
        lower = registry.lower_is_better(cell.architecture, cell.metric)
        for k, v in metric_change(cell.metric, *values, lower=bool(lower)).items():
            setattr(cell, k, v)
    _verdict(cell, threshold)
    return _cross_reason(cell)


def _cross_reason(cell: Cell) -> Cell:
    if cell.cross_machine:
        cell.reasons.append(f"{CROSS} cross-machine: A on {', '.join(cell.nodes_a)}, B on {', '.join(cell.nodes_b)}")
    return cell


def _status_change(cell: Cell, ra: list[dict], rb: list[dict]) -> Cell:
    """At least one side has no ok job: a job that stopped working is a regression; skipped cells
    (device absent on that machine) compare nothing."""
    sa, sb = cell.status_a, cell.status_b
    if "skipped" in (sa, sb) or sa == sb:
        cell.verdict = "not comparable"
        cell.reasons.append(f"{sa} in both" if sa == sb else f"{sa} in A, {sb} in B")
    elif sa == "ok":
        cell.verdict = "regression"
        cell.reasons.append(f"was ok, now {sb}: {_error(rb)}".rstrip(": "))
    elif sb == "ok":
        cell.verdict = "improvement"
        cell.reasons.append(f"was {sa}, now ok")
    else:
        cell.verdict = "not comparable"
        cell.reasons.append(f"{sa} in A, {sb} in B: {_error(rb)}".rstrip(": "))
    return cell


def _verdict(cell: Cell, threshold: float) -> None:
    what = "slower" if (cell.ratio or 1) > 1 else "faster"
    if cell.time_verdict in ("regression", "improvement"):
        cell.reasons.append(f"{what} ×{cell.ratio:.2f} ({cell.time_evidence})")
    elif cell.time_verdict == "inconclusive":  # beyond the threshold, within the noise
        cell.reasons.append(f"{what} ×{cell.ratio:.2f}, not significant" +
                            (f" (p={cell.p:.2g}, interval includes 1)" if cell.ci else " (n<3: some pairs within ×"
                             f"{threshold:g})"))
    if cell.metric_verdict in ("regression", "improvement"):
        cell.reasons.append(f"{cell.metric} {'worse' if cell.metric_verdict == 'regression' else 'better'} "
                            f"by {abs(cell.metric_change):.3g} > spread {cell.metric_spread:.2g}")
    verdicts = {cell.time_verdict, cell.metric_verdict}
    cell.verdict = next((v for v in ("regression", "improvement", "inconclusive") if v in verdicts), "same")


# ---- machines -------------------------------------------------------------------------------------

def _peaks(env: dict) -> dict[str, float]:
    peaks = env.get("gemm_peaks") or ({"cpu": env["gemm_peak"]} if env.get("gemm_peak") else {})
    return {dev: p["flops"] for dev, p in peaks.items() if isinstance(p, dict) and p.get("flops")}


def _machine(env: dict) -> tuple:
    return (env.get("cpu"), env.get("cores_logical"), tuple(g.get("name") for g in env.get("gpus") or []))


def _machines(env: dict) -> dict[str | None, dict]:
    """The machines a run measured on: a Ray run's nodes by name (each node's own run-start probes,
    env.json ``nodes``; the top of a Ray run's env.json is its driver), else the one machine at the
    top (key None)."""
    nodes = {n: p for n, p in (env.get("nodes") or {}).items() if isinstance(p, dict) and p.get("cpu")}
    return nodes or {None: env}


def _describe_all(machines: dict[str | None, dict]) -> str:
    return "; ".join(_describe(e) if n is None else f"node {n}: {_describe(e)}" for n, e in machines.items())


def _same_machines(ma: dict, mb: dict) -> list[tuple[dict, dict]]:
    """Pairs (A's, B's) of one machine in both runs: the same node name, else the same hardware."""
    common = [n for n in ma if n in mb]
    if common:
        return [(ma[n], mb[n]) for n in common]
    return [(ea, eb) for ea in ma.values() for eb in mb.values() if _machine(ea) == _machine(eb)]


def _describe(env: dict) -> str:
    peaks = _peaks(env)
    gemm = ", ".join(f"{d} {f / 1e9:.1f} GFLOP/s" for d, f in peaks.items()) or "not measured"
    gpus = ", ".join(g.get("name", "?") for g in env.get("gpus") or [])
    return f"{env.get('cpu')}, {env.get('cores_logical')} cores{', ' + gpus if gpus else ''}; GEMM peak {gemm}"


def machine_warnings(a: Run, b: Run) -> list[str]:
    """A line when the runs come from different machines (CPU, cores or GPUs differ; a Ray run's are
    its nodes') or when one machine's measured float32 GEMM peak moved by more than GEMM_TOLERANCE
    between them: both sides' machines and peaks named."""
    missing = [name for name, run in (("A", a), ("B", b)) if run.env is None]
    if missing:
        return [f"no env.json in {' and '.join(missing)}: cannot tell whether both runs are from one machine"]
    ma, mb = _machines(a.env), _machines(b.env)
    both = f"(A: {_describe_all(ma)} | B: {_describe_all(mb)})"
    if {_machine(e) for e in ma.values()} != {_machine(e) for e in mb.values()}:
        return [f"A and B ran on different machines {both}: the time ratios measure the machines as much as the code"]
    for ea, eb in _same_machines(ma, mb):
        pa, pb = _peaks(ea), _peaks(eb)
        if any(max(pa[d] / pb[d], pb[d] / pa[d]) > GEMM_TOLERANCE for d in pa if d in pb):
            return [f"the machine's GEMM peak moved between the runs {both}: load or clock differed; time ratios include it"]
    return []


def compare(a_dir: Path, b_dir: Path, threshold: float = 1.10) -> Comparison:
    """Compare run B (candidate) with run A (baseline); RunError on an unreadable run directory."""
    if not threshold > 1:
        raise ValueError(f"threshold must be > 1 (got {threshold})")
    a, b = load_run(a_dir), load_run(b_dir)
    ca, cb = _cells(a.records), _cells(b.records)
    keys = list(ca) + [k for k in cb if k not in ca]
    cells = [compare_cell(k, ca.get(k), cb.get(k), threshold) for k in keys]
    warnings = machine_warnings(a, b) + [f"{p} (line skipped)" for p in a.problems + b.problems]
    return Comparison(str(a.path), str(b.path), threshold, cells, warnings)


# ---- output ---------------------------------------------------------------------------------------

HEADER = ["benchmark", "framework/mode", "n A/B", "epoch A → B", "B/A [interval]", "p", "primary metric A → B",
          "verdict"]


def _ms(x: float | None) -> str:
    return "–" if x is None else f"{x * 1e3:.3g}ms" if x < 1 else f"{x:.3g}s"


def _ratio(c: Cell) -> str:
    if c.ratio is None:
        return "–"
    return _ratio_text(c) + (f" {CROSS}" if c.cross_machine else "")


def _ratio_text(c: Cell) -> str:
    if c.ci:
        cov = "" if c.ci_coverage >= CONFIDENCE - 1e-9 else f" {c.ci_coverage:.0%}"
        return f"{c.ratio:.2f} [{c.ci[0]:.2f}, {c.ci[1]:.2f}]{cov}"
    if c.pair_range and c.pair_range[0] != c.pair_range[1]:
        return f"{c.ratio:.2f} (pairs {c.pair_range[0]:.2f}–{c.pair_range[1]:.2f})"
    return f"{c.ratio:.2f}"


def _metric(c: Cell) -> str:
    if c.metric_a is None:
        return "–"
    arrow = "↓" if c.lower_is_better else "↑"
    return f"{c.metric} {arrow} {c.metric_a:.4g} → {c.metric_b:.4g} ({c.metric_change:+.3g})"


def row(c: Cell) -> list[str]:
    status = c.status_a if c.status_a == c.status_b else f"{c.status_a or '—'} / {c.status_b or '—'}"
    verdict = c.verdict.upper() if c.verdict in ("regression", "improvement") else c.verdict
    detail = "; ".join(c.reasons) or ("" if status == "ok" else status)
    where = f"{c.framework}/{c.mode}" + ("" if c.device == "cpu" else f"@{c.device}")
    return [c.benchmark, where, f"{c.n_a}/{c.n_b}",
            f"{_ms(c.epoch_a)} → {_ms(c.epoch_b)}", _ratio(c), "–" if c.p is None else f"{c.p:.2g}",
            _metric(c), verdict + (f": {detail}" if detail else "")]


def summary(cmp: Comparison) -> str:
    counts: dict[str, int] = {}
    for c in cmp.cells:
        counts[c.verdict] = counts.get(c.verdict, 0) + 1
    order = ["regression", "improvement", "inconclusive", "same", "only in A", "only in B", "not comparable"]
    cross = sum(c.cross_machine for c in cmp.cells)
    return (f"{len(cmp.cells)} cells (threshold ×{cmp.threshold:g}): "
            + ", ".join(f"{counts[k]} {k}" for k in order if counts.get(k))
            + (f"; {cross} cross-machine ({CROSS}: A and B ran the cell on different nodes)" if cross else ""))


def to_json(cmp: Comparison) -> str:
    body = {"a": cmp.a, "b": cmp.b, "threshold": cmp.threshold, "warnings": cmp.warnings,
            "regressions": len(cmp.regressions), "improvements": len(cmp.improvements),
            "cross_machine": sum(c.cross_machine for c in cmp.cells),
            "cells": [asdict(c) for c in cmp.cells]}
    return json.dumps(body, indent=1)


def to_markdown(cmp: Comparison) -> str:
    lines = [f"**{Path(cmp.b).name}** (B) against **{Path(cmp.a).name}** (A, baseline)", ""]
    lines += [f"> warning: {w}" for w in cmp.warnings] + ([""] if cmp.warnings else [])
    lines += [markdown_table(HEADER, [row(c) for c in cmp.cells]), "", summary(cmp)]
    return "\n".join(lines) + "\n"
