"""JAX helper (also used by flax). JAX_PLATFORMS and preallocation are set by the runner."""
from __future__ import annotations

import os
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax

from harness.frameworks import _common

jax.config.update("jax_enable_x64", False)
# Full float32 matmuls/convolutions on GPUs (XLA may otherwise use TF32): same math as the reference.
jax.config.update("jax_default_matmul_precision", "highest")


def version() -> str:
    import jaxlib

    return f"{jax.__version__} (jaxlib {jaxlib.__version__})"


def setup(threads: int, seed: int) -> dict:
    _common.seed_python(seed)
    return {"xla_flags": os.environ.get("XLA_FLAGS", ""), "backend": jax.default_backend(),
            "devices": [str(d) for d in jax.devices()], "blas": _common.blas_threads()}


def jax_device(device: str):
    return jax.devices("gpu" if device == "cuda" else "cpu")[0]


def device_available(device: str) -> str | None:
    if device == "cpu":
        return None
    try:
        jax.devices("gpu")
    except RuntimeError as e:
        return f"jax {jax.__version__} has no GPU backend: {str(e).splitlines()[0]}"
    return None


def sync(device: str) -> None:
    """JAX is async: adapters call ``block_until_ready`` on their outputs (see adapters)."""


_PEAK_BASE: dict = {}


def _gpu_stats() -> dict | None:
    """The first GPU's allocator statistics; None without a GPU backend (on the CPU ``jax.devices("gpu")``
    raises, and a CPU device's ``memory_stats()`` is None) or when the allocator reports none."""
    try:
        d = jax.devices("gpu")[0]
    except RuntimeError:
        return None
    return d.memory_stats() or None


def reset_gpu_peak() -> None:
    """XLA's allocator has no reset: its peak covers the process. The worker calls this before the
    model is built, when the fresh job process has put nothing on the GPU yet, so that peak is the same
    window as torch's and TensorFlow's reset peaks; what was in use at this point is kept to show it."""
    stats = _gpu_stats()
    _PEAK_BASE["in_use"] = stats.get("bytes_in_use") if stats else None


def gpu_peak_mb() -> float | None:
    """``peak_bytes_in_use`` of the GPU allocator in MB; None (not 0.0) when there is none to read."""
    stats = _gpu_stats()
    if not stats or stats.get("peak_bytes_in_use") is None:
        return None
    return stats["peak_bytes_in_use"] / 2**20


def gpu_info(device: str) -> dict | None:
    """The GPU a cuda job ran on, as jax sees it (None on the CPU): model, driver, CUDA, cuDNN."""
    if device != "cuda" or device_available(device):
        return None
    from harness import gpu

    info = {"name": jax.devices("gpu")[0].device_kind, "driver": gpu.driver_version(), "cuda": None,
            "cudnn": None, "in_use_at_reset_bytes": _PEAK_BASE.get("in_use")}
    try:  # the CUDA plugin's own report; absent from CPU-only jaxlib
        from jax._src.lib import cuda_versions

        info.update(cuda=cuda_versions.cuda_runtime_get_version(), cudnn=cuda_versions.cudnn_get_version())
    except Exception:  # noqa: BLE001 - versions are best effort
        pass
    return info


def h2d(arrays: list[np.ndarray], device: str) -> float:
    """Seconds to copy ``arrays`` (an epoch's batches, any shapes) from host to ``device`` and wait."""
    from harness import measure

    dev = jax_device(device)
    t = measure.now()
    out = jax.device_put(list(arrays), dev)
    jax.block_until_ready(out)
    return measure.now() - t


def make_optimizer(train) -> optax.GradientTransformation:
    """optax.sgd (trace: v <- momentum v + g) and optax.adam are harness/optim.py's formulas exactly.
    Shared by the jax and flax adapters."""
    if train.optimizer == "sgd":
        return optax.sgd(train.lr, momentum=train.momentum or None)  # no trace buffer when unused
    return optax.adam(train.lr, b1=train.beta1, b2=train.beta2, eps=train.eps)


# --- shared by architectures/*/fw_jax.py -------------------------------------------------------


class AdapterBase(_common.AdapterCore):
    """The jax ``Adapter``'s common part: ``AdapterCore``'s job settings plus the jax device ``dev``
    its arrays live on."""

    def __init__(self, model, info, train, **kw):
        super().__init__(model, info, train, **kw)
        self.dev = jax_device(self.device)

    def inputs(self, x: np.ndarray, lead: int = 1) -> jax.Array:
        """``host_inputs`` (flat rows or sequences, float32) on the device."""
        return to_device(self.host_inputs(x, lead), self.dev)

    def targets(self, y: np.ndarray) -> jax.Array:
        """Labels as int32 (``classify``) or targets as float32, shape kept, on the device."""
        return to_device(y.astype(np.int32 if self.classify else np.float32), self.dev)


