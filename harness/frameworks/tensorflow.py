"""TensorFlow / Keras 3 helper. Thread env vars are set by the runner before import.

Below the harness hooks: what every architectures/*/fw_tensorflow.py shares (the adapter base, the
canonical optimizer in TF ops, the epoch loops of every execution mode (``epoch_trainer``:
step, epoch, epoch-xla, eager), array conversions)."""
from __future__ import annotations

import os
from collections.abc import Callable

import numpy as np
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


def gpu_info(device: str) -> dict | None:
    """The GPU a cuda job ran on, as TensorFlow sees it (None on the CPU): model, driver, CUDA, cuDNN
    (the versions TensorFlow was built against)."""
    gpus = tf.config.list_physical_devices("GPU")
    if device != "cuda" or not gpus:
        return None
    from harness import gpu

    build = tf.sysconfig.get_build_info()
    details = tf.config.experimental.get_device_details(gpus[0])
    return {"name": details.get("device_name"), "driver": gpu.driver_version(), "cuda": build.get("cuda_version"),
            "cudnn": build.get("cudnn_version"), "capability": details.get("compute_capability")}


def h2d(arrays: list[np.ndarray], device: str) -> float:
    """Seconds to copy ``arrays`` (an epoch's batches, any shapes) from host to ``device`` and wait."""
    from harness import measure

    t = measure.now()
    with tf.device(tf_device(device)):
        out = [tf.identity(tf.convert_to_tensor(a)) for a in arrays]
    tf.test.experimental.sync_devices()  # waits for the copies (no device-to-host fetch)
    dt = measure.now() - t
    del out
    return dt


# ---- shared by architectures/*/fw_tensorflow.py ---------------------------------------------------


class AdapterBase(_common.AdapterCore):
    """The TensorFlow ``Adapter``'s common part: ``AdapterCore``'s job settings plus the tf.device
    string ``dev`` its variables live on and input conversion. ``sync`` does nothing: TF has no
    global sync, and every adapter method that returns ends in a host fetch (``.numpy()`` /
    ``float()``), which waits for the queued work."""

    def __init__(self, model, info, train, **kw):
        super().__init__(model, info, train, **kw)
        self.dev = tf_device(self.device)

    def inputs(self, x: np.ndarray, lead: int = 1) -> tf.Tensor:
        """``host_inputs`` (flat rows or sequences, float32) as a tensor."""
        return tf.convert_to_tensor(self.host_inputs(x, lead))

    def targets(self, y: np.ndarray) -> tf.Tensor:
        """Labels as int64 (``classify``) or targets as float32, shape kept."""
        return targets(y, self.classify)


def make_optimizer(train, variables: list) -> Optimizer:
    """The canonical optimizer of ``train`` (sgd/adam) over ``variables``, in TF ops (``Optimizer``)."""
    return Optimizer(train, variables)


class Optimizer:
    """harness/optim.py's SGD-momentum and Adam in TF ops on tf.Variable slots. Keras's Adam puts eps
    inside the bias correction ("eps-hat"), so the update is written out here instead.

    ``variables``: the list it updates; ``apply(grads)`` takes gradients in the same order. Slots:
    sgd keeps the velocity in ``slots[0]``; adam keeps m in ``slots[0]``, v in ``slots[1]`` and counts
    its steps in ``t`` (int64), the bias corrections computed in float64 like the reference.
    """

    def __init__(self, train, variables: list):
        self.train, self.vars = train, variables
        n_slots = 1 if train.optimizer == "sgd" else 2  # sgd: velocity; adam: m, v
        self.slots = [[tf.Variable(tf.zeros_like(w), trainable=False) for w in variables] for _ in range(n_slots)]
        self.t = tf.Variable(0, dtype=tf.int64, trainable=False)

    def apply(self, grads: list) -> None:
        """One update of every variable; grads[i] has the shape of vars[i]."""
        tr = self.train
        if tr.optimizer == "sgd":
            for w, v, g in zip(self.vars, self.slots[0], grads):
                v.assign(tr.momentum * v + g)
                w.assign_sub(tr.lr * v)
            return
        self.t.assign_add(1)
        t = tf.cast(self.t, tf.float64)  # bias corrections in float64, like the reference
        c1 = tf.cast(1.0 - tf.pow(tf.constant(tr.beta1, tf.float64), t), tf.float32)
        c2 = tf.cast(1.0 - tf.pow(tf.constant(tr.beta2, tf.float64), t), tf.float32)
        for w, m, v, g in zip(self.vars, self.slots[0], self.slots[1], grads):
            m.assign(tr.beta1 * m + (1.0 - tr.beta1) * g)
            v.assign(tr.beta2 * v + (1.0 - tr.beta2) * g * g)
            w.assign_sub(tr.lr * (m / c1) / (tf.sqrt(v / c2) + tr.eps))

    def minimize(self, loss_fn: Callable[[], tf.Tensor]) -> tf.Tensor:
        """One step on the scalar ``loss_fn()`` (recorded on a GradientTape); returns that loss."""
        with tf.GradientTape() as tape:
            loss = loss_fn()
        self.apply(tape.gradient(loss, self.vars))
        return loss


