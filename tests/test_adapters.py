"""The shared check set, run over every implemented (architecture, framework) pair.

Like scikit-learn's ``parametrize_with_checks``: one set of behavioural checks, every
implementation. The numpy reference in each ``spec.py`` is the hub: each framework is compared
with it, never with another framework.
"""
from __future__ import annotations

import importlib

import numpy as np
import pytest

from harness import registry
from harness.batching import epoch_arrays
from harness.errors import Unsupported

PAIRS = [(i.architecture, i.framework) for i in registry.matrix() if i.status == "implemented"]
IDS = [f"{a}-{f}" for a, f in PAIRS]
# Every mode of every pair trains against the reference: a mode is a different program.
TRIPLES = [(a, f, m) for a, f in PAIRS for m in registry.modes(a, f).modes]
TRIPLE_IDS = [f"{a}-{f}-{m}" for a, f, m in TRIPLES]


def _spec(arch):
    return registry.spec(arch)


def _make(arch, fw, train=None, case=None, mode=None):
    pytest.importorskip(registry.FRAMEWORK_MODULES[fw])
    spec = _spec(arch)
    case = case or spec.check_case()
    from harness.frameworks import helper

    helper(fw).setup(2, 0)
    mod = importlib.import_module(f"architectures.{arch}.fw_{fw}")
    train = train or case["trains"][0]
    weights = spec.init_weights(case["model"], case["info"], np.random.default_rng(0))
    try:
        mode = mode or registry.modes(arch, fw).modes[0]
        ad = mod.Adapter(case["model"], case["info"], train, mode=mode, device="cpu", seed=0)
        ad.build({k: v.copy() for k, v in weights.items()})
    except Unsupported as e:  # the check case asks for something this framework cannot express
        pytest.skip(f"unsupported: {e}")
    return spec, case, ad, weights


def _batches(spec, case):
    """One epoch in the identity order, built the way the worker builds it."""
    perm = np.arange(len(case["x"]))
    return epoch_arrays(spec, case["x"], case["y"], case["batch_size"], perm, case["model"], np.random.default_rng(0))


def _check_roundtrip_and_forward(spec, case, ad, w0) -> None:
    """Weights round-trip exactly in the canonical layout; forward equals the numpy reference."""
    got = ad.get_weights()
    assert set(got) == set(w0), "canonical weight names"
    for k in w0:
        assert isinstance(got[k], np.ndarray) and got[k].dtype == np.float32, k
        assert got[k].shape == w0[k].shape, k
        np.testing.assert_array_equal(got[k], w0[k], err_msg=k)
    assert sum(v.size for v in got.values()) == spec.params(case["model"], case["info"])
    out = ad.predict(case["x"])
    ref = spec.forward(w0, case["x"], case["model"])
    assert isinstance(out, np.ndarray)
    assert out.shape == ref.shape
    np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-5)


def _reference(spec, case, w0, xb, yb, train):
    if spec.reference_epoch is not None:
        return spec.reference_epoch(w0, xb, yb, case["model"], train)
    from architectures._shared import reference_steps

    return reference_steps(lambda w, x, y: spec.loss(w, x, y, case["model"]), w0, xb, yb, train), None


def _trains(arch, fw, mode, trains):
    """The case's optimizers this mode trains with: each one in some mode of the pair (optimizers are
    shared code within a framework; every mode is a different program). One mode: all of them; several:
    the first optimizer in the first mode, the others spread over the rest."""
    modes = registry.modes(arch, fw).modes
    if len(modes) == 1:
        return list(trains)
    i = modes.index(mode)
    if i == 0:
        return list(trains[:1])
    rest = list(trains[1:]) or list(trains[:1])
    return [t for j, t in enumerate(rest) if j % (len(modes) - 1) == i - 1] or rest[-1:]


@pytest.mark.parametrize("arch,fw,mode", TRIPLES, ids=TRIPLE_IDS)
def test_roundtrip_forward_train_epoch_and_determinism(arch, fw, mode):
    """In every mode, on one build: the weights round-trip in the canonical layout and forward equals
    the numpy reference; one epoch equals the numpy reference epoch (each optimizer of the case in some
    mode, see ``_trains``). In the first mode, a second adapter built from the same weights and fed the
    same batches ends bit-for-bit (or float-noise) identical: determinism for a seed, once per pair."""
    spec = _spec(arch)
    case = spec.check_case()
    xb, yb = _batches(spec, case)
    first = mode == registry.modes(arch, fw).modes[0]
    for i, train in enumerate(_trains(arch, fw, mode, case["trains"])):
        _, _, ad, w0 = _make(arch, fw, train=train, case=case, mode=mode)
        if i == 0:
            _check_roundtrip_and_forward(spec, case, ad, w0)
        loss = ad.train_epoch(xb, yb)
        assert isinstance(loss, float) and np.isfinite(loss)
        ref_w, ref_loss = _reference(spec, case, w0, xb, yb, train)
        got = ad.get_weights()
        for k in w0:
            np.testing.assert_allclose(got[k], ref_w[k], rtol=1e-4, atol=2e-5,
                                       err_msg=f"{k} after {len(xb)} {train.optimizer} steps")
        if ref_loss is not None:
            np.testing.assert_allclose(loss, ref_loss, rtol=1e-4, atol=1e-5)
        if i == 0 and first:  # determinism for a seed, once per pair
            _, _, ad2, _ = _make(arch, fw, train=train, case=case, mode=mode)
            loss2 = ad2.train_epoch(xb, yb)
            assert loss2 == pytest.approx(loss, rel=1e-6)
            got2 = ad2.get_weights()
            for k in got:
                np.testing.assert_allclose(got2[k], got[k], rtol=1e-6, atol=1e-7, err_msg=k)
            np.testing.assert_allclose(ad2.predict(case["x"]), ad.predict(case["x"]), rtol=1e-6, atol=1e-7)


def test_every_optimizer_of_a_case_trains_in_some_mode():
    for arch, fw in PAIRS:
        trains = _spec(arch).check_case()["trains"]
        seen = [t for m in registry.modes(arch, fw).modes for t in _trains(arch, fw, m, trains)]
        assert all(any(t is s for s in seen) for t in trains), (arch, fw)


@pytest.mark.parametrize("arch,fw", PAIRS, ids=IDS)
def test_declares_modes(arch, fw):
    """The modes the registry reads from the file (no import) are the class's own, all known names."""
    pytest.importorskip(registry.FRAMEWORK_MODULES[fw])
    mod = importlib.import_module(f"architectures.{arch}.fw_{fw}")
    table = registry.modes(arch, fw)
    assert tuple(mod.Adapter.MODES) == table.modes and set(table.modes) <= set(registry.MODE_NAMES)
    assert dict(getattr(mod.Adapter, "ALIASES", {})) == table.aliases
    for asked, runs in table.aliases.items():
        assert asked not in table.modes and runs in table.modes
