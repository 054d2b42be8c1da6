"""``annbench run --executor ray``: the jobs of a run spread over the nodes of a Ray cluster.

Ray only carries the work; what makes a measurement trustworthy stays as in a local run:

- each job is one Ray task whose only work is to start the same fresh ``python -m harness.worker``
  process on its node (harness.runner.execute: thread variables and CPU affinity set explicitly, never
  inherited from Ray, which sets ``OMP_NUM_THREADS`` from ``num_cpus``), and to send back the record as
  JSON text, the job's log as text and repeat 0's trained weights as base64 text of their .npz (the
  report's pictures; the driver reads it as float32 arrays only, ``allow_pickle=False``);
- one job per node at a time: a worker node advertises one ``annbench_slot`` and every task asks for
  it; the driver also places each task itself (hard node affinity) so that a cell's repeats stay on
  one node (their ratios are paired) unless the config says ``spread_repeats: true``;
- the driver appends each record to results.jsonl (fsync) as its task completes, so ``--resume``
  works; a timeout is enforced on the node (the subprocess) and by the driver (``ray.cancel(force=True)``
  past the job's timeout plus a grace); a node that dies or a reply that is not a record turns that
  job into ``failed`` with one line, and the run goes on.

No open door: the local cluster started here binds 127.0.0.1 with the dashboard off; ``--address`` to
another machine prints the security reminder (Ray has no authentication: CVE-2023-48022).
"""
from __future__ import annotations

import base64
import io
import json
import os
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness import results, runner
from harness.config import RunConfig
from harness.executors import ExecutorError, ray_node
from harness.plan import Job, expand, next_round

SLOT = "annbench_slot"
GRACE_S = 60.0  # the driver's deadline: the job's timeout_s plus this (worker start, record transfer)
POLL_S = 0.25
SECURITY = ("Ray has no authentication: anyone who can reach its ports (dashboard, job API, GCS) can run "
            "code on every node (CVE-2023-48022). Keep the cluster on a private network or behind a "
            "firewall/VPN and never expose its ports.")
LOOPBACK = ("localhost", "127.0.0.1", "::1")


def _import_ray():
    try:
        import ray
    except ImportError as e:
        raise ExecutorError(f"--executor ray: Ray is not installed ({e}); pip install 'annbench[ray]'") from None
    return ray


def _stay_on_loopback(ray) -> None:
    """A cluster on 127.0.0.1 only: Ray otherwise swaps a loopback address for the machine's outward IP
    (``resolve_ip_for_localhost``), where nothing listens. Ray's single-machine switch, for this process
    (the flag is read at call time) and for the processes it starts (the variable)."""
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    from ray._private import ray_constants

    ray_constants.ENABLE_RAY_CLUSTER = False


def _host_port(address: str) -> tuple[str, int]:
    hp = address.split("://", 1)[-1].rsplit("/", 1)[0]
    host, _, port = hp.rpartition(":")
    if not host or not port.isdigit():
        raise ExecutorError(f"--address {address!r}: expected HOST:PORT (the head's GCS address), or auto")
    return host.strip("[]"), int(port)


def _reachable(host: str, port: int, timeout: float = 3.0) -> str | None:
    """None when a TCP connection to host:port opens, else why not."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except OSError as e:
        return e.strerror or type(e).__name__


def _discovered(ray) -> str | None:
    """A live cluster on this machine, as ``ray start`` left its address: None when there is none, or
    when the address is stale (nothing listens there any more)."""
    try:
        from ray._private.utils import read_ray_address

        addr = read_ray_address()
    except Exception:  # noqa: BLE001 - discovery is best effort: no address means start our own
        addr = None
    if not addr:
        return None
    host, port = _host_port(addr)
    return addr if _reachable(host, port, 1.0) is None else None


def connect(address: str | None) -> "RayCluster":
    """Connect to the cluster at ``address`` (else ``RAY_ADDRESS``; ``auto``: a live one on this machine,
    else a new local one on 127.0.0.1 with the dashboard off and one slot). Raises ExecutorError, one line."""
    ray = _import_ray()
    address = address or os.environ.get("RAY_ADDRESS") or "auto"
    if address == "auto" and (address := _discovered(ray)) is None:
        _stay_on_loopback(ray)
        return RayCluster(ray, None)
    host, port = _host_port(address)
    loopback = host in LOOPBACK or host.startswith("127.")
    if loopback:
        _stay_on_loopback(ray)
    if (why := _reachable(host, port)) is not None:
        raise ExecutorError(f"--address {address}: no Ray cluster reachable there ({why})")
    if not loopback and host not in _own_addresses():
        print(f"annbench: note: {SECURITY}", file=sys.stderr)  # once per run, before connecting
    return RayCluster(ray, address)


def _own_addresses() -> set[str]:
    """This machine's addresses (a cluster here, bound to its outward IP, is still not another machine)."""
    try:
        return {socket.gethostname(), *socket.gethostbyname_ex(socket.gethostname())[2]}
    except OSError:
        return {socket.gethostname()}


