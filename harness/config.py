"""YAML config -> validated pydantic models (the config contract in docs/design.md).

Every user mistake becomes a ConfigError whose message is one line:
``<file>: <key path>: <what is wrong> (allowed: ...)``. The CLI prints it and exits 2.
Only ``yaml.safe_load`` is used: tags that would construct Python objects are rejected.
"""
from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from harness import registry
from harness.datasets import CHOICES as DATASET_CHOICES
from harness.datasets import OPTIONS as DATASET_OPTIONS
from harness.errors import SpecError

Mode = Literal[registry.MODE_NAMES]  # Literal of a tuple = Literal of its items
DEVICES = ("cpu", "cuda")
NAME_RE = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,79}$"  # names become file/dir parts: no slashes, no dots-only
# benchmark names may also carry a sweep point: mlp-digits[batch_size=64]
BENCH_NAME_RE = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,79}(\[[A-Za-z0-9_]+=[A-Za-z0-9_.-]{1,60}\])?$"
MAX_PARAMS = 200_000_000  # ~0.8 GB of float32 weights before optimizer state: refuse above this


class ConfigError(ValueError):
    """A user mistake in a config; str() is the one line to print."""


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=False, frozen=False)


class TrainConfig(Strict):
    epochs: int = Field(10, gt=0, le=100_000)
    batch_size: int = Field(32, gt=0, le=1_000_000)
    optimizer: Literal["sgd", "adam"] = "adam"
    lr: float = Field(1e-3, gt=0, le=100)
    momentum: float = Field(0.0, ge=0, lt=1)
    beta1: float = Field(0.9, ge=0, lt=1)
    beta2: float = Field(0.999, ge=0, lt=1)
    eps: float = Field(1e-8, gt=0, le=1)


class Sweep(Strict):
    """One parameter varied over values: the benchmark runs once per value (a scaling sweep)."""
    param: str = Field(pattern=r"^(model|train|data)\.[A-Za-z_][A-Za-z0-9_]*$")
    values: list[Any] = Field(min_length=2, max_length=64)

    @field_validator("param")
    @classmethod
    def _not_epochs(cls, v: str) -> str:
        if v in ("train.epochs", "train.optimizer"):
            raise ValueError(f"{v} is not a measure of work per epoch; sweep a size (batch_size, width, length)")
        return v


class AutoRepeats(Strict):
    """``repeats: auto``: start with ``min`` repeats per cell and add interleaved rounds until the
    median steady epoch time's order-statistic interval (harness.stats.median_ci) has coverage
    >= ``level`` and lies within ±``rel_ci`` of the median on both sides, or ``max`` is reached
    (the report marks such a cell "stopped at cap, not converged"). ``min`` must be at least the
    fewest repeats that can give ``level`` at all (6 for 95%: [min, max] of 5 values covers the
    median only 93.75% of the time), else the first rounds could never stop honestly."""
    min: int = Field(6, ge=2, le=100)
    max: int = Field(12, ge=2, le=1000)
    rel_ci: float = Field(0.03, gt=0, lt=1)
    level: float = Field(0.95, ge=0.5, le=0.999)

    @model_validator(mode="after")
    def _order(self) -> "AutoRepeats":
        from harness.stats import min_n

        if self.min < (need := min_n(self.level)):
            raise ValueError(f"min ({self.min}) is below {need}, the fewest repeats whose interval of the "
                             f"median can reach {self.level * 100:g}% coverage")
        if self.max < self.min:
            raise ValueError(f"max ({self.max}) is below min ({self.min})")
        return self


Repeats = Any  # a positive int or the string "auto"; checked by check_repeats


def check_repeats(v):
    if v is None or v == "auto":
        return v
    if not isinstance(v, int) or isinstance(v, bool) or not 0 < v <= 1000:
        raise ValueError("must be a whole number from 1 to 1000, or auto")
    return v


