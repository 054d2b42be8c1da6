"""Exceptions shared by the harness and the implementations (numpy only, imports nothing)."""
from __future__ import annotations


class Unsupported(Exception):
    """Raised by an adapter for a configuration its framework cannot express (e.g. tied weights in
    scikit-learn's MLPRegressor). The worker records the job as ``unsupported`` with this message."""


class SpecError(TypeError):
    """An architecture's spec.py breaks the spec contract (docs/design.md, "The spec contract")."""
