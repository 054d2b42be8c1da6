"""Planning without running: modes and their aliases, sweeps, targets, and `repeats: auto` rounds."""
from __future__ import annotations

import json

import pytest

from harness import config, plan, registry


def _cfg(**kw) -> config.RunConfig:
    data = {"name": "p", "repeats": 1, "frameworks": ["torch", "tensorflow", "autograd"],
            "benchmarks": [{"architecture": "mlp"}]}
    data.update(kw)
    return config.parse(data)


def test_mode_names_are_exactly_the_modes_the_adapters_declare():
    """registry.MODE_NAMES (what a config accepts) against the adapter files themselves: every mode an
    Adapter declares or aliases is a known name, and every known name is run or aliased by some adapter."""
    declared = set()
    for i in registry.matrix():
        if i.status == "implemented":
            table = registry.modes(i.architecture, i.framework)
            declared |= set(table.modes) | set(table.aliases) | set(table.aliases.values())
    assert declared == set(registry.MODE_NAMES)
    for mode in sorted(declared):  # the config accepts each of them, and refuses a name no adapter has
        assert _cfg(modes=[mode]).modes == [mode]
    with pytest.raises(config.ConfigError, match="modes"):
        _cfg(modes=["warp"])


def test_modes_are_read_without_import_and_aliases_resolve():
    torch = registry.modes("mlp", "torch")
    assert "eager" in torch.modes and "step" not in torch.modes
    assert torch.resolve("step") == "eager" and torch.resolve("epoch") == "epoch"
    assert "step" in registry.modes("mlp", "tensorflow").modes


def test_step_and_eager_run_torch_once_and_missing_modes_are_unsupported_without_a_process():
    jobs = plan.expand(_cfg(modes=["step", "eager", "epoch"]), "r")
    torch = [j for j in jobs if j.framework == "torch"]
    assert [j.mode for j in torch if not j.preset_status] == [m for m in registry.modes("mlp", "torch").modes
                                                                if m == "eager"]
    assert sum(j.mode == "eager" for j in torch) == 1, "asking for step and eager must not run eager twice"
    eager = next(j for j in torch if j.mode == "eager")
    assert eager.extra["requested_mode"] == "step"  # the record says what was asked and what ran
    ag = {j.mode: j for j in jobs if j.framework == "autograd"}
    assert ag["step"].preset_status is None
    for m in ("eager", "epoch"):
        assert ag[m].preset_status == "unsupported" and f"no '{m}' mode" in ag[m].preset_reason


def test_an_unsupported_mode_is_recorded_once_not_per_repeat():
    jobs = plan.expand(_cfg(repeats=3, modes=["step", "eager"], frameworks=["autograd"]), "r")
    assert [(j.mode, j.repeat) for j in jobs] == [("step", 0), ("eager", 0), ("step", 1), ("step", 2)]


def test_jobs_interleave_frameworks_within_each_round():
    jobs = plan.expand(_cfg(repeats=2), "r")
    assert [j.repeat for j in jobs] == [0, 0, 0, 1, 1, 1]
    assert [j.framework for j in jobs[:3]] == ["torch", "tensorflow", "autograd"]


def test_sweep_expands_into_named_points_that_survive_config_json():
    cfg = _cfg(benchmarks=[{"architecture": "mlp", "target": {"accuracy": 0.9},
                            "sweep": {"param": "model.hidden", "values": [[16], [32, 32]]}}])
    assert [b.name for b in cfg.benchmarks] == ["mlp-digits[hidden=16]", "mlp-digits[hidden=32x32]"]
    assert [b.model["hidden"] for b in cfg.benchmarks] == [[16], [32, 32]]
    again = config.parse(json.loads(json.dumps(cfg.model_dump())))  # what --resume reads
    assert again.hash() == cfg.hash()
    jobs = plan.expand(again, "r", frameworks=["autograd"], benchmarks=["mlp-digits"])  # the group name selects all
    assert [j.extra["sweep"]["x"] for j in jobs] == [16.0, 64.0]
    assert all(j.extra["target"] == {"accuracy": 0.9} for j in jobs)


