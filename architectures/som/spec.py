"""Self-organizing map (Kohonen): the neutral spec (numpy only), defined as MiniSom 2.3.6 defines it.

MiniSom (``minisom.MiniSom``) is the peer implementation, so every definition below copies its
rectangular-grid, euclidean, gaussian case; ``fw_minisom`` then runs MiniSom's own code.

Canonical weights (float32): ``W`` (rows, cols, D) -- unit (i, j) has codebook vector ``W[i, j]``.
``init_weights``: uniform in [-1, 1) from ``rng``, then every vector scaled to unit length (what
MiniSom's constructor does with its own RandomState).

Iterations: ``t = 0 .. T-1`` counted across ``train_epoch`` calls, ``T = train.epochs * iterations per
epoch``; online: one iteration per sample (steps * B), batch: one per batch (steps).
Decay (``model.decay``), as MiniSom's decay functions:
  asymptotic: eta = lr / (1 + t / (T/2)),  sig = sigma / (1 + t / (T/2))      (MiniSom's default)
  linear:     eta = lr * (1 - t / T)       ('linear_decay_to_zero'),
              sig = sigma + t * (1 - sigma) / T  ('linear_decay_to_one': sigma never reaches 0)
Neighbourhood (MiniSom's ``_gaussian``): g_c(i, j) = exp(-(i - c_i)^2 / 2sig^2) * exp(-(j - c_j)^2 / 2sig^2),
a product of two 1-D gaussians on the integer grid coordinates.
Winner (best-matching unit) of x: argmin_ij ||x - W_ij|| (euclidean); ties go to the first unit in
row-major order, as ``np.argmin``.

online (MiniSom's ``update``; samples of the epoch in the harness's order, batch by batch):
  c = winner(x);  W += eta(t) * g_c(sig(t))[..., None] * (x - W);  t += 1
batch (MiniSom's ``train_batch_offline``, one iteration per harness batch X of B samples):
  c_n = winner(x_n) for every n (the weights before this iteration);  m_ij = sum_n h_n,ij x_n / sum_n h_n,ij
  with h_n = g_{c_n}(sig(t));  W_ij = (1 - eta(t)) W_ij + eta(t) m_ij;  t += 1.
  (Pure Kohonen batch SOM is the eta = 1 case; MiniSom blends with the decayed learning rate.)
  The gaussian is positive, so every unit is updated: the weighted mean is computed stably with the
  per-unit largest log-weight subtracted. MiniSom skips units whose float64 sum underflows to 0, which
  needs a squared grid distance above ~1490 sig^2 from every winner of the batch (on a 10x10 map:
  sig < 0.33, below the sigma/3 floor of the asymptotic decay at the default sigma 1.5).
The optimizer settings of ``train`` (optimizer, lr, momentum, betas, eps) are not used: the SOM's step
is its own rule; ``model.learning_rate`` is the initial eta.

Training loss (``train_epoch``'s return): the mean over the epoch's samples of ||x - W_c||, the distance to
the winner measured with the weights just before that sample's (online) or that batch's (batch) update.
``forward`` / ``predict``: distances (N, rows*cols) from each x to every unit (row-major), float64 here;
adapters return float32.
Metrics (``evaluate``, from ``adapter.get_weights()``), copied from MiniSom:
  quantization_error: mean ||x - W_bmu(x)||, the bmu taken from MiniSom's ``_distance_from_weights``
      (|x|^2 - 2 x.w + |w|^2, clipped at 0) -- the primary metric, lower is better;
  topographic_error: the fraction of samples whose best and second-best units (``argsort`` of those
      distances) are more than 1.42 grid steps apart, i.e. not among the 8 neighbours (diagonals count
      as adjacent) -- MiniSom's ``_topographic_error_rectangular``.
``u_matrix`` and ``hit_map`` (numpy, for report figures) are MiniSom's ``distance_map()`` and
``activation_response``.
"""
from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from harness.datasets import DataInfo

TASK = "clustering"
TRAINS_WITH_OPTIMIZER = False  # its own update rule: no gradients or optimizer slots (memory estimate)
METRICS = {"quantization_error": "lower", "topographic_error": "lower"}
PRIMARY = "quantization_error"
# No timing-only epochs past train.epochs (harness/worker.py): the neighbourhood and learning-rate
# schedule runs over T = train.epochs * iterations per epoch and ends there.
EXTRA_TIMING = False
DATASETS = ("digits_unit", "digits", "toy2d", "mnist5k", "mnist")
DEFAULT_DATASET = "digits_unit"  # digits pixels scaled to [0, 1]
# train settings of {architecture: som} alone (over harness.config.TrainConfig's defaults)
# the SOM ignores the optimizer settings
TRAIN = {"epochs": 5, "batch_size": 32}

