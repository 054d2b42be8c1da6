"""``annbench compare A B`` on synthetic run directories: what it flags, its exit codes, its formats."""
from __future__ import annotations

import copy
import itertools
import json

import numpy as np
import pytest
from runfixtures import ENV, accuracy_drop, record, records, scaled, write_run
from typer.testing import CliRunner

from harness import compare as cmp
from harness.cli import app


def invoke(*args: str):
    return CliRunner().invoke(app, ["compare", *map(str, args)])


def cells(result) -> list[dict]:
    assert result.stdout.lstrip().startswith("{"), result.output
    return json.loads(result.stdout)["cells"]


def timed(cs: list[dict]) -> list[dict]:
    return [c for c in cs if c["n_a"] and c["n_b"]]


@pytest.mark.parametrize("repeats", [1, 3])
def test_a_run_against_itself_flags_nothing(tmp_path, repeats):
    a = write_run(tmp_path / "a", records(repeats))
    r = invoke(a, a, "--fail-on-regression", "--format", "json")
    assert r.exit_code == 0, r.output
    cs = cells(r)
    assert {c["verdict"] for c in cs} == {"same", "not comparable"}  # unsupported/failed in both
    assert all(c["ratio"] == pytest.approx(1.0) for c in timed(cs)) and len(timed(cs)) == 4
    assert "warning" not in r.stderr
    table = invoke(a, a, "--fail-on-regression")
    assert table.exit_code == 0 and "REGRESSION" not in table.stdout and "4 same" in table.stdout


@pytest.mark.parametrize("repeats", [1, 2, 3, 5])
def test_epochs_times_1_5_flag_every_timed_cell(tmp_path, repeats):
    recs = records(repeats)
    a, b = write_run(tmp_path / "a", recs), write_run(tmp_path / "b", scaled(recs, 1.5))
    r = invoke(a, b, "--fail-on-regression", "--format", "json")
    assert r.exit_code == 1, r.output
    ts = timed(cells(r))
    assert len(ts) == 4 and all(c["verdict"] == c["time_verdict"] == "regression" for c in ts)
    assert all(c["ratio"] == pytest.approx(1.5) for c in ts)
    if repeats >= 3:  # interval and test; 3 vs 3 allows a 90% interval at most, labelled so
        assert all(c["ci"][0] > 1 and c["p"] is not None for c in ts)
        assert all(c["ci_coverage"] >= (0.95 if repeats >= 4 else 0.9 - 1e-9) for c in ts)
    else:
        assert all(c["ci"] is None and c["time_evidence"].startswith("n<3") for c in ts)
    assert invoke(a, b, "--format", "json").exit_code == 0  # flags, but fails only when asked
    # the other direction is an improvement, and not a failure
    back = invoke(b, a, "--fail-on-regression", "--format", "json")
    assert back.exit_code == 0 and all(c["verdict"] == "improvement" for c in timed(cells(back)))


def test_a_small_or_noisy_slowdown_is_not_flagged(tmp_path):
    recs = records(3)
    a = write_run(tmp_path / "a", recs)
    r = invoke(a, write_run(tmp_path / "b", scaled(recs, 1.05)), "--fail-on-regression", "--format", "json")
    assert r.exit_code == 0 and all(c["verdict"] == "same" for c in timed(cells(r)))
    # median 1.5x slower, but one B job as fast as A's: not significant at 3 vs 3
    noisy = copy.deepcopy(recs)
    for rec, f in zip([x for x in noisy if x["framework"] == "torch"], (1.0, 1.5, 1.6)):
        rec["timing"]["epoch_s"] = 0.020 * f
    base = copy.deepcopy(recs)
    for rec in base:
        if rec["framework"] == "torch":
            rec["timing"]["epoch_s"] = 0.020
    r = invoke(write_run(tmp_path / "a2", base), write_run(tmp_path / "b2", noisy), "--fail-on-regression",
               "--format", "json")
    torch = next(c for c in cells(r) if c["framework"] == "torch")
    assert torch["ratio"] > 1.4 and torch["ci"][0] <= 1 and torch["verdict"] == "inconclusive"
    assert r.exit_code == 0 and "not significant" in torch["reasons"][0]


