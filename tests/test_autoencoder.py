"""Autoencoder checks beyond the shared set: tied weights and a sigmoid output against the numpy
reference on every framework that can express them, scikit-learn's refusals, its one step per
harness batch, and the harness-drawn masking noise."""
from __future__ import annotations

import numpy as np
import pytest

from architectures._shared import Unsupported, reference_steps
from architectures.autoencoder import spec
from conftest import build_adapter, frameworks

FRAMEWORKS = frameworks("autoencoder")  # scikit-learn cannot tie weights: its variants skip, with the reason
VARIANTS = {"tied": {"tied": True}, "tied-sigmoid-out-relu": {"tied": True, "output": "sigmoid", "activation": "relu"}}


def _adapter(fw, case, train):
    return build_adapter("autoencoder", fw, case["model"], case["info"], train)


def _epoch(case):
    return spec.make_epoch(case["x"], case["y"], case["batch_size"], np.arange(len(case["x"])), case["model"],
                           np.random.default_rng(0))


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("fw", FRAMEWORKS)
def test_variant_forward_and_weights(fw, variant):
    case = spec.check_case(**VARIANTS[variant])
    ad, w0 = _adapter(fw, case, case["trains"][0])
    assert set(ad.get_weights()) == set(w0)
    if case["model"].tied:
        assert not any(k.startswith("dec") and k.endswith(".kernel") for k in w0)
    ref = spec.forward(w0, case["x"], case["model"])
    np.testing.assert_allclose(ad.predict(case["x"]), ref, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("fw", FRAMEWORKS)
def test_variant_epoch_matches_reference(fw, variant):
    case = spec.check_case(**VARIANTS[variant])
    xb, yb = _epoch(case)
    for train in case["trains"]:
        ad, w0 = _adapter(fw, case, train)
        loss = ad.train_epoch(xb, yb)
        assert isinstance(loss, float) and np.isfinite(loss)
        ref_w = reference_steps(lambda w, x, y: spec.loss(w, x, y, case["model"]), w0, xb, yb, train)
        got = ad.get_weights()
        for k in w0:
            np.testing.assert_allclose(got[k], ref_w[k], rtol=1e-4, atol=2e-5,
                                       err_msg=f"{k} after {len(xb)} {train.optimizer} steps")


@pytest.mark.parametrize("overrides", [{"tied": True}, {"output": "sigmoid"}], ids=["tied", "sigmoid-out"])
def test_sklearn_refuses_what_mlpregressor_cannot_express(overrides):
    pytest.importorskip("sklearn")
    from architectures.autoencoder import fw_sklearn

    case = spec.check_case(**overrides)
    with pytest.raises(Unsupported, match="MLPRegressor"):
        fw_sklearn.Adapter(case["model"], case["info"], case["trains"][0])


def test_sklearn_takes_one_step_per_harness_batch():
    case = spec.check_case()
    xb, yb = _epoch(case)
    adam = case["trains"][1]
    ad, _ = _adapter("sklearn", case, adam)
    ad.train_epoch(xb, yb)
    assert ad.reg._optimizer.t == len(xb)
    ad.train_epoch(xb, yb)
    assert ad.reg._optimizer.t == 2 * len(xb)


def test_make_epoch_masking_noise():
    case = spec.check_case(noise=0.5)
    x = np.random.default_rng(1).random((200, 6)).astype(np.float32) + 0.1  # no true zeros
    perm = np.random.default_rng(2).permutation(200)
    xb, yb = spec.make_epoch(x, np.zeros(200), 10, perm, case["model"], np.random.default_rng(0))
    assert xb.shape == yb.shape == (20, 10, 6) and xb.dtype == yb.dtype == np.float32
    np.testing.assert_array_equal(yb, x[perm].reshape(20, 10, 6))  # targets: the clean ordered batches
    masked = xb == 0
    np.testing.assert_array_equal(xb[~masked], yb[~masked])  # inputs: clean pixels or zeros
    assert 0.4 < masked.mean() < 0.6
    again, _ = spec.make_epoch(x, np.zeros(200), 10, perm, case["model"], np.random.default_rng(0))
    np.testing.assert_array_equal(xb, again)  # the harness's rng decides the noise
    clean_in, clean_out = spec.make_epoch(x, np.zeros(200), 10, perm, spec.check_case(noise=0.0)["model"], None)
    np.testing.assert_array_equal(clean_in, clean_out)
