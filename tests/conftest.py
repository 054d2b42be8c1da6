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

import json  # noqa: E402

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
