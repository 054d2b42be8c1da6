"""How the test suite has PyTensor compile its C modules (imported by conftest before any framework).

A cold compile cache (CI, a new machine) makes PyTensor compile several hundred small C++ modules, one
g++ call each, and most of each call was parsing the same headers (Python.h, numpy's, <vector>): about
0.45 s of a 0.5 s call. So the suite
- compiles at ``-O0 -g0`` (the tests check what graphs compute, not how fast; the flags are part of
  PyTensor's module key, so a benchmark never reuses these modules),
- pre-includes those headers from one GCC precompiled header (``-include annbench_pch.h``; about 0.17 s
  a module instead), built once per session by the controller,
- gives each xdist worker its own compile dir: PyTensor locks its compile dir while it builds a module,
  and two workers sharing one waited on each other.

A precompiled header that GCC finds unusable (other flags, another compiler) is skipped, and the plain
header it stands for is read instead, so the worst case is the old speed, never a different module.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

HEADER = "annbench_pch.h"
# What PyTensor's generated mod.cpp files include first, in their order (all include-guarded, so the
# copies in mod.cpp become no-ops). Python.h must come first, as in mod.cpp.
INCLUDES = ("<Python.h>", '"pytensor_mod_helper.h"', "<math.h>", "<numpy/arrayobject.h>",
            "<numpy/arrayscalars.h>", "<numpy/npy_math.h>", "<vector>", "<algorithm>")
# The arguments PyTensor's Elemwise/Scan ops add to nearly every module: -fno-math-errno defines a macro,
# and a header precompiled without it would be rejected for those modules.
OP_ARGS = ("-O3", "-fno-math-errno", "-Wno-unused-label", "-Wno-unused-variable", "-Wno-write-strings")


def _items(flags: str) -> list[str]:
    return [f for f in flags.split(",") if f]


def _compile_dir(items: list[str]) -> Path:
    """The configured (base) compile dir, else PyTensor's default base."""
    for f in items:
        key, _, value = f.partition("=")
        if key in ("compiledir", "base_compiledir"):
            return Path(value)
    return Path.home() / ".pytensor"


def pch_dir(flags: str) -> Path:
    """Beside the compile dir, not in it: PyTensor treats the compile dir's folders as its modules."""
    d = _compile_dir(_items(flags))
    return d.with_name(d.name + "-annbench-pch")


def suite_flags(flags: str, worker: str | None, pch: Path | None) -> str:
    """The suite's PYTENSOR_FLAGS from the user's ``flags``: -O0 -g0 (and the precompiled header in
    ``pch``, when given) unless the user set gcc__cxxflags; a ``<worker>`` compile dir per xdist worker."""
    items = _items(flags)
    if not any(f.startswith("gcc__cxxflags=") for f in items):
        cxx = "-O0 -g0"  # -g0: PyTensor passes -g, debug info nobody reads here
        if pch is not None:
            # -march given, PyTensor skips its detection of one, which runs g++ with these flags on a C
            # input and failed on the C++ header: the header and the modules get the same target either way
            cxx += f" -march=native -I{pch} -include {HEADER}"
        items.append(f"gcc__cxxflags={cxx}")
    if worker:
        keys = [i for i, f in enumerate(items) if f.split("=")[0] in ("base_compiledir", "compiledir")]
        for i in keys:
            items[i] = f"{items[i]}/{worker}"
        if not keys:
            items.append(f"base_compiledir={Path.home() / '.pytensor' / ('annbench-tests-' + worker)}")
    return ",".join(items)


_PROBE = """
import json, numpy, pytensor
from pytensor.link.c.cmodule import GCC_compiler, std_include_dirs
print(json.dumps({"cxx": pytensor.config.cxx, "args": GCC_compiler.compile_args(),
                  "include": std_include_dirs(), "stamp": [pytensor.__version__, numpy.__version__]}))
"""


def _compiler_setup(flags: str) -> dict | None:
    """PyTensor's own compiler, arguments and include dirs under ``flags`` (a subprocess: importing
    PyTensor here would fix its config before the workers set theirs). None without PyTensor or g++."""
    env = {**os.environ, "PYTENSOR_FLAGS": flags}
    p = subprocess.run([sys.executable, "-c", _PROBE], env=env, capture_output=True, text=True)
    if p.returncode != 0:
        return None
    setup = json.loads(p.stdout.strip().splitlines()[-1])
    return setup if setup["cxx"] else None


def build_pch(flags: str, pch: Path) -> bool:
    """Write ``pch/annbench_pch.h`` and, when out of date, its ``.gch`` compiled with PyTensor's
    arguments under ``flags`` (the suite's, with the -include). False when PyTensor cannot compile C
    (no PyTensor, no g++): then the suite must not name the header at all."""
    setup = _compiler_setup(flags)
    if setup is None:
        return False
    pch.mkdir(parents=True, exist_ok=True)
    (pch / HEADER).write_text("".join(f"#include {h}\n" for h in INCLUDES))
    args = [a for a in setup["args"] if a not in (f"-I{pch}", "-include", HEADER)]
    cmd = [setup["cxx"], "-g", *OP_ARGS, *args, *(f"-I{d}" for d in setup["include"]), "-x", "c++-header"]
    stamp = json.dumps({"cmd": cmd, "versions": setup["stamp"], "python": sys.version})
    gch, stamp_file = pch / (HEADER + ".gch"), pch / "stamp.json"
    if gch.exists() and stamp_file.exists() and stamp_file.read_text() == stamp:
        return True
    tmp = pch / f"{HEADER}.{os.getpid()}.gch"  # then renamed: a concurrent session never reads half a file
    if subprocess.run([*cmd, str(pch / HEADER), "-o", str(tmp)], capture_output=True).returncode == 0:
        os.replace(tmp, gch)
        stamp_file.write_text(stamp)
    tmp.unlink(missing_ok=True)  # what a failed build left
    return True  # without the .gch, g++ reads the plain header: slower, same modules


def configure(environ: os._Environ | dict) -> None:
    """Set the suite's PYTENSOR_FLAGS in ``environ``; the controller (or a run without xdist) builds the
    precompiled header, the workers (which inherit the controller's flags) only add their compile dir."""
    flags, worker = environ.get("PYTENSOR_FLAGS", ""), environ.get("PYTEST_XDIST_WORKER")
    if worker or any(f.startswith("gcc__cxxflags=") for f in _items(flags)):
        environ["PYTENSOR_FLAGS"] = suite_flags(flags, worker, None)
        return
    pch = pch_dir(flags)
    with_pch = suite_flags(flags, None, pch)
    environ["PYTENSOR_FLAGS"] = with_pch if build_pch(with_pch, pch) else suite_flags(flags, None, None)
