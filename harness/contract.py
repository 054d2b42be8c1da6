"""The spec contract: what ``architectures/<arch>/spec.py`` must define, and the optional hooks with
their defaults (docs/design.md, "The spec contract"). ``load(arch)`` is the one place a spec is
imported; it returns a checked ``Spec`` so that a missing name fails loudly, naming the spec and the
name, and a misspelt optional hook fails instead of silently falling back to its default.

numpy only: a spec imports no framework.
"""
from __future__ import annotations

import difflib
import importlib
import inspect
from functools import lru_cache
from types import ModuleType
from typing import Any

import numpy as np

from harness.errors import SpecError

DIRECTIONS = ("higher", "lower")

# name -> what it is (checked type, or "callable")
REQUIRED: dict[str, Any] = {
    "TASK": str,                 # classification | regression | reconstruction | density | ...
    "METRICS": dict,             # {metric: "higher" | "lower"}: what evaluate returns, and its direction
    "PRIMARY": str,              # the metric of learning curves, targets and the report's matrix
    "DATASETS": tuple,           # datasets this architecture runs on
    "DEFAULT_DATASET": str,      # the dataset of ``{architecture: X}`` alone
    "Model": type,               # pydantic model of the architecture's options; its defaults run
    "weight_shapes": "callable",  # (model, info) -> {name: shape}: the canonical layout
    "init_weights": "callable",  # (model, info, rng) -> {name: float32 array}
    "forward": "callable",       # (weights, x, model) -> output: the numpy reference
    "loss": "callable",          # (weights, x, y, model) -> float
    "flops_per_example": "callable",  # (model, info) -> {"forward": int, "train": int[, "phases": {...}]}
    "FLOPS_CONVENTION": str,     # how flops_per_example counts (shown in the report)
    "evaluate": "callable",      # (adapter, x, y, model) -> {metric: float}
    "check_case": "callable",    # () -> the tiny problem of the shared check set
}

# name -> default when the spec does not define it
OPTIONAL: dict[str, Any] = {
    "TRAIN": {},                 # train settings of ``{architecture: X}`` over TrainConfig's defaults
    "EXTRA_TIMING": True,        # timing-only epochs past train.epochs are like the others
    "TRAINS_WITH_OPTIMIZER": True,  # gradients and optimizer slots exist (memory estimate)
    "validate": None,            # (model, info, train) -> "key: problem" | None
    "make_epoch": None,          # (x, y, batch, perm, model, rng) -> (xb, yb): epochs with noise
    "epoch_phase": None,         # (epoch, model) -> phase label, for epochs that differ by phase
    "reference_epoch": None,     # (weights, xb, yb, model, train) -> (weights, loss | None)
    "param_count": None,         # (model, info) -> int, when not the sum over weight_shapes
    "activation_count": None,    # (model, info) -> floats one example keeps alive in a step (memory estimate)
    "evaluate_epoch": None,      # like evaluate, cheaper, for the per-epoch curve (the final one is evaluate)
    "extras": None,              # (adapter, data, model, initial weights) -> dict for the record
    "report_figures": None,      # (records, figures) -> [(caption, png)]: from the records
    "weight_figures": None,      # (jobs, data, model, figures) -> [(caption, png)]: from trained weights
    "check_weights": None,       # (model, info) -> weights the option checks start from (tests/test_options.py)
    "check_methods": None,       # (model, x) -> {spec method: args} compared with the adapter's (tests)
}
HOOKS = (*REQUIRED, *OPTIONAL)