@pytest.mark.parametrize("repeats", [1, 3])
def test_accuracy_drop_of_0_05_is_flagged(tmp_path, repeats):
    recs = records(repeats)
    a, b = write_run(tmp_path / "a", recs), write_run(tmp_path / "b", accuracy_drop(recs, 0.05))
    r = invoke(a, b, "--fail-on-regression", "--format", "json")
    assert r.exit_code == 1
    cs = timed(cells(r))
    mlp = [c for c in cs if c["metric"] == "accuracy"]
    assert len(mlp) == 3 and all(c["verdict"] == c["metric_verdict"] == "regression" for c in mlp)
    assert all(c["metric_change"] == pytest.approx(-0.05) and c["time_verdict"] == "same" for c in mlp)
    som = next(c for c in cs if c["benchmark"] == "som-blobs")  # quantization_error unchanged
    assert som["metric"] == "quantization_error" and som["verdict"] == "same"


def test_metric_change_is_paired_by_seed(tmp_path):
    """Seed-to-seed spread (0.08 here) exceeds the drop; the same seed's job does the same work, so
    the per-seed differences (all -0.05) show it. With no seed in common the spread hides it."""
    recs = records(3)
    for rec in recs:
        if "accuracy" in rec["metrics"]:
            rec["metrics"]["accuracy"] -= 0.04 * rec["repeat"]
    a = write_run(tmp_path / "a", recs)
    r = invoke(a, write_run(tmp_path / "b", accuracy_drop(recs, 0.05)), "--format", "json")
    mlp = [c for c in cells(r) if c["metric"] == "accuracy"]
    assert all(c["metric_pairs"] == 3 and c["metric_verdict"] == "regression" for c in mlp)
    assert all(c["metric_change"] == pytest.approx(-0.05) and c["metric_spread"] == pytest.approx(0.01) for c in mlp)
    other = accuracy_drop(recs, 0.05)
    for rec in other:
        rec["seed"] += 100
    r = invoke(a, write_run(tmp_path / "c", other), "--format", "json")
    mlp = [c for c in cells(r) if c["metric"] == "accuracy"]
    assert all(c["metric_pairs"] == 0 and c["metric_verdict"] == "same" for c in mlp)
    assert all(c["metric_spread"] == pytest.approx(0.08) for c in mlp)


def test_lower_is_better_metric_direction(tmp_path):
    recs = records(1)
    worse = copy.deepcopy(recs)
    for rec in worse:
        if "quantization_error" in rec["metrics"]:
            rec["metrics"]["quantization_error"] *= 1.2  # error up 20%: worse
    r = invoke(write_run(tmp_path / "a", recs), write_run(tmp_path / "b", worse), "--format", "json")
    som = next(c for c in cells(r) if c["benchmark"] == "som-blobs")
    assert som["lower_is_better"] and som["metric_verdict"] == "regression"


def test_one_sided_cells_are_listed_and_status_changes_flagged(tmp_path):
    recs = records(1)
    only_a = record("cnn-x", "cnn", "torch", "eager", 0, epoch_s=0.1, metrics={"accuracy": 0.9})
    only_b = record("cnn-x", "cnn", "jax", "step", 0, epoch_s=0.1, metrics={"accuracy": 0.9})
    broken = [r if r["framework"] != "jax" else record("mlp-digits", "mlp", "jax", "step", 0, status="failed",
                                                        error="RuntimeError: broke") for r in recs]
    a = write_run(tmp_path / "a", recs + [only_a])
    b = write_run(tmp_path / "b", broken + [only_b])
    r = invoke(a, b, "--fail-on-regression", "--format", "json")
    assert r.exit_code == 1
    by = {(c["benchmark"], c["framework"]): c for c in cells(r)}
    assert by[("cnn-x", "torch")]["verdict"] == "only in A" and by[("cnn-x", "jax")]["verdict"] == "only in B"
    assert by[("mlp-digits", "jax")]["verdict"] == "regression"
    assert "now failed: RuntimeError: broke" in by[("mlp-digits", "jax")]["reasons"][0]
    table = invoke(a, b)
    assert "only in A" in table.stdout and "only in B" in table.stdout
    assert "1 only in A, 1 only in B" in table.stdout


