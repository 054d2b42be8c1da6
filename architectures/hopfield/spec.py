"""Hopfield network (associative memory): the neutral spec (numpy only).

Units are +-1, N = prod(input_shape). Canonical weights (float32):
  ``W``: (N, N) symmetric, zero diagonal -- unit i's field is h_i = sum_j W[i, j] s_j + b_i
  ``b``: (N,) bias; both storage rules leave it untouched (zero from ``init_weights``); it is kept
         so a benchmark can start from a biased network.
Inputs cross the spec/adapter boundary as any real array and are read as s = +1 where x > 0 else -1,
so +-1 random patterns pass unchanged and {0, 1} binarised digits map 0 -> -1, 1 -> +1.

Storage ("training") is ``train_epoch(xb, yb)`` over the patterns in the harness's order:
  hebbian: W += (1/N) sum_p p p^T, diagonal zeroed (order-free).
  storkey: Storkey (1997) incremental rule, one pattern xi at a time in the given order:
           W_ij += (1/N) (xi_i xi_j - xi_i h_ji - h_ij xi_j),  h_ij = sum_{k != i, j} W_ik xi_k,
           computed with the W from before this pattern, then the diagonal is zeroed.
Storage is one pass: ``make_epoch`` stacks every pattern into one batch (steps=1) in the harness's
permutation, so batch_size never drops a pattern, and ``validate`` requires ``train.epochs == 1``
(a second epoch would store the patterns twice). The optimizer settings are not used.
The returned loss is the mean energy E(p) = -1/2 p^T W p - b^T p of the stored patterns after storage.

``forward`` / ``predict``: one synchronous update, sign(s W^T + b) with sign(0) = +1.
Adapters also implement (used by ``evaluate``):
  ``recall(x, steps, mode, order) -> (n, N)`` final +-1 states. ``sync``: up to ``steps`` synchronous
      updates (stopping early at a fixed point changes nothing). ``async``: ``steps`` sweeps; in sweep t
      the units ``order[t]`` (an (steps, N) int array supplied here, the same for every framework)
      are updated one at a time, each seeing the units updated before it. Vectorised over examples.
  ``store(patterns)``: (P, N) -> replaces the network with W stored from zero by ``model.rule``
      (b = 0); ``evaluate`` saves ``get_weights()`` first and restores them with ``build``.
``evaluate(adapter, x, ...)`` flips exactly round(level * N) random bits of each row of x (fixed seed)
at every noise level, recalls with ``model.recall`` for ``max_steps``, and reports
``bit_accuracy@<level>`` and ``pattern_recall@<level>`` (rows recovered exactly), with the primary
``bit_accuracy`` / ``pattern_recall`` at HEADLINE_NOISE. On random_patterns (test = train: the stored
patterns) it adds a capacity sweep ``pattern_recall@load<L>``. On digits_binary x are the 360 held-out
digits, never stored, and the 1437 stored digits are far beyond what 64 units hold (load ~22, where
Storkey's weights grow without bound): a throughput benchmark more than a memory test.
"""
from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from harness.datasets import DataInfo

TASK = "associative_memory"
TRAINS_WITH_OPTIMIZER = False  # storage rules: no gradients or optimizer slots (memory estimate)
METRICS = {"bit_accuracy": "higher", "pattern_recall": "higher"}
PRIMARY = "pattern_recall"
DATASETS = ("random_patterns", "digits_binary", "mnist5k_prototypes", "mnist_prototypes")
DEFAULT_DATASET = "random_patterns"
# train settings of {architecture: hopfield} alone (over harness.config.TrainConfig's defaults)
# stores every pattern in one pass
TRAIN = {"epochs": 1, "batch_size": 8}

FLOPS_CONVENTION = (
    "one-shot storage, not backprop; per stored pattern, N x N work with a multiply-add = 2 FLOPs and every "
    "other elementwise op = 1: Hebbian 2 N^2 (the outer product), Storkey 11 N^2 (the field W xi, h_ij, the "
    "update), each plus 2 N^2 for the pattern's energy returned as the loss. The O(N) terms (bias, diagonal) "
    "are left out. forward = one synchronous update, 2 N^2.")