class Benchmark(Strict):
    name: str | None = Field(None, pattern=BENCH_NAME_RE)
    architecture: str
    dataset: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)
    model: dict[str, Any] = Field(default_factory=dict)
    train: TrainConfig = Field(default_factory=TrainConfig)
    frameworks: list[str] | None = Field(None, min_length=1)
    modes: list[Mode] | None = Field(None, min_length=1)
    mode_pick: Literal["all", "first"] | None = None  # overrides the run's mode_pick
    timeout_s: float | None = Field(None, gt=0, le=86_400)
    min_timed_s: float | None = Field(None, ge=0, le=3600)  # overrides the run's min_timed_s
    repeats: Repeats | None = None  # overrides the run's repeats for this benchmark
    # time-to-target: {metric: value}, e.g. {accuracy: 0.95}; checked on held-out data after each epoch
    target: dict[str, float] | None = None
    sweep: Sweep | None = None
    # Set by the expansion of a sweep on each benchmark it makes: {group, param, value, x}. It is kept
    # in the run's config.json so that --resume knows the points again; not meant to be written by hand.
    sweep_point: dict[str, Any] | None = None

    @model_validator(mode="before")
    @classmethod
    def _spec_defaults(cls, data: Any) -> Any:
        """Train settings the benchmark leaves out come from its spec's ``TRAIN`` (then TrainConfig's
        defaults), so ``{architecture: X}`` alone is a benchmark that runs (a Hopfield network stores
        in one epoch; an RBM on 14 bars-and-stripes patterns needs a batch of at most 14)."""
        if not isinstance(data, dict) or data.get("architecture") not in registry.architectures():
            return data  # the field validators say what is wrong
        train = data.get("train", {})
        if isinstance(train, dict):
            data = {**data, "train": {**registry.spec(data["architecture"]).TRAIN, **train}}
        return data

    @field_validator("repeats")
    @classmethod
    def _rep(cls, v):
        return check_repeats(v)

    @field_validator("target")
    @classmethod
    def _one_target(cls, v: dict | None) -> dict | None:
        if v is not None and len(v) != 1:
            raise ValueError(f"give exactly one metric and its value, e.g. {{accuracy: 0.95}} (got {len(v)})")
        return v

    @field_validator("architecture")
    @classmethod
    def _arch(cls, v: str) -> str:
        known = registry.architectures()
        if v not in known:
            raise ValueError(f"unknown architecture {v!r} (allowed: {', '.join(known)})")
        return v

    @field_validator("frameworks")
    @classmethod
    def _fws(cls, v: list[str] | None) -> list[str] | None:
        return _check_frameworks(v)


def _check_frameworks(v: list[str] | None) -> list[str] | None:
    if v is None:
        return v
    for fw in v:
        if fw not in registry.FRAMEWORKS:
            raise ValueError(f"unknown framework {fw!r} (allowed: {', '.join(registry.FRAMEWORKS)})")
    if len(set(v)) != len(v):
        raise ValueError("frameworks listed twice")
    return v


class RunConfig(Strict):
    name: str = Field(pattern=NAME_RE)
    repeats: Repeats = 3  # or auto (auto_repeats)
    auto_repeats: AutoRepeats = Field(default_factory=AutoRepeats)
    seed: int = Field(0, ge=0, lt=2**31)
    frameworks: list[str] | None = Field(None, min_length=1)
    devices: list[Literal["cpu", "cuda"]] = Field(default_factory=lambda: ["cpu"], min_length=1)
    threads: int = Field(2, gt=0, le=1024)
    modes: list[Mode] = Field(default_factory=lambda: ["step"], min_length=1)
    # all: every framework runs each of ``modes`` it has; first: only the first of ``modes`` it has (after
    # aliases), so the list reads as an order of preference (configs/realistic.yaml: one job per framework)
    mode_pick: Literal["all", "first"] = "all"
    timeout_s: float = Field(600.0, gt=0, le=86_400)
    # Steady-state timing goes on past train.epochs (timing-only epochs, after the metrics are taken)
    # until the steady epochs add up to this many seconds. On the 2-core VM single 1.5 ms epochs spread
    # by ~15% (IQR): the median of 19 of them is uncertain by ~3%, of ~300 by under 1%. 0: off.
    min_timed_s: float = Field(0.5, ge=0, le=3600)
    memory_limit_mb: int = Field(8192, gt=64, le=4_000_000)
    # measure each framework's own float32 matmul peak and threads at run start (env.json)
    measure_peaks: bool = True
    # Ray executor: a cell's repeats may run on different nodes (default: all on one, so ratios are paired)
    spread_repeats: bool = False
    # Each cell's repeat 0 saves its trained canonical weights to <run>/weights/<job>.npz (the report's
    # pictures are drawn from them) when they take at most save_weights_max_mb (float32, uncompressed).
    save_weights: bool = True
    save_weights_max_mb: float = Field(16.0, gt=0, le=1_000_000)
    benchmarks: list[Benchmark] = Field(min_length=1)

    @field_validator("repeats")
    @classmethod
    def _rep(cls, v):
        return check_repeats(v)

    def repeats_for(self, b: Benchmark) -> tuple[int, int]:
        """(repeats planned up front, most repeats allowed): equal unless ``repeats: auto``."""
        r = b.repeats if b.repeats is not None else self.repeats
        return (self.auto_repeats.min, self.auto_repeats.max) if r == "auto" else (r, r)

    @field_validator("frameworks")
    @classmethod
    def _fws(cls, v: list[str] | None) -> list[str] | None:
        return _check_frameworks(v)

    def bench_name(self, i: int) -> str:
        b = self.benchmarks[i]
        return b.name or f"{b.architecture}-{b.dataset}"

    def frameworks_for(self, b: Benchmark) -> list[str]:
        if b.frameworks:
            return list(b.frameworks)
        if self.frameworks:
            return list(self.frameworks)
        # default: every installed framework that has a file for this architecture
        return [fw for fw in registry.FRAMEWORKS
                if registry.installed(fw) and registry.implementation(b.architecture, fw).status != "missing"]

    def hash(self) -> str:
        return hashlib.sha256(json.dumps(self.model_dump(), sort_keys=True).encode()).hexdigest()[:12]


