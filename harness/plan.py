"""Expand a config into jobs: benchmark x framework x mode x device x repeat, interleaved.

Order: repeat outermost, then benchmark, device, framework, mode (A B C A B C ...), so slow drift
of the machine (thermal, background load) spreads over every framework and mode instead of landing
on one. ``repeats: auto`` adds rounds for the cells whose steady epoch time is not yet pinned down
(``next_round``), interleaved the same way.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from harness import registry
from harness.config import RunConfig
from harness.gpu import cpu_only_reason
from harness.stats import summary


@dataclass
class Job:
    job_id: str
    run: str
    benchmark: str
    architecture: str
    dataset: str
    data: dict
    model: dict
    train: dict
    framework: str
    mode: str
    device: str
    seed: int
    repeat: int
    threads: int
    timeout_s: float
    memory_limit_mb: int
    min_timed_s: float = 0.0  # steady epochs timed at least this long (config.RunConfig.min_timed_s)
    # the job saves its trained weights when they take at most this many MB; 0: it does not
    # (config.RunConfig.save_weights: repeat 0 of each cell)
    save_weights_mb: float = 0.0
    # when set, the runner records this status without starting a process
    preset_status: str | None = None
    preset_reason: str | None = None
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


def job_id(benchmark: str, framework: str, mode: str, device: str, repeat: int) -> str:
    return f"{benchmark}/{framework}/{mode}/{device}/r{repeat}"


def expand(cfg: RunConfig, run: str, architectures: list[str] | None = None, frameworks: list[str] | None = None,
           benchmarks: list[str] | None = None, repeats: range | None = None,
           cells: set[tuple] | None = None) -> list[Job]:
    """The jobs of ``cfg``, round by round (repeat outermost). The optional filters keep only the
    named architectures/frameworks/benchmarks (a sweep's name selects all its points); ``repeats``
    picks the rounds (default: those planned up front); ``cells`` keeps only those
    (benchmark, framework, mode, device) cells (``repeats: auto`` adds rounds for some cells)."""
    jobs: list[Job] = []
    planned = [cfg.repeats_for(b)[0] for b in cfg.benchmarks]
    for repeat in repeats if repeats is not None else range(max(planned)):
        for i, b in enumerate(cfg.benchmarks):
            name = cfg.bench_name(i)
            if repeat >= cfg.repeats_for(b)[1] or (repeats is None and repeat >= planned[i]):
                continue
            if architectures and b.architecture not in architectures:
                continue
            group = (b.sweep_point or {}).get("group")
            if benchmarks and name not in benchmarks and group not in benchmarks:
                continue
            for device in cfg.devices:
                for fw in cfg.frameworks_for(b):
                    if frameworks and fw not in frameworks:
                        continue
                    first = (b.mode_pick or cfg.mode_pick) == "first"
                    for mode, asked in _modes(b.architecture, fw, b.modes or cfg.modes, first):
                        if cells is not None and (name, fw, mode, device) not in cells:
                            continue
                        job = _job(cfg, b, name, fw, mode, device, repeat, run, asked)
                        if job.preset_status == "unsupported" and repeat > 0:
                            continue  # said once, in the first round: another seed changes nothing
                        jobs.append(job)
    return jobs


def _modes(arch: str, fw: str, requested: list[str], first: bool = False) -> list[tuple[str, str]]:
    """(mode to run, mode asked for) per requested mode, aliases resolved (torch's ``step`` is its
    eager loop) and duplicates dropped, so asking for both step and eager runs torch once. ``first``:
    only the first requested mode the implementation has (``mode_pick: first``), or, when it has
    none of them, the first requested (recorded unsupported once)."""
    if registry.implementation(arch, fw).status != "implemented":
        return [(m, m) for m in requested[:1 if first else None]]
    table = registry.modes(arch, fw)
    out: dict[str, str] = {}
    for m in requested:
        out.setdefault(table.resolve(m), m)
    if first:
        have = [(m, a) for m, a in out.items() if m in table.modes]
        return have[:1] or list(out.items())[:1]
    return list(out.items())


def _job(cfg: RunConfig, b, name: str, fw: str, mode: str, device: str, repeat: int, run: str,
         asked: str | None = None) -> Job:
    job = Job(job_id=job_id(name, fw, mode, device, repeat), run=run, benchmark=name,
              architecture=b.architecture, dataset=b.dataset, data=dict(b.data), model=dict(b.model),
              train=b.train.model_dump(), framework=fw, mode=mode, device=device, seed=cfg.seed + repeat,
              repeat=repeat, threads=cfg.threads, timeout_s=b.timeout_s or cfg.timeout_s,
              memory_limit_mb=cfg.memory_limit_mb,
              min_timed_s=cfg.min_timed_s if b.min_timed_s is None else b.min_timed_s,
              save_weights_mb=cfg.save_weights_max_mb if cfg.save_weights and repeat == 0 else 0.0)
    if asked and asked != mode:
        job.extra["requested_mode"] = asked
    if b.sweep_point:
        job.extra["sweep"] = dict(b.sweep_point)
    if b.target:
        job.extra["target"] = dict(b.target)
    impl = registry.implementation(b.architecture, fw)
    if impl.status != "implemented":
        job.preset_status, job.preset_reason = "unsupported", impl.reason
    elif mode not in (have := registry.modes(b.architecture, fw).modes):
        job.preset_status = "unsupported"
        job.preset_reason = f"{fw} {b.architecture} has no '{mode}' mode (has: {', '.join(have)})"
    elif (why := registry.outside_limits(b.architecture, fw, job.model, job.train)) is not None:
        job.preset_status, job.preset_reason = "unsupported", why
    elif device == "cuda" and (why := cpu_only_reason(fw)):  # no process: the answer is known
        job.preset_status, job.preset_reason = "unsupported", f"{fw} on cuda: {why}"
    elif not registry.installed(fw):
        job.preset_status = "skipped"
        job.preset_reason = f"{fw} is not installed (pip install 'annbench[{fw}]')"
    return job


def _cell(r: dict) -> tuple:
    return (r["benchmark"], r["framework"], r["mode"], r["device"])


def converged(epoch_times: list[float], rel_ci: float, level: float = 0.95,
              seq: tuple[int, int] | None = None) -> bool:
    """Whether the median's order-statistic interval (harness.stats.median_ci; ``seq=(min, max)``
    for the sequential one ``repeats: auto`` stops with) reaches coverage ``level`` and lies
    within ±rel_ci of the median on both sides. Below ``stats.min_n(level)`` values (6 for 95%)
    no interval has that coverage, so it is never converged there; any dropped value (NaN) also
    says no."""
    s = summary(epoch_times, level, seq)
    ci, med = s["ci"], s["median"]
    if ci is None or not med or ci.level < level or s["n_dropped"]:
        return False
    return max(ci.high - med, med - ci.low) <= rel_ci * abs(med)


# outcomes of a ``repeats: auto`` cell; only GROWING gets another round
CONVERGED = "converged"
AT_CAP = "stopped at cap, not converged"
GROWING = "not converged yet"
FAILED = "stopped: a job did not finish ok"
UNTIMED = "stopped: no steady epoch time"


def auto_outcomes(cfg: RunConfig, records: list[dict]) -> dict[tuple, tuple[str, int]]:
    """Per ``repeats: auto`` cell (benchmark, framework, mode, device): (outcome, rounds so far).
    The runner grows the GROWING cells; the report shows the rest (AT_CAP above all) from the
    records and the run's config alone, so a resumed or rebuilt report says the same."""
    auto = {cfg.bench_name(i) for i, b in enumerate(cfg.benchmarks)
            if (b.repeats if b.repeats is not None else cfg.repeats) == "auto"}
    by_cell: dict[tuple, list[dict]] = {}
    for r in records:
        if r.get("benchmark") in auto:
            by_cell.setdefault(_cell(r), []).append(r)
    a = cfg.auto_repeats
    out = {}
    for cell, recs in by_cell.items():
        times = [(r.get("timing") or {}).get("epoch_s") for r in recs]
        if any(r["status"] != "ok" for r in recs):
            state = FAILED  # more repeats would not mend it
        elif any(t is None or not np.isfinite(t) for t in times):
            state = UNTIMED
        elif converged(times, a.rel_ci, a.level, (a.min, a.max)):
            state = CONVERGED
        else:
            state = AT_CAP if len(recs) >= a.max else GROWING
        out[cell] = (state, len(recs))
    return out


def next_round(cfg: RunConfig, run: str, records: list[dict], **filters) -> list[Job]:
    """Jobs for one more repeat of each ``repeats: auto`` cell that needs it (``auto_outcomes``:
    every record ok with a steady epoch time, the interval not yet within ±rel_ci at its level,
    fewer than ``max`` repeats), interleaved like the first rounds."""
    latest: dict[tuple, int] = {}
    for r in records:
        latest[_cell(r)] = max(latest.get(_cell(r), -1), r["repeat"])
    need: dict[int, set[tuple]] = {}
    for cell, (state, _) in auto_outcomes(cfg, records).items():
        if state == GROWING:
            need.setdefault(latest[cell] + 1, set()).add(cell)
    return [j for n, cells in sorted(need.items())
            for j in expand(cfg, run, repeats=range(n, n + 1), cells=cells, **filters)]