def batch_loss(out: tf.Tensor, y: tf.Tensor, classify: bool = True) -> tf.Tensor:
    """Mean loss over the batch: softmax cross-entropy of logits out (B, C) against int labels y (B,),
    or (classify=False) the squared error of out (B, ...) against float targets y (B, ...)."""
    if classify:
        return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=out))
    return tf.reduce_mean(tf.square(out - y))


MODES = ("step", "epoch", "epoch-xla", "eager")  # what epoch_trainer runs (see there)


def mean_step_loss(step: Callable[[tf.Tensor, tf.Tensor], tf.Tensor], xs: tf.Tensor, ys: tf.Tensor) -> float:
    """Per-step loop: step(xs[i], ys[i]) for xs (steps, B, ...), ys (steps, B, ...), in order (one split
    op per epoch). ``step`` is a tf.function ("step" mode) or the plain Python step ("eager" mode). The
    losses stay tensors (no host sync per step); returns their mean (one host fetch)."""
    losses = [step(x, y) for x, y in zip(tf.unstack(xs), tf.unstack(ys))]
    return float(tf.reduce_mean(tf.stack(losses)))


def fused_epoch(step_fn: Callable[[tf.Tensor, tf.Tensor], tf.Tensor], xs: tf.Tensor, ys: tf.Tensor) -> tf.Tensor:
    """Inside a tf.function: step_fn(xs[i], ys[i]) for every i of xs (steps, B, ...), ys (steps, B, ...),
    as one tf.range loop (AutoGraph makes it a tf.while_loop); returns the mean loss."""
    n = tf.shape(xs)[0]
    total = tf.constant(0.0)
    for i in tf.range(n):
        total += step_fn(xs[i], ys[i])
    return total / tf.cast(n, tf.float32)


def epoch_trainer(step_fn: Callable[[tf.Tensor, tf.Tensor], tf.Tensor], x: tf.TensorSpec, y: tf.TensorSpec,
                  mode: str = "step") -> Callable[[tf.Tensor, tf.Tensor], float]:
    """train(xs (steps, B, ...), ys (steps, B, ...)) -> mean loss (float) from one train step
    step_fn(x, y) -> scalar loss on batches with specs x, y, in one of the ``MODES``:

    - ``step``: one tf.function call per batch from a Python loop (mean_step_loss);
    - ``epoch``: the whole epoch in one tf.function (fused_epoch: a tf.while_loop over the batches);
    - ``epoch-xla``: the same fused epoch compiled by XLA (``tf.function(jit_compile=True)``); XLA
      compiles once per concrete (steps, B) shape, so the first epoch carries the compile;
    - ``eager``: step_fn itself, op by op with no tf.function, from the same Python loop as ``step``.

    Every mode ends in a single host fetch of the mean loss per epoch. The tf.functions are traced once:
    the signatures leave the batch and step counts unknown. (Adapters keep predict a tf.function in
    every mode: the modes are about the training loop.)"""
    if mode in ("epoch", "epoch-xla"):
        def epoch(xs: tf.Tensor, ys: tf.Tensor) -> tf.Tensor:
            return fused_epoch(step_fn, xs, ys)

        fn = tf.function(epoch, input_signature=[tf.TensorSpec([None, *s.shape], s.dtype) for s in (x, y)],
                         jit_compile=mode == "epoch-xla")
        return lambda xs, ys: float(fn(xs, ys))
    if mode == "eager":
        return lambda xs, ys: mean_step_loss(step_fn, xs, ys)
    if mode == "step":
        step = tf.function(step_fn, input_signature=[x, y])
        return lambda xs, ys: mean_step_loss(step, xs, ys)
    raise ValueError(f"TensorFlow has no execution mode {mode!r} (modes: {', '.join(MODES)})")


