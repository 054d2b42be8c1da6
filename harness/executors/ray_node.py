"""What a Ray task runs on its node. Imports neither Ray nor a framework: the task launches the same
``python -m harness.worker`` process as a local run (harness.runner.execute) and sends back text only
(the record as JSON, the job's log, and repeat 0's trained weights as base64 of their .npz), which the
driver parses as data.

The driver ships these functions by value (cloudpickle), so a node needs the repository at the same
path (``repo``), not an importable ``harness`` on its Ray workers' path."""
from __future__ import annotations

import sys


def _harness(repo: str) -> None:
    if repo not in sys.path:
        sys.path.insert(0, repo)


def run_job(jd: dict, repo: str, node: str) -> tuple[str, str, str]:
    """Run the job dict ``jd`` in a fresh worker process on this node; (record JSON, log text, the
    saved weights' .npz as base64 text or ""). The child dies with this Ray worker, so
    ``ray.cancel(force=True)`` leaves nothing running."""
    import base64
    import json
    import tempfile
    from pathlib import Path

    _harness(repo)
    from harness import runner

    with tempfile.TemporaryDirectory(prefix="annbench-ray-") as tmp:
        log, weights = Path(tmp) / "job.log", Path(tmp) / "weights.npz"
        rec = runner.execute(jd, log, sys.executable, node=node, die_with_parent=True,
                             weights=weights if jd.get("save_weights_mb", 0) > 0 else None)
        text = log.read_text(errors="replace") if log.exists() else ""
        saved = base64.b64encode(weights.read_bytes()).decode() if weights.exists() else ""
    return json.dumps(rec), text, saved


def probe_node(cfg: dict, repo: str) -> str:
    """The run-start probes (machine, versions, GEMM peaks) of this node, as env.json's JSON text."""
    import json

    _harness(repo)
    from harness import envinfo
    from harness.config import RunConfig

    return json.dumps(envinfo.collect(RunConfig.model_validate(cfg)))
