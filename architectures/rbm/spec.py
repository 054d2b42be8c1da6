"""Bernoulli-Bernoulli restricted Boltzmann machine: the neutral spec (numpy only).

Canonical weights (float32): ``W`` (V, H), ``b_v`` (V,), ``b_h`` (H,); energy
E(v, h) = -v.b_v - h.b_h - v W h, free energy F(v) = -v.b_v - sum_j softplus(b_h + v W)_j.
Init (Hinton, "A practical guide to training RBMs", 2010): W ~ N(0, 0.01^2), zero biases.

Training step on a batch v (B, V) with harness noise u (B, H + k (V + H)), statistics as in
Hinton's guide (probabilities where they are allowed, samples where the chain needs them):
  positive phase   p0 = p(h|v) = sigmoid(v W + b_h)                     (probabilities)
  chain start      h0 = [u[:, :H] < p0]  (CD-k: every step; PCD: only the first step of training,
                   after which the chain starts from the persistent hidden state, one chain per
                   batch row, carried across batches and epochs)
  Gibbs step i     v_i = [u_v < p(v|h_{i-1})], h_i = [u_h < p(h|v_i)], i = 1..k, where u_v, u_h
                   are columns H + (i-1)(V+H) + [0, V) and + [V, V+H) of u: sample "1 if u < p"
  negative phase   v_k (sampled) and p(h|v_k) (probabilities)
  PCD state        h_k (sampled with the weights before this step's update; the Theano tutorial's
                   and scikit-learn's BernoulliRBM convention)
  "gradient"       dW = -(v^T p0 - v_k^T p(h|v_k)) / B + weight_decay * W
                   db_v = -(sum v - sum v_k) / B,  db_h = -(sum p0 - sum p(h|v_k)) / B
                   = the gradient of mean F(v) - mean F(v_k) (+ weight_decay/2 |W|^2) with v_k
                   held constant, which is how the autodiff frameworks compute it
  update           harness/optim.py (the benchmark's train config)
  returned loss    reconstruction error of the batch before its update: per example, the squared
                   error summed over visibles between v and the mean-field reconstruction
                   sigmoid(p0 W^T + b_v); mean over the batch (and over the epoch's steps)
"""
from __future__ import annotations

import hashlib
import itertools

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from harness.batching import epoch_batches
from harness.datasets import SPLIT_SEED, DataInfo, stratified_split
from harness.optim import OptState, apply_update

TASK = "density"
METRICS = {"log_likelihood": "higher", "pseudo_log_likelihood": "higher", "recon_error": "lower",
           "feature_accuracy": "higher"}
PRIMARY = "log_likelihood"  # mean nats per example, higher is better
DATASETS = ("bars_stripes", "digits_binary", "mnist5k_binary", "mnist_binary")
DEFAULT_DATASET = "bars_stripes"
# train settings of {architecture: rbm} alone (over harness.config.TrainConfig's defaults)
# plain SGD: every framework has it
TRAIN = {"epochs": 1000, "batch_size": 14, "optimizer": "sgd", "lr": 0.5}
FLOPS_CONVENTION = (
    "CD-k, not backprop; per example, V x H multiply-adds only (2 FLOPs each): p(h|v) (1), the mean-field "
    "reconstruction for the returned error (1), k Gibbs steps of p(v|h) and p(h|v) (2k), and the positive and "
    "negative statistics v^T p(h|v), v_k^T p(h|v_k) (2): (4 + 2k) V H. The O(V + H) elementwise work "
    "(sigmoids, sampling comparisons, biases) and the per-step optimizer update are left out.")
