"""Child process entry: one job, measured phase by phase, written as one result JSON.

Usage (by the runner): ``python -m harness.worker JOB.json RESULT.json [WEIGHTS.npz]``. Thread
environment variables are already set by the runner (harness/jobenv.py) before this interpreter
started; the framework is imported here, timed, and told its thread count through its own API.

The protocol (docs/design.md, "Measurement"), one function per phase:
prepare (import, threads, device) -> load (data, model, initial weights) -> build -> train (timed
epochs, untimed evaluation after each) -> evaluate -> infer (latency) -> extra timing (timing-only
epochs up to ``min_timed_s``) -> record; then, for the report's pictures, the trained canonical
weights to WEIGHTS.npz (``save_weights``).
"""
from __future__ import annotations

import importlib
import json
import math
import platform
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

import numpy as np

from harness import measure, registry, results
from harness.batching import epoch_arrays, epoch_permutation
from harness.contract import Spec
from harness.errors import Unsupported

INFER_WARMUP, INFER_REPEATS = 3, 20


class Diverged(RuntimeError):
    pass


class Stop(Exception):
    """A phase ended the job early with this record (skipped, unsupported)."""

    def __init__(self, record: dict) -> None:
        super().__init__(record.get("error"))
        self.record = record


@dataclass
class Job:
    """What every phase shares: the job, its spec and framework, the problem, and the record so far."""
    job: dict
    spec: Spec
    helper: ModuleType | None = None
    Adapter: type | None = None
    data: object = None
    model: object = None
    train: object = None
    weights: dict = field(default_factory=dict)
    base: dict = field(default_factory=dict)  # record fields gathered so far

    def stop(self, status: str, reason: str) -> Stop:
        return Stop(results.make_record(self.job, status, reason, **self.base))


@dataclass
class Training:
    """The timed epochs: per-epoch seconds and phase labels, the learning curve, time-to-target."""
    times: list[float] = field(default_factory=list)
    phases: list[str] = field(default_factory=list)
    curve: list[dict] = field(default_factory=list)
    examples: int = 0
    target: "Target | None" = None


def _epoch(spec: Spec, data, train, model, seed: int, epoch: int):
    perm = epoch_permutation(len(data.x_train), seed, epoch)
    rng = np.random.default_rng([seed, epoch, 0x5EED])
    return epoch_arrays(spec, data.x_train, data.y_train, train.batch_size, perm, model, rng)


def _phase(spec: Spec, epoch: int, model) -> str:
    """The epoch's phase label: the spec's ``epoch_phase`` (the DBN's layers, then its classifier),
    else one phase, "train"."""
    return spec.epoch_phase(epoch, model) if spec.epoch_phase is not None else "train"


class Target:
    """Time-to-target (MLPerf style): the first epoch after which the held-out metric reaches the
    value; the training seconds up to then (``train_s``: the timed epochs only, the evaluation runs
    outside them) and the wall time since training began (``wall_s``: epochs, batching and the
    per-epoch evaluation). Lower-is-better metrics (errors, losses; the spec says which) reach it
    from above."""

    def __init__(self, target: dict | None, spec: Spec) -> None:
        (self.metric, self.value), = target.items() if target else ((None, None),)
        self.lower = spec.lower_is_better(self.metric) if self.metric else False
        self.epochs: int | None = None
        self.seconds: float | None = None
        self.wall: float | None = None
        self.start = measure.now()
        self.seen = False

    def update(self, metrics: dict, epoch: int, seconds: float) -> None:
        v = metrics.get(self.metric) if self.metric else None
        if v is None or self.epochs is not None:
            return
        self.seen = True
        if (v <= self.value) if self.lower else (v >= self.value):
            self.epochs, self.seconds, self.wall = epoch, seconds, measure.now() - self.start

    def record(self) -> dict | None:
        if not self.metric:
            return None
        out = {"metric": self.metric, "value": self.value, "reached": self.epochs is not None,
               "epochs": self.epochs, "train_s": self.seconds, "wall_s": self.wall}
        if not self.seen:
            out["note"] = f"the evaluation produced no {self.metric!r} for this task"
        return out


