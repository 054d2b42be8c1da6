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


def epoch_arrays(spec, x: np.ndarray, y: np.ndarray, batch_size: int, perm: np.ndarray, model,
                 rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One epoch as the adapter receives it (``spec``: a harness.contract.Spec): the spec's ``make_epoch`` when it has one (epochs that
    carry harness-drawn noise), else ``epoch_batches``. Used by the worker and the check set alike."""
    if spec.make_epoch is not None:
        return spec.make_epoch(x, y, batch_size, perm, model, rng)
    return epoch_batches(x, y, batch_size, perm)
