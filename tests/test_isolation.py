"""Importing the harness (and listing, planning, reporting) imports no framework."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FRAMEWORK_MODULES = ["torch", "tensorflow", "keras", "jax", "jaxlib", "flax", "optax", "autograd", "sklearn",
                     "pytensor", "minisom", "mnist1d"]

PROBE = """
import json, sys
import harness, harness.cli, harness.config, harness.registry, harness.plan, harness.runner, harness.results
import harness.report, harness.datasets, harness.envinfo, harness.measure, harness.frameworks.gemm
import harness.compare, harness.export, harness.contract, harness.jobenv, harness.worker, harness.stats
from harness import config, plan, registry
for a in registry.architectures():
    __import__(f"architectures.{a}.spec")
cfg = config.load(sys.argv[1])
jobs = plan.expand(cfg, "probe")
registry.matrix()
print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in %r)))
""" % (FRAMEWORK_MODULES,)


def _run(code: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code, *args], cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_harness_imports_no_framework():
    p = _run(PROBE, str(ROOT / "configs" / "quick.yaml"))
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout.strip().splitlines()[-1]) == []


def test_cli_list_imports_no_framework():
    code = ("import sys\nfrom typer.testing import CliRunner\nfrom harness.cli import app\n"
            "r = CliRunner().invoke(app, ['list'])\nassert r.exit_code == 0, r.output\n"
            f"print(sorted(m for m in sys.modules if m.split('.')[0] in {FRAMEWORK_MODULES!r}))")
    p = _run(code)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip().splitlines()[-1] == "[]"


def test_registry_reads_unsupported_without_importing(tmp_path, monkeypatch):
    from harness import registry

    arch = tmp_path / "zz"
    arch.mkdir()
    (arch / "spec.py").write_text("")
    (arch / "fw_torch.py").write_text("raise SystemExit('imported!')\nUNSUPPORTED = 'no such layer <x>'\n")
    (arch / "fw_jax.py").write_text("raise SystemExit('imported!')\n")
    monkeypatch.setenv("ANNBENCH_EXTRA_ARCHITECTURES", str(tmp_path))
    assert "zz" in registry.architectures()
    t = registry.implementation("zz", "torch")
    assert (t.status, t.reason) == ("unsupported", "no such layer <x>")
    assert registry.implementation("zz", "jax").status == "implemented"
    assert registry.implementation("zz", "flax").status == "missing"
