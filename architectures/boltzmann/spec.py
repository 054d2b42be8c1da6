"""Boltzmann machine (fully connected stochastic binary units): the neutral spec (numpy only).

Units s in {0, 1}: V visible (the data, flattened) then H hidden, n = V + H, in that order.
Canonical weights (float32):
  ``W``: (n, n) symmetric, zero diagonal (every pair of units is connected, visible and hidden alike)
  ``b``: (n,)
Energy E(s) = -1/2 s^T W s - b^T s; p(s) = exp(-E(s)) / Z. Free scalars: n (n - 1) / 2 + n, but
``param_count`` counts the stored n^2 + n (the check set compares it with the stored sizes).

Learning (Ackley, Hinton & Sejnowski 1985), one optimizer step per batch of B rows:
  positive phase: visibles clamped to the batch; hidden units start at 0 and get ``gibbs_steps``
      sequential sweeps (units V .. n-1 in order). No hidden units: the data alone.
  negative phase: B free-running chains, ``gibbs_steps`` sequential sweeps over all units 0 .. n-1.
      persistent=True: the chains carry over from the previous batch (and epoch); they are all-zero
      when the adapter is built. persistent=False: each batch's chains start from its positive-phase
      states (CD-k for a general Boltzmann machine).
  A Gibbs update of unit i sets s_i = 1 iff u < sigmoid(sum_j W_ij s_j + b_i), u the next harness
  uniform (below), so every framework draws the same samples (up to float32 ties).
  gradient (per pair weight): dW = -(<s s^T>_pos - <s s^T>_neg) + weight_decay * W, diagonal zeroed;
      db = -(<s>_pos - <s>_neg); <.> = mean over the batch rows. Applied with harness/optim.py.
  The statistics are formed as integer counts (exact in float32) and then divided by B, so a balanced
  statistic is an exact 0 everywhere: a mean taken as a sum of rounded 1/B terms can leave a residue
  of ~1e-8, which Adam's first steps would turn into a full-size step of lr.
Noise (``make_epoch``): yb (steps, B, k*H + k*n) float32 uniforms in [0, 1), k = gibbs_steps; for each
  row, yb[..., :k*H] reshaped (k, H) feeds the positive sweeps (sweep-major, hidden units in order),
  yb[..., k*H:] reshaped (k, n) the negative sweeps. xb are the harness's batches (last partial dropped).
Training loss returned by ``train_epoch`` (cheap, deterministic): the contrastive energy gap
  mean_B E(positive states) - mean_B E(negative states), computed with the weights before the step and
  averaged over steps; holding the samples fixed, its gradient per pair weight is the update above
  (less weight decay).
``loss`` (the objective itself) is the exact negative mean log-likelihood, used by tests only.
``forward`` / ``predict``: the Gibbs conditionals p(s_i = 1 | s_-i) = sigmoid(s W + b) (N, n) for full
  states s (N, n); an (N, V) input is read as the visible part with every hidden unit off.
``evaluate``: exact mean log-likelihood (nats per sample) of the visible data, marginalising the hidden
  units by enumerating all 2^n states; ``validate`` refuses n > 20.
"""
from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from harness.batching import epoch_batches
from harness.datasets import DataInfo
from harness.optim import OptState, apply_update

TASK = "density"
METRICS = {"log_likelihood": "higher"}
PRIMARY = "log_likelihood"
DATASETS = ("bars_stripes", "mnist5k_binary")  # mnist5k_binary: downsample (data.side) to <= 20 units
DEFAULT_DATASET = "bars_stripes"
# train settings of {architecture: boltzmann} alone (over harness.config.TrainConfig's defaults)
# 14 patterns: one batch an epoch
TRAIN = {"epochs": 300, "batch_size": 14, "optimizer": "adam", "lr": 0.05}

