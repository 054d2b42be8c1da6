"""The suite's PyTensor build set-up (tests/pytensor_build.py): flags per worker, and a precompiled header
that g++ really uses for the modules PyTensor compiles (else the cold suite is minutes slower)."""
import logging
import shlex
import subprocess
from pathlib import Path

import numpy as np
import pytensor_build
import pytest

from harness import registry


def test_flags_per_worker_and_user_flags_kept():
    f = pytensor_build.suite_flags("compiledir=/x/c,floatX=float32", "gw1", Path("/x/c-annbench-pch"))
    items = f.split(",")
    assert "compiledir=/x/c/gw1" in items and "floatX=float32" in items
    assert "gcc__cxxflags=-O0 -g0 -march=native -I/x/c-annbench-pch -include annbench_pch.h" in items
    # the user's own compiler flags win, and no header is named then
    f = pytensor_build.suite_flags("gcc__cxxflags=-O2", None, Path("/p"))
    assert f == "gcc__cxxflags=-O2"
    assert pytensor_build.suite_flags("", "gw0", None).endswith("annbench-tests-gw0")
    assert pytensor_build.pch_dir("compiledir=/a/b") == Path("/a/b-annbench-pch")


@pytest.mark.skipif(not registry.installed("theano"), reason="PyTensor not installed")
def test_a_new_module_is_compiled_with_the_precompiled_header(caplog):
    import pytensor
    import pytensor.tensor as pt

    flags = pytensor.config.gcc__cxxflags
    if "-include" not in flags:
        pytest.skip(f"the suite's precompiled header is off here (gcc__cxxflags={flags!r})")
    x = pt.fmatrix()
    # PyTensor's own C helpers first (its linker, compiled without the ops' flags, so without the header)
    pytensor.function([x], x + 1, mode="CVM")
    scale = float(np.random.default_rng().uniform(1, 2))  # a constant no cached module has: a new compile
    with caplog.at_level(logging.DEBUG, logger="pytensor.link.c.cmodule"):
        f = pytensor.function([x], pt.tanh(x) * scale + 1, mode="CVM")
    assert np.allclose(f(np.ones((2, 2), np.float32)), np.tanh(1) * scale + 1)
    cmds = [r.getMessage().removeprefix("Running cmd: ") for r in caplog.records
            if r.getMessage().startswith("Running cmd: ")]
    assert cmds, "no module was compiled"
    cmd = shlex.split(cmds[-1])
    out = Path(cmd[cmd.index("-o") + 1])
    cmd[cmd.index("-o") + 1] = str(out.with_name("again.so"))
    p = subprocess.run([*cmd, "-H", "-Winvalid-pch"], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr[-2000:]
    # g++ -H marks a precompiled header it used with "!" (and one it rejected with "x" and a warning)
    assert any(line.startswith("! ") and line.endswith(".gch") for line in p.stderr.splitlines()), p.stderr[:2000]
