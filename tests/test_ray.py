"""The Ray executor on a local cluster of separate nodes (ray.cluster_utils.Cluster), and its bad input.

Ray is started once for the module, in one test function (``test_two_node_cluster``), on purpose: the
suite runs under pytest-xdist with ``--dist worksteal``, which would hand separate test functions to
separate workers, each then starting a cluster of its own on the same two cores. Its steps are the
functions ``_step_*`` below, each checking one promise of the executor."""
from __future__ import annotations

import base64
import io
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from conftest import record_figure
from harness import results, runner
from harness.config import parse

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'annbench[ray]')")

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
SMALL = {"model": {"hidden": [8]}, "train": {"epochs": 2, "batch_size": 128, "lr": 0.01}}


def _annbench(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "harness", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, env=os.environ.copy())


def _config(tmp_path: Path, cfg: dict) -> Path:
    p = tmp_path / f"{cfg['name']}.yaml"
    p.write_text(yaml.safe_dump(cfg))
    return p


def _cfg(name: str, benchmarks: list[dict], **kw) -> dict:
    return {"name": name, "repeats": 1, "threads": 2, "measure_peaks": False, "min_timed_s": 0, "timeout_s": 120,
            "benchmarks": benchmarks, **kw}


@pytest.fixture(scope="module")
def cluster():
    """Head (no slot, no dashboard) + two worker nodes of one slot each, all on 127.0.0.1."""
    from ray.cluster_utils import Cluster

    saved = {k: os.environ.get(k) for k in ("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "ANNBENCH_EXTRA_ARCHITECTURES")}
    # loopback stays loopback (see ray_exec._import_ray): for the nodes' processes, and in this one, where
    # ray is already imported, for Ray's own check (read at call time)
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    from ray._private import ray_constants

    saved_flag, ray_constants.ENABLE_RAY_CLUSTER = ray_constants.ENABLE_RAY_CLUSTER, False
    os.environ["ANNBENCH_EXTRA_ARCHITECTURES"] = str(FIXTURES)  # the nodes' jobs inherit it
    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "include_dashboard": False,
                                                      "node_ip_address": "127.0.0.1"})
    for _ in range(2):
        c.add_node(num_cpus=1, resources={"annbench_slot": 1}, node_ip_address="127.0.0.1")
    try:
        yield c
    finally:
        ray.shutdown()
        c.shutdown()
        ray_constants.ENABLE_RAY_CLUSTER = saved_flag
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@pytest.mark.slow
def test_two_node_cluster(cluster, tmp_path):
    from harness.executors import ray_exec

    took = {}
    t = time.monotonic()
    ray_run = _step_same_records_as_local(cluster, tmp_path)
    took["same as local"], t = time.monotonic() - t, time.monotonic()
    conn = ray_exec.RayCluster(ray, cluster.address)  # the driver in this process, from here on
    _step_resume_runs_only_missing(conn, ray_run)
    took["resume"], t = time.monotonic() - t, time.monotonic()
    _step_faults_timeouts_and_a_dead_node(conn, cluster, tmp_path)
    took["faults"], t = time.monotonic() - t, time.monotonic()
    _step_cuda_jobs_without_a_gpu(conn, tmp_path)
    took["cuda"] = time.monotonic() - t
    record_figure("ray", "ray executor (2-node local cluster): same records as local, no overlap per node, "
                  "resume, dead node, timeouts, torn record, cuda skipped; steps " +
                  ", ".join(f"{k} {v:.0f} s" for k, v in took.items()))