HEADLINE_NOISE = 0.1  # fraction of bits flipped for the primary ``bit_accuracy`` / ``pattern_recall``
EVAL_SEED = 20240611  # corruption, sweep orders and load-sweep patterns: fixed, framework-independent
LOAD_PROBES = 8  # corrupted probes per stored pattern in the load sweep


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rule: Literal["hebbian", "storkey"] = "hebbian"
    recall: Literal["sync", "async"] = "async"
    max_steps: int = Field(20, ge=1, le=10_000)  # sweeps (async) or synchronous updates (sync)
    noise_levels: list[float] = Field(default_factory=lambda: [0.0, 0.1, 0.2, 0.3, 0.4], max_length=32)
    loads: list[float] = Field(default_factory=lambda: [0.05, 0.1, 0.14, 0.2], max_length=32)

    def model_post_init(self, _ctx) -> None:
        if any(not 0.0 <= v <= 1.0 for v in self.noise_levels):
            raise ValueError("noise_levels must lie in [0, 1] (fraction of bits flipped)")
        if any(not 0.0 < v <= 2.0 for v in self.loads):
            raise ValueError("loads must lie in (0, 2] (stored patterns per neuron)")


def n_units(info: DataInfo) -> int:
    return int(np.prod(info.input_shape))


def weight_shapes(model: Model, info: DataInfo) -> dict[str, tuple[int, ...]]:
    n = n_units(info)
    return {"W": (n, n), "b": (n,)}


def param_count(model: Model, info: DataInfo) -> int:
    n = n_units(info)
    return n * n + n


