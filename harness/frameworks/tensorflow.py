"""TensorFlow / Keras 3 helper. Thread env vars are set by the runner before import."""
from __future__ import annotations

import os

import tensorflow as tf

from harness.frameworks import _common


def version() -> str:
    import keras

    return f"{tf.__version__} (keras {keras.__version__})"


def setup(threads: int, seed: int) -> dict:
    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    except RuntimeError:  # already initialised: the env vars applied
        pass
    for gpu in tf.config.list_physical_devices("GPU"):
        try:
            tf.config.experimental.set_memory_growth(gpu, True)  # no preallocation: honest peak
        except RuntimeError:
            pass
    tf.config.experimental.enable_tensor_float_32_execution(False)  # full float32 on GPUs
    tf.random.set_seed(seed)
    _common.seed_python(seed)
    return {"intra_op": tf.config.threading.get_intra_op_parallelism_threads(),
            "inter_op": tf.config.threading.get_inter_op_parallelism_threads(),
            "env_intra": os.environ.get("TF_NUM_INTRAOP_THREADS"), "blas": _common.blas_threads()}


def device_available(device: str) -> str | None:
    if device == "cpu":
        return None
    if not tf.config.list_physical_devices("GPU"):
        return f"tensorflow {tf.__version__} sees no GPU (tensorflow-cpu build or no CUDA)"
    return None


def tf_device(device: str) -> str:
    return "/GPU:0" if device == "cuda" else "/CPU:0"


def sync(device: str) -> None:
    """TF has no global sync; adapters fetch a result to host (``.numpy()``), which waits."""


def reset_gpu_peak() -> None:
    if tf.config.list_physical_devices("GPU"):
        tf.config.experimental.reset_memory_stats("GPU:0")


def gpu_peak_mb() -> float | None:
    if tf.config.list_physical_devices("GPU"):
        return tf.config.experimental.get_memory_info("GPU:0")["peak"] / 2**20
    return None