# ------------------------------------------------------------------------------------------ phases


def prepare(job: dict) -> Job:
    """Import the framework (timed), set its threads and seed; stop when the device is missing or
    the adapter lacks the mode."""
    fw, arch = job["framework"], job["architecture"]
    j = Job(job, registry.spec(arch))
    t0 = measure.now()
    from harness.frameworks import helper as fw_helper

    j.helper = fw_helper(fw)  # imports the framework
    adapter_mod = importlib.import_module(f"architectures.{arch}.fw_{fw}")
    import_s = measure.now() - t0
    threads = j.helper.setup(job["threads"], job["seed"])
    j.base = {"timing": {"import_s": import_s}, "threads": {"requested": job["threads"], "actual": threads},
              "versions": {fw: j.helper.version(), "numpy": np.__version__, "python": platform.python_version()}}
    reason = j.helper.device_available(job["device"])
    if reason:
        raise j.stop("skipped", reason)
    j.base["gpu"] = gpu_info(j.helper, job["device"])
    j.Adapter = adapter_mod.Adapter
    if job["mode"] not in j.Adapter.MODES:
        raise j.stop("unsupported", f"{fw} {arch} has no '{job['mode']}' mode (has: {', '.join(j.Adapter.MODES)})")
    return j


def load(j: Job) -> None:
    """The data, model, train settings and the canonical initial weights (from the seed alone)."""
    from architectures import _shared
    from harness import datasets
    from harness.config import TrainConfig

    job, spec = j.job, j.spec
    j.data = datasets.load(job["dataset"], **job["data"])
    j.model = spec.Model(**job["model"])
    j.train = TrainConfig(**job["train"])
    j.weights = spec.init_weights(j.model, j.data.info, np.random.default_rng([job["seed"], 0x1A17]))
    j.base.update(params=spec.params(j.model, j.data.info),
                  flops_per_example=spec.flops_per_example(j.model, j.data.info),
                  extra={"data_fingerprint": j.data.fingerprint(), "notes": getattr(j.Adapter, "NOTES", ""),
                         # analytic floor of a training step's memory, shown beside the peak RSS
                         "memory_estimate": _shared.memory_estimate_mb(spec, j.model, j.data.info, j.train),
                         "n_train": int(len(j.data.x_train)), "n_test": int(len(j.data.x_test))})


def build(j: Job):
    """The adapter, built from a copy of the canonical weights (adapters may alias their input)."""
    t = measure.now()
    try:
        adapter = j.Adapter(j.model, j.data.info, j.train, mode=j.job["mode"], device=j.job["device"],
                            seed=j.job["seed"])
        adapter.build({k: v.copy() for k, v in j.weights.items()})
    except Unsupported as e:
        raise j.stop("unsupported", str(e)) from None
    adapter.sync()
    return adapter, measure.now() - t


def timed_epoch(adapter, xb: np.ndarray, yb: np.ndarray) -> tuple[float | None, float]:
    """One epoch on the clock, synced: (mean training loss, seconds)."""
    t = measure.now()
    loss = adapter.train_epoch(xb, yb)
    adapter.sync()
    return loss, measure.now() - t