class RayCluster:
    """The driver's connection; ``started`` when it started the local cluster itself."""

    def __init__(self, ray, address: str | None) -> None:
        self.ray, self.started = ray, address is None
        kw = dict(include_dashboard=False, logging_level="ERROR", log_to_driver=False,
                  _node_ip_address="127.0.0.1") if address is None else dict(logging_level="ERROR",
                                                                              log_to_driver=False)
        if address is None:  # one job at a time on this machine, like the local executor
            kw.update(num_cpus=os.cpu_count() or 1, resources={SLOT: 1})
        try:
            ray.init(address=address or "local", **kw)  # "local": a new one, whatever address files say
        except Exception as e:  # noqa: BLE001 - whatever Ray raises, the user gets one line
            raise ExecutorError(f"--executor ray: cannot connect to {address or 'a new local cluster'}: "
                                f"{type(e).__name__}: {results.one_line(str(e), 200)}") from None
        if not any(n["Alive"] and n["Resources"].get(SLOT) for n in ray.nodes()):
            self.close()
            raise ExecutorError(f"the Ray cluster at {address} has no node offering {SLOT} (start each worker "
                                f"with: ray start --address=HEAD:6379 --resources='{{\"{SLOT}\": 1}}')")

    def close(self) -> None:
        self.ray.shutdown()  # stops the local cluster when this driver started it


@dataclass
class Running:
    job: Job
    node_id: str
    node: str
    deadline: float


def cell(job: Job) -> tuple:
    return (job.benchmark, job.framework, job.mode, job.device)


