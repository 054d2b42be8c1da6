"""Heterogeneous machines in the report (issue 14, item 3): every row's efficiency against the GEMM
peak of the node it ran on, and every ratio between rows measured on different nodes marked
cross-machine (⇄) with its unpaired interval. Hand-built records and env.json dicts, no job runs."""
from __future__ import annotations

import json

import pytest

from harness import results
from harness.report import _efficiency, aggregate, build, nodes, overview, ratio_cell, verdicts

GFLOPS = 1e9


def _peak(gflops: float, library: str = "numpy") -> dict:
    return {"cpu": {"flops": gflops * GFLOPS, "size": 1024, "library": library}}


def _node(cpu: str, gflops: float | None) -> dict:
    probes = {"cpu": cpu, "cores_logical": 8, "cores_physical": 4, "memory_gb": 31.2, "gpus": []}
    return {**probes, "gemm_peaks": _peak(gflops)} if gflops else probes


# a Ray run: the driver's machine at the top with the first node's peak; each node's own probes
RAY_ENV = {"cpu": "Driver CPU", "cores_logical": 2, "threads": 2, "executor": "ray", "gemm_peaks": _peak(100),
           "nodes": {"fast": _node("Big CPU", 100), "slow": _node("Small CPU", 50), "blind": _node("Odd CPU", None)}}


def _rec(fw: str, rep: int, node: str | None, epoch_s: float, gflops: float = 10.0) -> dict:
    job = {"run": "r", "benchmark": "mlp-digits", "architecture": "mlp", "dataset": "digits", "framework": fw,
           "device": "cpu", "seed": rep, "repeat": rep, "mode": "step", "job_id": f"mlp-digits/{fw}/step/cpu/r{rep}"}
    rec = results.make_record(job, "ok", params=100, metrics={"accuracy": 0.9 + 0.01 * (fw == "jax")},
                              timing={"epoch_s": epoch_s * (1 + 0.01 * rep), "train_s": 1.0, "first_epoch_s": 0.2,
                                      "train_flops_per_s": gflops * GFLOPS},
                              memory={"rss_peak_mb": 300.0})
    return {**rec, "node": node} if node else rec


def _bench(placement: dict[str, list], times: dict[str, float] | None = None) -> aggregate.Bench:
    """``placement``: framework -> the node of each repeat (None: the record names none)."""
    times = times or {"jax": 0.01, "sklearn": 0.05, "autograd": 0.02}
    return aggregate.bench("mlp-digits", [_rec(fw, i, n, times[fw]) for fw, ns in placement.items()
                                          for i, n in enumerate(ns)])


def _eff(b: aggregate.Bench, env: dict) -> dict[str, tuple[str, str]]:
    return {r["framework"]: e for r, e in zip(b.rows, _efficiency(b, nodes.peaks(env)))}


# ---- efficiency: the node's own peak --------------------------------------------------------------

def test_efficiency_uses_the_peak_of_the_node_each_row_ran_on():
    b = _bench({"jax": ["fast"] * 3, "sklearn": ["slow"] * 3, "autograd": ["blind"] * 3})
    eff = _eff(b, RAY_ENV)
    # equal achieved FLOP/s (10 GFLOP/s), different machines: 10% of 100, 20% of 50
    assert eff["jax"][0] == "10.0%" and eff["sklearn"][0] == "20.0%"
    assert "slow: 10.00 GFLOP/s of 50.0 GFLOP/s" in eff["sklearn"][1]
    # a node that measured no peak: the run's stands in, marked
    assert eff["autograd"][0] == "10.0% †" and "blind measured no cpu GEMM peak" in eff["autograd"][1]


def test_a_row_spread_over_nodes_shows_each_nodes_efficiency():
    b = _bench({"jax": ["fast", "slow", "fast"], "sklearn": ["slow"] * 3})
    assert _eff(b, RAY_ENV)["jax"][0] == "mixed nodes: fast 10.0%, slow 20.0%"


def test_a_local_run_uses_its_machines_peak_unmarked():
    local = {"cpu": "Laptop", "gemm_peaks": _peak(40)}  # no ``nodes``: one machine, its peak at the top
    eff = _eff(_bench({"jax": ["host"] * 3, "sklearn": [None] * 3}), local)
    assert eff["jax"][0] == eff["sklearn"][0] == "25.0%"
    older = {"gemm_peak": {"flops": 20 * GFLOPS}}  # an older env.json: the CPU peak under its first name
    assert _eff(_bench({"jax": [None] * 3}), older)["jax"][0] == "50.0%"
    assert _eff(_bench({"jax": [None] * 3}), {})["jax"][0] == "–"


def test_efficiency_above_the_peak_is_still_flagged():
    b = aggregate.bench("mlp-digits", [_rec("jax", i, "slow", 0.01, gflops=60) for i in range(3)])
    text, _ = _eff(b, RAY_ENV)["jax"]
    assert text.startswith("120.0%") and "⚠ >100%" in text


# ---- ratios between rows: cross-machine -------------------------------------------------------------

def _rows(b: aggregate.Bench) -> dict[str, dict]:
    return {r["framework"]: r for r in b.rows}


