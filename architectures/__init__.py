"""Architectures: one folder each, a neutral ``spec.py`` and one ``fw_<framework>.py`` per framework.

Nothing here imports a framework; ``fw_*.py`` files are imported only inside a worker process
(or a test) that asked for that framework.
"""