EXACT_MAX_UNITS = 20  # log Z by enumeration of the smaller layer up to 2^20 states, else AIS
AIS_CURVE_RUNS = 16  # AIS runs of the per-epoch (learning-curve) estimate; the final one uses 64
PLL_MAX_ROWS = 250  # the pseudo-log-likelihood of models with V H > PLL_ALL_ROWS_MAX_VH: first 250 rows
PLL_ALL_ROWS_MAX_VH = 1 << 16


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid")
    hidden: int = Field(16, gt=0, le=100_000)
    cd_k: int = Field(1, ge=1, le=1000)
    persistent: bool = False  # PCD: the negative chain persists across batches (and epochs)
    weight_decay: float = Field(0.0, ge=0)  # L2 on W only: adds weight_decay * W to dW


# ----------------------------------------------------------------------------- basics


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))  # = 1 / (1 + exp(-z)), no overflow


def softplus(z: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, z)


def logsumexp(z: np.ndarray, axis=None) -> np.ndarray:
    m = np.max(z, axis=axis, keepdims=True)
    return np.squeeze(m, axis=axis) + np.log(np.exp(z - m).sum(axis=axis))


def _f64(weights: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return tuple(np.asarray(weights[k], np.float64) for k in ("W", "b_v", "b_h"))


def noise_width(n_visible: int, n_hidden: int, cd_k: int) -> int:
    """Uniform numbers per batch row and step: H for the chain start, then (V + H) per Gibbs step."""
    return n_hidden + cd_k * (n_visible + n_hidden)


def weight_shapes(model: Model, info: DataInfo) -> dict[str, tuple[int, ...]]:
    v = int(np.prod(info.input_shape))
    return {"W": (v, model.hidden), "b_v": (v,), "b_h": (model.hidden,)}


def init_weights(model: Model, info: DataInfo, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """W ~ N(0, 0.01^2) from ``rng``, zero biases (Hinton's practical guide, section 8)."""
    shapes = weight_shapes(model, info)
    return {"W": rng.normal(0.0, 0.01, size=shapes["W"]).astype(np.float32),
            "b_v": np.zeros(shapes["b_v"], np.float32), "b_h": np.zeros(shapes["b_h"], np.float32)}


def forward(weights: dict[str, np.ndarray], x: np.ndarray, model: Model | None = None) -> np.ndarray:
    """The feature map p(h=1|v): x (N, V) -> (N, H), float64."""
    W, _, b_h = _f64(weights)
    return sigmoid(np.asarray(x, np.float64).reshape(len(x), -1) @ W + b_h)


# ----------------------------------------------------------------------------- quantities


def free_energy(W: np.ndarray, b_v: np.ndarray, b_h: np.ndarray, v: np.ndarray) -> np.ndarray:
    """F(v) = -v.b_v - sum_j softplus(b_h + v W)_j for v (N, V) -> (N,)."""
    return -(v @ b_v) - softplus(v @ W + b_h).sum(axis=1)


def _binary_states(n: int, start: int, stop: int) -> np.ndarray:
    """Rows start..stop-1 of all 2^n binary vectors (N, n), float64."""
    idx = np.arange(start, stop, dtype=np.int64)[:, None]
    return ((idx >> np.arange(n, dtype=np.int64)) & 1).astype(np.float64)


def log_partition(W: np.ndarray, b_v: np.ndarray, b_h: np.ndarray, chunk: int = 1 << 15) -> float:
    """Exact log Z by enumerating the smaller layer (at most EXACT_MAX_UNITS units) in chunks,
    summing the other layer out analytically; log-sum-exp throughout."""
    W, b_v, b_h = (np.asarray(a, np.float64) for a in (W, b_v, b_h))
    n_v, n_h = W.shape
    if min(n_v, n_h) > EXACT_MAX_UNITS:
        raise ValueError(f"exact log Z needs a layer of <= {EXACT_MAX_UNITS} units (got V={n_v}, H={n_h})")
    if n_h <= n_v:  # enumerate h: log sum_h exp(h.b_h + sum_i softplus(b_v + W h)_i)
        n, term = n_h, lambda h: h @ b_h + softplus(h @ W.T + b_v).sum(axis=1)
    else:  # enumerate v: log sum_v exp(-F(v))
        n, term = n_v, lambda v: -free_energy(W, b_v, b_h, v)
    parts = [logsumexp(term(_binary_states(n, s, min(s + chunk, 1 << n)))) for s in range(0, 1 << n, chunk)]
    return float(logsumexp(np.array(parts)))


def log_likelihood(W: np.ndarray, b_v: np.ndarray, b_h: np.ndarray, v: np.ndarray,
                   log_z: float | None = None) -> float:
    """Mean log p(v) in nats per example; exact log Z unless ``log_z`` is given (e.g. from AIS)."""
    log_z = log_partition(W, b_v, b_h) if log_z is None else log_z
    return float(np.mean(-free_energy(W, b_v, b_h, np.asarray(v, np.float64))) - log_z)


def ais_log_weights(W: np.ndarray, b_v: np.ndarray, b_h: np.ndarray, *, n_runs: int = 100,
                    n_betas: int = 1000, base_b_v: np.ndarray | None = None,
                    seed: int = 0) -> tuple[np.ndarray, float]:
    """Annealed importance sampling (Salakhutdinov & Murray, 2008), seeded: the log importance
    weights of the ``n_runs`` runs (n_runs,) and log Z_A of the base model.

    Base model: visible biases ``base_b_v`` (default 0, i.e. uniform), no couplings; its hidden
    units are kept so log Z_A = H ln 2 + sum softplus(base_b_v). Intermediate models
    log f_b(v) = (1-b) v.base_b_v + b v.b_v + sum_j softplus(b (b_h + v W)_j) for b on
    linspace(0, 1, n_betas), each followed by one Gibbs sweep (h then v) at that b."""
    W, b_v, b_h = (np.asarray(a, np.float64) for a in (W, b_v, b_h))
    n_v, n_h = W.shape
    a = np.zeros(n_v) if base_b_v is None else np.asarray(base_b_v, np.float64)
    rng = np.random.default_rng(seed)
    betas = np.linspace(0.0, 1.0, n_betas)
    v = (rng.random((n_runs, n_v)) < sigmoid(a)).astype(np.float64)
    log_w = np.zeros(n_runs)
    for prev, beta in itertools.pairwise(betas):
        act = v @ W + b_h  # shared by both log f terms and the hidden sample
        log_w += (beta - prev) * (v @ (b_v - a)) + (softplus(beta * act) - softplus(prev * act)).sum(axis=1)
        if beta < 1.0:  # the transition leaving model `beta` invariant
            h = (rng.random((n_runs, n_h)) < sigmoid(beta * act)).astype(np.float64)
            v = (rng.random((n_runs, n_v)) < sigmoid((1 - beta) * a + beta * (h @ W.T + b_v))).astype(np.float64)
    return log_w, float(n_h * np.log(2.0) + softplus(a).sum())


def ais_estimate(log_w: np.ndarray, log_z_a: float) -> tuple[float, float]:
    """(log Z estimate, its standard error in nats) from AIS log weights: log Z_A + log mean w, and
    the delta-method error std(w) / (sqrt(n) mean(w)) of that log (w scaled by its maximum, so no
    overflow). The estimate of Z is unbiased, so log Z is slightly low on average (Jensen), and the
    error bar is itself an estimate: too small when no run found a mode the others missed."""
    w = np.exp(log_w - log_w.max())
    n = len(w)
    se = float(w.std(ddof=1) / (np.sqrt(n) * w.mean())) if n > 1 else float("inf")
    return float(log_z_a + logsumexp(log_w) - np.log(n)), se


def ais_log_partition(W: np.ndarray, b_v: np.ndarray, b_h: np.ndarray, *, n_runs: int = 100,
                      n_betas: int = 1000, base_b_v: np.ndarray | None = None, seed: int = 0) -> float:
    """The AIS estimate of log Z (``ais_log_weights``, ``ais_estimate``), without its error bar."""
    return ais_estimate(*ais_log_weights(W, b_v, b_h, n_runs=n_runs, n_betas=n_betas, base_b_v=base_b_v,
                                         seed=seed))[0]


def pseudo_log_likelihood(W: np.ndarray, b_v: np.ndarray, b_h: np.ndarray, v: np.ndarray,
                          chunk_elems: int = 1 << 22) -> float:
    """Exact pseudo-log-likelihood, mean over examples of sum_i log p(v_i | v_-i)
    = sum_i log sigmoid(F(v with bit i flipped) - F(v)), over all V single-bit flips.

    (scikit-learn's ``score_samples`` is V times one randomly chosen term: an unbiased, noisy
    estimate of the same quantity.)"""
    W, b_v, b_h = (np.asarray(a, np.float64) for a in (W, b_v, b_h))
    v = np.asarray(v, np.float64)
    n_v, n_h = W.shape
    step = max(1, chunk_elems // (n_v * n_h))
    total = 0.0
    for s in range(0, len(v), step):
        vc = v[s:s + step]
        act = vc @ W + b_h  # (n, H)
        flip = 1.0 - 2.0 * vc  # (n, V): change of bit i when flipped
        act_f = act[:, None, :] + flip[:, :, None] * W[None]  # (n, V, H) activations after flip i
        d_free = -flip * b_v - softplus(act_f).sum(axis=2) + softplus(act).sum(axis=1, keepdims=True)
        total += float(-np.logaddexp(0.0, -d_free).sum())  # log sigmoid(dF)
    return total / len(v)


def recon_error(W: np.ndarray, b_v: np.ndarray, b_h: np.ndarray, v: np.ndarray) -> float:
    """Mean over examples of sum over visibles of (v - sigmoid(p(h|v) W^T + b_v))^2."""
    W, b_v, b_h = (np.asarray(a, np.float64) for a in (W, b_v, b_h))
    v = np.asarray(v, np.float64)
    rec = sigmoid(sigmoid(v @ W + b_h) @ W.T + b_v)
    return float(((v - rec) ** 2).sum(axis=1).mean())


def loss(weights: dict[str, np.ndarray], x: np.ndarray, y: np.ndarray, model: Model) -> float:
    """The training loss reported per batch: reconstruction error (see module docstring)."""
    return recon_error(*_f64(weights), np.asarray(x, np.float64).reshape(len(x), -1))


# ----------------------------------------------------------------------------- training reference


def make_epoch(x: np.ndarray, y: np.ndarray, batch_size: int, perm: np.ndarray, model: Model,
               rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """xb (steps, B, V) float32 batches; yb (steps, B, H + k (V + H)) float32 uniform [0, 1) noise
    in the column layout of the module docstring. The labels are not used (unsupervised)."""
    xb, _ = epoch_batches(np.asarray(x, np.float32).reshape(len(x), -1), y, batch_size, perm)
    width = noise_width(xb.shape[2], model.hidden, model.cd_k)
    return xb, rng.random((xb.shape[0], xb.shape[1], width), dtype=np.float32)


class Trainer:
    """The numpy float64 reference trainer: weights, optimizer state and PCD chain across steps."""

    def __init__(self, weights: dict[str, np.ndarray], model: Model, train):
        self.w = {k: np.asarray(weights[k], np.float64) for k in ("W", "b_v", "b_h")}
        self.model, self.train = model, train
        self.opt = OptState()
        self.chain: np.ndarray | None = None  # PCD hidden state (B, H)

    def step(self, v: np.ndarray, u: np.ndarray) -> float:
        """One CD-k / PCD-k update on v (B, V) with noise u (B, H + k (V + H)); returns the batch's
        reconstruction error before the update."""
        W, b_v, b_h = self.w["W"], self.w["b_v"], self.w["b_h"]
        v = np.asarray(v, np.float64)
        n_v, n_h = W.shape
        p0 = sigmoid(v @ W + b_h)
        err = float(((v - sigmoid(p0 @ W.T + b_v)) ** 2).sum(axis=1).mean())
        h = self.chain if (self.model.persistent and self.chain is not None) else (u[:, :n_h] < p0).astype(np.float64)
        for i in range(self.model.cd_k):
            o = n_h + i * (n_v + n_h)
            vk = (u[:, o:o + n_v] < sigmoid(h @ W.T + b_v)).astype(np.float64)
            pk = sigmoid(vk @ W + b_h)
            h = (u[:, o + n_v:o + n_v + n_h] < pk).astype(np.float64)
        if self.model.persistent:
            self.chain = h
        n = len(v)
        grads = {"W": -(v.T @ p0 - vk.T @ pk) / n + self.model.weight_decay * W,
                 "b_v": -(v.sum(0) - vk.sum(0)) / n, "b_h": -(p0.sum(0) - pk.sum(0)) / n}
        self.w, self.opt = apply_update(self.w, grads, self.train, self.opt)
        return err

    def epoch(self, xb: np.ndarray, ub: np.ndarray) -> float:
        """Steps over xb (steps, B, V) with noise ub (steps, B, width); mean reconstruction error."""
        return float(np.mean([self.step(v, u) for v, u in zip(xb.reshape(xb.shape[0], xb.shape[1], -1), ub)]))


def reference_epoch(weights: dict[str, np.ndarray], xb: np.ndarray, yb: np.ndarray, model: Model,
                    train) -> tuple[dict[str, np.ndarray], float]:
    """One epoch of a fresh trainer (fresh optimizer state; PCD chain started from batch 0)."""
    trainer = Trainer(weights, model, train)
    mean = trainer.epoch(xb, yb)
    return trainer.w, mean


def cd_flops(n_visible: int, n_hidden: int, cd_k: int) -> int:
    """FLOPs of one example's CD-k/PCD-k step (``FLOPS_CONVENTION``): (4 + 2k) V H multiply-adds."""
    return 2 * n_visible * n_hidden * (4 + 2 * cd_k)


def activation_count(model: Model, info: DataInfo) -> int:
    """Floats per example alive in a CD-k step: v, p(h|v), the reconstruction, and per Gibbs step
    the sampled v_k, p(h|v_k) and h_k; plus the step's uniforms (noise_width)."""
    v, h = int(np.prod(info.input_shape)), model.hidden
    return int(2 * v + h + model.cd_k * (v + 2 * h) + noise_width(v, h, model.cd_k))


def flops_per_example(model: Model, info: DataInfo) -> dict[str, int]:
    """Per-example FLOPs by ``FLOPS_CONVENTION``: forward p(h|v) is one V x H product; train is
    ``cd_flops``."""
    vh = int(np.prod(info.input_shape)) * model.hidden
    return {"forward": 2 * vh, "train": cd_flops(int(np.prod(info.input_shape)), model.hidden, model.cd_k)}


# ----------------------------------------------------------------------------- evaluation


def _softmax_regression_accuracy(f: np.ndarray, y: np.ndarray, l2: float = 1e-2) -> float:
    """Multinomial logistic regression (L2 ``l2`` on the weights, at most 200 L-BFGS iterations from
    zeros) fitted on one half of a fixed stratified 50/50 split of (f, y), accuracy on the other."""
    from scipy.optimize import minimize  # scipy only: the worker must import no other framework

    fit, score = stratified_split(y, 0.5, seed=SPLIT_SEED)
    classes = np.unique(y)
    yi = np.searchsorted(classes, y)
    xa = np.hstack([f, np.ones((len(f), 1))])  # bias column
    n_f, n_c = xa.shape[1], len(classes)
    onehot = np.eye(n_c)[yi[fit]]
    reg = np.ones((n_f, 1))
    reg[-1] = 0.0  # no penalty on the bias

    def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
        k = theta.reshape(n_f, n_c)
        z = xa[fit] @ k
        z = z - z.max(axis=1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        val = -(onehot * logp).sum() / len(fit) + 0.5 * l2 * float(((k * reg) ** 2).sum())
        grad = xa[fit].T @ (np.exp(logp) - onehot) / len(fit) + l2 * k * reg
        return val, grad.ravel()

    res = minimize(objective, np.zeros(n_f * n_c), jac=True, method="L-BFGS-B", options={"maxiter": 200})
    pred = (xa[score] @ res.x.reshape(n_f, n_c)).argmax(axis=1)
    return float((pred == yi[score]).mean())


_PIXEL_ACCURACY: dict[str, float] = {}  # the raw-pixel baseline depends only on the data


def _pixel_accuracy(x: np.ndarray, y: np.ndarray) -> float:
    key = hashlib.sha256(x.tobytes() + y.tobytes()).hexdigest()
    if key not in _PIXEL_ACCURACY:
        _PIXEL_ACCURACY[key] = _softmax_regression_accuracy(x, y)
    return _PIXEL_ACCURACY[key]


def log_likelihood_estimate(W: np.ndarray, b_v: np.ndarray, b_h: np.ndarray, x: np.ndarray,
                            n_runs: int = 64) -> tuple[float, float | None]:
    """(mean log-likelihood, its standard error): exact (error None) when min(V, H) <=
    EXACT_MAX_UNITS, else with the AIS log Z (base model: the data's base rates; ``n_runs`` runs, 500
    temperatures, seed 0: ~0.1 s for 64 x 64 units, a few seconds for 784 x 256), whose standard error
    is the only error of the estimate (the mean free energy of x is exact)."""
    if min(W.shape) <= EXACT_MAX_UNITS:
        return log_likelihood(W, b_v, b_h, x), None
    p = np.clip(x.mean(axis=0), 1e-3, 1 - 1e-3)
    log_w, log_z_a = ais_log_weights(W, b_v, b_h, n_runs=n_runs, n_betas=500, base_b_v=np.log(p / (1 - p)))
    log_z, se = ais_estimate(log_w, log_z_a)
    return log_likelihood(W, b_v, b_h, x, log_z=log_z), se


def evaluate(adapter, x: np.ndarray, y: np.ndarray, model: Model) -> dict[str, float]:
    """Metrics in numpy from ``adapter.get_weights()`` on held-out x (N, V).

    pseudo_log_likelihood: over all rows of x, or the first PLL_MAX_ROWS where V H > PLL_ALL_ROWS_MAX_VH.
    log_likelihood_se: the standard error of the AIS estimate (nats) where log Z cannot be
    enumerated (min(V, H) > EXACT_MAX_UNITS, e.g. 784 x 256), None where it is exact.
    feature_accuracy: softmax regression on p(h|v) fitted on a fixed stratified half of the given
    (test) data and scored on the other half (evaluate sees only test data); ``pixel_accuracy`` is
    the same classifier on the raw pixels, for comparison (computed once per data set). Both are
    None for unlabelled data (fewer than two classes), e.g. bars-and-stripes."""
    W, b_v, b_h = _f64(adapter.get_weights())
    x = np.asarray(x, np.float64).reshape(len(x), -1)
    y = np.asarray(y, np.int64)
    ll, ll_se = log_likelihood_estimate(W, b_v, b_h, x)
    out = {"log_likelihood": ll, "log_likelihood_se": ll_se,
           # exact per row, so a fixed subset of rows is an unbiased estimate of the mean; its cost
           # is N V H softplus terms (~10 s for 1000 x 784 x 256 on 2 cores): large models use the
           # first PLL_MAX_ROWS rows only
           "pseudo_log_likelihood": pseudo_log_likelihood(W, b_v, b_h, x if W.size <= PLL_ALL_ROWS_MAX_VH
                                                          else x[:PLL_MAX_ROWS]),
           "recon_error": recon_error(W, b_v, b_h, x),
           "feature_accuracy": None, "pixel_accuracy": None}
    if len(np.unique(y)) > 1:
        out["feature_accuracy"] = _softmax_regression_accuracy(sigmoid(x @ W + b_h), y)
        out["pixel_accuracy"] = _pixel_accuracy(x, y)
    return out


def evaluate_epoch(adapter, x: np.ndarray, y: np.ndarray, model: Model) -> dict[str, float]:
    """The learning curve's per-epoch evaluation (harness/worker.py): ``evaluate`` where log Z is
    exact (small models: cheap), else only the AIS log-likelihood (AIS_CURVE_RUNS runs: a wider
    error bar, which it reports) and the reconstruction error: at 784 x 256 the pseudo-likelihood and the two softmax regressions cost
    several times the AIS run and would dominate the job; the final ``evaluate`` computes them."""
    W, b_v, b_h = _f64(adapter.get_weights())
    if min(W.shape) <= EXACT_MAX_UNITS:
        return evaluate(adapter, x, y, model)
    x = np.asarray(x, np.float64).reshape(len(x), -1)
    ll, ll_se = log_likelihood_estimate(W, b_v, b_h, x, n_runs=AIS_CURVE_RUNS)
    return {"log_likelihood": ll, "log_likelihood_se": ll_se, "recon_error": recon_error(W, b_v, b_h, x)}


def check_case() -> dict:
    """A tiny problem for the shared check set, in the one setting every framework can run:
    scikit-learn's BernoulliRBM does PCD-1 with plain SGD and no weight decay. The other settings
    (CD-k, momentum, Adam, weight decay) are checked per framework in tests/test_rbm.py."""
    from harness.config import TrainConfig

    rng = np.random.default_rng(7)
    info = DataInfo(name="check", input_shape=(6,), task="binary")
    return {
        "model": Model(hidden=4, cd_k=1, persistent=True),
        "info": info,
        "x": (rng.random((8, 6)) < 0.5).astype(np.float32),
        "y": np.zeros(8, np.int64),
        "batch_size": 4,
        "trains": [TrainConfig(optimizer="sgd", lr=0.1, momentum=0.0)],
    }


def check_weights(model: Model, info: DataInfo) -> dict[str, np.ndarray]:
    """Starting weights of the option check (tests/test_options.py): ``init_weights`` with W ~ N(0, 1).
    From N(0, 0.01^2) every Gibbs step is a coin flip whatever the chain held, so one epoch of CD
    and of PCD (``persistent``) would be the same and the check could not tell them apart."""
    rng = np.random.default_rng(5)
    w = init_weights(model, info, rng)
    return {**w, "W": rng.normal(0.0, 1.0, w["W"].shape).astype(np.float32)}


def filter_figures(jobs: list[tuple[dict, dict]], key: str, info: DataInfo, figures, what: str,
                   n: int = 16) -> list[tuple[str, str | None]]:
    """The first ``n`` hidden units' filters (columns of the trained ``weights[key]`` (V, H)) as
    images, one row per framework; nothing when the input is not an image."""
    if not info.image_shape:
        return []
    rows = [(f"{r['framework']} · {r['mode']}", list(np.asarray(w[key], np.float64).T[:n])) for r, w in jobs]
    return [(f"{what} first-layer filters: the trained weights into the first {n} hidden units, as images",
             figures.images("filters", rows, tuple(info.image_shape)))]


def weight_figures(jobs: list[tuple[dict, dict]], data, model: Model,
                   figures) -> list[tuple[str, str | None]]:
    return filter_figures(jobs, "W", data.info, figures, "RBM")


def report_figures(records: list[dict], figures) -> list[tuple[str, str | None]]:
    """Runs from before the trained weights were saved kept filters in each record's extras
    (``weight_figures`` draws them now): one row per framework (repeat 0)."""
    rows, shape = [], None
    for r in records:
        ex = r.get("extra") or {}
        if r.get("repeat") == 0 and ex.get("filters") and ex.get("image_shape"):
            shape = tuple(ex["image_shape"])
            rows.append((f"{r['framework']} {r['mode']}", ex["filters"]))
    if not rows:
        return []
    return [("RBM filters (weights of the first hidden units, as images)", figures.images("filters", rows, shape))]
