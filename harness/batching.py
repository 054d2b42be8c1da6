"""Batch order owned by the harness: the same permutation and batches for every framework."""
from __future__ import annotations

import numpy as np


def epoch_permutation(n: int, seed: int, epoch: int) -> np.ndarray:
    """Permutation of n examples for (seed, epoch): independent of the framework and of the mode."""
    return np.random.default_rng([seed, epoch, 0xB47C4]).permutation(n)


def epoch_batches(x: np.ndarray, y: np.ndarray, batch_size: int, perm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Stack one epoch as (steps, batch, ...). The last partial batch is dropped for everyone."""
    steps = len(perm) // batch_size
    if steps == 0:
        raise ValueError(f"batch_size {batch_size} exceeds the {len(perm)} training examples")
    idx = perm[: steps * batch_size].reshape(steps, batch_size)
    return np.ascontiguousarray(x[idx]), np.ascontiguousarray(y[idx])
