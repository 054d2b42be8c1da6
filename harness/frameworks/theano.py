"""Theano helper, through PyTensor (Theano's maintained successor).

PyTensor 3 defaults to its Numba backend; annbench pins the C virtual machine (``CVM``), Theano's
own C backend, for every theano adapter (importing this module sets it), so compile happens in
``build`` and all architectures are measured the same way. It runs on the CPU (PyTensor's GPU
paths go through JAX, not the old Theano CUDA backend), so ``cuda`` is reported as unavailable.
"""
from __future__ import annotations

import numpy as np
import pytensor
import pytensor.tensor as pt
from pytensor.gradient import zero_grad
from pytensor.tensor.special import log_softmax as pt_log_softmax

from harness.errors import Unsupported
from harness.frameworks import _common
from harness.frameworks._common import flat32  # noqa: F401  (re-exported for the adapters)

MODE = "CVM"
F32 = np.float32
pytensor.config.mode = MODE


def version() -> str:
    return f"pytensor {pytensor.__version__}"


def setup(threads: int, seed: int) -> dict:
    return {**_common.numpy_setup(threads, seed), "floatX": pytensor.config.floatX, "cxx": bool(pytensor.config.cxx),
            "mode": MODE, "blas_ldflags": pytensor.config.blas__ldflags or "none (numpy C-API dot)"}


def device_available(device: str) -> str | None:
    return None if device == "cpu" else "PyTensor's C backend is CPU only"


def sync(device: str) -> None:
    pass  # compiled functions return numpy arrays: synchronous


def reset_gpu_peak() -> None:
    pass


def gpu_peak_mb() -> float | None:
    return None


# --- shared by the adapters (architectures/*/fw_theano.py) -------------------------------------------
# Every constant is a numpy float32 (or a deliberate float64): PyTensor turns a Python float into a
# float64 constant and would upcast the float32 graph.

def check_device(device: str) -> None:
    """Raise ``Unsupported`` from an adapter's ``__init__`` for any device but the CPU."""
    if (reason := device_available(device)) is not None:
        raise Unsupported(reason)


def log_softmax(z):
    """Row-wise log-softmax of z (N, C) from elementwise ops and reductions, all C-implemented.
    PyTensor 3's own LogSoftmax is an OpFromGraph that the C VM runs through Python with an inner
    Numba function."""
    z = z - zero_grad(z.max(axis=-1, keepdims=True))  # the shift cancels: no gradient through it
    return z - pt.log(pt.exp(z).sum(axis=-1, keepdims=True))


def xent(logits, y):
    """Mean softmax cross-entropy of logits (N, C) at int labels y (N,), with ``log_softmax`` above."""
    return -log_softmax(logits)[pt.arange(y.shape[0]), y].mean()


def pytensor_xent(logits, y):
    """``xent`` with PyTensor's own ``log_softmax`` (the op some adapters were written and measured with)."""
    return -pt_log_softmax(logits, axis=-1)[pt.arange(y.shape[0]), y].mean()


def mse(out, y):
    """Mean squared error of out against y (same shape), over batch and outputs."""
    return pt.mean(pt.sqr(out - y))


