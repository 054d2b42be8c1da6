"""PyTorch helper: the worker's surface (version, devices, seeding, sync, memory, threads) and what
the architectures' torch adapters share (optimizer, the train step in each execution mode, epoch
loops, numpy <-> tensor conversions).

Torch execution modes: ``eager`` (op by op from Python, PyTorch's default; the adapters map a request
for ``step`` to it) and ``compiled`` (the same train step wrapped once by ``torch.compile``, still
driven from Python one batch at a time); see ``make_step``."""
from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

import numpy as np
import torch
from torch import nn

from harness import gpu
from harness.errors import Unsupported
from harness.frameworks import _common


def version() -> str:
    return torch.__version__


def setup(threads: int, seed: int) -> dict:
    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(threads)
    except RuntimeError:  # may only be set once, before any parallel work
        pass
    torch.manual_seed(seed)
    _common.seed_python(seed)
    # Full float32 on GPUs too (no TF32), like every other framework: same math, fair comparison.
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.benchmark = gpu.CUDNN_BENCHMARK  # why: harness/gpu.py (recorded in cuda records)
    return {"intra_op": torch.get_num_threads(), "inter_op": torch.get_num_interop_threads(),
            "blas": _common.blas_threads()}


def device_available(device: str) -> str | None:
    if device == "cpu":
        return None
    if not torch.cuda.is_available():
        return f"torch {torch.__version__} sees no CUDA device (build cuda={torch.version.cuda})"
    return None


def torch_device(device: str) -> torch.device:
    return torch.device("cuda" if device == "cuda" else "cpu")


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def reset_gpu_peak() -> None:
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()


def gpu_peak_mb() -> float | None:
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        return torch.cuda.max_memory_allocated() / 2**20
    return None


def gpu_info(device: str) -> dict | None:
    """The GPU a cuda job ran on, as torch sees it (None on the CPU): model, driver, CUDA, cuDNN."""
    if device != "cuda" or not torch.cuda.is_available():
        return None
    return {"name": torch.cuda.get_device_name(0), "driver": gpu.driver_version(), "cuda": torch.version.cuda,
            "cudnn": torch.backends.cudnn.version(), "capability": ".".join(map(str, torch.cuda.get_device_capability(0))),
            "cudnn_benchmark": torch.backends.cudnn.benchmark, "cudnn_benchmark_why": gpu.CUDNN_BENCHMARK_WHY}


def h2d(arrays: list[np.ndarray], device: str) -> float:
    """Seconds to copy ``arrays`` (an epoch's batches, any shapes) from host to ``device`` and wait."""
    from harness import measure

    dev = torch_device(device)
    sync(device)
    t = measure.now()
    out = [torch.from_numpy(np.ascontiguousarray(a)).to(dev) for a in arrays]
    sync(device)
    dt = measure.now() - t
    del out
    return dt


# --- shared by architectures/*/fw_torch.py -------------------------------------------------------


class AdapterBase(_common.AdapterCore):
    """The torch ``Adapter``'s common part: ``AdapterCore``'s job settings plus the torch.device
    ``dev`` its tensors live on, input placement and ``sync()``."""

    def __init__(self, model, info, train, **kw):
        super().__init__(model, info, train, **kw)
        self.dev = torch_device(self.device)

    def inputs(self, x: np.ndarray, lead: int = 1) -> torch.Tensor:
        """``host_inputs`` (flat rows or sequences, float32) as a tensor on the device."""
        return as_tensor(self.host_inputs(x, lead), self.dev)

    def targets(self, y: np.ndarray) -> torch.Tensor:
        """Labels as int64 (``classify``) or targets as float32, shape kept, on the device."""
        return as_tensor(y, self.dev, np.int64 if self.classify else np.float32)

    def sync(self) -> None:
        sync(self.device)


def make_optimizer(train, params) -> torch.optim.Optimizer:
    """torch.optim.SGD (no nesterov) / Adam: the canonical optimizers (harness/optim.py) are
    PyTorch's definitions. ``params``: tensors, or param-group dicts; a group's ``weight_decay``
    adds wd * w to the gradient (L2, before momentum/Adam)."""
    if train.optimizer == "sgd":
        return torch.optim.SGD(params, lr=train.lr, momentum=train.momentum)
    return torch.optim.Adam(params, lr=train.lr, betas=(train.beta1, train.beta2), eps=train.eps)