def train(j: Job, adapter) -> Training:
    """``train.epochs`` timed epochs; after each, an untimed held-out evaluation for the curve and
    the target. A non-finite loss ends the job as diverged."""
    spec, data, model = j.spec, j.data, j.model
    run = Training(target=Target((j.job.get("extra") or {}).get("target"), spec))
    for epoch in range(j.train.epochs):
        xb, yb = _epoch(spec, data, j.train, model, j.job["seed"], epoch)
        run.examples = int(xb.shape[0] * xb.shape[1]) if xb.ndim >= 2 else int(len(xb))
        loss, dt = timed_epoch(adapter, xb, yb)
        run.times.append(dt)
        run.phases.append(_phase(spec, epoch, model))
        if loss is None or not math.isfinite(loss):
            raise Diverged(f"diverged: training loss {loss} at epoch {epoch + 1}")
        # untimed: outside dt. A spec may give the learning curve a cheaper evaluation than the final
        # one (``evaluate_epoch``: the RBM at 784 x 256 skips its slow diagnostics)
        m = (spec.evaluate_epoch or spec.evaluate)(adapter, data.x_test, data.y_test, model)
        run.target.update(m, epoch + 1, float(sum(run.times)))
        run.curve.append({"epoch": epoch + 1, "loss": float(loss), "metric": spec.primary(m),
                          "seconds": float(sum(run.times)), **({"phase": run.phases[-1]} if spec.epoch_phase else {})})
    return run


def infer(adapter, x: np.ndarray, batch: int) -> tuple[float, float]:
    """Median latency (ms) of predicting one batch, and examples per second at that median."""
    xb = x[: min(batch, len(x))]

    def call():
        out = adapter.predict(xb)  # returns numpy: the host fetch is the sync
        adapter.sync()
        return out

    times = measure.time_repeated(call, INFER_REPEATS, INFER_WARMUP)
    med = float(np.median(times))
    return med * 1e3, len(xb) / med


def extra_timing(j: Job, adapter, run: Training) -> dict:
    """Timing-only epochs after the configured ones, appended to the last phase's steady epochs
    until the steady epochs add up to ``job["min_timed_s"]`` seconds: the same epochs the job would
    run with more ``train.epochs`` (the harness's batches for epochs E, E+1, ...), timed and synced
    alike, after the metrics and inference latency are taken, so they change no reported metric,
    curve, target or train_s. Only where there is a steady state (two epochs or more) and the
    spec's epochs are alike (``EXTRA_TIMING``); at most 4 x min_timed_s of wall time. Returns the
    record's ``extra_epochs`` and ``min_timed_s`` (``extra_stopped`` when a non-finite loss or the
    wall-time cap ended it)."""
    budget = float(j.job.get("min_timed_s") or 0.0)
    out: dict = {"extra_epochs": 0, "min_timed_s": budget}
    if len(run.times) < 2 or not j.spec.EXTRA_TIMING:
        return out
    total = sum(run.times[1:])
    deadline = measure.now() + 4 * budget  # the untimed batching of each epoch may cost more than its training
    while total < budget:
        if measure.now() > deadline:
            out["extra_stopped"] = "wall-time cap (4 x min_timed_s) reached: batching dominates"
            break
        epoch = j.train.epochs + out["extra_epochs"]
        loss, dt = timed_epoch(adapter, *_epoch(j.spec, j.data, j.train, j.model, j.job["seed"], epoch))
        if loss is None or not math.isfinite(loss):  # nan/inf arithmetic may run at another speed: untimed
            out["extra_stopped"] = f"training loss {loss} at extra epoch {out['extra_epochs'] + 1}"
            break
        run.times.append(dt)
        run.phases.append(run.phases[-1])
        total += dt
        out["extra_epochs"] += 1
    return out


# ------------------------------------------------------------------------------------------ timing


def _steady(run: Training) -> tuple[dict[str, float], dict[str, list[float]]]:
    """Split the epochs by phase: each phase's first epoch holds its tracing/JIT/compilation (a new
    phase is a new program), the rest are steady. Returns (first epoch by phase, steady times by
    phase), phases in the order they ran."""
    firsts: dict[str, float] = {}
    by_phase: dict[str, list[float]] = {}
    for dt, ph in zip(run.times, run.phases):
        if ph in firsts:
            by_phase[ph].append(dt)
        else:
            firsts[ph], by_phase[ph] = dt, []
    return firsts, by_phase


def _compile_s(firsts: dict[str, float], by_phase: dict[str, list[float]]) -> float | None:
    """What the phases' first epochs cost beyond a steady epoch of their own phase (None: no phase
    has a steady state to compare with)."""
    parts = [max(firsts[ph] - float(np.median(ts)), 0.0) for ph, ts in by_phase.items() if ts]
    return float(sum(parts)) if parts else None