def _rec(bench, fw, repeat, epoch_s, status="ok", mode="step"):
    return {"benchmark": bench, "framework": fw, "mode": mode, "device": "cpu", "repeat": repeat,
            "status": status, "timing": {"epoch_s": epoch_s}}


def test_auto_repeats_add_rounds_only_where_the_ci_is_wide():
    cfg = _cfg(repeats="auto", frameworks=["autograd", "sklearn", "theano", "torch"],
               auto_repeats={"min": 6, "max": 8, "rel_ci": 0.03})
    first = plan.expand(cfg, "r")
    assert {j.repeat for j in first} == set(range(6))
    tight = [1.0, 1.001, 0.999, 1.002, 0.998, 1.0]
    wide = [1.0, 1.5, 0.7, 1.2, 0.9, 1.1]
    recs = ([_rec("mlp-digits", "autograd", i, t) for i, t in enumerate(tight)]  # tight: done
            + [_rec("mlp-digits", "sklearn", i, t) for i, t in enumerate(wide)]  # wide: one more
            + [_rec("mlp-digits", "theano", i, 1.0, status="failed" if i == 1 else "ok") for i in range(6)]
            + [_rec("mlp-digits", "torch", i, None if i == 2 else 1.0, mode="eager") for i in range(6)])
    more = plan.next_round(cfg, "r", recs)
    assert [(j.framework, j.repeat) for j in more] == [("sklearn", 6)]
    assert more[0].seed == cfg.seed + 6
    out = plan.auto_outcomes(cfg, recs)
    assert out[("mlp-digits", "autograd", "step", "cpu")] == (plan.CONVERGED, 6)
    assert out[("mlp-digits", "theano", "step", "cpu")][0] == plan.FAILED
    assert out[("mlp-digits", "torch", "eager", "cpu")][0] == plan.UNTIMED  # a missing time never converges
    recs += [_rec("mlp-digits", "sklearn", i, t) for i, t in ((6, 1.4), (7, 0.6))]
    assert plan.next_round(cfg, "r", recs) == [], "the cap (max) ends it"
    assert plan.auto_outcomes(cfg, recs)[("mlp-digits", "sklearn", "step", "cpu")] == (plan.AT_CAP, 8)


def test_auto_repeats_converge_once_more_rounds_narrow_the_interval():
    """Past n = 10 the interval drops the extremes (k = 2), so an outlier in the first rounds no
    longer blocks convergence: adding rounds can narrow it, not only widen it."""
    cfg = _cfg(repeats="auto", frameworks=["autograd"], auto_repeats={"min": 6, "max": 12, "rel_ci": 0.03})
    times = [1.0, 1.2, 1.0, 1.01, 0.99, 1.0, 1.0, 1.005, 0.995]  # one slow round
    recs = [_rec("mlp-digits", "autograd", i, t) for i, t in enumerate(times)]
    assert [j.repeat for j in plan.next_round(cfg, "r", recs)] == [9]
    recs.append(_rec("mlp-digits", "autograd", 9, 1.0))
    assert plan.next_round(cfg, "r", recs) == []
    assert plan.auto_outcomes(cfg, recs)[("mlp-digits", "autograd", "step", "cpu")] == (plan.CONVERGED, 10)


def test_auto_repeats_min_must_allow_the_level():
    with pytest.raises(config.ConfigError, match=r"min \(5\) is below 6"):
        _cfg(repeats="auto", auto_repeats={"min": 5})
    with pytest.raises(config.ConfigError, match=r"min \(6\) is below 8"):
        _cfg(repeats="auto", auto_repeats={"min": 6, "level": 0.99})
    assert _cfg(repeats="auto", auto_repeats={"min": 8, "level": 0.99}).auto_repeats.max == 12


def test_fixed_repeats_never_add_rounds():
    recs = [_rec("mlp-digits", "autograd", i, t) for i, t in enumerate([1.0, 2.0, 0.5])]
    assert plan.next_round(_cfg(repeats=3, frameworks=["autograd"]), "r", recs) == []


