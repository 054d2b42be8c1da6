"""pandas aggregation of records into per-benchmark tables (median over repeats + spread)."""
from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from harness import registry
from harness.stats import cross_machine, paired_ratio_ci, ratio_ci, summary

# (column, record path, label, unit, higher_is_better)
COLUMNS = [
    ("epoch_s", ("timing", "epoch_s"), "steady epoch", "s", False),
    ("first_epoch_s", ("timing", "first_epoch_s"), "first epoch", "s", False),
    ("compile_s", ("timing", "compile_s"), "compile", "s", False),
    ("train_s", ("timing", "train_s"), "train total", "s", False),
    ("infer_per_s", ("timing", "infer_per_s"), "inference", "ex/s", True),
    ("rss_peak_mb", ("memory", "rss_peak_mb"), "peak RSS", "MB", False),
    ("tree_peak_mb", ("memory", "tree_peak_mb"), "peak RSS, process tree", "MB", False),
    ("import_s", ("timing", "import_s"), "import", "s", False),
    ("train_flops_per_s", ("timing", "train_flops_per_s"), "achieved", "GFLOP/s", True),
]


def frame(records: list[dict]) -> pd.DataFrame:
    rows = []
    for r in records:
        row = {k: r.get(k) for k in ("benchmark", "architecture", "dataset", "framework", "mode", "device",
                                      "repeat", "seed", "status", "error", "params", "node")}
        tgt = r.get("target") or {}
        row["target_reached"] = tgt.get("reached") if tgt else None
        row["target_s"] = tgt.get("train_s") if tgt else None
        row["target_epochs"] = tgt.get("epochs") if tgt else None
        row["examples_per_epoch"] = (r.get("timing") or {}).get("examples_per_epoch")
        row["epochs_timed"] = (r.get("timing") or {}).get("epochs_timed")
        for col, (sec, key), *_ in COLUMNS:
            row[col] = (r.get(sec) or {}).get(key)
        for k, v in (r.get("metrics") or {}).items():
            if isinstance(v, (int, float)) or v is None:
                row[f"m.{k}"] = v
        rows.append(row)
    return pd.DataFrame(rows)


def metric_names(arch: str, df: pd.DataFrame) -> list[str]:
    """The architecture's contract metrics that appear in the records, primary first."""
    try:
        spec = registry.spec(arch)
        names = [spec.PRIMARY, *spec.METRICS]
    except ImportError:  # a run of an architecture this checkout no longer has
        names = []
    present = [c[2:] for c in df.columns if c.startswith("m.")]
    out = []
    for n in names + present:
        if n and n in present and n not in out and df[f"m.{n}"].notna().any():
            out.append(n)
    return out[:4]


def table(df: pd.DataFrame, arch: str, seq: tuple[int, int] | None = None) -> tuple[list[str], list[dict]]:
    """One row per (framework, mode, device) of ok records: summaries of metrics and timings.
    ``seq=(min, max)`` for a ``repeats: auto`` benchmark: its round counts came from a stopping rule,
    so every interval is the sequential one (harness.stats.sequential) whose coverage still holds."""
    ok = df[df.status == "ok"]
    metrics = metric_names(arch, ok) if len(ok) else []
    rows = []
    for (fw, mode, dev), g in ok.groupby(["framework", "mode", "device"], sort=True):
        row = {"framework": fw, "mode": mode, "device": dev, "n": len(g),
               "params": int(g.params.dropna().iloc[0]) if g.params.notna().any() else None,
               "nodes": sorted({n for n in g.node if isinstance(n, str) and n})}  # [] when the records name none
        for m in metrics:
            row[m] = summary(g[f"m.{m}"].tolist(), seq=seq)
        for col, *_ in COLUMNS:
            row[col] = summary(g[col].tolist(), seq=seq)
        row["epochs_timed"] = summary(g.epochs_timed.tolist()) if "epochs_timed" in g else {}
        reached = g[g.target_reached == True]  # noqa: E712  (None means no target)
        row["target"] = {"n": int(g.target_reached.notna().sum()), "reached": len(reached),
                         "s": summary(reached.target_s.tolist()), "epochs": summary(reached.target_epochs.tolist())}
        rows.append(row)
    return metrics, rows


