"""Each framework's own float32 matrix multiply, for the machine-limit probe (``python -m
harness.frameworks.gemm FRAMEWORK THREADS DEVICE``, run by ``harness.envinfo`` at the start of a run
in a fresh process with the job's thread environment). Importing this module imports no framework;
``matmul(framework, n, device)`` imports the one asked for.

Prints one JSON object: the framework's version, the threads it actually uses (its helper's
``setup``) and the best GEMM rate over a few sizes, or ``{"error": ...}``. A fourth argument
``--no-gemm`` skips the GEMM (the run already measured the same matmul: see ``BUILDERS``).
"""
from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable

import numpy as np

# Square sizes probed per device: a CPU's best float32 rate is usually at n = 2048-4096 (blocking fits
# the caches, threads are busy), a GPU's at 4096 or more. 256 left out on CPU: a 0.3 ms product timed
# on a shared machine can catch a quiet moment the longer ones cannot, and so won for noise.
SIZES = {"cpu": (512, 1024, 2048, 3072, 4096), "cuda": (1024, 2048, 4096, 8192)}
BUDGET_S = 0.2  # timed calls per size until this much time is spent (at least MIN_TIMED, at most MAX_TIMED)
MIN_TIMED, MAX_TIMED = 2, 20
# A first call this long (n = 3072 and 4096 on a CPU) counts as a timed one: its one-off costs (a
# trace or compile for the new shape, the first touch of the output) are small beside the product,
# and a separate warm-up would double the probe's longest part. Shorter first calls are warm-ups only.
LONG_CALL_S = 0.25


def _operands(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Two n x n float32 matrices, uniform in [0, 1) (7x quicker to draw than normals at n = 4096;
    the values do not change a GEMM's speed as long as there are no subnormals)."""
    rng = np.random.default_rng(n)
    return rng.random((n, n), dtype=np.float32), rng.random((n, n), dtype=np.float32)


def _torch(n: int, device: str) -> Callable[[], object]:
    import torch

    dev = torch.device("cuda" if device == "cuda" else "cpu")
    a, b = (torch.from_numpy(x).to(dev) for x in _operands(n))

    def run():
        c = a @ b
        if device == "cuda":
            torch.cuda.synchronize()
        return c
    return run


def _tensorflow(n: int, device: str) -> Callable[[], object]:
    import tensorflow as tf

    with tf.device("/GPU:0" if device == "cuda" else "/CPU:0"):
        a, b = (tf.constant(x) for x in _operands(n))
    mm = tf.function(lambda: tf.linalg.matmul(a, b)[0, 0])  # a one-element fetch is the sync
    return lambda: mm().numpy()


def _jax(n: int, device: str) -> Callable[[], object]:
    import jax

    from harness.frameworks.jax import jax_device

    dev = jax_device(device)
    a, b = (jax.device_put(x, dev) for x in _operands(n))
    mm = jax.jit(lambda a, b: a @ b)
    return lambda: mm(a, b).block_until_ready()


def _theano(n: int, device: str) -> Callable[[], object]:
    import pytensor
    import pytensor.tensor as pt

    from harness.frameworks.theano import MODE

    x, y = pt.matrix("x", dtype="float32"), pt.matrix("y", dtype="float32")
    f = pytensor.function([x, y], pt.dot(x, y), mode=MODE)
    a, b = _operands(n)
    return lambda: f(a, b)


def _numpy(n: int, device: str) -> Callable[[], object]:
    a, b = _operands(n)
    return lambda: a @ b


# autograd, scikit-learn and MiniSom multiply with numpy; flax multiplies with jax
BUILDERS = {"torch": _torch, "tensorflow": _tensorflow, "jax": _jax, "flax": _jax, "theano": _theano,
            "autograd": _numpy, "sklearn": _numpy, "minisom": _numpy, "numpy": _numpy}


def matmul(framework: str, n: int, device: str = "cpu") -> Callable[[], object]:
    """A call that multiplies two n x n float32 matrices with ``framework``'s own matmul on ``device``
    and waits for the result."""
    return BUILDERS[framework](n, device)


def best_time(call: Callable[[], object]) -> tuple[float, int]:
    """(shortest seconds per call, calls timed): one warm-up call, then timed calls until
    ``BUDGET_S`` is spent, at least ``MIN_TIMED`` and at most ``MAX_TIMED`` (the warm-up counts as the
    first timed call when it took ``LONG_CALL_S`` or more)."""
    from harness import measure

    first = measure.time_repeated(call, 1, 0)[0]
    times = [first] if first >= LONG_CALL_S else []
    while len(times) < MAX_TIMED and (len(times) < MIN_TIMED or sum(times) < BUDGET_S):
        times += measure.time_repeated(call, 1, 0)
    return min(times), len(times)


def default_sizes(device: str) -> tuple[int, ...]:
    """``SIZES[device]``, or the sizes in ``ANNBENCH_GEMM_SIZES`` (comma-separated, e.g. ``256,512``):
    for quick runs and the test suite, whose runs would otherwise spend most of their start-up on
    4096^3 products. The sizes probed are in the result (``rates``), so a report shows which ran."""
    text = os.environ.get("ANNBENCH_GEMM_SIZES", "").strip()
    if not text:
        return SIZES["cpu" if device == "cpu" else "cuda"]
    try:
        sizes = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise ValueError(f"ANNBENCH_GEMM_SIZES={text!r}: expected comma-separated sizes, e.g. 256,512") from None
    if not sizes or min(sizes) < 1:
        raise ValueError(f"ANNBENCH_GEMM_SIZES={text!r}: sizes must be positive")
    return sizes


def peak(framework: str, device: str = "cpu", sizes: tuple[int, ...] | None = None) -> dict:
    """Best GEMM rate over ``sizes`` (default ``SIZES[device]``): {"flops": FLOP/s (2 n^3 per
    product) at the best size, "size": that n, "rates": {n: FLOP/s} and "timed": {n: calls timed}
    for every size (str keys, as JSON has them)}."""
    rates, timed = {}, {}
    for n in sizes or default_sizes(device):
        t, count = best_time(matmul(framework, n, device))
        rates[str(n)], timed[str(n)] = 2 * n**3 / t, count
    best = max(rates, key=rates.get)
    return {"flops": rates[best], "size": int(best), "rates": rates, "timed": timed}


def main(argv: list[str]) -> int:
    fw, threads, device = argv[1], int(argv[2]), argv[3]
    want_gemm = "--no-gemm" not in argv[4:]
    try:
        out: dict = {"gemm": None}
        if fw != "numpy":
            from harness.frameworks import helper

            h = helper(fw)
            out.update(version=h.version(), threads=h.setup(threads, 0))
            reason = h.device_available(device)
            if reason:
                out["gemm_error"] = reason
                print(json.dumps(out, default=str))
                return 0
            if device == "cuda" and hasattr(h, "gpu_info"):
                out["gpu"] = h.gpu_info(device)  # the framework's view: model, driver, CUDA, cuDNN
        if want_gemm:
            out["gemm"] = {**peak(fw, device), "device": device}
    except Exception as e:  # the run goes on without this peak; env.json says why
        out = {"error": f"{type(e).__name__}: {e}".splitlines()[0]}
    print(json.dumps(out, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