FLOPS_CONVENTION = (
    "sequential Gibbs sampling, not backprop; per example, multiply-adds only (2 FLOPs each) over n = V + H "
    "units: each unit update is one n-long dot product, k sweeps of the H hidden units (positive phase) and of "
    "all n units (negative phase): 2 n k (H + n); the statistics s s^T of both phases (4 n^2) and the returned "
    "energy gap s^T W s of both (4 n^2). Sigmoids, sampling comparisons and the per-step optimizer update are "
    "left out.")
MAX_UNITS = 20  # exact log Z enumerates 2^n states
INIT_STD = 0.01  # initial couplings ~ N(0, INIT_STD^2), symmetrised; biases 0


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid")
    hidden: int = Field(0, ge=0, le=MAX_UNITS)
    gibbs_steps: int = Field(10, ge=1, le=10_000)  # sweeps per phase
    persistent: bool = True
    weight_decay: float = Field(0.0, ge=0.0, le=1.0)


def n_visible(info: DataInfo) -> int:
    return int(np.prod(info.input_shape))


def n_units(model: Model, info: DataInfo) -> int:
    return n_visible(info) + model.hidden


def weight_shapes(model: Model, info: DataInfo) -> dict[str, tuple[int, ...]]:
    n = n_units(model, info)
    return {"W": (n, n), "b": (n,)}


def param_count(model: Model, info: DataInfo) -> int:
    n = n_units(model, info)
    return n * n + n


