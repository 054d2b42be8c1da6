"""CNN-specific checks beyond the shared set (whose check case is 2-D, square, stride 1, one block).

Every installed framework meets the numpy reference on the 1-D path (strides, pools that drop a
remainder, tanh, and padding in the second block, where its input is differentiated), forward and one
training epoch (step mode: the shared set trains every mode on the 2-D case, on the same model code),
and on a non-square image; and the spec's geometry helpers and validate() directly.
"""
from __future__ import annotations

import numpy as np
import pytest

from architectures._shared import reference_steps
from architectures.cnn import spec
from conftest import build_adapter, frameworks
from harness.batching import epoch_batches
from harness.config import TrainConfig
from harness.datasets import DataInfo

FWS = frameworks("cnn")
MODEL_1D = spec.Model(conv=[spec.ConvLayer(channels=3, kernel=3, stride=2, padding=1, pool=2),
                            spec.ConvLayer(channels=2, kernel=2, padding=1)], dense=[4], activation="tanh")
INFO_1D = DataInfo(name="check1d", input_shape=(13,), task="classification", n_classes=3, sequence_shape=(13, 1))
MODEL_2D = spec.Model(conv=[spec.ConvLayer(channels=2, kernel=3, padding=1, pool=2),
                            spec.ConvLayer(channels=3, kernel=2, stride=2)], dense=[])
INFO_2D = DataInfo(name="check2d", input_shape=(35,), task="classification", n_classes=3, image_shape=(5, 7))


def _make(fw, model, info, train=None, mode="step"):
    train = train or TrainConfig(optimizer="sgd", lr=0.1, momentum=0.9)
    return build_adapter("cnn", fw, model, info, train, mode, seed=1)


def _x(info, n=6):
    return np.random.default_rng(3).normal(size=(n, *info.input_shape)).astype(np.float32)


@pytest.mark.parametrize("fw", FWS)
def test_forward_non_square_image_matches_reference(fw):
    ad, w = _make(fw, MODEL_2D, INFO_2D)
    x = _x(INFO_2D)
    ref = spec.forward(w, x.reshape(len(x), *INFO_2D.image_shape), MODEL_2D)  # the reference reads flat as square
    np.testing.assert_allclose(ad.predict(x), ref, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("fw", FWS)
def test_1d_forward_and_train_epoch_match_reference(fw):
    train = TrainConfig(optimizer="adam", lr=0.01)
    ad, w = _make(fw, MODEL_1D, INFO_1D, train)
    x6 = _x(INFO_1D)
    np.testing.assert_allclose(ad.predict(x6), spec.forward(w, x6, MODEL_1D), rtol=1e-4, atol=1e-5)
    x, y = _x(INFO_1D, 8), np.random.default_rng(4).integers(0, 3, 8)
    xb, yb = epoch_batches(x, y, 4, np.arange(8))
    ad.train_epoch(xb, yb)
    ref = reference_steps(lambda ww, xx, yy: spec.loss(ww, xx, yy, MODEL_1D), w, xb, yb, train)
    got = ad.get_weights()
    for k in w:
        np.testing.assert_allclose(got[k], ref[k], rtol=1e-4, atol=2e-5, err_msg=k)


def test_geometry_and_validate():
    assert spec.block_shapes(MODEL_1D, INFO_1D) == [((7,), (3,)), ((4,), (4,))]
    assert spec.flat_size(MODEL_2D, INFO_2D) == 3  # (5, 7) -> pool (2, 3) -> stride-2 k2 (1, 1) x 3
    assert spec.validate(MODEL_1D, INFO_1D, None) is None
    big = spec.Model(conv=[spec.ConvLayer(channels=2, kernel=16)])
    assert spec.validate(big, INFO_1D, None).startswith("model.conv[0].kernel:")
    pooled = spec.Model(conv=[spec.ConvLayer(channels=2, kernel=3, pool=4), spec.ConvLayer(channels=2, kernel=1, pool=4)])
    assert spec.validate(pooled, INFO_1D, None).startswith("model.conv[1].pool:")