def to_device(x, dev) -> jax.Array:
    """A host array (or numpy scalar) as a jax array on ``dev``. On JAX's default device this is
    ``jnp.asarray``: on CPU, ``jax.device_put(x, dev)`` of an epoch's batches made the MLP's whole
    epoch ~8% slower than the same epoch fed by ``jnp.asarray`` (the bare loop's way; measured with
    benchmarks/overhead.py). The result is then uncommitted, which jit accepts next to committed
    state, and the same every epoch, so nothing recompiles. Elsewhere: ``jax.device_put``."""
    if dev == jax.devices()[0]:
        return jnp.asarray(x)
    return jax.device_put(x, dev)


def block(tree) -> None:
    """Wait until ``tree`` is computed, for a tree whose leaves all come out of one call (the params
    and optimizer state of an optax step or scan, or ``put_tree``'s one ``device_put``): that call's
    outputs are ready together, so waiting on one leaf waits on all, without the walk over every leaf
    of ``jax.block_until_ready`` (~1-2% of a 1.4 ms fused MLP epoch on CPU, benchmarks/overhead.py)."""
    jax.tree_util.tree_leaves(tree)[0].block_until_ready()


def put_tree(arrays: dict[str, np.ndarray], dev) -> dict[str, jax.Array]:
    """{name: array} (canonical weights) -> the same dict as float32 jax arrays on ``dev``: a params pytree."""
    return jax.device_put({k: np.asarray(v, np.float32) for k, v in arrays.items()}, dev)


def host_tree(params: dict[str, jax.Array]) -> dict[str, np.ndarray]:
    """{name: jax array} -> {name: float32 numpy copy} (what ``get_weights`` returns)."""
    return {k: np.array(v, np.float32) for k, v in jax.device_get(params).items()}


def put_rows(x: np.ndarray, dev) -> jax.Array:
    """x (N, ...) -> (N, prod(...)) float32, C-contiguous, on ``dev`` (inputs to ``predict``)."""
    return to_device(_common.flat32(x), dev)


def init_state(tx: optax.GradientTransformation, params, dev):
    """The optimizer's fresh state for the params pytree, on ``dev``."""
    return jax.device_put(tx.init(params), dev)


def batch_loss(out: jax.Array, y: jax.Array, classify: bool) -> jax.Array:
    """Mean over the batch: softmax cross-entropy of logits out (B, C) with int labels y (B,) when
    ``classify``, else the mean squared error of out (B, ...) against float targets y (B, ...)."""
    if classify:
        return optax.softmax_cross_entropy_with_integer_labels(out, y).mean()
    return jnp.mean((out - y) ** 2)


def drive_steps(step: Callable, state: tuple, xs: jax.Array, ys: jax.Array, dev) -> tuple[tuple, float]:
    """The per-step epoch: one call ``step(*state, total, xs, ys, i) -> (*state, total)`` per batch i
    in order; xs (steps, B, ...), ys (steps, B, ...) are the whole epoch on the device and the step
    slices batch i itself (one dispatch per step). ``total`` is the float32 sum of the per-step loss
    (or figure), kept on the device: the one host fetch at the end is the epoch's sync point.
    Returns (state, mean over the steps)."""
    total = to_device(np.float32(0), dev)
    for i in range(xs.shape[0]):
        *state, total = step(*state, total, xs, ys, i)
    return tuple(state), float(total) / xs.shape[0]


def optax_update(loss_fn: Callable, tx: optax.GradientTransformation) -> Callable:
    """update(params, opt_state, x (B, ...), y (B, ...)) -> (params, opt_state, loss): one optimizer
    step of ``tx`` on jax.value_and_grad of ``loss_fn(params, x, y) -> scalar mean loss`` (pure, to jit)."""

    def update(params, opt_state, x, y):
        loss, grads = jax.value_and_grad(loss_fn)(params, x, y)
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    return update


