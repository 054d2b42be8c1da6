"""Expand a config into jobs: benchmark x framework x mode x device x repeat, interleaved.

Order: repeat outermost, framework innermost (A B C A B C ...), so slow drift of the machine
(thermal, background load) spreads over every framework instead of landing on one.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

from harness import registry
from harness.config import RunConfig


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
    # when set, the runner records this status without starting a process
    preset_status: str | None = None
    preset_reason: str | None = None
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


def job_id(benchmark: str, framework: str, mode: str, device: str, repeat: int) -> str:
    return f"{benchmark}/{framework}/{mode}/{device}/r{repeat}"


def expand(cfg: RunConfig, run: str, architectures: list[str] | None = None, frameworks: list[str] | None = None,
           benchmarks: list[str] | None = None) -> list[Job]:
    """All jobs of ``cfg``; the optional filters keep only the named architectures/frameworks/benchmarks."""
    jobs: list[Job] = []
    most = max([cfg.repeats, *(b.repeats or 0 for b in cfg.benchmarks)])
    for repeat in range(most):
        for i, b in enumerate(cfg.benchmarks):
            name = cfg.bench_name(i)
            if repeat >= (b.repeats or cfg.repeats):
                continue
            if architectures and b.architecture not in architectures:
                continue
            if benchmarks and name not in benchmarks:
                continue
            for device in cfg.devices:
                for fw in cfg.frameworks_for(b):
                    if frameworks and fw not in frameworks:
                        continue
                    for mode, asked in _modes(b.architecture, fw, b.modes or cfg.modes):
                        jobs.append(_job(cfg, b, name, fw, mode, device, repeat, run, asked))
    return jobs


def _modes(arch: str, fw: str, requested: list[str]) -> list[tuple[str, str]]:
    """(mode to run, mode asked for) per requested mode, aliases resolved (torch's ``step`` is its
    eager loop) and duplicates dropped, so asking for both step and eager runs torch once."""
    if registry.implementation(arch, fw).status != "implemented":
        return [(m, m) for m in requested]
    table = registry.modes(arch, fw)
    out: dict[str, str] = {}
    for m in requested:
        out.setdefault(table.resolve(m), m)
    return list(out.items())


def _job(cfg: RunConfig, b, name: str, fw: str, mode: str, device: str, repeat: int, run: str,
         asked: str | None = None) -> Job:
    job = Job(job_id=job_id(name, fw, mode, device, repeat), run=run, benchmark=name,
              architecture=b.architecture, dataset=b.dataset, data=dict(b.data), model=dict(b.model),
              train=b.train.model_dump(), framework=fw, mode=mode, device=device, seed=cfg.seed + repeat,
              repeat=repeat, threads=cfg.threads, timeout_s=b.timeout_s or cfg.timeout_s,
              memory_limit_mb=cfg.memory_limit_mb)
    if asked and asked != mode:
        job.extra["requested_mode"] = asked
    impl = registry.implementation(b.architecture, fw)
    if impl.status != "implemented":
        job.preset_status, job.preset_reason = "unsupported", impl.reason
    elif mode not in (have := registry.modes(b.architecture, fw).modes):
        job.preset_status = "unsupported"
        job.preset_reason = f"{fw} {b.architecture} has no '{mode}' mode (has: {', '.join(have)})"
    elif not registry.installed(fw):
        job.preset_status = "skipped"
        job.preset_reason = f"{fw} is not installed (pip install 'annbench[{fw}]')"
    return job
