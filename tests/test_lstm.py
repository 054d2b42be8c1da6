"""LSTM variants beyond the shared check case, on every implemented framework.

The shared check set (test_adapters.py) covers the one-layer bidirectional mean-readout classifier in
every mode, and test_options.py each other readout and direction on it; here the two shapes neither
reaches: a two-layer unidirectional ``last``-readout classifier (step mode: the stack, the second
layer's input differentiated) and the regression (adding) shape (in each framework's fused-epoch mode,
its first mode where it has none), each against the numpy reference forward and one reference epoch
(finite differences).
"""
from __future__ import annotations

import numpy as np
import pytest

from architectures import _shared
from architectures.lstm import spec
from conftest import build_adapter, epoch_mode, frameworks
from harness import registry
from harness.batching import epoch_batches
from harness.config import TrainConfig
from harness.datasets import DataInfo
from harness.optim import OptState, apply_update

FWS = frameworks("lstm")

CLS = DataInfo(name="cls", input_shape=(10,), task="classification", n_classes=3, sequence_shape=(5, 2))
REG = DataInfo(name="adding", input_shape=(10,), task="regression", n_outputs=1, sequence_shape=(5, 2))
VARIANTS = {
    "uni-last": (spec.Model(hidden=3, layers=2, readout="last", forget_bias_init=0.5), CLS,
                 TrainConfig(optimizer="adam", lr=0.01)),
    "reg-bi-mean": (spec.Model(hidden=2, bidirectional=True, readout="mean"), REG,
                    TrainConfig(optimizer="sgd", lr=0.1, momentum=0.5)),
}


def _data(info: DataInfo) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(8, *info.input_shape)).astype(np.float32)
    if info.task == "regression":
        return x, rng.normal(size=(8, info.n_outputs)).astype(np.float32)
    return x, rng.integers(0, info.n_classes, 8)


def _reference_epoch(w0, xb, yb, model, train):
    """Finite-difference gradients + the reference optimizer; also the mean of the per-step losses."""
    w, state, losses = {k: v.astype(np.float64) for k, v in w0.items()}, OptState(), []
    for xx, yy in zip(xb, yb):
        losses.append(spec.loss(w, xx, yy, model))
        grads = _shared.fd_gradient(lambda ww: spec.loss(ww, xx, yy, model), w)
        w, state = apply_update(w, grads, train, state)
    return w, float(np.mean(losses))


def _check(variant: str, fw: str, mode: str) -> None:
    model, info, train = VARIANTS[variant]
    x, y = _data(info)
    mode = registry.modes("lstm", fw).resolve(mode)  # torch runs "step" as "eager"
    if mode not in registry.modes("lstm", fw).modes:
        pytest.skip(f"{fw} has no {mode} mode")
    ad, w0 = build_adapter("lstm", fw, model, info, train, mode)

    out = ad.predict(x)
    np.testing.assert_allclose(out, spec.forward(w0, x, model), rtol=1e-4, atol=1e-5)

    xb, yb = epoch_batches(x, y, 4, np.arange(len(x)))
    loss = ad.train_epoch(xb, yb)
    ref_w, ref_loss = _reference_epoch(w0, xb, yb, model, train)
    assert isinstance(loss, float)
    np.testing.assert_allclose(loss, ref_loss, rtol=1e-4, atol=1e-5)
    got = ad.get_weights()
    for k in w0:
        np.testing.assert_allclose(got[k], ref_w[k], rtol=1e-4, atol=2e-5, err_msg=f"{k} ({variant}, {fw}, {mode})")


@pytest.mark.parametrize("fw", FWS)
def test_two_layer_unidirectional_last_readout_matches_reference(fw):
    _check("uni-last", fw, "step")


@pytest.mark.parametrize("fw", FWS)
def test_regression_in_the_epoch_mode_matches_reference(fw):
    """The regression shape in the framework's fused-epoch mode (its first mode where it has none)."""
    _check("reg-bi-mean", fw, epoch_mode("lstm", fw))