def test_runs_from_different_machines_warn_with_both_gemm_peaks(tmp_path):
    recs = records(1)
    other = {**ENV, "cpu": "Other CPU", "gemm_peaks": {"cpu": {"flops": 50e9}}, "gemm_peak": {"flops": 50e9}}
    a, b = write_run(tmp_path / "a", recs), write_run(tmp_path / "b", recs, env=other)
    r = invoke(a, b, "--format", "json")
    assert r.exit_code == 0
    warn = [line for line in r.stderr.splitlines() if "warning" in line]
    assert len(warn) == 1 and "different machines" in warn[0]
    assert "100.0 GFLOP/s" in warn[0] and "50.0 GFLOP/s" in warn[0]
    assert json.loads(r.stdout)["warnings"] == [warn[0].split("warning: ", 1)[1]]
    none = write_run(tmp_path / "c", recs, env=None)
    assert "no env.json in B" in invoke(a, none).stderr


def test_same_machine_with_a_moved_gemm_peak_warns_and_skipped_cells_compare_nothing(tmp_path):
    recs = records(1)
    slow = {**ENV, "gemm_peaks": {"cpu": {"flops": 60e9}}, "gemm_peak": {"flops": 60e9}}
    skipped = [r if r["framework"] != "torch" else record("mlp-digits", "mlp", "torch", "eager", 0,
                                                           status="skipped", error="no cuda") for r in recs]
    r = invoke(write_run(tmp_path / "a", recs), write_run(tmp_path / "b", skipped, env=slow),
               "--fail-on-regression", "--format", "json")
    assert r.exit_code == 0
    assert "GEMM peak moved" in r.stderr and "100.0 GFLOP/s" in r.stderr and "60.0 GFLOP/s" in r.stderr
    torch = next(c for c in cells(r) if c["framework"] == "torch")
    assert torch["verdict"] == "not comparable" and torch["reasons"] == ["ok in A, skipped in B"]


def test_formats(tmp_path):
    recs = records(3)
    a, b = write_run(tmp_path / "a", recs), write_run(tmp_path / "b", scaled(recs, 1.5))
    md = invoke(a, b, "--format", "markdown")
    assert md.exit_code == 0
    rows = [line for line in md.stdout.splitlines() if line.startswith("| ")]
    assert rows[0].startswith("| benchmark | framework/mode |") and len(rows) == 2 + 6  # header, rule, cells
    assert sum("REGRESSION" in line for line in rows) == 4
    table = invoke(a, b)
    assert "b (B) vs a (A, baseline)" in table.stdout and "4 regression" in table.stdout
    assert "[1.41, 1.59] 90%" in table.stdout  # the interval with its real coverage at 3 vs 3