class Dispatcher:
    """Places jobs on free slot nodes, collects records as tasks complete, enforces deadlines."""

    def __init__(self, cluster: RayCluster, cfg: RunConfig, out_dir: Path, *, grace_s: float = GRACE_S,
                 task=None, progress=None, on_record=None) -> None:
        ray = cluster.ray
        ray.cloudpickle.register_pickle_by_value(ray_node)  # nodes need the repo, not harness on their path
        self.ray, self.cfg, self.out_dir, self.grace_s = ray, cfg, out_dir, grace_s
        self.task = ray.remote(task or ray_node.run_job)
        self.progress, self.on_record = progress, on_record
        self.res_path = out_dir / "results.jsonl"
        self.names: dict[str, str] = {}  # node id -> name, stable for the run
        self.nodes: dict[str, dict] = {}  # alive slot nodes: id -> {"name", "gpus"}
        self.homes: dict[tuple, str] = {}  # cell -> node name its repeats run on
        self.running: dict = {}  # ObjectRef -> Running
        self.refresh()

    def refresh(self) -> dict[str, dict]:
        alive = {}
        for n in self.ray.nodes():
            if n.get("Alive") and n["Resources"].get(SLOT, 0) >= 1:
                nid, host = n["NodeID"], n.get("NodeManagerHostname") or n.get("NodeManagerAddress")
                if nid not in self.names:  # hostname, or hostname:id when the host has several nodes
                    self.names[nid] = host if host not in self.names.values() else f"{host}:{nid[:6]}"
                alive[nid] = {"name": self.names[nid], "gpus": n["Resources"].get("GPU", 0)}
        self.nodes = alive
        return alive

    def home_from(self, records: list[dict]) -> None:
        """Cells of records already there (``--resume``) keep their node."""
        if not self.cfg.spread_repeats:
            for r in records:
                if r.get("node") and r.get("status") in ("ok", "failed", "timeout"):
                    self.homes.setdefault((r["benchmark"], r["framework"], r["mode"], r["device"]), r["node"])

    def run(self, todo: list[Job]) -> None:
        pending = list(todo)
        last = time.monotonic()
        while pending or self.running:
            if time.monotonic() - last > 1.0:
                self.refresh()
                last = time.monotonic()
            pending = self._start(pending)
            if not self.running:
                if pending:  # nothing can start anywhere: no slot node is left
                    self._refuse(pending)
                return
            ready, _ = self.ray.wait(list(self.running), num_returns=1, timeout=POLL_S)
            for ref in ready:
                self._finish(self.running.pop(ref), ref)
            self._expire()

    def _start(self, pending: list[Job]) -> list[Job]:
        """Record the jobs that need no node; start one job on each free node that may take one."""
        gpus = any(n["gpus"] >= 1 for n in self.nodes.values())
        left = []
        for job in pending:
            if job.preset_status:
                self._record(job, results.make_record(job.to_dict(), job.preset_status, job.preset_reason))
            elif job.device == "cuda" and not gpus:
                self._record(job, results.make_record(job.to_dict(), "skipped", "no node of the Ray cluster "
                                                      "offers a GPU (num_gpus): cuda jobs need one"))
            else:
                left.append(job)
        busy = {r.node_id for r in self.running.values()}
        for nid, info in self.nodes.items():
            if nid in busy:
                continue
            job = next((j for j in left if self._fits(j, info)), None)
            if job is not None:
                left.remove(job)
                self._submit(job, nid, info["name"])
        return left

    def _fits(self, job: Job, info: dict) -> bool:
        if job.device == "cuda" and info["gpus"] < 1:
            return False
        home = self.homes.get(cell(job))
        alive = {n["name"] for n in self.nodes.values()}
        return self.cfg.spread_repeats or home is None or home == info["name"] or home not in alive

    def _submit(self, job: Job, nid: str, name: str) -> None:
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        if not self.cfg.spread_repeats:
            self.homes.setdefault(cell(job), name)
        if self.progress:
            self.progress.job_started(job)
        ref = self.task.options(
            num_cpus=0, num_gpus=1 if job.device == "cuda" else 0, resources={SLOT: 1}, max_retries=0,
            scheduling_strategy=NodeAffinitySchedulingStrategy(node_id=nid, soft=False),
            name=f"annbench:{job.job_id}").remote(job.to_dict(), str(runner.REPO), name)
        self.running[ref] = Running(job, nid, name, time.monotonic() + job.timeout_s + self.grace_s)

    def _finish(self, r: Running, ref) -> None:
        jd = r.job.to_dict()
        try:
            reply = self.ray.get(ref)
        except self.ray.exceptions.RayError as e:
            first = (str(e).strip().splitlines() or [""])[0]
            rec = results.make_record(jd, "failed", f"Ray {type(e).__name__} on node {r.node}: {first}")
            self.refresh()  # a node may have died: place nothing more there
            return self._record(r.job, rec, r.node, f"{rec['error']}\n")
        rec, log = parse_reply(jd, reply, r.node)
        if rec["status"] == "ok":
            save_node_weights(self.out_dir, r.job, rec, reply[2] if len(reply) == 3 else "", r.node)
        self._record(r.job, rec, r.node, log)

    def _expire(self) -> None:
        now = time.monotonic()
        for ref, r in list(self.running.items()):
            if now > r.deadline:
                self.ray.cancel(ref, force=True)  # kills the task's worker; its job process dies with it
                del self.running[ref]
                why = (f"timed out after {r.job.timeout_s:g} s (timeout_s): the driver cancelled the task "
                       f"{self.grace_s:g} s past it (ray.cancel force=True)")
                self._record(r.job, results.make_record(r.job.to_dict(), "timeout", why), r.node, why + "\n")

    def _refuse(self, pending: list[Job]) -> None:
        for job in pending:
            why = f"no Ray node with {SLOT} is alive to run it" if not self.nodes else \
                "no node of the Ray cluster can run it (a cuda job needs a node with a GPU)"
            self._record(job, results.make_record(job.to_dict(), "failed", why))

    def _record(self, job: Job, rec: dict, node: str | None = None, log: str | None = None) -> None:
        if node is not None:
            rec["node"] = node  # the driver's name for the node, whatever the node said
        if log is not None:
            path = self.out_dir / "logs" / f"{runner.safe_name(job.job_id)}.log"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(log, errors="replace")  # text from the node, written as text: nothing else
            rec["log"] = str(path.relative_to(self.out_dir))
        results.append(self.res_path, rec)
        if self.progress:
            self.progress.job_done(job, rec)
        if self.on_record:
            self.on_record(rec)


def parse_reply(jd: dict, reply, node: str) -> tuple[dict, str]:
    """A node's reply -> (record, log text). The reply is data: a record is accepted only as JSON text
    of an annbench record for this very job; anything else makes the job ``failed``."""
    if not (isinstance(reply, tuple) and len(reply) in (2, 3) and all(isinstance(x, str) for x in reply)):
        return results.make_record(jd, "failed", f"node {node} sent a malformed reply "
                                   f"({type(reply).__name__}), not (record, log[, weights]) text"), ""
    text, log = reply[:2]
    try:
        rec = json.loads(text)
    except ValueError as e:
        return results.make_record(jd, "failed", f"node {node} sent a malformed record (not JSON: {e})"), log
    if not (isinstance(rec, dict) and rec.get("schema") == results.SCHEMA and rec.get("job_id") == jd["job_id"]
            and rec.get("status") in results.STATUSES):
        return results.make_record(jd, "failed", f"node {node} sent a record that is not this job's "
                                   f"annbench record"), log
    return rec, log


