"""FLOP counting shared by the gradient-trained specs (mlp, cnn, rnn, lstm, autoencoder, the DBN's
classifier): per-example counts of the work the frameworks actually do, plain integer arithmetic.

The convention (``BACKPROP``, shown in the report) is checked against XLA's own cost analysis of the
jax implementations in tests/test_flops.py. Its one structural point: no framework differentiates
the data, so the first layer's backward pass is its weight gradient only (torch: the input does
not require grad; TF: the tape watches variables; jax/autograd/PyTensor: gradients with respect to
the parameters; scikit-learn's backprop loop stops at the first hidden layer's delta). Training is
therefore about 2x forward for a one-hidden-layer MLP, approaching 3x as depth grows.
"""
from __future__ import annotations

BACKPROP = (
    "per example; multiply-add = 2 FLOPs (dense GEMMs, and convolutions over all k^d taps, zero padding "
    "included); 1 FLOP per element for every elementwise op (bias add, activation, gate sum and product, "
    "pool comparison). train = forward + the loss and its gradient (3 per output) + backward, the backward being each GEMM's "
    "or convolution's weight gradient (1x its forward) and input gradient (1x), except that the first "
    "layer's input gradient is not computed (no framework differentiates the data), plus 2 FLOPs per "
    "forward elementwise FLOP; recurrent layers count every step both ways (backprop through time). "
    "The optimizer update (per step, not per example) is left out. Checked against XLA's cost analysis "
    "of the jax gradient (tests/test_flops.py).")

LOSS_PER_OUTPUT = 3  # softmax cross-entropy or squared error: ~3 elementwise ops per output
ELEMENTWISE_BACKWARD = 2  # backward FLOPs per forward elementwise FLOP (derivative, then the product)


def layer(gemm: int, elementwise: int, input_grad: bool = True) -> tuple[int, int]:
    """(forward, backward) FLOPs of one layer: ``gemm`` FLOPs of multiply-adds (2 per multiply-add)
    and ``elementwise`` FLOPs of per-element work. The backward computes the weight gradient (one
    more ``gemm``), the input gradient (another, unless ``input_grad`` is False: the first layer)
    and ``ELEMENTWISE_BACKWARD`` per elementwise FLOP (bias gradient sums, activation derivatives)."""
    backward = gemm * (2 if input_grad else 1) + ELEMENTWISE_BACKWARD * elementwise
    return gemm + elementwise, backward


def dense(fan_in: int, fan_out: int, activation: bool = True, input_grad: bool = True) -> tuple[int, int]:
    """(forward, backward) FLOPs of act(x @ W + b) for one example, W (fan_in, fan_out): the bias
    add and (when ``activation``) the activation are one FLOP per output each."""
    return layer(2 * fan_in * fan_out, fan_out * (2 if activation else 1), input_grad)


def counts(layers: list[tuple[int, int]], n_out: int) -> dict[str, int]:
    """{"forward", "train"} from the layers' (forward, backward) pairs and the loss over ``n_out``
    outputs (the loss is part of training, not of the inference forward)."""
    fwd = sum(f for f, _ in layers)
    bwd = sum(b for _, b in layers)
    return {"forward": int(fwd), "train": int(fwd + LOSS_PER_OUTPUT * n_out + bwd)}


def recurrent(steps: int, fan_in: int, hidden: int, gates: int, elementwise: int,
              input_grad: bool = True) -> tuple[int, int]:
    """(forward, backward) FLOPs of one direction of one recurrent layer over ``steps`` steps: per
    step the input GEMM 2 * fan_in * gates*hidden (its input gradient only when ``input_grad``), the
    recurrent GEMM 2 * hidden * gates*hidden (whose input gradient carries the state's gradient back
    a step) and ``elementwise`` FLOPs of cell arithmetic."""
    x_fwd, x_bwd = layer(2 * fan_in * gates * hidden, elementwise, input_grad)
    h_fwd, h_bwd = layer(2 * hidden * gates * hidden, 0)
    return steps * (x_fwd + h_fwd), steps * (x_bwd + h_bwd)