def _phase_timing(j: Job, firsts: dict[str, float], by_phase: dict[str, list[float]], examples: int) -> dict | None:
    """Per phase (phased specs only): its first epoch, steady epochs timed, their median (None when
    the phase had one epoch), and FLOP/s from the spec's per-phase training FLOPs
    (``flops_per_example()["phases"]``)."""
    if j.spec.epoch_phase is None:
        return None
    flops = (j.base.get("flops_per_example") or {}).get("phases") or {}
    out = {}
    for ph, ts in by_phase.items():
        med = float(np.median(ts)) if ts else None
        out[ph] = {"first_epoch_s": firsts[ph], "epochs_timed": len(ts), "epoch_s": med,
                   "train_flops_per_s": flops[ph] * examples / med if ph in flops and med else None}
    return out


def _flops_per_s(j: Job, run: Training, by_phase: dict[str, list[float]], epoch_s: float | None) -> float | None:
    """Analytic training FLOPs over the time they took (docs/design.md, Measurement 7): one steady epoch's over
    its median; with phases, every steady epoch's FLOPs (its phase's) over their summed time."""
    flops = j.base.get("flops_per_example") or {}
    if not flops.get("train") or not epoch_s:
        return None
    per_phase = flops.get("phases")
    if j.spec.epoch_phase is None or not per_phase:
        return flops["train"] * run.examples / epoch_s
    work = sum(per_phase[ph] * run.examples * len(ts) for ph, ts in by_phase.items() if ph in per_phase)
    secs = sum(sum(ts) for ph, ts in by_phase.items() if ph in per_phase)
    return work / secs if secs else None


def timing(j: Job, run: Training, build_s: float, eval_s: float, infer_s: tuple, extra: dict) -> dict:
    """The record's ``timing``: the steady epoch is the median of every epoch but each phase's first
    (one epoch: no steady state, honest None); compile_s is what the phases' first epochs cost beyond
    a steady one of their phase (tracing, JIT/XLA/inductor compilation, autotune)."""
    firsts, by_phase = _steady(run)
    steady = [dt for ts in by_phase.values() for dt in ts]
    epoch_s = float(np.median(steady)) if steady else None
    out = {**j.base["timing"], "build_s": build_s, "first_epoch_s": run.times[0], "epoch_s": epoch_s,
           "epoch_iqr_s": float(np.subtract(*np.percentile(steady, [75, 25]))) if steady else None,
           "epochs_timed": len(steady), **extra, "train_s": float(sum(run.times[:j.train.epochs])),
           "eval_s": eval_s, "compile_s": _compile_s(firsts, by_phase),
           "infer_ms": infer_s[0], "infer_per_s": infer_s[1], "examples_per_epoch": run.examples}
    phases = _phase_timing(j, firsts, by_phase, run.examples)
    if phases:
        out["phases"] = phases
    rate = _flops_per_s(j, run, by_phase, epoch_s)
    if rate is not None:
        out["train_flops_per_s"] = rate
    return out


# ------------------------------------------------------------------------------------------ the GPU


def gpu_info(helper, device: str) -> dict | None:
    """GPU model, driver, CUDA and cuDNN of a cuda job (the framework's view); None on the CPU."""
    return helper.gpu_info(device) if device == "cuda" and hasattr(helper, "gpu_info") else None


def h2d(j: Job) -> float | None:
    """Transfer policy (cuda): host-to-device copying is timed apart, as ``timing.h2d_s``: the median of
    3 copies of one epoch's batches with the framework's own transfer, synced, outside every timed
    epoch. (Adapters still convert their numpy batches inside ``train_epoch``, so a cuda ``epoch_s``
    holds one such copy: epoch_s - h2d_s is the compute.) None on the CPU: there is nothing to copy."""
    if j.job["device"] != "cuda" or not hasattr(j.helper, "h2d"):
        return None
    xb, yb = _epoch(j.spec, j.data, j.train, j.model, j.job["seed"], 0)
    return float(np.median([j.helper.h2d([xb, yb], j.job["device"]) for _ in range(3)]))