@dataclass
class Bench:
    """One benchmark's records, their frame and its per-(framework, mode, device) summary rows;
    ``seq`` = (min, max) rounds of a ``repeats: auto`` benchmark (its intervals are sequential)."""
    name: str
    arch: str
    records: list[dict]
    df: pd.DataFrame
    metrics: list[str]
    rows: list[dict]
    seq: tuple[int, int] | None = None

    @property
    def primary(self) -> str | None:
        return self.metrics[0] if self.metrics else None

    def lower_is_better(self, metric: str) -> bool:
        """The metric's direction as the architecture's spec declares it (unknown: higher is better)."""
        return bool(registry.lower_is_better(self.arch, metric))

    def values(self, row: dict, col: str) -> dict:
        """{repeat: value} of one column for the ok jobs of a row (pairs rows within a round)."""
        df = self.df
        sel = df[(df.status == "ok") & (df.framework == row["framework"]) & (df["mode"] == row["mode"])
                 & (df.device == row["device"])]
        return {k: v for k, v in zip(sel.repeat, sel[col]) if v is not None and v == v}

    def node_medians(self, row: dict, col: str) -> dict[str | None, float | None]:
        """{node: median of one column over the row's ok jobs on that node} (None: jobs naming no node)."""
        df = self.df
        sel = df[(df.status == "ok") & (df.framework == row["framework"]) & (df["mode"] == row["mode"])
                 & (df.device == row["device"])]
        by: dict[str | None, list[float]] = {}
        for node, v in zip(sel.node, sel[col]):
            by.setdefault(node if isinstance(node, str) and node else None, []).append(v)
        return {node: summary(vals)["median"] for node, vals in by.items()}

    def cross(self, a: dict, b: dict) -> bool:
        """Whether rows ``a`` and ``b`` ran on more than one node between them: a ratio of theirs is
        cross-machine (rows whose records name no node -- a local or older run -- never are)."""
        return cross_machine(a.get("nodes") or [], b.get("nodes") or [])

    def ratio_ci(self, row: dict, base: dict, col: str = "epoch_s") -> dict:
        """``row`` over ``base`` in ``col``: on one node, stats.paired_ratio_ci (the per-round ratios,
        adjacent in time, so drift cancels); across nodes (``cross``) the unpaired stats.ratio_ci over
        every value -- a round's two jobs on two machines share no drift, so pairing by round does not
        hold there. {} when there is no ratio at all; ``cross`` is always set."""
        a, b = self.values(row, col), self.values(base, col)
        if self.cross(row, base):
            return {**(ratio_ci(list(a.values()), list(b.values()), seq=self.seq) or {}), "cross": True}
        return {**(paired_ratio_ci(a, b, seq=self.seq) or {}), "cross": False}

    def fastest(self) -> dict | None:
        """The row with the lowest median steady epoch time. Every ratio in the report is a row's
        median over this median -- the same statistic -- so the fastest reads exactly 1.00× and no
        row reads less."""
        timed = [r for r in self.rows if positive(r["epoch_s"]["median"])]
        return min(timed, key=lambda r: r["epoch_s"]["median"]) if timed else None

    def time_ratio(self, row: dict, base: dict) -> float | None:
        """``row``'s median steady epoch over ``base``'s: the ratio of the medians the tables show."""
        a, b = row["epoch_s"]["median"], base["epoch_s"]["median"]
        return a / b if positive(a) and positive(b) else None

    def best_per_framework(self) -> dict[str, dict]:
        """Each framework's fastest row (its fastest mode/device); untimed rows only when none is timed."""
        out: dict[str, dict] = {}
        for r in self.rows:
            cur = out.get(r["framework"])
            if cur is None or _faster(r, cur):
                out[r["framework"]] = r
        return out


def positive(x) -> bool:
    """A usable time: finite and above zero."""
    return x is not None and math.isfinite(x) and x > 0


def _faster(a: dict, b: dict) -> bool:
    ta, tb = a["epoch_s"]["median"], b["epoch_s"]["median"]
    return positive(ta) and (not positive(tb) or ta < tb)


def bench(name: str, records: list[dict], seq: tuple[int, int] | None = None) -> Bench:
    df = frame(records)
    arch = records[0]["architecture"]
    metrics, rows = table(df, arch, seq)
    return Bench(name, arch, records, df, metrics, rows, seq)


def pareto(points: list[dict], lower_better: bool) -> list[dict]:
    """The points no other point beats on both time and metric (ties on both keep both), by time.
    points: dicts with ``time`` (lower is better) and ``metric`` (direction ``lower_better``)."""
    def score(p: dict) -> float:
        return p["metric"] if lower_better else -p["metric"]

    def dominated(p: dict) -> bool:
        return any(q["time"] <= p["time"] and score(q) <= score(p) and (q["time"] < p["time"] or score(q) < score(p))
                   for q in points)

    return sorted((p for p in points if not dominated(p)), key=lambda p: p["time"])