def test_same_node_ratios_stay_paired_and_unmarked():
    b = _bench({"jax": ["fast"] * 3, "sklearn": ["fast"] * 3})
    rows = _rows(b)
    assert rows["jax"]["nodes"] == ["fast"] and not b.cross(rows["jax"], rows["sklearn"])
    cell = ratio_cell(b, rows["sklearn"], b.fastest())
    assert cell["text"] == "5.00×" and not cell["cross"] and "unpaired" not in cell["spread"]
    assert "paired order-statistic" in cell["title"] and "cross-machine" not in cell["title"]
    fast = next(p for p in verdicts.picks(b) if p["slot"] == "fastest")
    assert not fast["cross"] and not any("cross-machine" in t for t, _ in verdicts.describe(fast)["flags"])
    claim = verdicts.sklearn_claim(b)
    assert claim["cross"] == [] and "⇄" not in claim["rows"][0]["ci_text"]
    cells = overview.matrix([b], b.records)["rows"][0]["cells"]
    assert not any(c.get("cross") for c in cells) and not overview.matrix([b], b.records)["cross"]


def test_ratios_between_rows_on_different_nodes_are_marked_cross_machine():
    b = _bench({"jax": ["fast"] * 3, "sklearn": ["slow"] * 3})
    rows = _rows(b)
    assert b.cross(rows["jax"], rows["sklearn"])
    cell = ratio_cell(b, rows["sklearn"], b.fastest())
    # the ratio of the medians is unchanged; its interval is the unpaired one, and says why
    assert cell["text"] == "5.00× ⇄" and cell["v"] == pytest.approx(5.0) and cell["cross"]
    assert cell["spread"].endswith("unpaired") and "Bonferroni" in cell["title"]
    assert "this row ran on node slow, the fastest on node fast" in cell["title"]
    assert ratio_cell(b, rows["jax"], b.fastest())["text"] == "1.00×"  # the fastest against itself
    # what to pick: the margin and both flags say cross-machine; the metric stays paired by seed
    picks = {p["slot"]: p for p in verdicts.picks(b)}
    assert picks["fastest"]["cross"] and not picks["fastest"]["paired"]
    text = verdicts.describe(picks["fastest"])
    assert "unpaired ⇄ cross-machine (jax · step on node fast, sklearn · step on node slow)" in text["margin"]
    assert all("cross-machine" in t for t, _ in text["flags"])
    assert picks["accurate"]["cross"] and picks["accurate"]["paired"]
    # the sklearn claim and the overview matrix
    claim = verdicts.sklearn_claim(b)
    assert claim["cross"] == ["jax · step"] and claim["rows"][0]["ci_text"].endswith("unpaired ⇄")
    assert "cross-machine" in claim["rows"][0]["ci_title"]
    m = overview.matrix([b], b.records)
    by = {c["framework"]: c for c in m["rows"][0]["cells"]}
    assert m["cross"] and by["sklearn"]["cross"] and "cross-machine" in by["sklearn"]["title"]
    assert not by["jax"].get("cross")


def test_a_row_spread_over_nodes_is_cross_machine_against_any_other():
    b = _bench({"jax": ["fast", "slow", "fast"], "sklearn": ["fast"] * 3})
    rows = _rows(b)
    assert rows["jax"]["nodes"] == ["fast", "slow"] and b.cross(rows["sklearn"], rows["jax"])
    assert ratio_cell(b, rows["sklearn"], b.fastest())["cross"]


def test_records_naming_no_node_are_never_cross_machine():
    b = _bench({"jax": [None] * 3, "sklearn": [None] * 3})
    assert not ratio_cell(b, _rows(b)["sklearn"], b.fastest())["cross"]


# ---- the machine line and the page ------------------------------------------------------------------

def test_machine_line_of_a_ray_run_lists_its_nodes_and_their_peaks():
    env = {**RAY_ENV, "nodes": {**RAY_ENV["nodes"], "twin": _node("Big CPU", 98.7), "dead": {"error": "probe timed out"}}}
    line = overview.machine_line(env, [])
    assert line.startswith("Ray, 5 nodes: blind — Odd CPU · 8 logical / 4 physical cores · 31.2 GB RAM; "
                           "fast, twin — Big CPU")  # nodes of one kind of machine together
    assert "float32 GEMM peak cpu: fast 100.0, slow 50.0, twin 98.7 GFLOP/s" in line
    assert "dead: probes failed (probe timed out)" in line and "Driver CPU" not in line
    local = overview.machine_line({"cpu": "Laptop", "gemm_peaks": _peak(40)}, [])
    assert local.startswith("Laptop") and "40.0 GFLOP/s" in local and "Ray" not in local


def test_report_page_marks_cross_machine_ratios(tmp_path):
    for fw, node, t in (("jax", "fast", 0.01), ("sklearn", "slow", 0.05)):
        for i in range(3):
            results.append(tmp_path / "results.jsonl", _rec(fw, i, node, t))
    (tmp_path / "env.json").write_text(json.dumps(RAY_ENV))
    html = build(tmp_path).read_text()
    assert "5.00× ⇄" in html and "⇄ = cross-machine" in html and "Ray nodes" in html
    assert "20.0%" in html and "10.0%" in html  # each row against its own node's peak
    assert "Ray, 3 nodes" in html and "cross-machine (ran on another node than scikit-learn" in html
