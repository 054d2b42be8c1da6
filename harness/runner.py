"""Runs each job in a fresh subprocess with a timeout and a memory cap; appends its record at once.

The parent never imports a framework. Per job: thread variables set in the child's environment
before its interpreter starts (so they hold before any framework import), CPU jobs see no GPU,
JAX/TF GPU preallocation is off (so their peak memory means something), the child's output goes
to ``<out>/logs/<job>.log``, and the record is appended and fsynced the moment the job ends.
"""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from harness import results
from harness.config import RunConfig
from harness.jobenv import REPO, job_env
from harness.plan import Job, expand, next_round

POLL_S = 0.05


def default_out_dir(name: str) -> Path:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return REPO / "results" / f"{name}-{stamp}"


def safe_name(job_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", job_id.replace("/", "__"))


@dataclass
class Outcome:
    record: dict
    log: Path


def _loadavg() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


def _tree_rss_mb(pid: int) -> float:
    """RSS of the job's process tree, sampled while the job runs (on its CPUs: kept cheap)."""
    fast = _proc_tree_rss(pid)
    if fast is not None:
        return fast / 2**20
    import psutil  # psutil's children() reads every process on the machine: the slow way

    try:
        p = psutil.Process(pid)
        procs = [p, *p.children(recursive=True)]
    except psutil.Error:
        return 0.0
    total = 0
    for q in procs:
        try:
            total += q.memory_info().rss
        except psutil.Error:
            pass
    return total / 2**20


_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
# /proc/<pid>/task/<tid>/children needs a Linux built with CONFIG_PROC_CHILDREN: else psutil's way
_PROC_CHILDREN = os.path.exists(f"/proc/self/task/{os.getpid()}/children")


def _proc_tree_rss(pid: int) -> int | None:
    """Bytes resident in ``pid`` and its descendants from Linux's /proc/<pid>/statm and
    /proc/<pid>/task/*/children (~50 us for a worker, against ~0.6 ms for psutil's scan of every
    process); None where /proc lacks them (another OS, or a kernel without them)."""
    if not _PROC_CHILDREN:
        return None
    total, todo, seen = 0, [pid], set()
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.add(p)
        try:
            with open(f"/proc/{p}/statm") as f:
                total += int(f.read().split()[1]) * _PAGE
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    todo.extend(int(c) for c in f.read().split())
        except (OSError, ValueError):  # the process (or a thread) ended while being read
            continue
    return total


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()


def _last_line(log: Path) -> str:
    try:
        lines = [ln.strip() for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return ""
    return lines[-1] if lines else ""


def _crash_reason(code: int, log: Path) -> str:
    if code < 0:
        try:
            what = f"killed by {signal.Signals(-code).name}"
        except ValueError:
            what = f"killed by signal {-code}"
    else:
        what = f"worker exited with code {code} before writing a result"
    last = _last_line(log)
    return f"{what}; last output: {last}" if last else what


def run_one(job: Job, out_dir: Path, python: str = sys.executable) -> Outcome:
    """Run ``job`` in a fresh process; always returns a record (ok, failed, timeout, skipped...)."""
    from harness import gpu

    jd = job.to_dict()
    log = out_dir / "logs" / f"{safe_name(job.job_id)}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    if job.preset_status:
        return Outcome(results.make_record(jd, job.preset_status, job.preset_reason), log)
    if job.device == "cuda" and (why := gpu.no_gpu_reason()):
        return Outcome(results.make_record(jd, "skipped", why), log)
    weights = out_dir / "weights" / f"{safe_name(job.job_id)}.npz" if job.save_weights_mb > 0 else None
    # absolute: the worker's cwd is REPO
    rec = execute(jd, log, python, weights=weights.absolute() if weights else None)
    rec["log"] = str(log.relative_to(out_dir))
    if rec.get("weights_file"):  # saved: the record names it relative to the run, as the log
        rec["weights_file"] = str(weights.relative_to(out_dir))
    return Outcome(rec, log)


def job_cpus() -> set[int] | None:
    """The CPUs every job may run on, set explicitly on its process (not inherited from whoever launched
    it: a Ray worker, a shell under taskset): all CPUs this node lets us use."""
    return os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None


def execute(jd: dict, log: Path, python: str = sys.executable, *, node: str | None = None,
            die_with_parent: bool = False, weights: Path | None = None) -> dict:
    """Launch ``python -m harness.worker`` for the job dict ``jd`` with its thread environment and CPU
    affinity, its output to ``log``; returns its record (with wall time, load and sampled RSS).
    Shared by the local runner and the Ray executor's node task (``die_with_parent``: the child is
    killed if the launching process dies, as when Ray force-cancels the task). ``weights``: where the
    worker saves the trained weights (the local runner's ``<run>/weights/<job>.npz``; a Ray node
    saves none: its reply is text only)."""
    import socket

    job = Job(**jd)
    with tempfile.TemporaryDirectory(prefix="annbench-job-") as tmp:
        job_file, res_file = Path(tmp) / "job.json", Path(tmp) / "result.json"
        job_file.write_text(json.dumps(jd))
        env = job_env(job.threads, job.device)  # explicit: overrides e.g. Ray's OMP_NUM_THREADS
        start, started_at = time.monotonic(), time.time()
        load_before = _loadavg()
        cpus = job_cpus()
        with open(log, "wb") as lf:
            argv = [python, "-m", "harness.worker", str(job_file), str(res_file)] + ([str(weights)] if weights else [])
            proc = subprocess.Popen(argv, stdout=lf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    env=env, cwd=str(REPO), start_new_session=True,
                                    preexec_fn=_die_with_parent if die_with_parent else None)
            if cpus:
                os.sched_setaffinity(proc.pid, cpus)  # before its interpreter is up: no thread started yet
            status, reason, peak = _watch(proc, job)
        wall = time.monotonic() - start
        rec = _result(jd, status, reason, res_file, proc.returncode, log)
    rec["wall_s"] = wall
    # Other work on the machine skews timings (OpenMP pools suffer most): keep the evidence.
    rec["load_avg_1m"] = {"before": load_before, "after": _loadavg()}
    rec["node"] = node or socket.gethostname()
    rec["started_at"], rec["ended_at"] = started_at, time.time()  # epoch seconds: no two jobs overlap on a node
    rec["cpu_affinity"] = len(cpus) if cpus else None
    _record_tree_peak(rec, peak)
    return rec


def _result(jd: dict, status: str | None, reason: str | None, res_file: Path, code: int, log: Path) -> dict:
    if status is not None:
        return results.make_record(jd, status, reason)
    if not res_file.exists():
        return results.make_record(jd, "failed", _crash_reason(code, log))
    try:
        return json.loads(res_file.read_text())
    except ValueError as e:
        return results.make_record(jd, "failed", f"unreadable result: {e}")


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Linux: SIGKILL this child when the process that launched it dies (prctl PR_SET_PDEATHSIG)."""
    if _PRCTL is not None:
        _PRCTL(1, signal.SIGKILL)


def _libc_prctl():
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    try:
        return ctypes.CDLL(None, use_errno=True).prctl  # looked up here: nothing to load after the fork
    except (OSError, AttributeError):
        return None


_PRCTL = _libc_prctl()


def _record_tree_peak(rec: dict, sampled_mb: float) -> None:
    """``memory.tree_peak_mb``: peak RSS of the job's whole process tree (the worker and its compile
    workers: torch inductor's, PyTensor's compiler), the maximum of ``_watch``'s 0.1 s samples; a
    peak shorter than that can fall between samples, so it is never put below the worker's own
    exact peak (``rss_peak_mb``, part of the tree). ``tree_method`` says which bound it is."""
    if not sampled_mb:
        return
    mem = rec.get("memory") or {}
    own = mem.get("rss_peak_mb") or 0.0
    mem["tree_peak_mb"] = max(sampled_mb, own)
    mem["tree_method"] = "sampled-0.1s" + (" (below the worker's own peak: raised to it)" if own > sampled_mb else "")
    rec["memory"] = mem


def _watch(proc: subprocess.Popen, job: Job) -> tuple[str | None, str | None, float]:
    """Wait for the child, enforcing timeout and memory cap; returns (status, reason, peak MB)."""
    deadline = time.monotonic() + job.timeout_s
    peak, tick = 0.0, 0
    while proc.poll() is None:
        if time.monotonic() > deadline:
            _kill_group(proc)
            return "timeout", f"timed out after {job.timeout_s:g} s (timeout_s)", peak
        tick += 1
        if tick % 2 == 0:  # every 0.1 s
            rss = _tree_rss_mb(proc.pid)
            peak = max(peak, rss)
            if rss > job.memory_limit_mb:
                _kill_group(proc)
                return "failed", f"memory limit exceeded: {rss:.0f} MB > {job.memory_limit_mb} MB (memory_limit_mb)", peak
        time.sleep(POLL_S)
    return None, None, peak


def done_ids(out_dir: Path) -> tuple[set[str], list[str]]:
    """Job ids that already have a record (for --resume), and any torn-line problems found."""
    path = out_dir / "results.jsonl"
    problems = results.repair(path) if path.exists() else []
    res = results.read(path)
    return {r.get("job_id") for r in res.records if r.get("job_id")}, problems


def write_config(cfg: RunConfig, out_dir: Path) -> None:
    path = out_dir / "config.json"
    if not path.exists():
        path.write_text(json.dumps(cfg.model_dump(), indent=1))


def run(cfg: RunConfig, out_dir: Path, *, resume: bool = False, architectures: list[str] | None = None,
        frameworks: list[str] | None = None, benchmarks: list[str] | None = None, progress=None,
        on_record=None) -> Path:
    """Execute the plan into ``out_dir``; returns the results.jsonl path."""
    from harness import envinfo

    out_dir.mkdir(parents=True, exist_ok=True)
    run_id = out_dir.name
    jobs = expand(cfg, run_id, architectures, frameworks, benchmarks)
    finished, problems = done_ids(out_dir) if resume else (set(), [])
    for p in problems:
        print(f"warning: {p} (dropped; the job will run again)", file=sys.stderr)
    write_config(cfg, out_dir)
    env_path = out_dir / "env.json"
    if not env_path.exists():
        envinfo.write(env_path, cfg, progress=getattr(progress, "note", None))
    todo = [j for j in jobs if j.job_id not in finished]
    res_path = out_dir / "results.jsonl"
    if progress:
        progress.start(len(todo), len(jobs) - len(todo))
    filters = {"architectures": architectures, "frameworks": frameworks, "benchmarks": benchmarks}
    while todo:
        for job in todo:
            _run_and_record(job, out_dir, res_path, progress, on_record)
        # repeats: auto -- another interleaved round for the cells whose CI is still too wide
        todo = next_round(cfg, run_id, results.read(res_path).records, **filters)
        if todo and progress and hasattr(progress, "more"):
            progress.more(len(todo))
    if progress:
        progress.stop()
    return res_path


def _run_and_record(job: Job, out_dir: Path, res_path: Path, progress, on_record) -> None:
    if progress:
        progress.job_started(job)
    outcome = run_one(job, out_dir)
    results.append(res_path, outcome.record)
    if progress:
        progress.job_done(job, outcome.record)
    if on_record:
        on_record(outcome.record)