def init_weights(model: Model, info: DataInfo, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """An empty memory: zeros (``rng`` is not drawn from)."""
    return {k: np.zeros(s, np.float32) for k, s in weight_shapes(model, info).items()}


def validate(model: Model, info: DataInfo, train) -> str | None:
    if train.epochs != 1:
        return f"train.epochs: a Hopfield network stores its patterns in one pass; use 1 (got {train.epochs})"
    return None


def to_pm1(x: np.ndarray) -> np.ndarray:
    """(n, ...) -> (n, N) float64 +-1 states: +1 where x > 0, else -1."""
    x = np.asarray(x).reshape(len(x), -1)
    return np.where(x > 0, 1.0, -1.0)


def sign(h: np.ndarray) -> np.ndarray:
    """sign with sign(0) = +1."""
    return np.where(h >= 0, 1.0, -1.0)


def store(patterns: np.ndarray, rule: str, w: np.ndarray | None = None) -> np.ndarray:
    """Reference storage: (P, N) patterns added to ``w`` (N, N) (zeros if None) -> float64 W."""
    p = to_pm1(patterns)
    n = p.shape[1]
    w = np.zeros((n, n)) if w is None else np.array(w, dtype=np.float64)
    if rule == "hebbian":
        w += p.T @ p / n
        np.fill_diagonal(w, 0.0)
        return w
    for xi in p:  # storkey, in the given order
        h = w @ xi  # zero diagonal: h_i = sum_{k != i} W_ik xi_k
        hij = h[:, None] - w * xi[None, :]  # h_ij: also leave out k = j
        w = w + (np.outer(xi, xi) - xi[:, None] * hij.T - hij * xi[None, :]) / n
        np.fill_diagonal(w, 0.0)
    return w


def energy(weights: dict[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    """E(s) = -1/2 s^T W s - b^T s for each row: (n, N) -> (n,)."""
    s = to_pm1(x)
    w, b = np.asarray(weights["W"], np.float64), np.asarray(weights["b"], np.float64)
    return -0.5 * np.einsum("ni,ij,nj->n", s, w, s) - s @ b


def forward(weights: dict[str, np.ndarray], x: np.ndarray, model: Model) -> np.ndarray:
    """One synchronous update: x (n, N) -> sign(s W^T + b) (n, N), float64 +-1."""
    s = to_pm1(x)
    return sign(s @ np.asarray(weights["W"], np.float64).T + np.asarray(weights["b"], np.float64))


def recall(weights: dict[str, np.ndarray], x: np.ndarray, steps: int, mode: str,
           order: np.ndarray | None = None) -> np.ndarray:
    """Reference recall (see the module docstring): x (n, N) -> final states (n, N) float64 +-1."""
    s = to_pm1(x)
    w, b = np.asarray(weights["W"], np.float64), np.asarray(weights["b"], np.float64)
    if mode == "sync":
        for _ in range(steps):
            new = sign(s @ w.T + b)
            if np.array_equal(new, s):
                break
            s = new
        return s
    for sweep in np.asarray(order)[:steps]:
        for i in sweep:
            s[:, i] = sign(s @ w[i] + b[i])
    return s


def loss(weights: dict[str, np.ndarray], x: np.ndarray, y: np.ndarray, model: Model) -> float:
    """Mean energy of the patterns x (n, N)."""
    return float(energy(weights, x).mean())


def make_epoch(x: np.ndarray, y: np.ndarray, batch_size: int, perm: np.ndarray, model: Model,
               rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """All patterns as one batch in the harness's order: xb (1, P, N), yb (1, P); batch_size unused."""
    return np.ascontiguousarray(x[perm][None]), np.ascontiguousarray(y[perm][None])


def reference_epoch(weights: dict[str, np.ndarray], xb: np.ndarray, yb: np.ndarray, model: Model,
                    train) -> tuple[dict[str, np.ndarray], float]:
    """Store every pattern of xb (steps, B, N) in order; returns (weights float64, mean energy after)."""
    pats = xb.reshape(-1, int(np.prod(xb.shape[2:])))
    new = {"W": store(pats, model.rule, weights["W"]), "b": np.asarray(weights["b"], np.float64)}
    return new, loss(new, pats, None, model)


def flops_per_example(model: Model, info: DataInfo) -> dict[str, int]:
    """Per-example FLOPs by ``FLOPS_CONVENTION``. forward: one synchronous update (2 N^2). train, per
    stored pattern: Hebbian outer product (2 N^2), or Storkey's field W xi (2 N^2), h_ij = h_i - W_ij xi_j
    (2 N^2) and the update's three products, two subtractions, the 1/N scale and the add (7 N^2);
    plus the returned loss, the pattern's energy after storage (2 N^2)."""
    n = n_units(info)
    return {"forward": 2 * n * n, "train": ((2 if model.rule == "hebbian" else 11) + 2) * n * n}


def sweep_order(steps: int, n: int) -> np.ndarray:
    """The asynchronous update order every framework follows: (steps, n) int64, one permutation per sweep."""
    rng = np.random.default_rng([EVAL_SEED, 1])
    return np.stack([rng.permutation(n) for _ in range(steps)])


def corrupt(s: np.ndarray, level: float, seed: int) -> np.ndarray:
    """Flip exactly round(level * N) distinct random bits of each row of s (n, N) +-1."""
    rng = np.random.default_rng([EVAL_SEED, 2, seed])
    n, dim = s.shape
    k = round(level * dim)
    idx = np.argsort(rng.random((n, dim)), axis=1)[:, :k]
    out = s.copy()
    np.put_along_axis(out, idx, -np.take_along_axis(s, idx, axis=1), axis=1)
    return out


def _level_key(level: float) -> int:
    """Seed part for a noise level or load, so its draws do not depend on the rest of the list."""
    return round(level * 1_000_000)


def _recall_scores(adapter, targets: np.ndarray, level: float, model: Model,
                   order: np.ndarray) -> tuple[float, float]:
    """(bit accuracy, fraction recovered exactly) of recall from targets (n, N) with ``level`` flipped."""
    probes = corrupt(targets, level, _level_key(level))
    final = np.asarray(adapter.recall(probes.astype(np.float32), model.max_steps, model.recall, order))
    hit = final.reshape(targets.shape) == targets
    return float(hit.mean()), float(hit.all(axis=1).mean())


def _load_sweep(adapter, n: int, model: Model, order: np.ndarray) -> dict[str, float]:
    """Capacity: store round(load * N) fresh random patterns, recall them from HEADLINE_NOISE."""
    saved = adapter.get_weights()
    out = {}
    for load in model.loads:
        rng = np.random.default_rng([EVAL_SEED, 3, _level_key(load)])
        pats = rng.choice(np.array([-1.0, 1.0]), size=(max(1, round(load * n)), n))
        adapter.store(pats.astype(np.float32))
        probes = np.repeat(pats, LOAD_PROBES, axis=0)
        _, recalled = _recall_scores(adapter, probes, HEADLINE_NOISE, model, order)
        out[f"pattern_recall@load{load:g}"] = recalled
    adapter.build(saved)
    return out


def evaluate(adapter, x: np.ndarray, y: np.ndarray, model: Model) -> dict[str, float]:
    """Recall x from corrupted copies at every noise level (plus HEADLINE_NOISE, which gives the
    primary names) -> ``bit_accuracy@<level>``, ``pattern_recall@<level>`` (fraction recovered
    exactly). On random_patterns, also the load sweep ``pattern_recall@load<load>``."""
    targets = to_pm1(x)
    order = sweep_order(model.max_steps, targets.shape[1])
    out: dict[str, float] = {}
    for level in dict.fromkeys([*model.noise_levels, HEADLINE_NOISE]):
        bits, recalled = _recall_scores(adapter, targets, level, model, order)
        out[f"bit_accuracy@{level:g}"], out[f"pattern_recall@{level:g}"] = bits, recalled
    out["bit_accuracy"] = out[f"bit_accuracy@{HEADLINE_NOISE:g}"]
    out["pattern_recall"] = out[f"pattern_recall@{HEADLINE_NOISE:g}"]
    if adapter.info.name == "random_patterns":
        out.update(_load_sweep(adapter, targets.shape[1], model, order))
    return out


def check_case() -> dict:
    """Storkey storage of 6 random patterns of 16 units (Hebbian is covered in test_hopfield)."""
    from harness.config import TrainConfig

    rng = np.random.default_rng(7)
    info = DataInfo(name="check", input_shape=(16,), task="patterns")
    return {
        "model": Model(rule="storkey"),
        "info": info,
        "x": rng.choice(np.array([-1.0, 1.0], np.float32), size=(6, 16)),
        "y": np.arange(6),
        "batch_size": 4,
        "trains": [TrainConfig(epochs=1)],
    }


def check_methods(model: Model, x: np.ndarray) -> dict[str, tuple]:
    """What ``model.recall`` acts on, for the option check (tests/test_options.py): the adapter's
    ``recall(*args)`` is compared with this module's ``recall(weights, *args)``, from copies of x
    (n, N) with a quarter of the bits flipped, over 4 updates or sweeps."""
    steps = 4
    probes = corrupt(to_pm1(x), 0.25, 0).astype(np.float32)
    return {"recall": (probes, steps, model.recall, sweep_order(steps, probes.shape[1]))}


def weight_figures(jobs: list[tuple[dict, dict]], data, model: Model,
                   figures) -> list[tuple[str, str | None]]:
    """Recall per noise level: the first test pattern, corrupted at each of ``model.noise_levels``
    exactly as ``evaluate`` corrupts it (the probes), and what the numpy reference ``recall`` (the
    model's mode and steps) makes of each probe from each framework's stored weights."""
    target = to_pm1(data.x_test[:1])
    levels = list(dict.fromkeys(model.noise_levels))
    probes = np.concatenate([corrupt(target, lv, _level_key(lv)) for lv in levels])
    order = sweep_order(model.max_steps, target.shape[1])
    rows = [("test pattern", list(target)),
            (f"probes: {', '.join(f'{lv:.0%}' for lv in levels)} of the bits flipped", list(probes))]
    for r, w in jobs:
        recalled = recall(w, probes, model.max_steps, model.recall, order)
        rows.append((f"{r['framework']} · {r['mode']}: recalled", list(recalled)))
    return [("recall per noise level: the first test pattern (a stored one where the test set is the stored "
             "set), its probes (corrupted as the evaluation corrupts them) and what the numpy reference recall "
             "makes of each from every framework's stored weights",
             figures.images("pattern / probe per noise level / recalled", rows, _side(target.shape[1])))]


def _side(n: int) -> tuple[int, int]:
    s = int(round(np.sqrt(n)))
    return (s, s) if s * s == n else (1, n)


def report_figures(records: list[dict], figures) -> list[tuple[str, str | None]]:
    """Recall vs noise (and vs load on random patterns) per framework (``weight_figures`` draws the
    patterns themselves)."""
    out = []
    noise, load = {}, {}
    for r in records:
        if r.get("repeat") != 0:
            continue
        m = r.get("metrics") or {}
        lv = sorted((float(k.split("@")[1]), v) for k, v in m.items() if k.startswith("pattern_recall@")
                    and not k.startswith("pattern_recall@load"))
        ld = sorted((float(k.split("@load")[1]), v) for k, v in m.items() if k.startswith("pattern_recall@load"))
        if lv:
            noise[f"{r['framework']} {r['mode']}"] = ([a for a, _ in lv], [b for _, b in lv])
        if ld:
            load[f"{r['framework']} {r['mode']}"] = ([a for a, _ in ld], [b for _, b in ld])
    out.append(("pattern recall vs corruption (fraction of bits flipped)",
                figures.lines("exact recall vs noise", noise, "fraction of bits flipped", "patterns recalled exactly")))
    if load:
        out.append(("pattern recall vs load (stored patterns per neuron; Hebbian capacity ~0.14)",
                    figures.lines("exact recall vs load", load, "patterns per neuron", "patterns recalled exactly")))
    # runs from before the trained weights were saved kept these pictures in a record's extras
    pics = next(((r["framework"], r["extra"]["recall_pictures"]) for r in records
                 if (r.get("extra") or {}).get("recall_pictures")), None)
    if pics:
        fw, p = pics
        shape = _side(len(p["stored"][0]))
        out.append((f"stored, 20% corrupted, recalled ({fw})",
                    figures.images("stored / corrupted / recalled", [("stored", p["stored"]),
                                   ("corrupted", p["corrupted"]), ("recalled", p["recalled"])], shape)))
    return out