def as_tensor(a: np.ndarray, dev: torch.device, dtype=None) -> torch.Tensor:
    """numpy array (any shape) -> tensor of the same shape on ``dev``, as ``dtype`` (a numpy dtype;
    None keeps the array's). On the CPU it may share memory with ``a``: for inputs only, never for
    parameters that are updated in place."""
    return torch.from_numpy(np.ascontiguousarray(a, dtype)).to(dev)


def to_numpy(t: torch.Tensor) -> np.ndarray:
    """Tensor (any shape, any device, in a graph or not) -> C-contiguous float32 numpy copy."""
    return t.detach().cpu().numpy().astype(np.float32, order="C")


def set_params(layer: nn.Module, weight: np.ndarray, bias: np.ndarray) -> nn.Module:
    """Copy ``weight`` and ``bias``, already in torch's layout (e.g. (out, in) for nn.Linear), into
    ``layer.weight`` / ``layer.bias``; returns the layer."""
    with torch.no_grad():
        layer.weight.copy_(torch.from_numpy(np.ascontiguousarray(weight)))
        layer.bias.copy_(torch.from_numpy(np.ascontiguousarray(bias)))
    return layer


def linear(kernel: np.ndarray, bias: np.ndarray) -> nn.Linear:
    """nn.Linear from a canonical kernel (in, out) and bias (out,) (torch stores the weight (out, in))."""
    return set_params(nn.Linear(*kernel.shape), kernel.T, bias)


def linear_weights(lin: nn.Linear, name: str) -> dict[str, np.ndarray]:
    """``{name}.kernel`` (in, out) and ``{name}.bias`` (out,) of an nn.Linear, canonical float32."""
    return {f"{name}.kernel": to_numpy(lin.weight.T), f"{name}.bias": to_numpy(lin.bias)}


def mean_over_steps(step: Callable[..., torch.Tensor], *batches: torch.Tensor) -> float:
    """Calls ``step(batches[0][i], batches[1][i], ...)`` for each i along the leading (steps) axis (each
    (steps, B, ...)), in order, and returns the mean of the scalar tensors it returns. The sum stays
    on the device: one host fetch per epoch, no per-step sync."""
    total = torch.zeros((), device=batches[0].device)
    for i in range(batches[0].shape[0]):
        total += step(*(b[i] for b in batches))
    return float(total.item() / batches[0].shape[0])


# Execution modes of the per-step loop (``make_step``); ``step`` is an alias of ``eager`` in the adapters.
STEP_MODES = ("eager", "compiled")


