"""Architectures: one folder each, a neutral ``spec.py`` and one ``fw_<framework>.py`` per framework.

Nothing here imports a framework; ``fw_*.py`` files are imported only inside a worker process
(or a test) that asked for that framework. ``ANNBENCH_EXTRA_ARCHITECTURES`` (os.pathsep-separated
directories) adds architecture folders from elsewhere — the test suite uses it for its
fault-injection architecture, which is therefore never part of the shipped matrix.
"""
import os as _os

__path__ += [p for p in _os.environ.get("ANNBENCH_EXTRA_ARCHITECTURES", "").split(_os.pathsep) if p]  # noqa: F821