TOPO_THRESHOLD = 1.42  # MiniSom: best two units farther apart than this are not adjacent (sqrt(2) < 1.42)

FLOPS_CONVENTION = (
    "competitive learning, not backprop; per sample, counted per unit-feature (n = rows * cols * D), 1 FLOP "
    "per elementwise op: distance to every unit 3n (subtract, square, add); online update 3n (x - W, times "
    "the unit's eta * g, add); batch update 2n (the multiply-add of h * x into the numerator; the per-batch "
    "blend is amortised over B). The O(rows * cols) gaussian, argmin and square roots are left out.")

class Model(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rows: int = Field(10, gt=0, le=1000)
    cols: int = Field(10, gt=0, le=1000)
    sigma: float = Field(1.5, gt=0)  # initial neighbourhood radius (grid steps)
    learning_rate: float = Field(0.5, gt=0)  # initial eta; train.lr is not used
    decay: Literal["asymptotic", "linear"] = "asymptotic"
    algorithm: Literal["online", "batch"] = "online"
    neighborhood: Literal["gaussian"] = "gaussian"


def input_size(info: DataInfo) -> int:
    return int(np.prod(info.input_shape))


def weight_shapes(model: Model, info: DataInfo) -> dict[str, tuple[int, ...]]:
    return {"W": (model.rows, model.cols, input_size(info))}


def param_count(model: Model, info: DataInfo) -> int:
    return model.rows * model.cols * input_size(info)


def init_weights(model: Model, info: DataInfo, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Uniform in [-1, 1), each unit's vector normalised to length 1 (MiniSom's constructor)."""
    w = rng.uniform(-1.0, 1.0, size=weight_shapes(model, info)["W"])
    w /= np.linalg.norm(w, axis=-1, keepdims=True)
    return {"W": w.astype(np.float32)}


def validate(model: Model, info: DataInfo, train) -> str | None:
    if model.rows * model.cols < 2:
        return "model.rows: a 1x1 map has no topographic error (MiniSom returns nan); use at least 2 units"
    return None


# --- definitions shared by the reference and the metrics ---------------------------------------

def decay(value: float, t, total: int, kind: str, what: str):
    """MiniSom's decay of ``value`` (the learning rate or sigma) at iteration t of ``total``."""
    if kind == "asymptotic":
        return value / (1 + t / (total / 2))
    if what == "learning_rate":
        return value * (1 - t / total)  # linear_decay_to_zero
    return value + t * (1 - value) / total  # linear_decay_to_one


def iterations_per_epoch(model: Model, xb_shape: tuple[int, ...]) -> int:
    """xb (steps, B, ...): online counts samples, batch counts batches."""
    return xb_shape[0] * xb_shape[1] if model.algorithm == "online" else xb_shape[0]


def grid(model: Model) -> np.ndarray:
    """(rows*cols, 2) float64 grid coordinates (i, j) of the units in row-major order."""
    i, j = np.meshgrid(np.arange(model.rows), np.arange(model.cols), indexing="ij")
    return np.stack([i.ravel(), j.ravel()], axis=1).astype(np.float64)


def gaussian(model: Model, c: tuple[int, int], sig: float) -> np.ndarray:
    """MiniSom's gaussian centred on unit c: (rows, cols), a product of two 1-D gaussians."""
    d = 2 * sig * sig
    ax = np.exp(-np.power(np.arange(model.rows) - c[0], 2) / d)
    ay = np.exp(-np.power(np.arange(model.cols) - c[1], 2) / d)
    return np.outer(ax, ay)


def distances(w: np.ndarray, x: np.ndarray) -> np.ndarray:
    """||x_n - W_u|| computed from differences: w (rows, cols, D), x (N, ...) -> (N, rows*cols) float64."""
    x = np.asarray(x, np.float64).reshape(len(x), -1)
    flat = np.asarray(w, np.float64).reshape(-1, x.shape[1])
    return np.sqrt(((x[:, None, :] - flat[None, :, :]) ** 2).sum(-1))


def minisom_distances(w: np.ndarray, x: np.ndarray) -> np.ndarray:
    """MiniSom's ``_distance_from_weights``: sqrt(max(0, |x|^2 - 2 x.w + |w|^2)), (N, rows*cols) float64."""
    x = np.asarray(x, np.float64).reshape(len(x), -1)
    flat = np.asarray(w, np.float64).reshape(-1, x.shape[1])
    sq = -2 * x @ flat.T + (x ** 2).sum(1, keepdims=True) + (flat ** 2).sum(1)[None, :]
    return np.sqrt(np.maximum(0, sq))


def quantization_error(w: np.ndarray, x: np.ndarray) -> float:
    """MiniSom's ``quantization_error``: mean ||x - W_bmu||, bmu from ``minisom_distances``."""
    x = np.asarray(x, np.float64).reshape(len(x), -1)
    bmu = minisom_distances(w, x).argmin(axis=1)
    flat = np.asarray(w, np.float64).reshape(-1, x.shape[1])
    return float(np.linalg.norm(x - flat[bmu], axis=1).mean())


def topographic_error(w: np.ndarray, x: np.ndarray) -> float:
    """MiniSom's rectangular ``topographic_error``: fraction of samples whose two best units are not
    8-neighbours (grid distance > 1.42)."""
    best2 = np.argsort(minisom_distances(w, x), axis=1)[:, :2]
    r, c = np.unravel_index(best2, np.asarray(w).shape[:2])
    return float((np.hypot(np.diff(r, axis=1), np.diff(c, axis=1))[:, 0] > TOPO_THRESHOLD).mean())


def u_matrix(w: np.ndarray) -> np.ndarray:
    """MiniSom's ``distance_map()`` (scaling 'sum'): per unit, the summed distance to its (up to 8)
    grid neighbours, divided by the largest such sum. (rows, cols, D) -> (rows, cols) float64."""
    w = np.asarray(w, np.float64)
    rows, cols = w.shape[:2]
    pad = np.full((rows + 2, cols + 2, w.shape[2]), np.nan)
    pad[1:-1, 1:-1] = w
    total = np.zeros((rows, cols))
    for di in (-1, 0, 1):
        for dj in (-1, 0, 1):
            if di or dj:
                nb = pad[1 + di:rows + 1 + di, 1 + dj:cols + 1 + dj]
                total += np.nan_to_num(np.linalg.norm(w - nb, axis=-1))  # off-grid neighbours add 0
    return total / total.max()


def hit_map(w: np.ndarray, x: np.ndarray) -> np.ndarray:
    """MiniSom's ``activation_response``: how many samples each unit wins, (rows, cols) float64."""
    w = np.asarray(w)
    win = distances(w, x).argmin(axis=1)
    return np.bincount(win, minlength=w.shape[0] * w.shape[1]).reshape(w.shape[:2]).astype(np.float64)


# --- reference ---------------------------------------------------------------------------------

def forward(weights: dict[str, np.ndarray], x: np.ndarray, model: Model) -> np.ndarray:
    """Distances (N, rows*cols) from each x (N, D) to every unit, float64."""
    return distances(weights["W"], x)


def loss(weights: dict[str, np.ndarray], x: np.ndarray, y: np.ndarray, model: Model) -> float:
    """Mean distance of the batch's samples to their winners (the quantity ``train_epoch`` reports)."""
    return float(forward(weights, x, model).min(axis=1).mean())


def online_step(w: np.ndarray, x: np.ndarray, t: int, total: int, model: Model) -> tuple[np.ndarray, float]:
    """One MiniSom ``update``: w (rows, cols, D) float64, x (D,) -> (new w, distance to the winner)."""
    dist = np.linalg.norm(x - w, axis=-1)
    c = np.unravel_index(dist.argmin(), dist.shape)
    eta = decay(model.learning_rate, t, total, model.decay, "learning_rate")
    sig = decay(model.sigma, t, total, model.decay, "sigma")
    g = gaussian(model, c, sig) * eta
    return w + g[..., None] * (x - w), float(dist[c])


def batch_step(w: np.ndarray, xs: np.ndarray, t: int, total: int, model: Model) -> tuple[np.ndarray, float]:
    """One batch iteration: w (rows, cols, D) float64, xs (B, D) -> (new w, mean distance to the winners)."""
    flat = w.reshape(-1, w.shape[-1])
    dist = distances(w, xs)
    win = dist.argmin(axis=1)
    eta = decay(model.learning_rate, t, total, model.decay, "learning_rate")
    sig = decay(model.sigma, t, total, model.decay, "sigma")
    g = grid(model)
    logh = -((g[None, :, 0] - g[win, 0][:, None]) ** 2 + (g[None, :, 1] - g[win, 1][:, None]) ** 2) / (2 * sig * sig)
    h = np.exp(logh - logh.max(axis=0, keepdims=True))  # (B, units), per-unit max 1: never all zero
    mean = h.T @ xs / h.sum(axis=0)[:, None]
    new = (1 - eta) * flat + eta * mean
    return new.reshape(w.shape), float(dist[np.arange(len(xs)), win].mean())


def run_epoch(w: np.ndarray, xb: np.ndarray, model: Model, t0: int, total: int) -> tuple[np.ndarray, float, int]:
    """Train one epoch xb (steps, B, ...) from iteration t0 -> (float64 w, mean loss, next t)."""
    w = np.array(w, np.float64)
    xb = np.asarray(xb, np.float64).reshape(xb.shape[0], xb.shape[1], -1)
    t, losses = t0, []
    for batch in xb:
        if model.algorithm == "batch":
            w, d = batch_step(w, batch, t, total, model)
            losses.append(d)
            t += 1
            continue
        for x in batch:
            w, d = online_step(w, x, t, total, model)
            losses.append(d)
            t += 1
    return w, float(np.mean(losses)), t


def reference_epoch(weights: dict[str, np.ndarray], xb: np.ndarray, yb: np.ndarray, model: Model, train
                    ) -> tuple[dict[str, np.ndarray], float]:
    """The first epoch of ``train.epochs``: -> ({"W": float64}, mean training loss)."""
    total = train.epochs * iterations_per_epoch(model, xb.shape)
    w, mean_loss, _ = run_epoch(weights["W"], xb, model, 0, total)
    return {"W": w}, mean_loss


def flops_per_example(model: Model, info: DataInfo) -> dict[str, int]:
    """Per sample, counted per unit-feature (n = rows*cols*D): distance 3n (subtract, square, add).
    Training adds the update: online 3n (x - W, times the unit's eta*g, add to W), batch 2n (the
    multiply-add of h * x into the numerator; the per-batch blend is amortised over B and left out).
    The per-unit gaussian, argmin and sqrt are O(rows*cols) and left out."""
    n = model.rows * model.cols * input_size(info)
    return {"forward": 3 * n, "train": (6 if model.algorithm == "online" else 5) * n}


def evaluate(adapter, x: np.ndarray, y: np.ndarray, model: Model) -> dict[str, float]:
    """Both errors of MiniSom, computed in numpy from the adapter's current weights."""
    w = adapter.get_weights()["W"]
    if not np.all(np.isfinite(w)):
        return {"quantization_error": float("nan"), "topographic_error": float("nan")}
    return {"quantization_error": quantization_error(w, x), "topographic_error": topographic_error(w, x)}


def check_case(**model_overrides) -> dict:
    """A tiny fixed problem for the shared check set: a 3x4 map of 5-D vectors, 8 samples, 2 batches.
    ``model_overrides`` change the model (tests use it for the batch algorithm and linear decay)."""
    from harness.config import TrainConfig

    rng = np.random.default_rng(7)
    info = DataInfo(name="check", input_shape=(5,), task="classification", n_classes=2)
    return {
        "model": Model(**{"rows": 3, "cols": 4, "sigma": 1.5, "learning_rate": 0.5, **model_overrides}),
        "info": info,
        "x": rng.normal(size=(8, 5)).astype(np.float32),
        "y": rng.integers(0, 2, 8),
        "batch_size": 4,
        "trains": [TrainConfig(epochs=2)],  # the optimizer is unused; epochs sets T
    }


def weight_figures(jobs: list[tuple[dict, dict]], data, model: Model,
                   figures) -> list[tuple[str, str | None]]:
    """Per framework, from its trained map: the U-matrix (light = cluster border) and the hit map of
    the test data (how many test samples each unit wins)."""
    rows = [(f"{r['framework']} · {r['mode']}: U-matrix, hit map",
             [u_matrix(w["W"]).ravel(), hit_map(w["W"], data.x_test).ravel()]) for r, w in jobs]
    return [("SOM U-matrix and hit map (test data) from each framework's trained map",
             figures.images("U-matrix | hit map", rows, (model.rows, model.cols), size=1.6))]


def report_figures(records: list[dict], figures) -> list[tuple[str, str | None]]:
    """Runs from before the trained weights were saved kept the U-matrix and hit map in each record's
    extras (``weight_figures`` draws them now): one row per framework."""
    rows = []
    shape = None
    for r in records:
        ex = r.get("extra") or {}
        if r.get("repeat") == 0 and "u_matrix" in ex:
            u, h = np.asarray(ex["u_matrix"]), np.asarray(ex["hit_map"])
            shape = u.shape
            rows.append((f"{r['framework']}: U-matrix, hit map", [u.ravel(), h.ravel()]))
    if not rows:
        return []
    return [("SOM U-matrix and hit map (test data) per framework",
             figures.images("U-matrix | hit map", rows, shape))]