def flat_rows(x: np.ndarray) -> tf.Tensor:
    """x (N, *shape) -> float32 tensor (N, prod(shape))."""
    return tf.convert_to_tensor(_common.flat32(x))


def flat_batches(xb: np.ndarray) -> tf.Tensor:
    """xb (steps, B, *shape) -> float32 tensor (steps, B, prod(shape))."""
    return tf.convert_to_tensor(_common.flat32(xb, 2))


def targets(y: np.ndarray, classify: bool = True) -> tf.Tensor:
    """y -> int64 labels (classify) or float32 regression targets, shape kept."""
    return tf.convert_to_tensor(y.astype(np.int64 if classify else np.float32, copy=False))


def to_numpy(v) -> np.ndarray:
    """A variable or tensor -> its own float32 numpy copy."""
    return np.array(v.numpy(), dtype=np.float32)


def set_kernel_bias(layer, weights: dict[str, np.ndarray], prefix: str):
    """Overwrite a built Keras layer's own init with canonical ``{prefix}.kernel`` / ``{prefix}.bias``
    (Dense (in, out) and channels-last Conv (*K, cin, cout) kernels: the layouts already agree)."""
    layer.kernel.assign(weights[f"{prefix}.kernel"])
    layer.bias.assign(weights[f"{prefix}.bias"])
    return layer


def kernel_bias(layer, prefix: str) -> dict[str, np.ndarray]:
    """A Keras layer's kernel and bias as canonical ``{prefix}.kernel`` / ``{prefix}.bias`` float32 copies."""
    return {f"{prefix}.kernel": to_numpy(layer.kernel), f"{prefix}.bias": to_numpy(layer.bias)}


class GradientAdapter(AdapterBase):
    """A network trained on its loss by ``epoch_trainer`` (every TF mode): a subclass gives the
    network (``make_net``: the parameter layout and forward pass, holding the canonical weights; it
    is called ``net(x, training=...)`` and its ``trainable_variables`` are optimized), its loss kind
    (``LOSS``) and ``get_weights``; ``target_width`` where regression targets are not
    ``info.n_outputs`` wide. Predict is a tf.function in every mode."""

    def make_net(self, weights: dict[str, np.ndarray]):
        """The network holding the canonical ``weights`` (float32), built under ``tf.device(dev)``."""
        raise NotImplementedError

    def target_width(self) -> int:
        """Width of a float target row (regression)."""
        return self.info.n_outputs

    def _specs(self) -> tuple[tf.TensorSpec, tf.TensorSpec]:
        """Batch signatures (x, y) of the traced step: leading batch axis unknown."""
        x = tf.TensorSpec([None, *self.host_inputs(np.zeros((1, *self.info.input_shape))).shape[1:]], tf.float32)
        y = tf.TensorSpec([None], tf.int64) if self.classify else tf.TensorSpec([None, self.target_width()], tf.float32)
        return x, y

    def build(self, weights: dict[str, np.ndarray]) -> None:
        """weights: the canonical dict (names and shapes of the spec's ``weight_shapes``), float32."""
        with tf.device(self.dev):
            self.net = self.make_net(weights)
            self.opt = make_optimizer(self.train, self.net.trainable_variables)
        x, y = self._specs()
        self._train = epoch_trainer(self._train_step, x, y, self.mode)
        self._forward = tf.function(lambda x: self.net(x, training=False), input_signature=[x])

    def _train_step(self, x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
        """x (B, ...), y (B,) int or (B, out) float -> mean loss; one optimizer step."""
        return self.opt.minimize(lambda: batch_loss(self.net(x, training=True), y, self.classify))

    def train_epoch(self, xb: np.ndarray, yb: np.ndarray) -> float:
        """xb (steps, B, ...) inputs, yb (steps, B) int labels or (steps, B, out) float targets ->
        mean loss over the steps."""
        with tf.device(self.dev):
            return self._train(self.inputs(xb, 2), self.targets(yb))

    def predict(self, x: np.ndarray) -> np.ndarray:
        """x (N, ...) -> outputs (N, ...): logits, predictions or reconstructions."""
        with tf.device(self.dev):
            return self._forward(self.inputs(x)).numpy()