def update_fns(update: Callable, n_state: int) -> tuple[Callable, Callable]:
    """The two jitted epoch programs of a pure per-batch ``update(*state, x, y) -> (*state, loss)``
    (``n_state`` arrays or pytrees of state: params, optimizer state, sampler chains, ...).
    Returns ``(step, epoch)``:
    step(*state, total, xs, ys, i) -> (*state, total + loss): the update on batch i of xs (steps, B, ...),
    ys (steps, B, ...), sliced inside the jit, for ``drive_steps`` (state and total donated);
    epoch(*state, xs, ys) -> (*state, mean loss): the whole epoch fused into one ``lax.scan`` over the
    batches in order (state donated). ``y`` is whatever rides with the batches (labels, targets, or
    the harness noise of a sampler)."""

    def step(*args):
        *state, total, xs, ys, i = args
        # The batch is sliced inside the jit and the loss summed there: one dispatch per step.
        *state, loss = update(*state, xs[i], ys[i])
        return (*state, total + loss)

    def epoch(*args):
        *state, xs, ys = args

        def body(carry, batch):
            *carry, loss = update(*carry, *batch)
            return tuple(carry), loss

        state, losses = jax.lax.scan(body, tuple(state), (xs, ys))
        return (*state, losses.mean())

    return (jax.jit(step, donate_argnums=tuple(range(n_state + 1))),
            jax.jit(epoch, donate_argnums=tuple(range(n_state))))


def run_epoch(fns: tuple[Callable, Callable], state: tuple, xs: jax.Array, ys: jax.Array, dev,
              fused: bool = False) -> tuple[tuple, float]:
    """One epoch with ``fns = update_fns(...)`` on xs (steps, B, ...), ys (steps, B, ...) on the device:
    the jitted step per batch from Python (``drive_steps``), or with ``fused`` the one jitted scan.
    Returns (state, mean loss over the steps)."""
    step, epoch = fns
    if fused:
        *state, mean = epoch(*state, xs, ys)
        return tuple(state), float(mean)
    return drive_steps(step, tuple(state), xs, ys, dev)


def optax_fns(loss_fn: Callable, tx: optax.GradientTransformation) -> tuple[Callable, Callable]:
    """Jitted optax training of a params pytree on ``loss_fn(params, x (B, ...), y (B, ...)) -> scalar
    mean loss``: ``update_fns`` of ``optax_update``, the state (params, opt_state). Returns ``(step, epoch)``:
    step(params, opt_state, total, xs, ys, i) -> (params, opt_state, total + loss), for ``drive_steps``;
    epoch(params, opt_state, xs, ys) -> (params, opt_state, mean loss), one ``lax.scan`` over the batches."""
    return update_fns(optax_update(loss_fn, tx), 2)


def optax_epoch(fns: tuple[Callable, Callable], params, opt_state, xs: jax.Array, ys: jax.Array, dev,
                fused: bool = False) -> tuple[object, object, float]:
    """One epoch with ``fns = optax_fns(...)`` (``run_epoch`` on the state (params, opt_state)).
    Returns (params, opt_state, mean loss over the steps)."""
    (params, opt_state), mean = run_epoch(fns, (params, opt_state), xs, ys, dev, fused)
    return params, opt_state, mean


class GradientAdapter(AdapterBase):
    """A gradient-trained jax adapter whose params pytree is the canonical weights dict itself: a
    subclass gives its forward pass (``make_forward``), its loss kind (``LOSS``) and, where inputs are
    not flat rows, ``inputs``. Training is optax (``make_optimizer``) on ``batch_loss`` through
    ``optax_fns``: mode ``step`` a jitted step per batch from Python, mode ``epoch`` one jitted
    ``lax.scan`` over the epoch's batches."""

    def __init__(self, model, info, train, **kw):
        super().__init__(model, info, train, **kw)
        fwd, classify = self.make_forward(), self.classify
        self.tx = make_optimizer(train)
        self._forward = jax.jit(fwd)
        self._fns = optax_fns(lambda params, x, y: batch_loss(fwd(params, x), y, classify), self.tx)

    def make_forward(self) -> Callable:
        """The pure forward pass f(params, x) -> outputs, x as ``inputs`` makes it."""
        raise NotImplementedError

    def build(self, weights: dict[str, np.ndarray]) -> None:
        """weights: the canonical dict (names and shapes of the spec's ``weight_shapes``), float32."""
        self.params = put_tree(weights, self.dev)
        self.opt_state = init_state(self.tx, self.params, self.dev)

    def get_weights(self) -> dict[str, np.ndarray]:
        """Canonical names -> float32 numpy copies."""
        return host_tree(self.params)

    def train_epoch(self, xb: np.ndarray, yb: np.ndarray) -> float:
        """xb (steps, B, ...) inputs, yb (steps, B) int labels or (steps, B, ...) float targets ->
        mean loss over the steps."""
        self.params, self.opt_state, loss = optax_epoch(self._fns, self.params, self.opt_state, self.inputs(xb, 2),
                                                        self.targets(yb), self.dev, fused=self.mode == "epoch")
        return loss

    def predict(self, x: np.ndarray) -> np.ndarray:
        """x (N, ...) -> outputs (N, ...): logits, predictions or reconstructions."""
        return np.asarray(self._forward(self.params, self.inputs(x)))

    def sync(self) -> None:
        block(self.params)  # every leaf comes out of the epoch's last jitted call
