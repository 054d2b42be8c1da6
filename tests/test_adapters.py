"""The shared check set, run over every implemented (architecture, framework) pair.

Like scikit-learn's ``parametrize_with_checks``: one set of behavioural checks, every
implementation. The numpy reference in each ``spec.py`` is the hub: each framework is compared
with it, never with another framework.
"""
from __future__ import annotations

import importlib

import numpy as np
import pytest

from architectures._shared import Unsupported
from harness import registry
from harness.batching import epoch_batches

PAIRS = [(i.architecture, i.framework) for i in registry.matrix() if i.status == "implemented"]
IDS = [f"{a}-{f}" for a, f in PAIRS]


def _spec(arch):
    return importlib.import_module(f"architectures.{arch}.spec")


def _make(arch, fw, train=None, case=None):
    pytest.importorskip(registry.FRAMEWORK_MODULES[fw])
    spec = _spec(arch)
    case = case or spec.check_case()
    from harness.frameworks import helper

    helper(fw).setup(2, 0)
    mod = importlib.import_module(f"architectures.{arch}.fw_{fw}")
    train = train or case["trains"][0]
    weights = spec.init_weights(case["model"], case["info"], np.random.default_rng(0))
    try:
        ad = mod.Adapter(case["model"], case["info"], train, mode="step", device="cpu", seed=0)
        ad.build({k: v.copy() for k, v in weights.items()})
    except Unsupported as e:  # the check case asks for something this framework cannot express
        pytest.skip(f"unsupported: {e}")
    return spec, case, ad, weights


def _batches(spec, case):
    """One epoch in the identity order, built the way the worker builds it."""
    perm = np.arange(len(case["x"]))
    if hasattr(spec, "make_epoch"):  # specs whose epochs carry harness-drawn noise (sampling models)
        return spec.make_epoch(case["x"], case["y"], case["batch_size"], perm, case["model"], np.random.default_rng(0))
    return epoch_batches(case["x"], case["y"], case["batch_size"], perm)


@pytest.mark.parametrize("arch,fw", PAIRS, ids=IDS)
def test_weight_roundtrip_and_param_count(arch, fw):
    spec, case, ad, w0 = _make(arch, fw)
    got = ad.get_weights()
    assert set(got) == set(w0), "canonical weight names"
    for k in w0:
        assert isinstance(got[k], np.ndarray) and got[k].dtype == np.float32, k
        assert got[k].shape == w0[k].shape, k
        np.testing.assert_array_equal(got[k], w0[k], err_msg=k)
    assert sum(v.size for v in got.values()) == spec.param_count(case["model"], case["info"])


@pytest.mark.parametrize("arch,fw", PAIRS, ids=IDS)
def test_forward_matches_reference(arch, fw):
    spec, case, ad, w0 = _make(arch, fw)
    out = ad.predict(case["x"])
    ref = spec.forward(w0, case["x"], case["model"])
    assert isinstance(out, np.ndarray)
    assert out.shape == ref.shape
    np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("arch,fw", PAIRS, ids=IDS)
def test_train_epoch_matches_reference(arch, fw):
    spec = _spec(arch)
    case = spec.check_case()
    xb, yb = _batches(spec, case)
    for train in case["trains"]:
        _, _, ad, w0 = _make(arch, fw, train=train, case=case)
        loss = ad.train_epoch(xb, yb)
        assert isinstance(loss, float) and np.isfinite(loss)
        if hasattr(spec, "reference_epoch"):
            ref_w, ref_loss = spec.reference_epoch(w0, xb, yb, case["model"], train)
        else:
            from architectures._shared import reference_steps

            ref_w = reference_steps(lambda w, x, y: spec.loss(w, x, y, case["model"]), w0, xb, yb, train)
            ref_loss = None
        got = ad.get_weights()
        for k in w0:
            np.testing.assert_allclose(got[k], ref_w[k], rtol=1e-4, atol=2e-5,
                                       err_msg=f"{k} after {len(xb)} {train.optimizer} steps")
        if ref_loss is not None:
            np.testing.assert_allclose(loss, ref_loss, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("arch,fw", PAIRS, ids=IDS)
def test_deterministic_for_a_seed(arch, fw):
    spec = _spec(arch)
    case = spec.check_case()
    xb, yb = _batches(spec, case)
    runs = []
    for _ in range(2):
        _, _, ad, _ = _make(arch, fw, case=case)
        loss = ad.train_epoch(xb, yb)
        runs.append((loss, ad.get_weights(), ad.predict(case["x"])))
    (l1, w1, p1), (l2, w2, p2) = runs
    assert l1 == pytest.approx(l2, rel=1e-6)
    for k in w1:
        np.testing.assert_allclose(w1[k], w2[k], rtol=1e-6, atol=1e-7, err_msg=k)
    np.testing.assert_allclose(p1, p2, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("arch,fw", PAIRS, ids=IDS)
def test_declares_modes(arch, fw):
    pytest.importorskip(registry.FRAMEWORK_MODULES[fw])
    mod = importlib.import_module(f"architectures.{arch}.fw_{fw}")
    assert mod.Adapter.MODES and set(mod.Adapter.MODES) <= {"step", "epoch", "eager", "compiled"}
