"""Finds implementations by file name, without importing them.

``architectures/<arch>/fw_<framework>.py`` present -> implemented, unless the file assigns a
module-level ``UNSUPPORTED = "reason"`` (read with ``ast``, never executed) -> unsupported.
No file -> missing (not implemented yet). The execution modes an implementation runs are read the
same way: the literal ``MODES`` tuple and optional ``ALIASES`` dict of its ``class Adapter``.
"""
from __future__ import annotations

import ast
import importlib.util
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "architectures"

# Framework ids (configs, file names, records) and the module that must be importable for each.
FRAMEWORK_MODULES: dict[str, str] = {
    "torch": "torch",
    "tensorflow": "tensorflow",
    "jax": "jax",
    "flax": "flax",
    "autograd": "autograd",
    "sklearn": "sklearn",
    "theano": "pytensor",  # Theano lives on as PyTensor
    "minisom": "minisom",
}
FRAMEWORKS: tuple[str, ...] = tuple(FRAMEWORK_MODULES)
DISTRIBUTIONS: dict[str, str] = {
    "torch": "torch", "tensorflow": "tensorflow-cpu", "jax": "jax", "flax": "flax", "autograd": "autograd",
    "sklearn": "scikit-learn", "theano": "pytensor", "minisom": "minisom",
}
DISPLAY: dict[str, str] = {"theano": "theano (PyTensor)"}


@dataclass(frozen=True)
class Implementation:
    architecture: str
    framework: str
    status: str  # implemented | unsupported | missing
    reason: str | None
    path: Path


def roots() -> list[Path]:
    """architectures/ plus any ANNBENCH_EXTRA_ARCHITECTURES directories (tests use that)."""
    extra = [Path(p) for p in os.environ.get("ANNBENCH_EXTRA_ARCHITECTURES", "").split(os.pathsep) if p]
    return [ROOT, *extra]


def _folder(architecture: str) -> Path:
    for root in roots():
        if (root / architecture / "spec.py").exists():
            return root / architecture
    return ROOT / architecture


def architectures() -> list[str]:
    """Architecture ids: folders that hold a spec.py (names starting with _ are private)."""
    return sorted({p.parent.name for root in roots() for p in root.glob("*/spec.py")
                   if not p.parent.name.startswith("_")})


@lru_cache(maxsize=None)
def _unsupported_reason(path: Path) -> str | None:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else (
            [node.target] if isinstance(node, ast.AnnAssign) else [])
        for t in targets:
            if isinstance(t, ast.Name) and t.id == "UNSUPPORTED":
                value = getattr(node, "value", None)
                if isinstance(value, ast.Constant) and isinstance(value.value, str):
                    return value.value
                return "declared unsupported"
    return None


MODE_NAMES: tuple[str, ...] = ("step", "epoch", "epoch-xla", "eager", "compiled")


@dataclass(frozen=True)
class Modes:
    """What an implementation runs: ``modes`` it has, and ``aliases`` mapping a requested mode it
    lacks to the one it runs instead (torch: ``step`` -> ``eager``, its standard per-step loop)."""
    modes: tuple[str, ...]
    aliases: dict

    def resolve(self, requested: str) -> str:
        """The mode a request for ``requested`` runs (itself, its alias, or itself when unsupported)."""
        return requested if requested in self.modes else self.aliases.get(requested, requested)


@lru_cache(maxsize=None)
def _adapter_literals(path: Path) -> dict:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == "Adapter":
            found = {}
            for stmt in node.body:
                if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
                    if stmt.targets[0].id in ("MODES", "ALIASES", "LIMITS"):
                        found[stmt.targets[0].id] = ast.literal_eval(stmt.value)
            return found
    return {}


def modes(architecture: str, framework: str) -> Modes:
    """The execution modes of an implemented pair, read from its file without importing it."""
    lit = _adapter_literals(implementation(architecture, framework).path)
    return Modes(tuple(lit.get("MODES", ("step",))), dict(lit.get("ALIASES", {})))


def spec(architecture: str):
    """The architecture's checked spec (harness.contract.Spec): the one way the harness loads a spec."""
    from harness import contract

    _extend_package_path()
    return contract.load(architecture)


def _extend_package_path() -> None:
    """Put every root on the ``architectures`` package's path: ANNBENCH_EXTRA_ARCHITECTURES may have
    been set after the package was first imported (a test that sets it in-process)."""
    import architectures

    for root in roots()[1:]:
        if str(root) not in architectures.__path__:
            architectures.__path__.append(str(root))


def lower_is_better(architecture: str, metric: str) -> bool | None:
    """The direction the architecture's spec declares for ``metric``; None when this checkout has no
    such architecture or metric (an old run)."""
    try:
        return spec(architecture).lower_is_better(metric)
    except (ImportError, KeyError):
        return None


def frameworks_of(architecture: str) -> list[str]:
    """Frameworks with an implementation file for ``architecture`` (implemented or declared unsupported)."""
    return [fw for fw in FRAMEWORKS if implementation(architecture, fw).status == "implemented"]


def limits(architecture: str, framework: str) -> dict[str, tuple]:
    """The settings an implemented pair can run, where it cannot run them all: the literal ``LIMITS``
    of its ``class Adapter`` (``{"train.momentum": (0.0,), "model.cd_k": (1,)}``), read without
    importing the file. The plan records a job outside them as unsupported, without a process."""
    lit = _adapter_literals(implementation(architecture, framework).path)
    return {k: tuple(v) for k, v in lit.get("LIMITS", {}).items()}


def outside_limits(architecture: str, framework: str, model: dict, train: dict) -> str | None:
    """Why (``model``, ``train``) is outside the pair's ``LIMITS``, or None."""
    values = {**{f"model.{k}": v for k, v in model.items()}, **{f"train.{k}": v for k, v in train.items()}}
    for key, allowed in limits(architecture, framework).items():
        if key in values and values[key] not in allowed:
            shown = ", ".join(map(repr, allowed))
            return f"{framework} {architecture} runs only {key} in ({shown}) (got {values[key]!r})"
    return None


def implementation(architecture: str, framework: str) -> Implementation:
    path = _folder(architecture) / f"fw_{framework}.py"
    if not path.exists():
        return Implementation(architecture, framework, "missing", f"not implemented (no {architecture}/fw_{framework}.py)", path)
    reason = _unsupported_reason(path)
    if reason is not None:
        return Implementation(architecture, framework, "unsupported", reason, path)
    return Implementation(architecture, framework, "implemented", None, path)


def matrix() -> list[Implementation]:
    return [implementation(a, f) for a in architectures() for f in FRAMEWORKS]


def installed(framework: str) -> bool:
    """Whether the framework's module can be found (found, not imported)."""
    try:
        return importlib.util.find_spec(FRAMEWORK_MODULES[framework]) is not None
    except (ValueError, ModuleNotFoundError):
        return False


def version(framework: str) -> str | None:
    """Installed distribution version, read from metadata without importing the framework."""
    from importlib import metadata

    names = [DISTRIBUTIONS[framework], FRAMEWORK_MODULES[framework]]
    if framework == "tensorflow":
        names.insert(1, "tensorflow")
    for n in names:
        try:
            return metadata.version(n)
        except metadata.PackageNotFoundError:
            continue
    return None