@pytest.mark.parametrize("times,ok", [([1.0] * 6, True), ([1.0, 1.01, 0.99, 1.0, 1.005, 1.0], True),
                                       ([1.0, 1.0, 1.0, 1.0, 1.0], False),  # 5 values: 93.75% < 95%
                                       ([1.0, 1.0, 1.0, 1.0, 1.0, float("nan")], False),  # a NaN is not dropped
                                       ([1.0, 1.3, 0.8, 1.0, 1.0, 1.0], False)])
def test_converged(times, ok):
    assert plan.converged(times, 0.03) is ok


def test_paired_ratio_cancels_drift_that_independent_medians_keep():
    from harness.stats import paired_ratio_ci, ratio_ci

    drift = [1.0, 1.3, 0.8, 1.2, 0.9, 1.1]  # the machine's speed in each round
    a = {i: 2.0 * d for i, d in enumerate(drift)}  # framework A is exactly twice as slow as B
    b = {i: 1.0 * d for i, d in enumerate(drift)}
    paired = paired_ratio_ci(a, b)
    assert paired["paired"] and paired["ratio"] == pytest.approx(2.0)
    assert paired["ci"][:2] == pytest.approx((2.0, 2.0)) and paired["ci"].level == pytest.approx(0.96875)
    loose = ratio_ci(list(a.values()), list(b.values()))
    assert not loose["paired"] and loose["ci"][1] - loose["ci"][0] > 0.5  # unpaired cannot say as much


def test_list_shows_the_modes():
    """``annbench list --modes``: each implementation's modes and aliases, read without importing a framework."""
    from typer.testing import CliRunner

    from harness.cli import _modes_cell, app

    assert _modes_cell("som", "jax") == "epoch step→epoch" and _modes_cell("som", "autograd") == "step"
    assert _modes_cell("mlp", "torch") == "eager compiled step→eager"
    assert _modes_cell("mlp", "tensorflow") == "step epoch epoch-xla eager"
    r = CliRunner().invoke(app, ["list", "--modes"])
    assert r.exit_code == 0, r.output
    assert "step→epoch" in r.output and "epoch-xla" in r.output and "asked for a, runs b" in r.output
    assert "✓" not in r.output.split("n/a1")[0]  # modes in place of the ticks


@pytest.mark.parametrize("arch,fw", [(a, f) for a in registry.architectures() for f in registry.frameworks_of(a)
                                     if registry.limits(a, f)])
def test_limits_agree_with_the_adapter_and_make_unsupported_records(arch, fw):
    """An adapter's literal LIMITS (read without importing it) are what its constructor refuses: each
    value outside them is an ``unsupported`` job at plan time, and the adapter raises Unsupported on it."""
    pytest.importorskip(registry.FRAMEWORK_MODULES[fw])
    import importlib

    from harness.config import TrainConfig
    from harness.datasets import load
    from harness.errors import Unsupported

    spec, info = registry.spec(arch), load(registry.spec(arch).DEFAULT_DATASET).info
    outside = {"model.cd_k": 2, "model.weight_decay": 0.01, "train.optimizer": "adam", "train.momentum": 0.9}
    for key in registry.limits(arch, fw):
        section, name = key.split(".")
        bench = {"architecture": arch, "frameworks": [fw], section: {name: outside[key]}}
        if key == "train.momentum":
            bench["train"]["optimizer"] = "sgd"
        cfg = config.parse({"name": "x", "benchmarks": [bench]})
        job, = plan.expand(cfg, "run")
        assert job.preset_status == "unsupported" and key in job.preset_reason, (key, job.preset_reason)
        b = cfg.benchmarks[0]
        mod = importlib.import_module(f"architectures.{arch}.fw_{fw}")
        with pytest.raises(Unsupported):
            mod.Adapter(spec.Model(**b.model), info, TrainConfig(**b.train.model_dump()))
