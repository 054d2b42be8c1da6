"""Child process entry: one job, measured phase by phase, written as one result JSON.

Usage (by the runner): ``python -m harness.worker JOB.json RESULT.json``. Thread environment
variables are already set by the runner before this interpreter started; the framework is
imported here, timed, and told its thread count through its own API.
"""
from __future__ import annotations

import importlib
import json
import math
import sys
import traceback
from pathlib import Path

import numpy as np

from harness import measure, results
from harness.batching import epoch_arrays, epoch_permutation

INFER_WARMUP, INFER_REPEATS = 3, 20


class Diverged(RuntimeError):
    pass


def _versions(helper, fw: str) -> dict:
    import platform

    return {fw: helper.version(), "numpy": np.__version__, "python": platform.python_version()}


def _epoch(spec, data, train, model, seed: int, epoch: int):
    perm = epoch_permutation(len(data.x_train), seed, epoch)
    rng = np.random.default_rng([seed, epoch, 0x5EED])
    return epoch_arrays(spec, data.x_train, data.y_train, train.batch_size, perm, model, rng)


def _primary(spec, metrics: dict) -> float | None:
    for key in (getattr(spec, "PRIMARY", None), *getattr(spec, "METRICS", ())):
        if key in metrics and metrics[key] is not None:
            return metrics[key]
    return None


class Target:
    """Time-to-target (MLPerf style): the first epoch after which the held-out metric reaches the
    value; the training seconds up to then (``train_s``: the timed epochs only, the evaluation runs
    outside them) and the wall time since training began (``wall_s``: epochs, batching and the
    per-epoch evaluation). Lower-is-better metrics (errors, losses) reach it from above."""

    def __init__(self, spec: dict | None) -> None:
        (self.metric, self.value), = spec.items() if spec else ((None, None),)
        self.lower = results.lower_is_better(self.metric) if self.metric else False
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


def _infer(adapter, x: np.ndarray, batch: int) -> tuple[float, float]:
    """Median latency (ms) of predicting one batch, and examples per second at that median."""
    xb = x[: min(batch, len(x))]

    def call():
        out = adapter.predict(xb)  # returns numpy: the host fetch is the sync
        adapter.sync()
        return out

    times = measure.time_repeated(call, INFER_REPEATS, INFER_WARMUP)
    med = float(np.median(times))
    return med * 1e3, len(xb) / med


def _extra_timing(spec, data, train, model, adapter, job: dict, steady: list[float]) -> dict:
    """Timing-only epochs after the configured ones, appended to ``steady`` until it adds up to
    ``job["min_timed_s"]`` seconds: the same epochs the job would run with more ``train.epochs`` (the
    harness's batches for epochs E, E+1, ...), timed and synced the same way, after the metrics and
    the inference latency are taken, so they change no reported metric, curve, target or train_s.
    Only where there is a steady state (two epochs or more) and the architecture's epochs are alike
    (``spec.EXTRA_TIMING``); at most 4 x min_timed_s of wall time. Returns the record's
    ``timing.extra_epochs`` and ``min_timed_s`` (and ``extra_stopped`` when the loss went non-finite
    or the wall-time cap ended it)."""
    budget = float(job.get("min_timed_s") or 0.0)
    out: dict = {"extra_epochs": 0, "min_timed_s": budget}
    total = sum(steady)
    if not steady or not getattr(spec, "EXTRA_TIMING", True):
        return out
    deadline = measure.now() + 4 * budget  # the untimed batching of each epoch may cost more than its training
    while total < budget:
        if measure.now() > deadline:
            out["extra_stopped"] = "wall-time cap (4 x min_timed_s) reached: batching dominates"
            break
        xb, yb = _epoch(spec, data, train, model, job["seed"], train.epochs + out["extra_epochs"])
        t = measure.now()
        loss = adapter.train_epoch(xb, yb)
        adapter.sync()
        dt = measure.now() - t
        if loss is None or not math.isfinite(loss):  # nan/inf arithmetic may run at another speed: untimed
            out["extra_stopped"] = f"training loss {loss} at extra epoch {out['extra_epochs'] + 1}"
            break
        steady.append(dt)
        total += dt
        out["extra_epochs"] += 1
    return out