class Optimizer:
    """harness/optim.py's SGD-momentum and Adam as symbolic float32 updates.

    State, a list of shared variables shaped like the parameters: sgd [v...]; adam [m..., v..., t]
    with t an int64 scalar. Adam's bias corrections 1 - beta^t are computed in float64, like the
    reference, then cast to float32.
    """

    def __init__(self, train):
        self.train = train

    def init_state(self, params: list) -> list:
        """Fresh zero state (shared variables) for the shared parameters ``params``."""
        zeros = [np.zeros_like(p.get_value()) for p in params]
        if self.train.optimizer == "sgd":
            return [pytensor.shared(z) for z in zeros]
        return [pytensor.shared(z) for z in (*zeros, *[np.zeros_like(z) for z in zeros], np.int64(0))]

    def update(self, params: list, grads: list, state: list) -> tuple[list, list]:
        """Symbolic (new params, new state) from symbolic params, their grads and the state."""
        tr = self.train
        if tr.optimizer == "sgd":
            new_vel = [F32(tr.momentum) * v + g for v, g in zip(state, grads)]
            return [w - F32(tr.lr) * v for w, v in zip(params, new_vel)], new_vel
        n = len(params)
        ms, vs, t = state[:n], state[n:2 * n], state[-1] + 1
        b1, b2 = F32(tr.beta1), F32(tr.beta2)
        one_b1, one_b2 = F32(1) - b1, F32(1) - b2
        c1 = pt.cast(1 - np.float64(tr.beta1) ** t, "float32")
        c2 = pt.cast(1 - np.float64(tr.beta2) ** t, "float32")
        new_m = [b1 * m + one_b1 * g for m, g in zip(ms, grads)]
        new_v = [b2 * v + one_b2 * g * g for v, g in zip(vs, grads)]
        new_w = [w - F32(tr.lr) * (m / c1) / (pt.sqrt(v / c2) + F32(tr.eps))
                 for w, m, v in zip(params, new_m, new_v)]
        return new_w, [*new_m, *new_v, t]

    def updates(self, params: list, grads: list) -> list[tuple]:
        """One step for the shared ``params`` from their symbolic ``grads``, on a fresh state:
        (shared, new value) pairs for ``pytensor.function(updates=...)``."""
        state = self.init_state(params)
        new_params, new_state = self.update(params, grads, state)
        return list(zip([*params, *state], [*new_params, *new_state]))


def make_optimizer(train) -> Optimizer:
    """The canonical optimizer of ``train`` (sgd/adam) as symbolic updates (``Optimizer``)."""
    return Optimizer(train)


def compile_step(loss_fn, opt: Optimizer, params: list, x, y) -> pytensor.compile.Function:
    """f(x, y) -> loss, one optimizer step on the shared ``params`` in place (Theano's classic loop).

    ``loss_fn(params, x, y)`` builds the symbolic scalar loss of one batch; x, y are its symbolic
    inputs (e.g. x (B, D) float32, y (B,) int64)."""
    loss = loss_fn(params, x, y)
    updates = opt.updates(params, pytensor.grad(loss, params))
    return pytensor.function([x, y], loss, updates=updates, mode=MODE)


def compile_scan(update, shared: list, xs, ys) -> pytensor.compile.Function:
    """f(xs, ys) -> mean loss over the steps: the symbolic per-batch ``update(carry, x, y) -> (new
    carry, loss)`` inside one ``pytensor.scan`` over the stacked batches xs (steps, B, ...), ys
    (steps, B, ...) in order, the carry starting from the shared variables ``shared`` (weights,
    optimizer state, sampler chains, ...) and written back to them after the last step."""
    n = len(shared)

    def body(x, y, *carry):
        new, loss = update(list(carry), x, y)
        assert len(new) == n, "update must return one new value per shared variable"
        return [*new, loss]

    outs = pytensor.scan(body, sequences=[xs, ys], outputs_info=[*shared, None], return_updates=False)
    updates = [(s, o[-1]) for s, o in zip(shared, outs[:-1])]  # keep only the last step's values
    return pytensor.function([xs, ys], outs[-1].mean(), updates=updates, mode=MODE)


def compile_epoch(loss_fn, opt: Optimizer, params: list, xs, ys) -> pytensor.compile.Function:
    """f(xs, ys) -> mean loss over the steps: ``compile_step``'s step inside one ``pytensor.scan``
    over the stacked batches xs (steps, B, ...), ys (steps, B, ...), carrying params and state
    (``compile_scan``)."""
    state = opt.init_state(params)
    n_p = len(params)

    def update(carry, x, y):
        p, s = carry[:n_p], carry[n_p:]
        loss = loss_fn(p, x, y)
        new_p, new_s = opt.update(p, pytensor.grad(loss, p), s)
        return [*new_p, *new_s], loss

    return compile_scan(update, [*params, *state], xs, ys)


def epoch_mean(step, xs, ys, fused: bool = False) -> float:
    """step(x, y) -> float32 loss, once per batch of xs (steps, B, ...), ys (steps, B, ...) in order;
    the mean by ``np.mean`` of the float32 losses, as a Python float. ``fused``: ``step`` is instead a
    compiled epoch (``compile_epoch``/``compile_scan``), called once on the stacked batches."""
    if fused:
        return float(step(xs, ys))
    return float(np.mean([step(x, y) for x, y in zip(xs, ys)]))


