import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
# Quiet, CPU-only, non-preallocating frameworks for in-process checks (set before any import).
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
# The run-start GEMM probes (every end-to-end run, every Ray node) at small sizes: at the default ones
# (up to 4096^3 per framework) they were most of those tests' start-up. The tests check the probes'
# shape and bounds, not the machine's peak.
os.environ.setdefault("ANNBENCH_GEMM_SIZES", "256,512")
# XLA (jax, flax, TensorFlow's jit_compile) compiles the tests' graphs without its expensive LLVM
# passes: a quarter off the jax/flax checks, which compare what graphs compute, not how fast (as the
# PyTensor modules' -O0 below). Appended to the user's XLA_FLAGS, which win where they say otherwise.
XLA_TEST_FLAGS = ("--xla_backend_optimization_level=0", "--xla_llvm_disable_expensive_passes=true")
_xla = os.environ.get("XLA_FLAGS", "")
os.environ["XLA_FLAGS"] = " ".join([*(f for f in XLA_TEST_FLAGS if f.split("=")[0] not in _xla), _xla]).strip()


import pytensor_build  # noqa: E402  (tests/ is on sys.path: pytest put it there for this conftest)

pytensor_build.configure(os.environ)  # before anything imports PyTensor: see tests/pytensor_build.py

import importlib  # noqa: E402
import json  # noqa: E402
from types import ModuleType  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from architectures._shared import Unsupported  # noqa: E402
from harness import registry  # noqa: E402

FIGURES = ROOT / ".pytest_cache" / "annbench-figures.jsonl"


def record_figure(name: str, text: str) -> None:
    """Tests call this to surface a headline figure in the summary (works across xdist workers)."""
    FIGURES.parent.mkdir(parents=True, exist_ok=True)
    with open(FIGURES, "a") as f:
        f.write(json.dumps({"name": name, "text": text}) + "\n")


def pytest_sessionstart(session):
    if not hasattr(session.config, "workerinput"):  # the controller, not an xdist worker
        FIGURES.unlink(missing_ok=True)


def pytest_terminal_summary(terminalreporter):
    if FIGURES.exists():
        terminalreporter.section("annbench figures")
        for line in FIGURES.read_text().splitlines():
            terminalreporter.write_line(json.loads(line)["text"])


def pytest_collection_modifyitems(config, items):
    """The few slow end-to-end tests (``@pytest.mark.slow``: whole runs of worker processes) first, so
    xdist's two workers start them at once and finish together instead of one worker ending on them."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


# ----------------------------------------------------------------------------- building adapters
# The one way tests build an adapter, and the framework lists they run over (from the registry).
#
# ``build_adapter`` sets the framework's helper up the way the worker does (2 threads, seed 0), runs
# the mode a request for ``mode`` runs (torch: ``step`` -> ``eager``), and builds from a copy of the
# weights. A framework that is not installed skips the test; an adapter that raises ``Unsupported``
# (a setting its framework cannot express) skips it with the adapter's reason, never passes it.


def spec_module(arch: str):
    """The architecture's checked spec (harness.contract.Spec; the module's own helpers reachable)."""
    return registry.spec(arch)


def frameworks(arch: str) -> list[str]:
    """Frameworks with an implementation of ``arch`` (not declared unsupported), in registry order."""
    return registry.frameworks_of(arch)


def epoch_mode(arch: str, fw: str) -> str:
    """The framework's fused-epoch mode where it has one, else its first mode."""
    modes = registry.modes(arch, fw).modes
    return "epoch" if "epoch" in modes else modes[0]


def adapter_module(arch: str, fw: str) -> ModuleType:
    """``architectures/<arch>/fw_<fw>.py``, imported after its framework's helper is set up."""
    pytest.importorskip(registry.FRAMEWORK_MODULES[fw])
    from harness.frameworks import helper

    helper(fw).setup(2, 0)
    return importlib.import_module(f"architectures.{arch}.fw_{fw}")


def build_adapter(arch: str, fw: str, model, info, train=None, mode: str = "step",
                  weights: dict[str, np.ndarray] | None = None, seed: int = 0):
    """-> (adapter, weights): ``arch`` in ``fw`` built from a copy of ``weights`` (default: the spec's
    ``init_weights`` drawn from ``default_rng(seed)``), in the mode a request for ``mode`` runs."""
    mod = adapter_module(arch, fw)
    if weights is None:
        weights = spec_module(arch).init_weights(model, info, np.random.default_rng(seed))
    if train is None:
        from harness.config import TrainConfig

        train = TrainConfig()
    try:
        ad = mod.Adapter(model, info, train, mode=registry.modes(arch, fw).resolve(mode), device="cpu", seed=0)
        ad.build({k: v.copy() for k, v in weights.items()})
    except Unsupported as e:  # a setting this framework cannot express: reported, not passed
        pytest.skip(f"unsupported: {e}")
    return ad, weights
