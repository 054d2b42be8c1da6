"""Where the jobs of a run execute: ``local`` (harness.runner: one after another on this machine) or
``ray`` (harness.executors.ray_exec: spread over the nodes of a Ray cluster, one job per node)."""
from __future__ import annotations

EXECUTORS = ("local", "ray")


class ExecutorError(RuntimeError):
    """Bad executor input (unknown name, unreachable address, Ray missing); str() is one line."""