def init_weights(model: Model, info: DataInfo, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """W: the upper triangle drawn N(0, INIT_STD^2) row by row, mirrored; zero diagonal. b = 0."""
    n = n_units(model, info)
    upper = np.triu(rng.normal(0.0, INIT_STD, size=(n, n)), k=1)
    return {"W": (upper + upper.T).astype(np.float32), "b": np.zeros(n, np.float32)}


def validate(model: Model, info: DataInfo, train) -> str | None:
    n = n_units(model, info)
    if n > MAX_UNITS:
        return (f"model.hidden: exact log-likelihood enumerates 2^(V+H) states; V + H = {n} exceeds "
                f"{MAX_UNITS}" + (" (downsample the images: data.side, e.g. 4 for 16 visibles)" if info.image_shape else ""))
    return None


def noise_size(model: Model, n_vis: int) -> int:
    """Uniforms per batch row and step: k*H (positive sweeps) + k*(V+H) (negative sweeps)."""
    return model.gibbs_steps * (2 * model.hidden + n_vis)


def make_epoch(x: np.ndarray, y: np.ndarray, batch_size: int, perm: np.ndarray, model: Model,
               rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """xb (steps, B, V) the harness's batches; yb (steps, B, noise_size) float32 uniforms from rng."""
    xb, _ = epoch_batches(x, y, batch_size, perm)
    xb = xb.reshape(xb.shape[0], xb.shape[1], -1)
    noise = rng.random((xb.shape[0], xb.shape[1], noise_size(model, xb.shape[2])), dtype=np.float32)
    return xb, noise


def _f64(weights: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    return np.asarray(weights["W"], np.float64), np.asarray(weights["b"], np.float64)


def _full_states(x: np.ndarray, n: int) -> np.ndarray:
    """(N, V) or (N, n) -> (N, n) float64, hidden units off when only the visibles are given."""
    s = np.asarray(x, np.float64).reshape(len(x), -1)
    return np.pad(s, ((0, 0), (0, n - s.shape[1])))


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def energy(weights: dict[str, np.ndarray], s: np.ndarray) -> np.ndarray:
    """E(s) = -1/2 s^T W s - b^T s for each row of s (N, n) -> (N,)."""
    w, b = _f64(weights)
    s = np.asarray(s, np.float64)
    return -0.5 * np.einsum("ni,ij,nj->n", s, w, s) - s @ b


def forward(weights: dict[str, np.ndarray], x: np.ndarray, model: Model) -> np.ndarray:
    """Gibbs conditionals sigmoid(s W + b): x (N, n) or (N, V) -> (N, n) float64."""
    w, b = _f64(weights)
    return sigmoid(_full_states(x, len(b)) @ w + b)


def all_states(n: int, start: int = 0, stop: int | None = None) -> np.ndarray:
    """Binary states number start .. stop-1 of n units (unit 0 the most significant bit): (count, n)."""
    idx = np.arange(start, 2**n if stop is None else stop, dtype=np.int64)
    return ((idx[:, None] >> np.arange(n - 1, -1, -1)) & 1).astype(np.float64)


def _logsumexp(a: np.ndarray, axis: int = -1) -> np.ndarray:
    m = a.max(axis=axis, keepdims=True)
    return np.squeeze(m, axis) + np.log(np.exp(a - m).sum(axis=axis))


def log_partition(weights: dict[str, np.ndarray], chunk: int = 2**16) -> float:
    """Exact log Z = log sum_s exp(-E(s)) over all 2^n states, in chunks; refuses n > MAX_UNITS."""
    n = len(weights["b"])
    if n > MAX_UNITS:
        raise ValueError(f"exact log Z enumerates 2^{n} states; refusing more than {MAX_UNITS} units")
    parts = [_logsumexp(-energy(weights, all_states(n, lo, min(lo + chunk, 2**n))))
             for lo in range(0, 2**n, chunk)]
    return float(_logsumexp(np.array(parts)))


def log_likelihood(weights: dict[str, np.ndarray], v: np.ndarray, log_z: float | None = None) -> np.ndarray:
    """Exact log p(v) (nats) for visible rows v (N, V), hidden units marginalised: (N,)."""
    w, b = _f64(weights)
    v = np.asarray(v, np.float64).reshape(len(v), -1)
    nv = v.shape[1]
    h = all_states(len(b) - nv)  # (2^H, H); one empty state when H = 0
    neg_e_v = 0.5 * np.einsum("ni,ij,nj->n", v, w[:nv, :nv], v) + v @ b[:nv]
    neg_e_h = 0.5 * np.einsum("ki,ij,kj->k", h, w[nv:, nv:], h) + h @ b[nv:]
    neg_e = neg_e_v[:, None] + (v @ w[:nv, nv:]) @ h.T + neg_e_h[None, :]
    return _logsumexp(neg_e, axis=1) - (log_partition(weights) if log_z is None else log_z)


def mean_log_likelihood(weights: dict[str, np.ndarray], v: np.ndarray) -> float:
    """Mean exact log-likelihood of the rows of v, nats per sample."""
    return float(log_likelihood(weights, v).mean())


def loss(weights: dict[str, np.ndarray], x: np.ndarray, y: np.ndarray, model: Model) -> float:
    """The objective: exact negative mean log-likelihood of the batch x (B, V)."""
    return -mean_log_likelihood(weights, x)


def gibbs_sweeps(w: np.ndarray, b: np.ndarray, s: np.ndarray, units: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Sequential Gibbs sweeps in place on s (B, n): u (B, k, len(units)) uniforms, sweep-major."""
    for t in range(u.shape[1]):
        for j, i in enumerate(units):
            s[:, i] = u[:, t, j] < sigmoid(s @ w[:, i] + b[i])
    return s


def phases(w: np.ndarray, b: np.ndarray, v: np.ndarray, chains: np.ndarray | None, u: np.ndarray,
           model: Model) -> tuple[np.ndarray, np.ndarray]:
    """One batch's positive and negative states (B, n) from visibles v (B, V) and uniforms u (B, noise)."""
    k, n, nv = model.gibbs_steps, len(b), v.shape[1]
    pos = _full_states(v, n)
    gibbs_sweeps(w, b, pos, np.arange(nv, n), u[:, : k * model.hidden].reshape(len(v), k, model.hidden))
    neg = pos.copy() if chains is None else chains.copy()
    gibbs_sweeps(w, b, neg, np.arange(n), u[:, k * model.hidden:].reshape(len(v), k, n))
    return pos, neg


def gradients(w: np.ndarray, pos: np.ndarray, neg: np.ndarray, model: Model) -> dict[str, np.ndarray]:
    """dW = -(<ss^T>_pos - <ss^T>_neg) + weight_decay W (zero diagonal), db = -(<s>_pos - <s>_neg)."""
    batch = len(pos)
    gw = -(pos.T @ pos - neg.T @ neg) / batch + model.weight_decay * w
    np.fill_diagonal(gw, 0.0)
    return {"W": gw, "b": -(pos.sum(axis=0) - neg.sum(axis=0)) / batch}


def reference_epoch(weights: dict[str, np.ndarray], xb: np.ndarray, yb: np.ndarray, model: Model,
                    train) -> tuple[dict[str, np.ndarray], float]:
    """The learning rule over xb (steps, B, V) with noise yb, chains all-zero at the start (a freshly
    built adapter). Returns (weights float64, mean energy gap)."""
    w = {k: np.asarray(v, np.float64) for k, v in weights.items()}
    state = OptState()
    n = len(w["b"])
    chains = np.zeros((xb.shape[1], n)) if model.persistent else None
    gaps = []
    for v, u in zip(xb, yb):
        pos, neg = phases(w["W"], w["b"], np.asarray(v, np.float64).reshape(len(v), -1), chains, u, model)
        chains = neg if model.persistent else None
        gaps.append(energy(w, pos).mean() - energy(w, neg).mean())
        w, state = apply_update(w, gradients(w["W"], pos, neg, model), train, state)
    return w, float(np.mean(gaps))


def flops_per_example(model: Model, info: DataInfo) -> dict[str, int]:
    """Per-example FLOPs by ``FLOPS_CONVENTION``. forward: all n conditionals (2 n^2). train: k sweeps
    of H (positive) and n (negative) unit updates of 2n each, the two outer-product statistics
    (2 n^2 each) and the returned energy gap, s^T W s for both states (2 n^2 each)."""
    n, k = n_units(model, info), model.gibbs_steps
    return {"forward": 2 * n * n, "train": 2 * n * k * (model.hidden + n) + 4 * n * n + 4 * n * n}


def evaluate(adapter, x: np.ndarray, y: np.ndarray, model: Model) -> dict[str, float]:
    """Exact mean log-likelihood (nats per sample) of x (N, V) under the adapter's current weights."""
    return {"log_likelihood": mean_log_likelihood(adapter.get_weights(), x)}


def check_case() -> dict:
    """4 visible + 2 hidden units, 2 sweeps per phase, persistent chains, weight decay: 2 steps of 4."""
    from harness.config import TrainConfig

    rng = np.random.default_rng(7)
    info = DataInfo(name="check", input_shape=(4,), task="binary")
    return {
        "model": Model(hidden=2, gibbs_steps=2, persistent=True, weight_decay=0.01),
        "info": info,
        "x": (rng.random((8, 4)) < 0.5).astype(np.float32),
        "y": np.zeros(8, np.int64),
        "batch_size": 4,
        "trains": [TrainConfig(optimizer="sgd", lr=0.1, momentum=0.9),
                   TrainConfig(optimizer="adam", lr=0.05)],
    }


def check_weights(model: Model, info: DataInfo) -> dict[str, np.ndarray]:
    """Starting weights of the option check (tests/test_options.py): symmetric couplings N(0, 2^2), zero
    diagonal, b = 0. From N(0, INIT_STD^2) two Gibbs sweeps forget where the chains started, so one
    epoch with persistent chains and one with chains started at the data (``persistent``) would match."""
    n = n_units(model, info)
    upper = np.triu(np.random.default_rng(5).normal(0.0, 2.0, size=(n, n)), k=1)
    return {"W": (upper + upper.T).astype(np.float32), "b": np.zeros(n, np.float32)}