# ------------------------------------------------------------------------------------------ weights


def save_weights(j: Job, adapter, path: Path | None) -> dict:
    """The trained canonical weights (``adapter.get_weights()``) to ``path`` as compressed npz, for
    the report's pictures, when the job asks for it (``save_weights_mb``, repeat 0) and they take at
    most that many MB as float32. After every measurement, so it changes no timing or memory figure.
    Returns the record's fields: ``weights_file`` (the path written; the runner makes it relative to
    the run directory), or ``extra.weights_note`` saying why nothing was written. Never fails the job."""
    limit = float(j.job.get("save_weights_mb") or 0.0)
    if path is None or limit <= 0:
        return {}
    try:
        weights = {k: np.asarray(v, np.float32) for k, v in adapter.get_weights().items()}
        mb = sum(v.nbytes for v in weights.values()) / 2**20
        if mb > limit:
            return {"note": f"weights not saved: {mb:.1f} MB > save_weights_max_mb ({limit:g} MB)"}
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.stem}.tmp.npz")  # readers never see a half-written file
        np.savez_compressed(tmp, **weights)
        tmp.replace(path)
        return {"file": str(path)}
    except Exception as e:  # noqa: BLE001 - the pictures are a by-product: the job's record stands
        return {"note": f"weights not saved: {type(e).__name__}: {results.one_line(str(e), 150)}"}


# ------------------------------------------------------------------------------------------ the job


def run_job(job: dict, weights_path: Path | None = None) -> dict:
    """prepare -> load -> build -> train -> evaluate -> infer -> extra timing -> record (and the
    trained weights to ``weights_path``: ``save_weights``)."""
    # before the import, so BLAS threads spinning after this probe cannot touch any timed phase
    speed_before = measure.machine_speed()
    try:
        j = prepare(job)
        load(j)
        rss_base = measure.rss_mb()
        j.helper.reset_gpu_peak()
        with measure.PeakRSS() as peak:
            adapter, build_s = build(j)
            run = train(j, adapter)
            t = measure.now()
            metrics = j.spec.evaluate(adapter, j.data.x_test, j.data.y_test, j.model)
            eval_s = measure.now() - t
    except Stop as s:
        return s.record
    latency = infer(adapter, j.data.x_test, j.train.batch_size)
    extra = {**extra_timing(j, adapter, run), "h2d_s": h2d(j)}
    memory = {"rss_base_mb": rss_base, "rss_peak_mb": peak.peak_mb, "gpu_peak_mb": j.helper.gpu_peak_mb(),
              "rss_method": peak.method}
    fields = {**j.base, "timing": timing(j, run, build_s, eval_s, latency, extra),
              "machine_speed_gflops": {"before": speed_before, "after": measure.machine_speed()},
              "extra": {**j.base["extra"], **j.spec.extra_record(adapter, j.data, j.model, j.weights)}}
    saved = save_weights(j, adapter, weights_path)
    fields["weights_file"] = saved.get("file")
    if "note" in saved:
        fields["extra"]["weights_note"] = saved["note"]
    if run.target.metric:
        fields["target"] = run.target.record()
    return results.make_record(job, "ok", None, metrics=metrics, curve=run.curve, memory=memory, **fields)


def main(argv: list[str]) -> int:
    job = json.loads(Path(argv[1]).read_text())
    out = Path(argv[2])
    weights = Path(argv[3]) if len(argv) > 3 else None
    try:
        rec = run_job(job, weights)
    except Diverged as e:
        rec = results.make_record(job, "failed", str(e))
    except Exception as e:  # one line for the record, the traceback for the job's log
        traceback.print_exc(file=sys.stderr)
        rec = results.make_record(job, "failed", f"{type(e).__name__}: {e}")
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(rec))
    tmp.replace(out)
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