def _step_same_records_as_local(cluster, tmp_path: Path) -> Path:
    """--executor ray through the CLI: the same records as --executor local, identical metrics (autograd
    and scikit-learn are deterministic), every record names its node, no two jobs overlap on a node,
    threads set by the harness (2), not Ray's OMP_NUM_THREADS=1."""
    cfg = _cfg("pair", [{"name": "mlp", "architecture": "mlp", "dataset": "digits", **SMALL}],
               repeats=2, frameworks=["autograd", "sklearn"])
    path = _config(tmp_path, cfg)
    local = tmp_path / "local"  # run alongside the Ray run (deterministic metrics do not mind; it saves time)
    ref = threading.Thread(target=runner.run, args=(parse(yaml.safe_load(path.read_text()), str(path)), local))
    ref.start()
    out = tmp_path / "ray"
    p = _annbench("run", str(path), "--out", str(out), "--executor", "ray", "--address", cluster.address,
                  "--no-report")
    ref.join()
    assert p.returncode == 0, p.stdout + p.stderr
    assert "CVE-2023-48022" not in p.stderr  # a loopback address: no reminder
    a = {r["job_id"]: r for r in results.read(local / "results.jsonl").records}
    b = {r["job_id"]: r for r in results.read(out / "results.jsonl").records}
    assert set(a) == set(b) and len(b) == 4
    for jid, r in b.items():
        assert r["status"] == "ok" and a[jid]["status"] == "ok", r["error"]
        assert r["metrics"] == a[jid]["metrics"] and r["curve"][-1]["loss"] == a[jid]["curve"][-1]["loss"]
        assert r["node"] and (out / r["log"]).exists()
        if r["repeat"] == 0:  # the trained weights came back from the node: the same as the local run's
            assert r["weights_file"] == a[jid]["weights_file"] == f"weights/{runner.safe_name(jid)}.npz"
            with np.load(out / r["weights_file"]) as w, np.load(local / a[jid]["weights_file"]) as v:
                assert w.files == v.files and all(np.array_equal(w[k], v[k]) for k in w.files)
        else:
            assert r["weights_file"] is None
    assert b["mlp/autograd/step/cpu/r0"]["threads"]["actual"]["blas"][0]["threads"] == 2
    by_node: dict[str, list] = {}
    for r in b.values():
        by_node.setdefault(r["node"], []).append((r["started_at"], r["ended_at"]))
    assert len(by_node) == 2, by_node  # both nodes worked
    for spans in by_node.values():
        spans.sort()
        assert all(end <= nxt for (_, end), (nxt, _) in zip(spans, spans[1:])), spans
    cells = {(r["framework"], r["node"]) for r in b.values()}
    assert len(cells) == 2  # each cell's two repeats on one node (spread_repeats: false)
    env = json.loads((out / "env.json").read_text())
    assert env["executor"] == "ray" and set(env["nodes"]) == set(by_node)
    assert all(n["gemm_peaks"]["cpu"]["flops"] for n in env["nodes"].values())
    return out


def _step_resume_runs_only_missing(conn, out: Path) -> None:
    from harness.executors import ray_exec

    res = out / "results.jsonl"
    lines = res.read_text().splitlines()
    kept = [json.loads(ln)["job_id"] for ln in lines[:2]]
    res.write_text("\n".join(lines[:2]) + "\n" + lines[2][:40])  # and a torn last line, as a killed driver leaves
    ran: list[str] = []
    cfg = parse(json.loads((out / "config.json").read_text()), "config.json")
    ray_exec.run(conn, cfg, out, resume=True, on_record=lambda r: ran.append(r["job_id"]))
    final = [r["job_id"] for r in results.read(res).records]
    assert len(ran) == 2 and not set(ran) & set(kept)
    assert sorted(final) == sorted(set(final)) and len(final) == 4


