"""Hopfield network beyond the shared check set: storage, recall and evaluate on every framework.

Hebbian weights on +-1 patterns are multiples of 1/N (exact in float32), so every local field is
exact and recall must match the numpy reference bit for bit, sync and async alike.
"""
from __future__ import annotations

import numpy as np
import pytest

from architectures.hopfield import spec
from conftest import build_adapter, frameworks
from harness.config import TrainConfig
from harness.datasets import DataInfo

FRAMEWORKS = frameworks("hopfield")
N = 64


def _patterns(p: int, n: int = N, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).choice(np.array([-1.0, 1.0], np.float32), size=(p, n))


def _adapter(fw: str, model: spec.Model, n: int = N, name: str = "check"):
    info = DataInfo(name=name, input_shape=(n,), task="patterns")
    return build_adapter("hopfield", fw, model, info, TrainConfig(epochs=1))[0]


def _stored(fw: str, model: spec.Model, pats: np.ndarray, name: str = "check"):
    ad = _adapter(fw, model, pats.shape[1], name)
    idx = np.arange(len(pats))
    xb, yb = spec.make_epoch(pats, idx, 2, idx, model, np.random.default_rng(0))
    ad.train_epoch(xb, yb)
    return ad


class RefAdapter:
    """The numpy reference behind the adapter methods ``evaluate`` uses."""

    def __init__(self, model: spec.Model, info: DataInfo):
        self.model, self.info = model, info

    def build(self, weights):
        self.w = {k: np.array(v, np.float64) for k, v in weights.items()}

    def get_weights(self):
        return {k: v.astype(np.float32) for k, v in self.w.items()}

    def store(self, patterns):
        self.w = {"W": spec.store(patterns, self.model.rule), "b": np.zeros(patterns.shape[1])}

    def recall(self, x, steps, mode, order=None):
        return spec.recall(self.w, x, steps, mode, order)


@pytest.mark.parametrize("rule", ["hebbian", "storkey"])
@pytest.mark.parametrize("fw", FRAMEWORKS)
def test_low_load_patterns_are_fixed_points(fw, rule):
    pats = _patterns(3)  # load 0.05
    model = spec.Model(rule=rule)
    ad = _stored(fw, model, pats)
    np.testing.assert_array_equal(ad.predict(pats), pats)
    order = spec.sweep_order(5, N)
    for mode in ("sync", "async"):
        np.testing.assert_array_equal(ad.recall(pats, 5, mode, order), pats, err_msg=mode)


def test_storkey_stores_more_than_hebbian():
    """At load 0.2 (13 patterns in 64 units) Hebbian loses patterns; Storkey keeps nearly all."""
    fixed = {}
    for rule in ("hebbian", "storkey"):
        hits = []
        for seed in range(5):
            pats = _patterns(13, seed=seed)
            w = {"W": spec.store(pats, rule), "b": np.zeros(N)}
            hits.append((spec.forward(w, pats, spec.Model()) == pats).all(axis=1).mean())
        fixed[rule] = float(np.mean(hits))
    assert fixed["storkey"] > 0.95 and fixed["storkey"] > fixed["hebbian"] + 0.2, fixed


@pytest.mark.parametrize("fw", FRAMEWORKS)
def test_recall_matches_reference(fw):
    pats = _patterns(10, seed=1)  # load ~0.16: plenty of flips and spurious states to follow
    model = spec.Model(rule="hebbian")
    ad = _stored(fw, model, pats)
    w = {"W": spec.store(pats, "hebbian"), "b": np.zeros(N)}
    np.testing.assert_array_equal(ad.get_weights()["W"], w["W"].astype(np.float32))
    probes = spec.corrupt(np.repeat(pats.astype(np.float64), 3, axis=0), 0.25, 0)
    order = spec.sweep_order(6, N)
    np.testing.assert_array_equal(ad.predict(probes), spec.forward(w, probes, model))
    for mode in ("sync", "async"):
        got = ad.recall(probes.astype(np.float32), 6, mode, order)
        np.testing.assert_array_equal(got, spec.recall(w, probes, 6, mode, order), err_msg=mode)


@pytest.mark.parametrize("fw", FRAMEWORKS)
def test_storkey_storage_matches_reference(fw):
    pats = _patterns(9, n=32, seed=2)
    ad = _stored(fw, spec.Model(rule="storkey"), pats)
    np.testing.assert_allclose(ad.get_weights()["W"], spec.store(pats, "storkey"), rtol=1e-5, atol=1e-6)
    ad.store(pats[:4])  # store() starts from an empty memory
    np.testing.assert_allclose(ad.get_weights()["W"], spec.store(pats[:4], "storkey"), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("fw", FRAMEWORKS)
def test_evaluate_matches_reference_and_restores_weights(fw):
    pats = _patterns(8, seed=3)
    model = spec.Model(rule="hebbian", max_steps=5, noise_levels=[0.0, 0.3])
    ad = _stored(fw, model, pats, name="random_patterns")
    before = ad.get_weights()
    ref = RefAdapter(model, ad.info)
    ref.build(before)
    got = spec.evaluate(ad, pats, np.arange(8), model)
    assert got == spec.evaluate(ref, pats, np.arange(8), model)
    assert {"bit_accuracy", "pattern_recall", "pattern_recall@0.3", "pattern_recall@load0.14"} <= set(got)
    for k, v in ad.get_weights().items():
        np.testing.assert_array_equal(v, before[k], err_msg=k)


def test_binary_inputs_map_to_pm1():
    """{0, 1} digits and their +-1 form store and recall identically."""
    pats = _patterns(4, seed=4)
    bits = (pats > 0).astype(np.float32)
    np.testing.assert_array_equal(spec.store(bits, "storkey"), spec.store(pats, "storkey"))
    w = {"W": spec.store(pats, "hebbian"), "b": np.zeros(N)}
    np.testing.assert_array_equal(spec.forward(w, bits, spec.Model()), pats)


def test_validate_requires_one_epoch():
    info = DataInfo(name="random_patterns", input_shape=(N,), task="patterns")
    assert spec.validate(spec.Model(), info, TrainConfig(epochs=1)) is None
    assert spec.validate(spec.Model(), info, TrainConfig(epochs=2)).startswith("train.epochs")