def run_job(job: dict) -> dict:
    from architectures import _shared
    from harness import datasets
    from harness.config import TrainConfig

    fw, arch = job["framework"], job["architecture"]
    # before the import, so BLAS threads spinning after this probe cannot touch any timed phase
    speed_before = measure.machine_speed()
    t0 = measure.now()
    from harness.frameworks import helper as fw_helper

    helper = fw_helper(fw)  # imports the framework
    adapter_mod = importlib.import_module(f"architectures.{arch}.fw_{fw}")
    import_s = measure.now() - t0
    thread_info = helper.setup(job["threads"], job["seed"])
    versions = _versions(helper, fw)
    base = {"timing": {"import_s": import_s}, "threads": {"requested": job["threads"], "actual": thread_info},
            "versions": versions}

    reason = helper.device_available(job["device"])
    if reason:
        return results.make_record(job, "skipped", reason, **base)
    Adapter = adapter_mod.Adapter
    if job["mode"] not in Adapter.MODES:
        return results.make_record(job, "unsupported", f"{fw} {arch} has no '{job['mode']}' mode "
                                   f"(has: {', '.join(Adapter.MODES)})", **base)

    spec = importlib.import_module(f"architectures.{arch}.spec")
    data = datasets.load(job["dataset"], **job["data"])
    model = spec.Model(**job["model"])
    train = TrainConfig(**job["train"])
    weights = spec.init_weights(model, data.info, np.random.default_rng([job["seed"], 0x1A17]))
    params = _shared.param_count(spec, model, data.info)
    flops = spec.flops_per_example(model, data.info)
    rss_base = measure.rss_mb()
    base.update(params=params, flops_per_example=flops,
                extra={"data_fingerprint": data.fingerprint(), "notes": getattr(Adapter, "NOTES", ""),
                       # analytic floor of a training step's memory, shown beside the peak RSS
                       "memory_estimate": _shared.memory_estimate_mb(spec, model, data.info, train),
                       "n_train": int(len(data.x_train)), "n_test": int(len(data.x_test))})

    helper.reset_gpu_peak()
    with measure.PeakRSS() as peak:
        t = measure.now()
        try:
            adapter = Adapter(model, data.info, train, mode=job["mode"], device=job["device"], seed=job["seed"])
            adapter.build({k: v.copy() for k, v in weights.items()})  # adapters may alias their input
        except _shared.Unsupported as e:
            return results.make_record(job, "unsupported", str(e), **base)
        adapter.sync()
        build_s = measure.now() - t

        curve, epoch_times, examples = [], [], 0
        target = Target((job.get("extra") or {}).get("target"))
        for epoch in range(train.epochs):
            xb, yb = _epoch(spec, data, train, model, job["seed"], epoch)
            examples = int(xb.shape[0] * xb.shape[1]) if xb.ndim >= 2 else int(len(xb))
            t = measure.now()
            loss = adapter.train_epoch(xb, yb)
            adapter.sync()
            dt = measure.now() - t
            epoch_times.append(dt)
            if loss is None or not math.isfinite(loss):
                raise Diverged(f"diverged: training loss {loss} at epoch {epoch + 1}")
            # untimed: outside dt. A spec may give the learning curve a cheaper evaluation than the
            # final one (``evaluate_epoch``: e.g. the RBM at 784 x 256 skips its slow diagnostics)
            m = getattr(spec, "evaluate_epoch", spec.evaluate)(adapter, data.x_test, data.y_test, model)
            target.update(m, epoch + 1, float(sum(epoch_times)))
            curve.append({"epoch": epoch + 1, "loss": float(loss), "metric": _primary(spec, m),
                          "seconds": float(sum(epoch_times))})
        train_s = float(sum(epoch_times))  # training only: per-epoch evaluation and batching excluded
        t = measure.now()
        metrics = spec.evaluate(adapter, data.x_test, data.y_test, model)
        eval_s = measure.now() - t
    infer_ms, infer_per_s = _infer(adapter, data.x_test, train.batch_size)
    steady = epoch_times[1:]  # epoch 1 holds tracing/JIT/compilation: never part of the steady state
    extra_timing = _extra_timing(spec, data, train, model, adapter, job, steady)
    base["machine_speed_gflops"] = {"before": speed_before, "after": measure.machine_speed()}
    # one epoch has no steady state: honest "n/a" (None) rather than the compile-laden first epoch
    epoch_s = float(np.median(steady)) if steady else None
    timing = {"import_s": import_s, "build_s": build_s, "first_epoch_s": epoch_times[0], "epoch_s": epoch_s,
              "epoch_iqr_s": float(np.subtract(*np.percentile(steady, [75, 25]))) if steady else None,
              "epochs_timed": len(steady), **extra_timing, "train_s": train_s, "eval_s": eval_s,
              # what the first epoch cost beyond a steady one: tracing, JIT/XLA/inductor compilation, autotune
              "compile_s": max(epoch_times[0] - epoch_s, 0.0) if steady else None,
              "infer_ms": infer_ms, "infer_per_s": infer_per_s, "examples_per_epoch": examples}
    if flops and flops.get("train") and timing["epoch_s"]:
        # analytic training FLOPs of one steady epoch over its median time (DESIGN: measurement 6)
        timing["train_flops_per_s"] = flops["train"] * examples / timing["epoch_s"]
    memory = {"rss_base_mb": rss_base, "rss_peak_mb": peak.peak_mb, "gpu_peak_mb": helper.gpu_peak_mb(),
              "rss_method": peak.method}
    extra = dict(base.pop("extra"))
    if hasattr(spec, "extras"):  # per-architecture extras for the report (e.g. gradient norms)
        extra.update(spec.extras(adapter, data, model, weights))
    base["timing"] = timing
    if target.metric:
        base["target"] = target.record()
    return results.make_record(job, "ok", None, metrics=metrics, curve=curve, memory=memory, extra=extra, **base)


def main(argv: list[str]) -> int:
    job = json.loads(Path(argv[1]).read_text())
    out = Path(argv[2])
    try:
        rec = run_job(job)
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