def _step_faults_timeouts_and_a_dead_node(conn, cluster, tmp_path: Path) -> None:
    """Three nodes start three hung jobs; the third node is removed mid-run (its job: failed, with the
    reason), the others time out on their nodes (timeout); a node sending a torn record (failed), a task
    that hangs past the driver's deadline (cancelled: timeout), and a good job after them all (ok)."""
    from harness.executors import ray_exec

    victim = cluster.add_node(num_cpus=1, resources={"annbench_slot": 1}, node_ip_address="127.0.0.1")
    hang = {"architecture": "faults", "frameworks": ["autograd"], "timeout_s": 5, **SMALL,
            "model": {"hidden": [8], "fault": "hang"}}
    benches = [{"name": f"hang{i}", **hang} for i in range(3)] + [
        {"name": n, "architecture": "faults", "frameworks": ["autograd"], "timeout_s": t, **SMALL}
        for n, t in (("torn", 3), ("stuck", 3), ("good", 120))]
    cfg = parse(_cfg("faults", benches, spread_repeats=True), "faults")

    def task(jd, repo, node):  # defined here: shipped by value, like ray_node's functions
        if jd["benchmark"] == "torn":
            return '{"schema": "annbench.result/1", "status": "o', "torn"
        if jd["benchmark"] == "stuck":
            time.sleep(3600)
        return ray_exec.ray_node.run_job(jd, repo, node)

    out = tmp_path / "faults"
    out.mkdir()
    d = ray_exec.Dispatcher(conn, cfg, out, grace_s=1.0, task=task)
    victim_id = victim.node_id
    assert victim_id in d.nodes
    jobs = ray_exec.expand(cfg, "faults")
    done = threading.Event()
    t = threading.Thread(target=lambda: (d.run(jobs), done.set()), daemon=True)
    t.start()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not any(r.node_id == victim_id for r in list(d.running.values())):
        time.sleep(0.1)
    time.sleep(1.0)  # its job process is up
    cluster.remove_node(victim)
    assert done.wait(240), "the run did not finish after a node was removed"
    recs = {r["benchmark"]: r for r in results.read(out / "results.jsonl").records}
    assert len(recs) == 6
    hung = [recs[f"hang{i}"] for i in range(3)]
    dead = [r for r in hung if r["status"] == "failed"]
    assert len(dead) == 1 and dead[0]["node"] == d.names[victim_id] and "\n" not in dead[0]["error"], hung
    assert all(r["status"] == "timeout" and "timed out after 5 s" in r["error"] for r in hung if r not in dead)
    assert recs["torn"]["status"] == "failed" and "malformed record" in recs["torn"]["error"]
    assert recs["stuck"]["status"] == "timeout" and "cancelled" in recs["stuck"]["error"]
    assert recs["good"]["status"] == "ok" and recs["good"]["node"] != d.names[victim_id]


def _step_cuda_jobs_without_a_gpu(conn, tmp_path: Path) -> None:
    from harness.executors import ray_exec

    cfg = parse(_cfg("gpu", [{"architecture": "mlp", "frameworks": ["torch", "autograd"], **SMALL}],
                     devices=["cuda"]), "gpu")
    (tmp_path / "gpu").mkdir()
    (tmp_path / "gpu" / "env.json").write_text("{}")  # the node probes are checked above: not again
    out = ray_exec.run(conn, cfg, tmp_path / "gpu")
    recs = {r["framework"]: r for r in results.read(out).records}
    assert recs["torch"]["status"] == "skipped" and "GPU" in recs["torch"]["error"]
    assert recs["autograd"]["status"] == "unsupported" and "CPU only" in recs["autograd"]["error"]


# --- bad input: one line, exit 2, nothing started (no cluster needed) -------------------------------

