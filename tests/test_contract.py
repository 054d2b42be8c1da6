"""The spec contract, per-architecture defaults, and the shape of the harness's own code."""
from __future__ import annotations

import ast
import sys
import types
from pathlib import Path

import pytest

from harness import config, contract, registry
from harness.errors import SpecError

HARNESS = Path(__file__).resolve().parent.parent / "harness"


@pytest.mark.parametrize("arch", registry.architectures())
def test_every_spec_keeps_the_contract(arch):
    spec = registry.spec(arch)
    assert isinstance(spec, contract.Spec)
    assert spec.PRIMARY in spec.METRICS and spec.DEFAULT_DATASET in spec.DATASETS
    assert set(spec.METRICS.values()) <= {"higher", "lower"}


def _fake_spec(**changes) -> types.ModuleType:
    """A copy of the MLP spec's names in a fresh module, with ``changes`` (None deletes a name)."""
    mlp = registry.spec("mlp").module
    mod = types.ModuleType("architectures.fake.spec")
    for key in contract.HOOKS:
        if hasattr(mlp, key):
            setattr(mod, key, getattr(mlp, key))
    for key, value in changes.items():
        if value is None:
            delattr(mod, key)
        else:
            setattr(mod, key, value)
    return mod


@pytest.mark.parametrize("missing", ["forward", "METRICS", "check_case", "DEFAULT_DATASET"])
def test_a_missing_required_name_is_an_error_naming_spec_and_name(missing):
    with pytest.raises(SpecError, match=rf"architectures/fake/spec.py: missing required name '{missing}'"):
        contract.check("fake", _fake_spec(**{missing: None}))


@pytest.mark.parametrize("typo, hook", [("extra", "extras"), ("validat", "validate"), ("make_epochs", "make_epoch"),
                                        ("report_figure", "report_figures"), ("weight_figure", "weight_figures"),
                                        ("EXTRA_TIMINGS", "EXTRA_TIMING")])
def test_a_misspelt_hook_is_refused_not_silently_defaulted(typo, hook):
    def fn(*args):
        return None

    fn.__module__ = "architectures.fake.spec"
    value = fn if hook.islower() else False
    with pytest.raises(SpecError, match=rf"'{typo}' is not a spec hook; did you mean '{hook}'"):
        contract.check("fake", _fake_spec(**{typo: value}))


def test_metric_directions_primary_and_hook_kinds_are_checked():
    with pytest.raises(SpecError, match="directions must be 'higher' or 'lower'"):
        contract.check("fake", _fake_spec(METRICS={"accuracy": "up"}))
    with pytest.raises(SpecError, match="PRIMARY 'f1' is not in METRICS"):
        contract.check("fake", _fake_spec(PRIMARY="f1"))
    with pytest.raises(SpecError, match="'validate' must be a function"):
        contract.check("fake", _fake_spec(validate=3))
    with pytest.raises(SpecError, match="'forward' must be a function"):
        contract.check("fake", _fake_spec(forward="x"))


def test_optional_hooks_take_their_defaults():
    spec = contract.check("fake", _fake_spec(extras=None, report_figures=None, weight_figures=None))
    assert spec.extras is None and spec.extra_record(None, None, None, {}) == {}
    assert spec.figures([], None) == [] and spec.problem(None, None, None) is None
    assert spec.weight_figures is None and spec.pictures([], None, None, None) == []
    assert spec.EXTRA_TIMING is True and spec.TRAIN == registry.spec("mlp").TRAIN
    assert not spec.defines("make_epoch") and spec.defines("forward")
    assert spec.lower_is_better("loss") and not spec.lower_is_better("accuracy")
    with pytest.raises(KeyError):
        spec.lower_is_better("f1")


@pytest.mark.parametrize("arch", registry.architectures())
def test_an_architecture_alone_is_a_valid_benchmark(arch):
    """``{architecture: X}``: the spec's dataset, model and train defaults pass every check the
    worker would make (batch within the data, schedule, epochs)."""
    cfg = config.parse({"name": "bare", "benchmarks": [{"architecture": arch}]})
    b = cfg.benchmarks[0]
    spec = registry.spec(arch)
    assert b.dataset == spec.DEFAULT_DATASET
    assert {k: getattr(b.train, k) for k in spec.TRAIN} == spec.TRAIN
    assert cfg.bench_name(0) == f"{arch}-{spec.DEFAULT_DATASET}"


def test_explicit_train_keys_override_the_spec_defaults():
    cfg = config.parse({"name": "x", "benchmarks": [{"architecture": "rbm", "train": {"lr": 0.01}}]})
    assert cfg.benchmarks[0].train.lr == 0.01 and cfg.benchmarks[0].train.batch_size == registry.spec("rbm").TRAIN["batch_size"]


@pytest.mark.parametrize("bench, key", [
    ({"architecture": "rbm", "train": {"batch_size": 32}}, "train.batch_size: 32 exceeds the 14 training examples"),
    ({"architecture": "hopfield", "train": {"epochs": 3}}, "train.epochs: a Hopfield network stores"),
    ({"architecture": "dbn", "train": {"epochs": 10}}, "train.epochs: must exceed"),
])
def test_what_the_worker_would_refuse_is_refused_before_any_job(bench, key):
    with pytest.raises(config.ConfigError, match=rf"benchmarks\[0\]\.{key}"):
        config.parse({"name": "x", "benchmarks": [bench]})


def test_the_defaults_config_names_every_architecture():
    cfg = config.load(Path(__file__).resolve().parent.parent / "configs" / "defaults.yaml")
    assert sorted(b.architecture for b in cfg.benchmarks) == registry.architectures()


# ------------------------------------------------------------------------------ the harness's code

def _functions(path: Path):
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield node.name, node.end_lineno - node.lineno + 1


def test_no_function_in_the_harness_is_longer_than_50_lines():
    long = [f"{p.relative_to(HARNESS.parent)}:{name} ({n} lines)" for p in HARNESS.rglob("*.py")
            for name, n in _functions(p) if n > 50]
    assert not long, long


def _harness_imports(path: Path) -> set[str]:
    """harness modules imported anywhere in the file (function-level imports included)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("harness"):
            out.add(node.module)
            out.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.startswith("harness"))
    return out


def _module_graph() -> dict[str, set[str]]:
    mods = {}
    for p in HARNESS.rglob("*.py"):
        parts = p.relative_to(HARNESS.parent).with_suffix("").parts
        mods[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = p
    return {m: {d for d in _harness_imports(p) if d in mods and d != m} for m, p in mods.items()}


def test_no_import_cycle_inside_the_harness():
    graph = _module_graph()
    state: dict[str, int] = {}

    def visit(m, path):
        state[m] = 1
        for d in graph[m]:
            if state.get(d) == 1:
                pytest.fail(" -> ".join([*path, m, d]))
            if d not in state:
                visit(d, [*path, m])
        state[m] = 2

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 2000))
    for m in graph:
        if m not in state:
            visit(m, [])
    assert "harness.runner" in graph and "harness.envinfo" in graph  # the graph is the real one


def test_the_cycle_check_catches_a_cycle(monkeypatch):
    real = _module_graph()
    real["harness.jobenv"] = {*real["harness.jobenv"], "harness.runner"}
    monkeypatch.setattr(sys.modules[__name__], "_module_graph", lambda: real)
    with pytest.raises(pytest.fail.Exception, match="harness.jobenv"):
        test_no_import_cycle_inside_the_harness()