@pytest.mark.parametrize("args, msg", [
    (["{tmp}/missing", "{a}"], "no such directory"),
    (["{tmp}", "{a}"], "no results.jsonl"),
    (["{a}", "{a}", "--format", "html"], "unknown format"),
    (["{a}", "{a}", "--threshold", "0.9"], "greater than 1"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, args, msg):
    a = write_run(tmp_path / "a", records(1))
    r = invoke(*[x.format(tmp=tmp_path, a=a) for x in args])
    assert r.exit_code == 2 and msg in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.output


def test_u_null_distribution_matches_enumeration():
    for m, n in [(1, 1), (2, 3), (3, 3), (3, 5), (4, 4)]:
        counts = np.zeros(m * n + 1)
        for xs in itertools.combinations(range(m + n), m):  # the ranks the first sample takes
            counts[sum(r - i for i, r in enumerate(xs))] += 1  # U = pairs (x, y) with y below x
        assert cmp.u_null_cdf(m, n) == pytest.approx(np.cumsum(counts) / counts.sum())


@pytest.mark.parametrize("m, n, k, coverage", [
    (3, 3, 1, 0.9),  # 1/20 per tail: no 95% interval exists; the full range covers 90%
    (4, 4, 1, 1 - 2 / 70),
    (5, 5, 3, 1 - 2 * 4 / 252),  # the textbook critical value U = 2 at 5% two-sided
])
def test_shift_interval_picks_order_statistics_with_exact_coverage(m, n, k, coverage):
    pairs = np.arange(m * n, dtype=float)
    lo, hi, cov = cmp.shift_interval(pairs, m, n)
    assert (lo, hi) == (k - 1, m * n - k) and cov == pytest.approx(coverage)


# ---- machines: per-cell nodes and Ray runs' per-node probes --------------------------------------------

def on(recs: list[dict], node, frameworks: tuple[str, ...] | None = None) -> list[dict]:
    """A copy whose records (of ``frameworks``, default all) name ``node``."""
    return [{**r, "node": node} if frameworks is None or r["framework"] in frameworks else dict(r) for r in recs]


def test_cells_measured_on_different_nodes_are_marked_cross_machine(tmp_path):
    recs = on(records(3), "n1")
    a = write_run(tmp_path / "a", recs)
    b = write_run(tmp_path / "b", on(scaled(recs, 1.5), "n2", ("torch",)))
    r = invoke(a, b, "--format", "json")
    by = {c["framework"]: c for c in cells(r)}
    assert by["torch"]["cross_machine"] and (by["torch"]["nodes_a"], by["torch"]["nodes_b"]) == (["n1"], ["n2"])
    assert "⇄ cross-machine: A on n1, B on n2" in by["torch"]["reasons"]
    assert by["torch"]["verdict"] == "regression"  # the verdict stands; the cell says what it compares
    assert not any(c["cross_machine"] for fw, c in by.items() if fw != "torch")
    assert json.loads(r.stdout)["cross_machine"] == 1
    md = invoke(a, b, "--format", "markdown").stdout
    torch_row = next(line for line in md.splitlines() if "torch/eager" in line)
    assert "⇄" in torch_row and not any("⇄" in line for line in md.splitlines() if "jax/step" in line)
    assert "1 cross-machine" in md and "1 cross-machine" in invoke(a, b).stdout
    # a run against itself: the same nodes, nothing marked, nothing flagged
    same = invoke(a, a, "--fail-on-regression", "--format", "json")
    assert same.exit_code == 0 and not any(c["cross_machine"] for c in cells(same))
    assert "cross-machine" not in invoke(a, a).stdout


def _ray_env(driver: str, **nodes: dict) -> dict:
    return {**ENV, "cpu": driver, "executor": "ray", "nodes": nodes}


def test_ray_runs_are_compared_by_their_nodes_machines(tmp_path):
    recs = on(records(1), "n1")
    node = {k: ENV[k] for k in ("cpu", "cores_logical", "gpus", "gemm_peaks")}
    a = write_run(tmp_path / "a", recs, env=_ray_env("Driver A", n1=node, n2=node))
    # another driver, the same nodes: one set of machines, no warning (the top of env.json is the driver)
    b = write_run(tmp_path / "b", recs, env=_ray_env("Driver B", n1=node, n2=node))
    assert "warning" not in invoke(a, b).stderr
    other = {**node, "cpu": "Other CPU", "gemm_peaks": {"cpu": {"flops": 50e9}}}
    c = write_run(tmp_path / "c", recs, env=_ray_env("Driver A", n1=node, n2=other))
    warn = invoke(a, c).stderr
    assert "different machines" in warn and "node n2: Other CPU" in warn and "50.0 GFLOP/s" in warn
    slow = {**node, "gemm_peaks": {"cpu": {"flops": 60e9}}}
    d = write_run(tmp_path / "d", recs, env=_ray_env("Driver A", n1=node, n2=slow))
    assert "GEMM peak moved" in invoke(a, d).stderr
    # a local run on the nodes' kind of machine against the Ray run: the same machines
    assert "warning" not in invoke(write_run(tmp_path / "e", recs), a).stderr