class Spec:
    """A checked spec: the contract's names as attributes (optional ones at their defaults), plus
    ``module`` for the spec's own helpers. ``Spec.x`` for a name outside the contract falls through
    to the module, so spec-specific helpers (the DBN's ``phase``) stay reachable."""

    def __init__(self, name: str, module: ModuleType) -> None:
        self.name, self.module = name, module
        for key in REQUIRED:
            setattr(self, key, getattr(module, key))
        for key, default in OPTIONAL.items():
            setattr(self, key, getattr(module, key, default))

    def __getattr__(self, key: str):  # only called for names not set in __init__
        return getattr(self.__dict__["module"], key)

    def __repr__(self) -> str:
        return f"Spec({self.name!r})"

    def defines(self, hook: str) -> bool:
        """Whether the spec itself defines an optional hook (rather than taking its default)."""
        return hasattr(self.module, hook)

    def lower_is_better(self, metric: str) -> bool:
        """The direction the spec declares for ``metric`` (KeyError for a metric it does not have)."""
        return self.METRICS[metric] == "lower"

    def primary(self, metrics: dict) -> float | None:
        """The primary metric of an evaluation, or the first of METRICS it has (regression tasks of
        a classifier spec return mse, not accuracy)."""
        for key in (self.PRIMARY, *self.METRICS):
            if metrics.get(key) is not None:
                return metrics[key]
        return None

    def params(self, model, info) -> int:
        """Trainable scalars: the spec's ``param_count``, else the sum over ``weight_shapes``."""
        if self.param_count is not None:
            return int(self.param_count(model, info))
        return int(sum(np.prod(s) for s in self.weight_shapes(model, info).values()))

    def problem(self, model, info, train) -> str | None:
        """The spec's ``validate``: a "key: what is wrong" line, or None."""
        return self.validate(model, info, train) if self.validate is not None else None

    def extra_record(self, adapter, data, model, initial: dict) -> dict:
        return self.extras(adapter, data, model, initial) if self.extras is not None else {}

    def figures(self, records: list[dict], figures) -> list:
        return self.report_figures(records, figures) if self.report_figures is not None else []

    def pictures(self, jobs: list[tuple[dict, dict]], data, model, figures) -> list:
        """``weight_figures``: jobs are (record, trained weights) pairs, one per framework (repeat 0)."""
        return self.weight_figures(jobs, data, model, figures) if self.weight_figures is not None else []


def check(name: str, module: ModuleType) -> Spec:
    """Check ``module`` against the contract; raises SpecError naming the spec and the name."""
    where = f"architectures/{name}/spec.py"
    for key, kind in REQUIRED.items():
        if not hasattr(module, key):
            raise SpecError(f"{where}: missing required name {key!r} (the spec contract: docs/design.md)")
        _check_kind(where, key, getattr(module, key), kind)
    for key, default in OPTIONAL.items():
        if hasattr(module, key) and default is None and not callable(getattr(module, key)):
            raise SpecError(f"{where}: {key!r} must be a function")
    _check_misspelt(where, module)
    _check_metrics(where, module)
    return Spec(name, module)


def _check_kind(where: str, key: str, value, kind) -> None:
    ok = callable(value) if kind == "callable" else isinstance(value, kind)
    if not ok:
        what = "a function" if kind == "callable" else f"a {kind.__name__}"
        raise SpecError(f"{where}: {key!r} must be {what} (got {type(value).__name__})")


def _own_names(module: ModuleType) -> list[str]:
    """Public names the spec itself defines (not imported ones)."""
    out = []
    for key, value in vars(module).items():
        if key.startswith("_") or inspect.ismodule(value):
            continue
        if (inspect.isfunction(value) or inspect.isclass(value)) and value.__module__ != module.__name__:
            continue
        out.append(key)
    return out


def _check_misspelt(where: str, module: ModuleType) -> None:
    """A defined name that is a near miss of a hook (``extra`` for ``extras``) would be ignored: refuse."""
    for key in _own_names(module):
        if key in HOOKS:
            continue
        close = difflib.get_close_matches(key, HOOKS, n=1, cutoff=0.85)
        if close:
            raise SpecError(f"{where}: {key!r} is not a spec hook; did you mean {close[0]!r}? "
                            f"(hooks: {', '.join(HOOKS)})")


def _check_metrics(where: str, module: ModuleType) -> None:
    bad = {m: d for m, d in module.METRICS.items() if d not in DIRECTIONS}
    if bad:
        raise SpecError(f"{where}: METRICS directions must be 'higher' or 'lower' (got {bad})")
    if module.PRIMARY not in module.METRICS:
        raise SpecError(f"{where}: PRIMARY {module.PRIMARY!r} is not in METRICS")
    if module.DEFAULT_DATASET not in module.DATASETS:
        raise SpecError(f"{where}: DEFAULT_DATASET {module.DEFAULT_DATASET!r} is not in DATASETS")


@lru_cache(maxsize=None)
def load(name: str) -> Spec:
    """Import and check ``architectures/<name>/spec.py`` (or one under ANNBENCH_EXTRA_ARCHITECTURES)."""
    return check(name, importlib.import_module(f"architectures.{name}.spec"))