def _loc(loc: tuple) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "<top>"


def _first_error(e: ValidationError, prefix: str = "") -> str:
    err = e.errors()[0]
    loc = _loc(tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-"))))
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        msg = "unknown key"
    elif err["type"] == "literal_error":
        msg = f"{msg} (got {err.get('input')!r})"
    elif err["type"] == "missing":
        msg = "required key missing"
    elif "input" in err and err["type"] not in ("model_type", "dict_type"):
        inp = err["input"]
        if isinstance(inp, (int, float, str, bool)) or inp is None:
            msg = f"{msg} (got {inp!r})"
    path = f"{prefix}.{loc}" if prefix and loc != "<top>" else (prefix or loc)
    return f"{path}: {msg}"


def _label(v: Any) -> str:
    """A sweep value as a short name part: 64, 0.5, [64, 64] -> 64x64."""
    if isinstance(v, list):
        text = "x".join(_label(x) for x in v)
    elif isinstance(v, dict):
        text = "-".join(f"{k}{_label(x)}" for k, x in v.items())
    else:
        text = str(v)
    return re.sub(r"[^A-Za-z0-9_.-]", "_", text)[:60]


def _sweep_x(v: Any, j: int) -> tuple[float, bool]:
    """The x of a sweep point for figures and slopes, and whether it is a size: the number itself, the
    sum of a list of numbers (total width of a layer list), else the point's position (no slope)."""
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return float(v), True
    if isinstance(v, list) and v and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v):
        return float(sum(v)), True
    return float(j), False


def _expand_sweeps(cfg: RunConfig) -> list[tuple[str, Benchmark]]:
    """(where, benchmark) for each benchmark to check; a sweep becomes one benchmark per value, named
    ``<name>[<key>=<value>]``, with the value put at its path."""
    out = []
    for i, b in enumerate(cfg.benchmarks):
        where = f"benchmarks[{i}]"
        if b.sweep is None:
            out.append((where, b))
            continue
        base, (section, key) = cfg.bench_name(i), b.sweep.param.split(".", 1)
        for j, v in enumerate(b.sweep.values):
            nb = b.model_copy(deep=True)
            nb.sweep, nb.name = None, f"{base}[{key}={_label(v)}]"
            if section == "train":
                try:
                    nb.train = TrainConfig(**{**b.train.model_dump(), key: v})
                except ValidationError as e:
                    raise ValueError(_first_error(e, f"{where}.sweep.values[{j}]")) from None
            else:
                getattr(nb, section)[key] = v
            x, numeric = _sweep_x(v, j)
            nb.sweep_point = {"group": base, "param": b.sweep.param, "value": v, "x": x, "numeric": numeric}
            out.append((f"{where}.sweep.values[{j}] ({b.sweep.param}={_label(v)})", nb))
    return out


def _check_target(where: str, spec, target: dict | None) -> None:
    if not target:
        return
    (metric, _), = target.items()
    if metric not in spec.METRICS:
        raise ValueError(f"{where}.target.{metric}: not a metric of this architecture "
                         f"(allowed: {', '.join(spec.METRICS)})")


def _spec_checks(cfg: RunConfig) -> None:
    """Checks that need the architecture's spec (numpy only): model keys, dataset, sizes. Sweeps are
    expanded first, so every value of a sweep is checked like a benchmark of its own.
    Loading each dataset here also generates and caches what must be generated (MNIST-1D) once,
    in the parent, before any job starts."""
    for b in cfg.benchmarks:  # the default dataset first: it is part of the default name
        b.dataset = b.dataset or registry.spec(b.architecture).DEFAULT_DATASET
    expanded = _expand_sweeps(cfg)
    cfg.benchmarks = [b for _, b in expanded]
    seen: set[str] = set()
    loaded: dict[str, Any] = {}  # one load per distinct (dataset, options)
    for i, (where, b) in enumerate(expanded):
        name = cfg.bench_name(i)
        if name in seen:
            raise ValueError(f"{where}.name: duplicate benchmark name {name!r}")
        seen.add(name)
        _check_benchmark(cfg, where, b, loaded)


