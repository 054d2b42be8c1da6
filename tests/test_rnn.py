"""RNN variants beyond the shared check case: every installed framework against the numpy reference.

The shared check set (test_adapters.py) covers a one-layer bidirectional GRU with mean readout in every
mode, and test_options.py the simple cell, one direction and the ``last`` readout each on it; here the
shapes neither reaches: a two-layer unidirectional simple RNN with ``last`` readout (step mode: the
stack, the second layer's input differentiated), and the regression (adding) shape in each framework's
fused-epoch mode (its first mode where it has none), each a forward check and one reference epoch, on
tiny models so finite differences stay fast.
"""
from __future__ import annotations

import numpy as np
import pytest

from architectures._shared import reference_steps
from architectures.rnn import spec
from conftest import build_adapter, epoch_mode, frameworks
from harness import registry
from harness.batching import epoch_batches
from harness.config import TrainConfig
from harness.datasets import DataInfo

FRAMEWORKS = frameworks("rnn")

VARIANTS = {
    "simple-uni-last-2layers": dict(cell="simple", hidden=3, layers=2, bidirectional=False, readout="last"),
    "gru-bi-last-adding": dict(cell="gru", hidden=3, layers=1, bidirectional=True, readout="last"),
}


def _case(name: str) -> dict:
    rng = np.random.default_rng(11)
    model = spec.Model(**VARIANTS[name])
    if name.endswith("adding"):  # the adding problem's shape: (T, 2) steps, one float target
        info = DataInfo(name="adding", input_shape=(10,), task="regression", n_outputs=1, sequence_shape=(5, 2))
        x = rng.random((8, 10)).astype(np.float32)
        y = rng.random((8, 1)).astype(np.float32)
    else:
        info = DataInfo(name="check", input_shape=(12,), task="classification", n_classes=3, sequence_shape=(4, 3))
        x = rng.normal(size=(8, 12)).astype(np.float32)
        y = rng.integers(0, 3, 8)
    return {"model": model, "info": info, "x": x, "y": y}


@pytest.mark.parametrize("variant", list(VARIANTS))
@pytest.mark.parametrize("fw", FRAMEWORKS)
def test_rnn_variant_matches_reference(fw, variant):
    case = _case(variant)
    model, info, x, y = case["model"], case["info"], case["x"], case["y"]
    if variant.endswith("adding"):
        train, mode = TrainConfig(optimizer="adam", lr=0.01), epoch_mode("rnn", fw)
    else:
        train, mode = TrainConfig(optimizer="sgd", lr=0.1, momentum=0.9), "step"
    ad, w0 = build_adapter("rnn", fw, model, info, train, mode)
    assert sum(v.size for v in w0.values()) == registry.spec("rnn").params(model, info)

    np.testing.assert_allclose(ad.predict(x), spec.forward(w0, x, model), rtol=1e-4, atol=1e-5)

    xb, yb = epoch_batches(x, y, 4, np.arange(len(x)))
    loss = ad.train_epoch(xb, yb)
    step = lambda w, xx, yy: spec.loss(w, xx, yy, model)  # noqa: E731
    ref = reference_steps(step, w0, xb, yb, train)
    w1 = reference_steps(step, w0, xb[:1], yb[:1], train)  # the weights the second batch saw
    ref_loss = (spec.loss(w0, xb[0], yb[0], model) + spec.loss(w1, xb[1], yb[1], model)) / 2
    assert isinstance(loss, float)
    np.testing.assert_allclose(loss, ref_loss, rtol=1e-4, atol=1e-5)
    got = ad.get_weights()
    assert set(got) == set(w0)
    for k in w0:
        np.testing.assert_allclose(got[k], ref[k], rtol=1e-4, atol=2e-5, err_msg=f"{k} after one epoch")