def make_step(net: nn.Module, opt: torch.optim.Optimizer, loss_fn: Callable[..., torch.Tensor],
              mode: str = "eager") -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """The train step ``step(x, y) -> loss`` (zero_grad, ``loss_fn(net(x), y)`` (mean over the batch),
    backward, ``opt.step()``, the detached scalar loss), built once per adapter in ``build()``.

    ``eager``: the plain Python function, op by op (PyTorch's default). ``compiled``: the same function
    wrapped by ``torch.compile`` (inductor, default options) here, once: the first call traces and compiles
    it (the first epoch carries that cost), later calls reuse the code (the harness drops the last partial
    batch, so every batch has the same shape). As torch.compile does for any training step, Dynamo
    runs ``zero_grad`` eagerly (it never traces it), compiles forward + loss into one graph whose
    backward is AOT-compiled with it (``backward()`` itself is a graph break) and ``opt.step()`` into
    another (the whole update of all parameters, fused). Raises ``Unsupported`` when torch.compile
    cannot run here."""

    def step(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(net(x), y)
        loss.backward()
        opt.step()
        return loss.detach()

    if mode == "eager":
        return step
    if mode == "compiled":
        return compile_step(step, net)
    raise ValueError(f"torch has no step mode {mode!r} (has: {', '.join(STEP_MODES)})")


def compile_step(step: Callable[..., torch.Tensor], net: nn.Module) -> Callable[..., torch.Tensor]:
    """``torch.compile(step)`` with default options, after checking that torch.compile works on the
    parameters' device (else ``Unsupported``). Every batch has the same shape, so the one graph
    Dynamo builds is specialized to it, as ``dynamic=False`` would make it; but ``dynamic=False``
    itself made the compiled MLP step ~3% slower than a bare ``torch.compile(step)``
    (benchmarks/overhead.py: 1.035 against 1.000 with the default).

    Dynamo's caches are reset first: it keeps compiled code per Python code object (this ``step``,
    the optimizer's methods), shared by every adapter in the process, and once ``recompile_limit``
    entries pile up (dead adapters' included) it silently runs later ones eagerly. A worker builds one
    adapter per process; the check set builds many. nn.RNN/GRU/LSTM modules stay out of the graphs
    (Dynamo's default, ``allow_rnn=False``): they run their fused ATen kernel between the compiled
    pieces. (``allow_rnn=True`` unrolls the recurrence into the graph: on the CPU in torch 2.13 it
    picks the inference-only oneDNN layer while training and fails, and with oneDNN off it compiled
    for ~30 s and was no faster than the fused kernel.)"""
    problem = _compile_problem(next(net.parameters()).device.type)
    if problem:
        raise Unsupported(problem)
    torch.compiler.reset()
    return torch.compile(step)


@lru_cache(maxsize=None)
def _compile_problem(device_type: str) -> str | None:
    """None when torch.compile (inductor) builds and runs a trivial function on ``device_type``, else
    why not (e.g. no C++ compiler on the CPU, no triton on a GPU). Once per process."""

    def probe(a: torch.Tensor) -> torch.Tensor:
        return (a * 2 + 1).sum()

    try:
        out = torch.compile(probe, dynamic=False)(torch.ones(4, device=device_type))
        if float(out) != 12.0:
            return f"torch.compile gives a wrong result on {device_type} ({float(out)} for 12)"
    except Exception as e:  # noqa: BLE001 - any toolchain failure means: this mode cannot run here
        first = (str(e).strip().splitlines() or [""])[0][:200]
        return f"torch.compile does not work on {device_type}: {type(e).__name__}: {first}"
    return None


def fit_epoch(net: nn.Module, step: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
              x: torch.Tensor, y: torch.Tensor) -> float:
    """One ``step(x[i], y[i])`` (from ``make_step``) per batch, in order: x (steps, B, ...) inputs,
    y (steps, B, ...) targets, ``net`` in training mode. Returns the mean loss over the steps."""
    net.train()
    return mean_over_steps(step, x, y)


class GradientAdapter(AdapterBase):
    """An ``nn.Module`` trained on its loss by ``make_step``: a subclass gives the module
    (``make_net``: the parameter layout and forward pass, holding the canonical weights), its loss
    kind (``LOSS``) and ``get_weights``. Parameters with ``requires_grad`` off (a frozen zero bias
    that the canonical layout lacks) are left out of the optimizer. Modes ``eager`` (op by op) and
    ``compiled`` (the step torch.compile'd once at build), as ``make_step``."""

    def make_net(self, weights: dict[str, np.ndarray]) -> nn.Module:
        """The module holding the canonical ``weights`` (float32) as its parameters, on the CPU."""
        raise NotImplementedError

    def build(self, weights: dict[str, np.ndarray]) -> None:
        """weights: the canonical dict (names and shapes of the spec's ``weight_shapes``), float32."""
        self.net = self.make_net(weights).to(self.dev)
        self.opt = make_optimizer(self.train, [p for p in self.net.parameters() if p.requires_grad])
        self.step = make_step(self.net, self.opt, nn.CrossEntropyLoss() if self.classify else nn.MSELoss(), self.mode)

    def train_epoch(self, xb: np.ndarray, yb: np.ndarray) -> float:
        """xb (steps, B, ...) inputs, yb (steps, B) int labels or (steps, B, ...) float targets ->
        mean loss over the steps."""
        return fit_epoch(self.net, self.step, self.inputs(xb, 2), self.targets(yb))

    @torch.no_grad()
    def predict(self, x: np.ndarray) -> np.ndarray:
        """x (N, ...) -> outputs (N, ...): logits, predictions or reconstructions."""
        self.net.eval()
        return self.net(self.inputs(x)).cpu().numpy()
