"""CNN in autograd: convolution as im2col (strided slices, one concatenate, one dot) and max-pool as
reshape + one-hot selection, all in autograd.numpy; autograd.value_and_grad; the numpy optimizers of
harness/frameworks/autograd.py.

autograd has no convolution or pooling primitives; slicing, concatenate, reshape and dot all have
vector-Jacobian products, so the gradient is autograd's own.
"""
from __future__ import annotations

import itertools

import autograd.numpy as anp
import numpy as np
from autograd.tracer import getval

from architectures.cnn import spec
from architectures.mlp.fw_autograd import forward as dense_stack
from harness.frameworks.autograd import GradientAdapter, relu

ACT = {"relu": relu, "tanh": anp.tanh}  # relu: relu'(0) = 0 like the other frameworks


def conv(h, kernel, bias, stride: int, padding: int):
    """h (N, *S, cin), kernel (*K, cin, cout) -> (N, *S', cout) by im2col.

    The patch matrix (N, *S', prod(K) * cin) is built from one strided slice per kernel offset,
    in row-major offset order then channel: exactly ``kernel.reshape(-1, cout)``'s row order."""
    d = kernel.ndim - 2
    if padding:
        # mode passed positionally: autograd's pad vjp takes it as a required argument
        h = anp.pad(h, [(0, 0)] + [(padding, padding)] * d + [(0, 0)], "constant")
    out = [(n - k) // stride + 1 for n, k in zip(h.shape[1:-1], kernel.shape[:d])]
    cols = [h[(slice(None),) + tuple(slice(o, o + stride * (n - 1) + 1, stride) for o, n in zip(off, out))]
            for off in itertools.product(*(range(k) for k in kernel.shape[:d]))]
    patches = anp.concatenate(cols, axis=-1)
    # one 2-D product, then back to (N, *S', cout): numpy's dot of an N-D array does not take the one
    # GEMM path (the realistic CNN's second conv, 32x24x24x288 by 288x64: 236 ms against 15 ms)
    flat = anp.dot(anp.reshape(patches, (-1, patches.shape[-1])), anp.reshape(kernel, (-1, kernel.shape[-1])))
    return anp.reshape(flat, (*patches.shape[:-1], kernel.shape[-1])) + bias


def max_pool(h, p: int):
    """(N, *S, C) -> (N, *(S // p), C), window = stride = p, flooring. The max is picked by a
    one-hot of the window's first argmax, so at ties the gradient goes to that element only (like
    PyTorch/XLA), not split among the tied ones as autograd's own max would."""
    d, c = h.ndim - 2, h.shape[-1]
    out = [n // p for n in h.shape[1:-1]]
    h = h[(slice(None),) + tuple(slice(0, o * p) for o in out)]
    h = anp.reshape(h, (h.shape[0], *[v for o in out for v in (o, p)], c))
    order = (0, *range(1, 2 * d, 2), 2 * d + 1, *range(2, 2 * d + 1, 2))  # (N, *out, C, *window)
    win = anp.reshape(anp.transpose(h, order), (h.shape[0], *out, c, p ** d))
    first = np.argmax(getval(win), axis=-1)  # the choice itself carries no gradient
    return anp.sum(win * (np.arange(p ** d) == first[..., None]), axis=-1)


def forward(params: dict, x, model, spatial: tuple[int, ...]):
    """x (N, prod(spatial)) -> logits (N, classes); params holds the canonical names and layout."""
    act = ACT[model.activation]
    h = anp.reshape(x, (x.shape[0], *spatial, 1))
    for i, c in enumerate(model.conv):
        h = act(conv(h, params[f"conv{i}.kernel"], params[f"conv{i}.bias"], c.stride, c.padding))
        if c.pool > 1:
            h = max_pool(h, c.pool)
    h = anp.reshape(h, (h.shape[0], -1))  # channels-last flatten: the canonical order
    return dense_stack(params, h, len(model.dense) + 1, act)  # the head is the MLP's, same names


class Adapter(GradientAdapter):
    """Canonical ``conv{i}.*``, ``dense{j}.*`` (see the spec); x (N, *input_shape) -> logits."""

    MODES = ("step",)  # numpy executes op by op: a per-step Python loop is the only way
    LOSS = "xent"

    def make_forward(self):
        model, spatial = self.model, spec.spatial_shape(self.info)
        return lambda params, x: forward(params, x, model, spatial)