def save_node_weights(out_dir: Path, job: Job, rec: dict, text: str, node: str) -> None:
    """Write the weights a node sent (base64 text of an .npz) to ``<run>/weights/<job>.npz``, as a local
    run does, and name them in ``rec``; the node's own path means nothing here. Read as data: float32
    arrays only, no pickles, no more than the job's ``save_weights_max_mb``; else a note and no file."""
    rec["weights_file"] = None
    if not text:
        return
    try:
        blob = base64.b64decode(text, validate=True)
        with np.load(io.BytesIO(blob), allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        mb = sum(a.nbytes for a in arrays.values()) / 2**20
        if not arrays or any(a.dtype != np.float32 for a in arrays.values()) or mb > job.save_weights_mb:
            raise ValueError(f"not float32 arrays within save_weights_max_mb ({mb:.1f} MB)")
    except Exception as e:  # noqa: BLE001 - the pictures are a by-product: the record stands
        rec.setdefault("extra", {})["weights_note"] = \
            f"weights from node {node} not saved: {type(e).__name__}: {results.one_line(str(e), 150)}"
        return
    path = out_dir / "weights" / f"{runner.safe_name(job.job_id)}.npz"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp.npz")  # readers never see a half-written file
    tmp.write_bytes(blob)
    tmp.replace(path)
    rec["weights_file"] = str(path.relative_to(out_dir))


def probe_nodes(d: Dispatcher, cfg: RunConfig, timeout_s: float = 900.0) -> dict[str, dict]:
    """The run-start probes on every slot node, once, in parallel (each holds its node's slot)."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    probe = d.ray.remote(ray_node.probe_node)
    refs = {probe.options(num_cpus=0, resources={SLOT: 1}, max_retries=0,
                          scheduling_strategy=NodeAffinitySchedulingStrategy(node_id=nid, soft=False))
            .remote(cfg.model_dump(), str(runner.REPO)): info["name"] for nid, info in d.nodes.items()}
    ready, late = d.ray.wait(list(refs), num_returns=len(refs), timeout=timeout_s)
    out: dict[str, dict] = {}
    for ref in ready:
        try:
            out[refs[ref]] = json.loads(d.ray.get(ref))
        except (d.ray.exceptions.RayError, ValueError) as e:
            out[refs[ref]] = {"error": results.one_line(f"{type(e).__name__}: {e}", 200)}
    for ref in late:
        d.ray.cancel(ref, force=True)
        out[refs[ref]] = {"error": f"probe did not finish in {timeout_s:g} s"}
    return out


def write_env(d: Dispatcher, cfg: RunConfig, path: Path, progress=None) -> None:
    """env.json of a Ray run: the driver's machine, each node's probes under its name (``nodes``), and
    at the top the first node's GEMM peaks (what a single-machine report reads)."""
    from harness import envinfo

    if progress and hasattr(progress, "note"):
        progress.note(f"probing {len(d.nodes)} Ray node(s): machine, versions, GEMM peaks")
    info = envinfo.collect(cfg, gemm=False)
    info.update(executor="ray", nodes=probe_nodes(d, cfg))
    first = next((n for n in info["nodes"].values() if "gemm_peaks" in n), None)
    if first:
        info.update({k: first[k] for k in ("gemm_peaks", "gemm_peak", "framework_probe") if k in first})
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(info, indent=1))
    os.replace(tmp, path)


def run(cluster: RayCluster, cfg: RunConfig, out_dir: Path, *, resume: bool = False,
        architectures: list[str] | None = None, frameworks: list[str] | None = None,
        benchmarks: list[str] | None = None, progress=None, on_record=None, grace_s: float = GRACE_S,
        task=None) -> Path:
    """harness.runner.run on a Ray cluster; returns the results.jsonl path. ``task``: the node function
    (tests inject faults with it; default ray_node.run_job)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    jobs = expand(cfg, out_dir.name, architectures, frameworks, benchmarks)
    finished, problems = runner.done_ids(out_dir) if resume else (set(), [])
    for p in problems:
        print(f"warning: {p} (dropped; the job will run again)", file=sys.stderr)
    runner.write_config(cfg, out_dir)
    d = Dispatcher(cluster, cfg, out_dir, grace_s=grace_s, task=task, progress=progress, on_record=on_record)
    d.home_from(results.read(d.res_path).records)
    if not (out_dir / "env.json").exists():
        write_env(d, cfg, out_dir / "env.json", progress)
    todo = [j for j in jobs if j.job_id not in finished]
    if progress:
        progress.start(len(todo), len(jobs) - len(todo))
    filters = {"architectures": architectures, "frameworks": frameworks, "benchmarks": benchmarks}
    while todo:
        d.run(todo)
        todo = next_round(cfg, out_dir.name, results.read(d.res_path).records, **filters)
        if todo and progress and hasattr(progress, "more"):
            progress.more(len(todo))
    if progress:
        progress.stop()
    return d.res_path