# --- adapter bases: architectures/*/fw_theano.py ------------------------------------------------------


class AdapterBase(_common.AdapterCore):
    """The theano ``Adapter``'s common part: ``AdapterCore``'s job settings (any device but the CPU
    is ``Unsupported``) and the numpy inputs compiled functions take. ``sync`` does nothing:
    compiled PyTensor functions return numpy arrays, nothing is ever queued."""

    def __init__(self, model, info, train, **kw):
        super().__init__(model, info, train, **kw)
        check_device(self.device)

    def inputs(self, x: np.ndarray, lead: int = 1) -> np.ndarray:
        """``host_inputs``: flat rows or sequences, float32."""
        return self.host_inputs(x, lead)

    def targets(self, y: np.ndarray) -> np.ndarray:
        """Labels as int64 (``classify``) or targets as float32, shape kept, C-contiguous."""
        return np.ascontiguousarray(y, dtype=np.int64 if self.classify else np.float32)


class GradientAdapter(AdapterBase):
    """A symbolic forward pass over float32 shared variables (the canonical weights, by name) trained
    on its loss with ``pytensor.grad`` and the symbolic ``Optimizer``, compiled once in ``build``: a
    subclass gives ``forward`` (the parameter layout is the canonical dict) and its loss kind
    (``LOSS``; ``LOG_SOFTMAX`` picks the cross-entropy's implementation). Mode ``step``: a
    ``pytensor.function`` with ``updates=`` called per batch (Theano's classic loop); ``epoch``: the
    same step inside one ``pytensor.scan`` over the epoch's batches, carrying the weights and
    optimizer state (``compile_epoch``)."""

    #: "c": ``xent`` (C-implemented elementwise ops); "pytensor": ``pytensor_xent``
    LOG_SOFTMAX = "c"

    def forward(self, params: dict, x):
        """Symbolic outputs for the symbolic batch x; params: canonical name -> symbolic weight."""
        raise NotImplementedError

    def loss(self, out, y):
        """The symbolic mean loss of outputs ``out`` against labels or targets ``y``."""
        if not self.classify:
            return mse(out, y)
        return xent(out, y) if self.LOG_SOFTMAX == "c" else pytensor_xent(out, y)

    def _symbols(self, lead: int) -> tuple:
        """Symbolic float32 inputs and int64/float32 targets with ``lead`` leading axes."""
        x = pt.tensor("x", dtype="float32", shape=(None,) * (lead + (2 if self.SEQUENCE else 1)))
        y = pt.tensor("y", dtype="int64" if self.classify else "float32",
                      shape=(None,) * (lead - 1 + (1 if self.classify else 2)))
        return x, y

    def build(self, weights: dict[str, np.ndarray]) -> None:
        """weights: the canonical dict (names and shapes of the spec's ``weight_shapes``), float32."""
        self.params = {k: pytensor.shared(np.array(v, dtype=np.float32), name=k) for k, v in weights.items()}
        x, _ = self._symbols(1)
        self._predict = pytensor.function([x], self.forward(self.params, x), mode=MODE)
        compile_fn = compile_epoch if self.mode == "epoch" else compile_step
        self._train = compile_fn(self._loss, make_optimizer(self.train), list(self.params.values()),
                                 *self._symbols(2 if self.mode == "epoch" else 1))

    def _loss(self, params: list, x, y):
        return self.loss(self.forward(dict(zip(self.params, params)), x), y)

    def get_weights(self) -> dict[str, np.ndarray]:
        """Canonical names -> float32 numpy copies."""
        return {k: np.array(v.get_value(), dtype=np.float32) for k, v in self.params.items()}

    def train_epoch(self, xb: np.ndarray, yb: np.ndarray) -> float:
        """xb (steps, B, ...) inputs, yb (steps, B) int labels or (steps, B, ...) float targets ->
        mean loss over the steps."""
        return epoch_mean(self._train, self.inputs(xb, 2), self.targets(yb), fused=self.mode == "epoch")

    def predict(self, x: np.ndarray) -> np.ndarray:
        """x (N, ...) -> outputs (N, ...): logits, predictions or reconstructions."""
        return np.asarray(self._predict(self.inputs(x)))