def _check_benchmark(cfg: RunConfig, where: str, b: Benchmark, loaded: dict) -> None:
    """One benchmark against its spec and data: everything the worker would refuse, refused here."""
    spec = registry.spec(b.architecture)
    _check_target(where, spec, b.target)
    if b.dataset not in spec.DATASETS:
        raise ValueError(f"{where}.dataset: {b.dataset!r} is not a dataset for {b.architecture} "
                         f"(allowed: {', '.join(spec.DATASETS)})")
    _check_data_options(where, b)
    model = _check_model(where, spec, b)
    data = _load_data(where, b, loaded)
    n_train = len(data.x_train)
    if b.train.batch_size > n_train:
        raise ValueError(f"{where}.train.batch_size: {b.train.batch_size} exceeds the {n_train} training "
                         f"examples of {b.dataset}")
    problem = spec.problem(model, data.info, b.train)
    if problem:
        raise ValueError(f"{where}.{problem}")
    n = spec.params(model, data.info)
    if n > MAX_PARAMS or n * 4 * 4 / 2**20 > cfg.memory_limit_mb:
        raise ValueError(f"{where}.model: {n:,} parameters would not fit the per-job memory limit "
                         f"of {cfg.memory_limit_mb} MB (memory_limit_mb)")


def _check_data_options(where: str, b: Benchmark) -> None:
    allowed = DATASET_OPTIONS[b.dataset]
    for k, v in b.data.items():
        if k not in allowed:
            raise ValueError(f"{where}.data.{k}: unknown key (allowed: {', '.join(allowed) or 'none'})")
        if not isinstance(v, allowed[k]) or isinstance(v, bool) or (allowed[k] is int and v <= 0):
            what = "a positive int" if allowed[k] is int else f"a {allowed[k].__name__}"
            raise ValueError(f"{where}.data.{k}: must be {what} (got {v!r})")
        choices = DATASET_CHOICES.get(b.dataset, {}).get(k)
        if choices and v not in choices:
            raise ValueError(f"{where}.data.{k}: {v!r} is not one of {', '.join(choices)}")


def _check_model(where: str, spec, b: Benchmark):
    """The spec's Model from the benchmark's keys; the benchmark keeps the full, validated dump."""
    try:
        model = spec.Model(**b.model)
    except ValidationError as e:
        raise ValueError(_first_error(e, f"{where}.model")) from None
    except TypeError as e:
        raise ValueError(f"{where}.model: {e}") from None
    b.model = model.model_dump()
    return model


def _load_data(where: str, b: Benchmark, loaded: dict):
    from harness import datasets

    key = json.dumps([b.dataset, b.data], sort_keys=True)
    if key not in loaded:
        try:
            loaded[key] = datasets.load(b.dataset, **b.data)
        except datasets.DatasetError as e:
            raise ValueError(f"{where}.dataset: {e}") from None
    return loaded[key]


def parse(data: Any, source: str = "<config>") -> RunConfig:
    """Validate an already-loaded mapping. Raises ConfigError with one line."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: <top>: the config must be a mapping of keys (got {type(data).__name__})")
    try:
        cfg = RunConfig(**data)
    except ValidationError as e:
        raise ConfigError(f"{source}: {_first_error(e)}") from None
    try:
        _spec_checks(cfg)
    except ValueError as e:
        raise ConfigError(f"{source}: {e}") from None
    except SpecError as e:  # a broken spec.py: one line too, naming the file and the name
        raise ConfigError(str(e)) from None
    return cfg


def load(path: str | Path) -> RunConfig:
    """Read and validate a YAML config file. Raises ConfigError with one line."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{p}: no such config file")
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{p}: cannot read: {e}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark
        where = f"line {mark.line + 1} column {mark.column + 1}" if mark else "?"
        problem = re.sub(r"\s+", " ", str(e.problem or e)).strip()
        raise ConfigError(f"{p}: {where}: invalid YAML: {problem}") from None
    except yaml.YAMLError as e:
        problem = re.sub(r"\s+", " ", str(e))
        raise ConfigError(f"{p}: invalid YAML: {problem}") from None
    if data is None:
        raise ConfigError(f"{p}: <top>: the config is empty")
    return parse(data, str(p))
