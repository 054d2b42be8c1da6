"""End to end: config -> fresh process per job -> records -> report; faults; kill -9 and resume."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from conftest import record_figure
from harness import registry, results

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
SEVEN = ["torch", "tensorflow", "jax", "flax", "autograd", "sklearn", "theano"]


def _annbench(*args: str, env: dict | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "harness", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})})


def _write(tmp_path: Path, cfg: dict) -> Path:
    p = tmp_path / "cfg.yaml"
    p.write_text(yaml.safe_dump(cfg))
    return p


@pytest.mark.slow
def test_end_to_end_mlp_all_frameworks(tmp_path):
    cfg = {"name": "e2e", "repeats": 1, "frameworks": SEVEN, "timeout_s": 300, "modes": ["step", "eager"],
           "min_timed_s": 0.05,
           "benchmarks": [{"name": "mlp-<tiny>", "architecture": "mlp", "dataset": "digits", "target": {"accuracy": 0.5},
                           "model": {"hidden": [16]}, "train": {"epochs": 3, "batch_size": 64, "lr": 0.01}}]}
    # the name with <> is illegal: check it is refused, then use a legal one
    p = _annbench("run", str(_write(tmp_path, cfg)), "--out", str(out := tmp_path / "bad"))
    assert p.returncode == 2 and "benchmarks[0].name" in p.stderr and not out.exists()
    cfg["benchmarks"][0]["name"] = "mlp-tiny"
    out = tmp_path / "run"
    p = _annbench("run", str(_write(tmp_path, cfg)), "--out", str(out))
    assert p.returncode == 0, p.stdout + p.stderr
    assert f"report: {out / 'report.html'}" in p.stdout
    # the seven frameworks trained the same model: their loss curves end agreeing, scikit-learn's reported
    # loss lower at first (its log-loss clips probabilities at float32 eps; its training is the same)
    assert ("same model (loss curves within 0.1%): 0 benchmarks at every epoch, 1 with a loss reported differently "
            "for a few epochs (mlp-tiny: sklearn · step)\n") in p.stdout, p.stdout
    recs = results.read(out / "results.jsonl").records
    # every framework runs its step (torch: its eager loop, asked once even though step and eager were
    # both asked for); eager runs where it exists, and is recorded unsupported, without a process, elsewhere
    runs = {(r["framework"], r["mode"]): r for r in recs}
    assert len(runs) == len(recs) == 13
    env = json.loads((out / "env.json").read_text())
    for (fw, mode), r in runs.items():
        assert set(results.FIELDS) <= set(r), r["framework"]
        if not registry.installed(fw):
            assert r["status"] == "skipped"
            continue
        if mode not in registry.modes("mlp", fw).modes:
            assert r["status"] == "unsupported" and "no 'eager' mode" in r["error"] and "wall_s" not in r
            continue
        assert r["status"] == "ok", (fw, mode, r["error"])
        assert r["metrics"]["accuracy"] > 0.5
        assert len(r["curve"]) == 3 and r["params"] == 64 * 16 + 16 + 16 * 10 + 10
        t = r["timing"]
        assert all(t[k] is not None and t[k] > 0 for k in results.TIMING_KEYS)
        # what the first epoch cost beyond a steady one, and nothing else (0 when it was no slower)
        assert t["compile_s"] == pytest.approx(max(t["first_epoch_s"] - t["epoch_s"], 0.0), rel=1e-9, abs=1e-12)
        # timing-only epochs after the 3 configured ones lengthen the steady state, not the curve
        assert t["epochs_timed"] == 2 + t["extra_epochs"] and "nan" not in t.get("extra_stopped", "")
        assert t["extra_epochs"] == 0 or t["epoch_s"] * t["epochs_timed"] < 3 * 0.05  # no more than needed
        # FLOP/s of every gradient-trained job, below the machine limit measured at the start
        assert 0 < t["train_flops_per_s"] < env["gemm_peaks"]["cpu"]["flops"], (fw, mode)
        assert r["memory"]["rss_peak_mb"] >= r["memory"]["rss_base_mb"] * 0.5 > 0
        assert r["threads"]["requested"] == 2 and r["versions"][fw]
        assert r["machine_speed_gflops"]["before"] > 0 and r["machine_speed_gflops"]["after"] > 0
        tgt = r["target"]
        assert tgt["metric"] == "accuracy" and tgt["reached"] and 1 <= tgt["epochs"] <= 3
        # repeat 0 saved its trained weights in the run directory, named in the record (the report's pictures)
        assert r["weights_file"] == f"weights/{r['job_id'].replace('/', '__')}.npz", r["weights_file"]
        with np.load(out / r["weights_file"]) as z:
            assert sorted(z.files) == ["dense0.bias", "dense0.kernel", "dense1.bias", "dense1.kernel"]
        assert 0 < tgt["train_s"] <= t["train_s"] and tgt["train_s"] < tgt["wall_s"]
    assert runs[("torch", "eager")]["extra"]["requested_mode"] == "step"
    assert any(r["timing"]["extra_epochs"] > 0 for r in recs if r["status"] == "ok")
    assert len({r["extra"]["data_fingerprint"] for r in recs if r["status"] == "ok"}) == 1
    for k in ("cpu", "cores_logical", "memory_gb", "gpus", "os", "python", "frameworks", "git_commit",
              "config_hash", "gemm_peak", "gemm_peaks", "framework_probe"):
        assert k in env, k
    for fw in SEVEN:  # each framework's own matmul peak and the threads it reports in force
        probe = env["framework_probe"][fw]
        assert probe["gemm"]["cpu"]["flops"] > 0 and probe["threads"], (fw, probe)
        assert probe["gemm"]["cpu"]["flops"] <= env["gemm_peaks"]["cpu"]["flops"]
    # a matmul is measured once: numpy's for autograd and scikit-learn, jax's for flax
    gemm = {fw: env["framework_probe"][fw]["gemm"]["cpu"] for fw in SEVEN}
    assert [gemm[fw].get("same_as") for fw in SEVEN] == [None, None, None, "jax", "numpy", "numpy", None], gemm
    assert gemm["flax"]["flops"] == gemm["jax"]["flops"] and gemm["autograd"]["flops"] == gemm["sklearn"]["flops"]
    html = (out / "report.html").read_text()
    assert "mlp-tiny" in html and html.lower().count("<script") == 1  # the report's own sorter, nothing else
    assert "data:image/png;base64," in html
    assert "to target" in html and "Threads and matmul per framework" in html
    assert "Machine speed during the run" in html
    assert "steady epochs per job" in html and "min_timed_s" in html  # how many epochs each median holds


FAULTS = ["segfault", "exit", "hang", "oom", "nan", "raise"]
EXPECT = {"segfault": ("failed", "SIGSEGV"), "exit": ("failed", "code 3"), "hang": ("timeout", "timed out"),
          "oom": ("failed", "memory limit exceeded"), "nan": ("failed", "diverged"),
          "raise": ("failed", "RuntimeError: injected failure")}


# A good job right after the faults that kill or cap the process (the runner's own clean-up runs
# there) and after the last one: the run goes on, and nothing a fault left behind reaches the next job.
GOOD_AFTER = ("hang", "oom", "raise")


def _fault_config() -> dict:
    small = {"model": {"hidden": [8]}, "train": {"epochs": 3, "batch_size": 64, "lr": 0.01}}
    benches = []
    for f in FAULTS:
        benches.append({"name": f"fault-{f}", "architecture": "faults", "frameworks": ["autograd"],
                        "timeout_s": 10, **small, "model": {"hidden": [8], "fault": f}})
        if f in GOOD_AFTER:
            benches.append({"name": f"good-after-{f}", "architecture": "faults", "frameworks": ["autograd"], **small})
    benches.append({"name": "import-fails", "architecture": "faults", "frameworks": ["sklearn"], **small})
    return {"name": "faults", "repeats": 1, "memory_limit_mb": 700, "timeout_s": 120, "measure_peaks": False,
            "min_timed_s": 0,
            "benchmarks": benches}


@pytest.mark.slow
def test_faults_are_recorded_and_the_run_goes_on(tmp_path):
    out = tmp_path / "run"
    env = {"ANNBENCH_EXTRA_ARCHITECTURES": str(FIXTURES)}
    p = _annbench("run", str(_write(tmp_path, _fault_config())), "--out", str(out), env=env)
    assert p.returncode == 0, p.stdout + p.stderr
    recs = {r["benchmark"]: r for r in results.read(out / "results.jsonl").records}
    assert len(recs) == len(FAULTS) + len(GOOD_AFTER) + 1
    for f in FAULTS:
        status, text = EXPECT[f]
        r = recs[f"fault-{f}"]
        assert r["status"] == status and text in r["error"], (f, r["status"], r["error"])
        assert "\n" not in r["error"]
    for f in GOOD_AFTER:
        good = recs[f"good-after-{f}"]
        assert good["status"] == "ok" and good["metrics"]["accuracy"] > 0.3
    imp = recs["import-fails"]
    assert imp["status"] == "failed" and "ModuleNotFoundError" in imp["error"]
    html = (out / "report.html").read_text()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>" not in html
    lost = len(FAULTS) + len(GOOD_AFTER) + 1 - len(recs)
    record_figure("faults", f"fault injection: {len(FAULTS) + 1} faults injected, "
                  f"{sum(recs[f'good-after-{f}']['status'] == 'ok' for f in GOOD_AFTER)}/{len(GOOD_AFTER)} good jobs "
                  "after them survived, "
                  f"{lost} records lost")


@pytest.mark.slow
def test_kill_minus_9_then_resume(tmp_path):
    cfg = {"name": "resume", "repeats": 4, "frameworks": ["autograd"], "measure_peaks": False, "min_timed_s": 0,
           "benchmarks": [{"architecture": "mlp", "model": {"hidden": [8]}, "train": {"epochs": 2, "batch_size": 128}}]}
    path, out = _write(tmp_path, cfg), tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "harness", "run", str(path), "--out", str(out)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    res = out / "results.jsonl"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and not (res.exists() and res.read_text().count("\n") >= 1):
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done = results.read(res).records
    assert 1 <= len(done) < 4
    with open(res, "a") as f:
        f.write('{"schema": "annbench.result/1", "benchmark": "mlp-dig')  # a torn last line
    assert results.read(res).problems  # detected, not fatal
    p = _annbench("report", str(out))
    assert p.returncode == 0, p.stderr  # the report regenerates from what is there
    p = _annbench("run", "--resume", str(out))
    assert p.returncode == 0, p.stdout + p.stderr
    assert "torn last line" in p.stderr
    final = results.read(res)
    assert not final.problems
    ids = [r["job_id"] for r in final.records]
    assert sorted(ids) == sorted(set(ids)) and len(ids) == 4, ids
    assert [r["job_id"] for r in final.records[: len(done)]] == [r["job_id"] for r in done]  # nothing redone


TINY = [
    {"architecture": "cnn", "model": {"conv": [{"channels": 4, "kernel": 3, "padding": 1, "pool": 2}], "dense": [8]},
     "train": {"epochs": 2, "batch_size": 64, "lr": 0.01}},
    {"architecture": "rnn", "model": {"cell": "gru", "hidden": 8}, "train": {"epochs": 2, "batch_size": 64, "lr": 0.01}},
    {"architecture": "lstm", "dataset": "adding", "data": {"length": 10, "n_train": 256, "n_test": 64},
     "model": {"hidden": 8}, "train": {"epochs": 2, "batch_size": 64, "lr": 0.01}},
    {"architecture": "autoencoder", "model": {"encoder": [8, 4]}, "train": {"epochs": 2, "batch_size": 64, "lr": 0.01}},
    {"architecture": "hopfield", "train": {"epochs": 1, "batch_size": 8}},
    {"architecture": "boltzmann", "model": {"hidden": 2, "gibbs_steps": 2},
     "train": {"epochs": 3, "batch_size": 14, "lr": 0.05}},
    {"architecture": "rbm", "model": {"hidden": 8}, "train": {"epochs": 3, "batch_size": 14, "optimizer": "sgd", "lr": 0.05}},
    {"architecture": "dbn", "model": {"hidden": [16, 8], "pretrain_epochs": 1},
     "train": {"epochs": 3, "batch_size": 64, "optimizer": "sgd", "lr": 0.1}},
    {"architecture": "som", "model": {"rows": 4, "cols": 4}, "train": {"epochs": 2, "batch_size": 32},
     "frameworks": ["autograd", "minisom"]},
]


@pytest.mark.slow
def test_every_architecture_runs_through_the_runner(tmp_path):
    """Each architecture once through the real runner/worker path (autograd: the lightest import)."""

    cfg = {"name": "archs", "repeats": 1, "frameworks": ["autograd"], "benchmarks": TINY, "min_timed_s": 0.2}
    out = tmp_path / "run"
    p = _annbench("run", str(_write(tmp_path, cfg)), "--out", str(out))
    assert p.returncode == 0, p.stdout + p.stderr
    recs = results.read(out / "results.jsonl").records
    assert len(recs) == len(TINY) + 1
    for r in recs:
        assert r["status"] == "ok", (r["benchmark"], r["framework"], r["error"])
        spec = registry.spec(r["architecture"])
        assert set(spec.METRICS) & set(r["metrics"]), (r["architecture"], r["metrics"])
        epochs = next(b["train"]["epochs"] for b in TINY if b["architecture"] == r["architecture"])
        assert len(r["curve"]) == epochs and r["params"] > 0
        # timing-only epochs, until 0.2 s of steady epochs, where the epochs are alike and there is a
        # steady state; the curve (the configured epochs) is untouched by them
        t, steady_s = r["timing"], r["curve"][-1]["seconds"] - r["curve"][0]["seconds"]
        if spec.EXTRA_TIMING and epochs > 1 and steady_s < 0.2:
            assert t["extra_epochs"] > 0, r["benchmark"]
        else:
            assert t["extra_epochs"] == 0, r["benchmark"]
        # each phase's first epoch compiles its program: never steady (one phase but for the DBN)
        phases = {c.get("phase", "train") for c in r["curve"]}
        assert t["epochs_timed"] == epochs - len(phases) + t["extra_epochs"] and t["min_timed_s"] == 0.2
        assert (set(t.get("phases") or {"train": 0}) == phases) and (len(phases) > 1) == (r["architecture"] == "dbn")
    html = (out / "report.html").read_text()
    for b in TINY:
        assert b["architecture"] in html


@pytest.mark.slow
def test_sweep_and_auto_repeats_through_the_runner(tmp_path):
    """A batch-size sweep gets its scaling section; ``repeats: auto`` adds interleaved rounds up to
    its cap when the CI cannot be met (a ±0.001% CI never is), and each round is a new seed."""
    small = {"architecture": "mlp", "model": {"hidden": [8]}, "train": {"epochs": 2, "batch_size": 64}}
    cfg = {"name": "sweep", "repeats": 1, "frameworks": ["autograd"], "measure_peaks": False, "min_timed_s": 0,
           "auto_repeats": {"min": 6, "max": 7, "rel_ci": 0.00001},
           "benchmarks": [{**small, "name": "bs", "sweep": {"param": "train.batch_size", "values": [32, 128]}},
                          {**small, "name": "auto", "repeats": "auto"}]}
    out = tmp_path / "run"
    p = _annbench("run", str(_write(tmp_path, cfg)), "--out", str(out))
    assert p.returncode == 0, p.stdout + p.stderr
    assert "repeats: auto" in p.stdout
    recs = results.read(out / "results.jsonl").records
    assert all(r["status"] == "ok" for r in recs), [r["error"] for r in recs]
    sweep = sorted((r for r in recs if r["benchmark"].startswith("bs[")), key=lambda r: r["extra"]["sweep"]["x"])
    assert [r["benchmark"] for r in sweep] == ["bs[batch_size=32]", "bs[batch_size=128]"]
    assert [r["timing"]["examples_per_epoch"] for r in sweep] == [32 * (1438 // 32), 128 * (1438 // 128)]
    auto = [r for r in recs if r["benchmark"] == "auto"]
    assert sorted(r["repeat"] for r in auto) == list(range(7)) and len({r["seed"] for r in auto}) == 7
    html = (out / "report.html").read_text()
    assert "Scaling sweeps" in html and "train.batch_size" in html


def test_tree_rss_counts_the_whole_process_tree():
    """The memory cap's sampler sees a grandchild's memory (torch.compile's workers, for one), from
    /proc where it can, psutil elsewhere; both agree."""
    import psutil

    from harness.runner import _PROC_CHILDREN, _proc_tree_rss, _tree_rss_mb

    grandchild = "import time; x = bytearray(150 * 2**20); print('ready', flush=True); time.sleep(30)"
    child = (f"import subprocess, sys, time; p = subprocess.Popen([sys.executable, '-c', {grandchild!r}], "
             "stdout=subprocess.PIPE, text=True); print(p.stdout.readline(), end='', flush=True); time.sleep(30)")
    proc = subprocess.Popen([sys.executable, "-c", child], stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        tree = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
        assert len(tree) == 2
        slow = sum(p.memory_info().rss for p in tree) / 2**20
        assert slow > 150 and abs(_tree_rss_mb(proc.pid) - slow) < 5
        fast = _proc_tree_rss(proc.pid)
        assert (fast is None) == (not _PROC_CHILDREN)  # this machine and CI's: Linux with the files
        assert fast is None or abs(fast / 2**20 - slow) < 5
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