def _bad(tmp_path: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    cfg = _config(tmp_path, _cfg("bad", [{"architecture": "mlp", "frameworks": ["autograd"], **SMALL}]))
    out = tmp_path / "out"
    p = subprocess.run([sys.executable, "-m", "harness", "run", str(cfg), "--out", str(out), *args], cwd=ROOT,
                       capture_output=True, text=True, timeout=120, env={**os.environ, **(env or {})})
    assert p.returncode == 2 and len(p.stderr.strip().splitlines()) == 1, (p.returncode, p.stderr)
    assert not out.exists()  # nothing started
    return p


def test_unknown_executor(tmp_path):
    assert "unknown executor 'slurm'" in _bad(tmp_path, "--executor", "slurm").stderr


def test_unreachable_address(tmp_path):
    p = _bad(tmp_path, "--executor", "ray", "--address", "127.0.0.1:9")
    assert "no Ray cluster reachable" in p.stderr


def test_ray_not_installed(tmp_path):
    fake = tmp_path / "noray" / "ray"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('No module named ray (test)')\n")
    p = _bad(tmp_path, "--executor", "ray", env={"PYTHONPATH": str(fake.parent)})
    assert "Ray is not installed" in p.stderr


def test_a_node_reply_is_data():
    from harness.executors.ray_exec import parse_reply

    jd = {"job_id": "b/f/m/cpu/r0", "run": "r", "benchmark": "b", "architecture": "mlp", "dataset": "digits",
          "framework": "autograd", "device": "cpu", "seed": 0, "repeat": 0, "mode": "step", "threads": 1}
    good = results.make_record(jd, "ok")
    assert parse_reply(jd, (json.dumps(good), "log"), "n")[0]["status"] == "ok"
    for reply in [("not json", ""), ('{"schema": "annbench.result/1"', ""), (json.dumps([1]), ""),
                  (json.dumps({**good, "job_id": "other"}), ""), ("x", 3), b"pickle?", None]:
        rec, _ = parse_reply(jd, reply, "n")
        assert rec["status"] == "failed" and rec["job_id"] == jd["job_id"], reply


def test_weights_from_a_node_are_data(tmp_path):
    from harness.executors.ray_exec import save_node_weights
    from harness.plan import Job

    job = Job(job_id="b/autograd/step/cpu/r0", run="r", benchmark="b", architecture="mlp", dataset="digits",
              data={}, model={}, train={}, framework="autograd", mode="step", device="cpu", seed=0, repeat=0,
              threads=1, timeout_s=60, memory_limit_mb=1000, save_weights_mb=1.0)

    def npz(**arrays) -> str:
        buf = io.BytesIO()
        np.savez_compressed(buf, **arrays)
        return base64.b64encode(buf.getvalue()).decode()

    rec = {"weights_file": "/node/tmp/w.npz", "extra": {}}
    save_node_weights(tmp_path, job, rec, npz(w=np.ones((2, 3), np.float32)), "n1")
    assert rec["weights_file"] == "weights/b__autograd__step__cpu__r0.npz"
    with np.load(tmp_path / rec["weights_file"]) as z:
        assert z["w"].shape == (2, 3)
    for bad, why in [("%%%", "Error"), (npz(w=np.array([{"a": 1}], dtype=object)), "pickle"),
                     (npz(w=np.ones(3)), "float32"), (npz(w=np.ones((600, 600), np.float32)), "MB")]:
        rec = {"weights_file": "/node/tmp/w.npz", "extra": {}}
        save_node_weights(tmp_path / "bad", job, rec, bad, "n1")
        assert rec["weights_file"] is None and why in rec["extra"]["weights_note"], rec
        assert "n1" in rec["extra"]["weights_note"] and not (tmp_path / "bad").exists()
    rec = {"weights_file": "/node/tmp/w.npz"}
    save_node_weights(tmp_path, job, rec, "", "n1")  # none sent (a later repeat): none named
    assert rec["weights_file"] is None


def test_a_remote_address_prints_the_security_reminder(monkeypatch, capsys):
    from ray._private import ray_constants

    from harness.executors import ray_exec

    # restored afterwards: connecting to a loopback address switches Ray to a single machine
    monkeypatch.setenv("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "1")
    monkeypatch.setattr(ray_constants, "ENABLE_RAY_CLUSTER", ray_constants.ENABLE_RAY_CLUSTER)
    monkeypatch.setattr(ray_exec, "_reachable", lambda host, port, timeout=3.0: None)
    monkeypatch.setattr(ray_exec, "RayCluster", lambda ray, address: address)
    assert ray_exec.connect("10.1.2.3:6379") == "10.1.2.3:6379"
    err = capsys.readouterr().err
    assert err.count("CVE-2023-48022") == 1 and "never expose its ports" in err
    assert ray_exec.connect("127.0.0.1:6379") == "127.0.0.1:6379"
    assert "CVE" not in capsys.readouterr().err

