"""Bad configs: every one gives exit code 2 and one line naming the key; none starts a job."""
from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import record_figure
from harness import config, plan, registry, runner
from harness.cli import app

BAD = sorted((Path(__file__).parent / "bad_configs").glob("*.yaml"))
GOOD = sorted((Path(__file__).resolve().parent.parent / "configs").glob("*.yaml"))


def _expect(path: Path) -> str:
    first = path.read_text().splitlines()[0]
    assert first.startswith("# expect: "), f"{path.name}: first line must say what the error names"
    return first.removeprefix("# expect: ")


def test_corpus_is_large_enough_and_every_config_is_refused_clearly():
    assert len(BAD) >= 30
    clear = 0
    for path in BAD:
        try:
            config.load(path)
        except config.ConfigError as e:
            msg = str(e)
            clear += "\n" not in msg and _expect(path) in msg and msg.startswith(str(path))
    record_figure("bad-configs", f"bad configs: {len(BAD)} tried, {clear} refused with one clear line")
    assert clear == len(BAD)


@pytest.mark.parametrize("path", BAD, ids=[p.stem for p in BAD])
def test_bad_config_is_one_clear_line(path: Path, monkeypatch, tmp_path):
    started = []
    monkeypatch.setattr(runner, "run", lambda *a, **k: started.append(a))
    res = CliRunner().invoke(app, ["run", str(path), "--out", str(tmp_path / "out")])
    assert res.exit_code == 2, res.output
    assert not started, "a job was started for a bad config"
    assert not (tmp_path / "out").exists()
    lines = [ln for ln in res.output.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, res.output
    assert "Traceback" not in res.output
    assert str(path) in lines[0], "the message names the file"
    assert _expect(path) in lines[0]


def test_yaml_tags_never_execute(tmp_path):
    marker = Path("/tmp/annbench-pwned")
    marker.unlink(missing_ok=True)
    with pytest.raises(config.ConfigError):
        config.load(Path(__file__).parent / "bad_configs" / "python_object_tag.yaml")
    assert not marker.exists()


@pytest.mark.parametrize("path", GOOD, ids=[p.stem for p in GOOD])
def test_shipped_configs_are_valid(path: Path):
    """Each shipped config validates, names every benchmark once, and plans jobs for every one of them
    (a benchmark that expands to no job would silently drop out of the run)."""
    cfg = config.load(path)
    names = [cfg.bench_name(i) for i in range(len(cfg.benchmarks))]
    assert len(set(names)) == len(names), f"repeated benchmark names: {names}"
    jobs = plan.expand(cfg, "r")
    assert {j.benchmark for j in jobs} == set(names)
    assert {j.architecture for j in jobs} <= set(registry.architectures())


def test_defaults_and_names():
    cfg = config.parse({"name": "t", "benchmarks": [{"architecture": "mlp"}]})
    b = cfg.benchmarks[0]
    assert b.dataset == "digits" and b.model == {"hidden": [64], "activation": "relu"}
    assert cfg.bench_name(0) == "mlp-digits"
    assert cfg.modes == ["step"] and cfg.devices == ["cpu"]


def test_missing_file_is_clear(tmp_path):
    res = CliRunner().invoke(app, ["run", str(tmp_path / "nope.yaml")])
    assert res.exit_code == 2 and "no such config file" in res.output
