"""``annbench export``: csv/parquet round trips through pandas, the markdown overview matrix, TensorBoard
event files read back by TensorBoard's EventAccumulator, and one-line errors on bad input."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from runfixtures import CELLS, record, records, write_run
from typer.testing import CliRunner

from harness import export
from harness.cli import app

ROOT = Path(__file__).resolve().parent.parent


def invoke(*args):
    return CliRunner().invoke(app, ["export", *map(str, args)])


@pytest.fixture
def run(tmp_path):
    recs = records(2)
    # a column whose type differs between records: parquet needs one type per column
    recs[0]["extra"]["mixed"], recs[1]["extra"]["mixed"] = 3, "three"
    return write_run(tmp_path / "run", recs), recs


@pytest.mark.parametrize("fmt, read", [("csv", pd.read_csv), ("parquet", pd.read_parquet)])
def test_table_exports_round_trip_through_pandas(run, tmp_path, fmt, read):
    path, recs = run
    out = tmp_path / f"out.{fmt}"
    r = invoke(path, "--format", fmt, "-o", out)
    assert r.exit_code == 0, r.output
    df = read(out)
    assert len(df) == len(recs)
    for col in ("benchmark", "framework", "status", "timing_epoch_s", "memory_rss_peak_mb", "metrics_accuracy",
                "threads_requested", "extra_n_train", "curve"):
        assert col in df.columns, col
    assert not any("." in c for c in df.columns)
    epochs = [r["timing"]["epoch_s"] for r in recs]
    assert df.timing_epoch_s.tolist() == pytest.approx([float("nan") if e is None else e for e in epochs], nan_ok=True)
    assert list(df.status) == [r["status"] for r in recs]
    ok = df[df.status == "ok"]
    assert all(len(json.loads(c)) == 3 for c in ok.curve)  # the learning curve: a JSON list per row
    assert json.loads(ok.extra_grad_norms.iloc[0]) == [1.0, 2.0]
    assert list(df.extra_mixed[:2]) == ["3", "three"] and df.extra_mixed[2:].isna().all()  # text, missing kept


def test_default_paths_are_in_the_run(run):
    path, _ = run
    assert invoke(path, "--format", "csv").exit_code == 0 and (path / "results.csv").is_file()


def test_markdown_is_the_overview_matrix(run, tmp_path):
    path, _ = run
    r = invoke(path, "--format", "markdown")
    assert r.exit_code == 0, r.output
    table = [line for line in r.stdout.splitlines() if line.startswith("| ")]
    header, rows = table[0], table[2:]
    assert len(rows) == len({c[0] for c in CELLS})  # one row per benchmark
    for fw in ("torch", "jax", "tensorflow", "autograd", "theano (PyTensor)", "minisom"):
        assert f" {fw} |" in header
    mlp = next(row for row in rows if row.startswith("| mlp-digits (accuracy ↑)"))
    assert "**1.00×** · 0.94" in mlp and "1.33× · 0.95" in mlp and "2.00× · 0.95" in mlp  # jax fastest
    assert "n/a (1)" in mlp and "(1) theano (PyTensor) on mlp-digits: no such layer" in r.stdout
    assert "failed (2)" in r.stdout and "(2) minisom on som-blobs: ValueError: boom" in r.stdout
    out = tmp_path / "sub" / "overview.md"
    assert invoke(path, "--format", "markdown", "-o", out).exit_code == 0
    assert out.read_text() == r.stdout


def test_markdown_names_the_mode_when_a_framework_ran_several(tmp_path):
    recs = [record("b", "mlp", "torch", "eager", 0, epoch_s=0.04, metrics={"accuracy": 0.9}),
            record("b", "mlp", "torch", "compiled", 0, epoch_s=0.02, metrics={"accuracy": 0.91}),
            record("b", "mlp", "jax", "step", 0, epoch_s=0.03, metrics={"accuracy": 0.9})]
    text = export.markdown(export.load_run(write_run(tmp_path / "r", recs)))
    assert "**1.00×** · 0.91 (compiled)" in text and "1.50× · 0.9 (step)" in text


def test_markdown_marks_a_ratio_between_machines(tmp_path):
    recs = []
    for rep in range(3):
        recs += [record("b", "mlp", "jax", "step", rep, epoch_s=0.02, metrics={"accuracy": 0.9}) | {"node": "n1"},
                 record("b", "mlp", "torch", "eager", rep, epoch_s=0.04, metrics={"accuracy": 0.9}) | {"node": "n1"},
                 record("b", "mlp", "theano", "step", rep, epoch_s=0.03, metrics={"accuracy": 0.9}) | {"node": "n2"}]
    text = export.markdown(export.load_run(write_run(tmp_path / "r", recs)))
    row = next(line for line in text.splitlines() if line.startswith("| b "))
    assert "**1.00×** · 0.9 |" in row and "2.00× · 0.9 |" in row  # jax and torch: the same machine
    assert "1.50× · 0.9 ⇄ |" in row and "⇄ cross-machine: this cell and the fastest ran on more than one node" in text
    # the report's rule: repeats spread over two nodes cannot be paired by round even against a row spread alike
    spread = [r | {"node": f"n{r['repeat'] % 2}"} for r in recs]
    assert "2.00× · 0.9 ⇄ |" in export.markdown(export.load_run(write_run(tmp_path / "p", spread)))
    same = [r | {"node": "n1"} for r in recs]  # one machine (a local run): no mark, no legend
    assert "⇄" not in export.markdown(export.load_run(write_run(tmp_path / "s", same)))


def test_tensorboard_reads_back_one_scalar_per_epoch_per_curve(run, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.util import tensor_util

    path, recs = run
    out = tmp_path / "tb"
    r = invoke(path, "--format", "tensorboard", "-o", out)
    assert r.exit_code == 0, r.output
    ok = [x for x in recs if x["status"] == "ok"]
    runs = sorted(p.parent for p in out.rglob("events.out.tfevents.*"))
    assert len(runs) == len(ok) == len(set(runs))  # one TensorBoard run per job
    for rec in ok:
        acc = EventAccumulator(str(out / export.tb_run_name(rec)), size_guidance={"tensors": 0})
        acc.Reload()
        metric = "accuracy" if "accuracy" in rec["metrics"] else "quantization_error"
        for tag, key in ((f"curve/{metric}", "metric"), ("curve/loss", "loss")):
            events = acc.Tensors(tag)
            assert [e.step for e in events] == [p["epoch"] for p in rec["curve"]]  # one per epoch
            values = [float(tensor_util.make_ndarray(e.tensor_proto)) for e in events]
            assert values == pytest.approx([p[key] for p in rec["curve"]], rel=1e-6)
            seconds = [e.wall_time - events[0].wall_time for e in events]  # relative axis: training time
            assert seconds == pytest.approx([p["seconds"] - rec["curve"][0]["seconds"] for p in rec["curve"]], abs=1e-5)
        (epoch,) = acc.Tensors("timing/epoch_s")
        assert float(tensor_util.make_ndarray(epoch.tensor_proto)) == pytest.approx(rec["timing"]["epoch_s"])
    again = invoke(path, "--format", "tensorboard", "-o", out)  # would duplicate every curve
    assert again.exit_code == 2 and "not an empty directory" in again.stderr


def test_tensorboard_export_imports_no_framework(run, tmp_path):
    path, _ = run
    code = ("import sys\nfrom pathlib import Path\nfrom harness import export\n"
            f"export.export(Path({str(path)!r}), 'tensorboard', Path({str(tmp_path / 'tb')!r}))\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'torch', 'jax', 'keras')))")
    p = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip().splitlines()[-1] == "[]"
    assert list((tmp_path / "tb").rglob("events.out.tfevents.*"))


@pytest.mark.parametrize("args, msg", [
    (["{tmp}", "--format", "csv"], "no results.jsonl"),
    (["{tmp}/nothing", "--format", "csv"], "no such directory"),
    (["{run}", "--format", "xlsx"], "unknown format 'xlsx'"),
    (["{run}", "--format", "csv", "-o", "{run}/results.jsonl/x.csv"], "cannot create its directory"),
    (["{run}", "--format", "parquet", "-o", "{run}"], "is a directory"),
    (["{run}", "--format", "tensorboard", "-o", "{run}/results.jsonl/tb"], "a file stands where"),
    (["{run}", "--format", "markdown", "-o", "{run}/results.jsonl/o.md"], "cannot create its directory"),
])
def test_bad_input_is_one_line_and_exit_2(run, tmp_path, args, msg):
    path, _ = run
    r = invoke(*[a.format(tmp=tmp_path, run=path) for a in args])
    assert r.exit_code == 2 and msg in r.stderr, r.output
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.output
