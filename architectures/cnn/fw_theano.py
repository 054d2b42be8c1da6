"""CNN in Theano, through PyTensor: float32 shared variables and symbolic graphs compiled once.

PyTensor 3 dropped Theano's neural-network conv2d/pool_2d ops (``pytensor.tensor.signal`` only has
scipy-style single-signal convolutions), so the convolution is written as im2col (strided slices,
one join, one dot) and max-pool as reshape + one-hot selection; PyTensor differentiates both.
Sizes are static (known from the spec), so every reshape is concrete.
Modes: ``step`` compiles one train step as a ``pytensor.function`` with ``updates=`` and calls it
per batch (Theano's classic loop); ``epoch`` runs the same step inside a ``pytensor.scan``.
Every constant is a numpy float32: PyTensor turns a Python float into float64 and would upcast.
"""
from __future__ import annotations

import itertools

import numpy as np
import pytensor.tensor as pt

from architectures.cnn import spec
from architectures.mlp.fw_theano import forward as dense_stack
from harness.frameworks.theano import GradientAdapter

F32 = np.float32
# switch, not maximum: relu'(0) = 0 as in the other frameworks
ACT = {"relu": lambda z: pt.switch(z > 0, z, F32(0)), "tanh": pt.tanh}


def conv(h, kernel, bias, layer, size: tuple[int, ...]):
    """h (N, *size, cin), kernel (*K, cin, cout) -> (N, *S', cout) by im2col: one strided slice per
    kernel offset (row-major, then channel) joined on the last axis = ``kernel.reshape(-1, cout)``."""
    d, k, s, p = len(size), layer.kernel, layer.stride, layer.padding
    if p:
        padded = pt.zeros((h.shape[0], *[n + 2 * p for n in size], h.shape[-1]), dtype="float32")
        h = pt.set_subtensor(padded[(slice(None),) + (slice(p, -p),) * d], h)
    out = [spec.conv_size(n, layer) for n in size]
    cols = [h[(slice(None),) + tuple(slice(o, o + s * (n - 1) + 1, s) for o, n in zip(off, out))]
            for off in itertools.product(range(k), repeat=d)]
    patches = pt.concatenate(cols, axis=-1)
    return pt.dot(patches, kernel.reshape((-1, layer.channels))) + bias


def max_pool(h, p: int, size: tuple[int, ...], channels: int):
    """(N, *size, C) -> (N, *(size // p), C), window = stride = p, flooring. The max is picked by a
    one-hot of the window's first argmax, so at ties the gradient goes to that element only (like
    PyTorch/XLA); PyTensor's own max would give it to every tied element."""
    d = len(size)
    out = [n // p for n in size]
    h = h[(slice(None),) + tuple(slice(0, o * p) for o in out)]
    h = h.reshape((h.shape[0], *[v for o in out for v in (o, p)], channels))
    order = (0, *range(1, 2 * d, 2), 2 * d + 1, *range(2, 2 * d + 1, 2))  # (N, *out, C, *window)
    win = h.transpose(order).reshape((h.shape[0], *out, channels, p ** d))
    first = pt.argmax(win, axis=-1)  # integer: no gradient flows through the choice
    onehot = pt.cast(pt.eq(pt.arange(p ** d), first[..., None]), "float32")
    return (win * onehot).sum(axis=-1)


def forward(params: dict, x, model, info):
    """params: canonical name -> symbolic; x (N, prod(input_shape)) -> logits (N, classes)."""
    act, size = ACT[model.activation], spec.spatial_shape(info)
    h = x.reshape((x.shape[0], *size, 1))
    for i, (c, (conv_out, pooled)) in enumerate(zip(model.conv, spec.block_shapes(model, info))):
        h = act(conv(h, params[f"conv{i}.kernel"], params[f"conv{i}.bias"], c, size))
        if c.pool > 1:
            h = max_pool(h, c.pool, conv_out, c.channels)
        size = pooled
    h = h.reshape((h.shape[0], -1))  # channels-last flatten: the canonical order
    return dense_stack(params, h, len(model.dense) + 1, model.activation)  # the head is the MLP's, same names


class Adapter(GradientAdapter):
    """Canonical ``conv{i}.kernel`` (*K, cin, cout), ``conv{i}.bias`` (cout,), ``dense{j}.kernel``
    (in, out), ``dense{j}.bias`` (out,) as shared variables; x (N, *input_shape) -> logits (N, classes)."""

    MODES = ("step", "epoch")  # step: compiled step per batch; epoch: one compiled scan per epoch
    LOSS = "xent"
    LOG_SOFTMAX = "pytensor"

    def forward(self, params: dict, x):
        return forward(params, x, self.model, self.info)
