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
import sys
from collections.abc import Callable

import numpy as np

SIZES = (256, 512, 1024, 2048)
# A GPU reaches its peak only on large products: up to 8192 (0.8 GB of float32 operands and result);
# each size is timed after one untimed warm-up call (cuBLAS handles, autotuning, allocator growth).
GPU_SIZES = (1024, 2048, 4096, 8192)


def _operands(n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(n)
    return rng.standard_normal((n, n), dtype=np.float32), rng.standard_normal((n, n), dtype=np.float32)


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


def peak(framework: str, device: str = "cpu", sizes: tuple[int, ...] = SIZES, repeats: int = 3) -> dict:
    """Best GEMM rate (FLOP/s, 2 n^3 per product) over ``sizes``; the best of ``repeats`` per size."""
    from harness import measure

    best, best_n = 0.0, 0
    for n in sizes:
        call = matmul(framework, n, device)
        t = min(measure.time_repeated(call, repeats, 1))
        if 2 * n**3 / t > best:
            best, best_n = 2 * n**3 / t, n
    return {"flops": best, "size": best_n}


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
            out["gemm"] = {**peak(fw, device, GPU_SIZES if device == "cuda" else SIZES), "device": device}
    except Exception as e:  # the run goes on without this peak; env.json says why
        out = {"error": f"{type(e).__name__}: {e}".splitlines()[0]}
    print(json.dumps(out, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
