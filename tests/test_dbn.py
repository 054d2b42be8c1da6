"""DBN: every framework against the numpy reference through the whole schedule (each layer's
pretraining, then the classifier), the config validation, and the phase bookkeeping."""
from __future__ import annotations

import numpy as np
import pytest

from architectures.dbn import spec
from conftest import build_adapter, frameworks
from harness import registry
from harness.config import TrainConfig

FRAMEWORKS = frameworks("dbn")

VARIANTS = {  # (model, train); pretrain_epochs=2 carries optimizer and PCD state across epochs
    "pcd1-sgd": (spec.Model(hidden=[5, 4], cd_k=1, persistent=True, pretrain_epochs=2),
                 TrainConfig(optimizer="sgd", lr=0.1)),
    "cd1-sgd": (spec.Model(hidden=[5, 4], cd_k=1, pretrain_epochs=2), TrainConfig(optimizer="sgd", lr=0.2)),
    "cd2-momentum-decay": (spec.Model(hidden=[5, 4], cd_k=2, weight_decay=0.01, pretrain_epochs=2),
                           TrainConfig(optimizer="sgd", lr=0.1, momentum=0.9)),
    "pcd2-adam": (spec.Model(hidden=[5, 4], cd_k=2, persistent=True, pretrain_epochs=2),
                  TrainConfig(optimizer="adam", lr=0.01)),
}


# the other execution modes each framework has (the variants above run its step loop)
OTHER_MODES = [(fw, m) for fw in FRAMEWORKS for m in registry.modes("dbn", fw).modes
               if m != registry.modes("dbn", fw).resolve("step")]


def _adapter(fw, model, info, train, weights, mode="step"):
    return build_adapter("dbn", fw, model, info, train, mode, weights)[0]


def _epoch(case, model, epoch):
    perm = np.random.default_rng(epoch).permutation(len(case["x"]))
    return spec.make_epoch(case["x"], case["y"], case["batch_size"], perm, model, np.random.default_rng(100 + epoch))


def _assert_close(ad, ref, loss, ref_loss, what):
    got = ad.get_weights()
    assert set(got) == set(ref.w)
    for k in ref.w:
        np.testing.assert_allclose(got[k], ref.w[k], rtol=1e-4, atol=2e-5, err_msg=f"{k} after {what}")
    assert isinstance(loss, float)
    np.testing.assert_allclose(loss, ref_loss, rtol=1e-4, atol=1e-5, err_msg=f"loss of {what}")


def _step_cases() -> list[tuple[str, str, str]]:
    """Each framework's step loop in two neighbouring variants, in turn (framework i: variants i and
    i + 1), so every variant runs in about half of the frameworks and the check case (test_adapters.py)
    covers the rest of each framework's code path. scikit-learn (CD-1, plain SGD) gets ``cd1-sgd``."""
    names = list(VARIANTS)
    return [(fw, names[(i + j) % len(names)], "step") for i, fw in enumerate(FRAMEWORKS) for j in range(2)]


@pytest.mark.parametrize("fw, variant, mode", _step_cases() + [(fw, "pcd2-adam", m) for fw, m in OTHER_MODES])
def test_schedule_follows_reference(fw, variant, mode):
    """Each framework's step loop in two variants (``_step_cases``); each other mode (fused epochs,
    XLA, eager) in the variant that carries the most state across epochs (PCD chains, Adam moments)."""
    model, train = VARIANTS[variant]
    case = spec.check_case()
    weights = spec.init_weights(model, case["info"], np.random.default_rng(2))
    ad = _adapter(fw, model, case["info"], train, weights, mode)
    ref = spec.Trainer(weights, model, train)
    n_epochs = len(model.hidden) * model.pretrain_epochs + 2  # every pretraining epoch, two classifier epochs
    for epoch in range(n_epochs):
        xb, yb = _epoch(case, model, epoch)
        _assert_close(ad, ref, ad.train_epoch(xb, yb), ref.epoch(xb, yb), f"epoch {epoch} ({spec.phase(epoch, model)})")
    np.testing.assert_allclose(ad.predict(case["x"]), spec.forward(ref.w, case["x"], model), rtol=1e-4, atol=1e-5)


def test_every_variant_runs_in_several_frameworks():
    runs = {v: {fw for fw, vv, _ in _step_cases() if vv == v} for v in VARIANTS}
    assert all(len(fws) >= min(2, len(FRAMEWORKS)) for fws in runs.values()), runs
    assert {fw for fw, _, _ in _step_cases()} == set(FRAMEWORKS)


@pytest.mark.parametrize("fw", FRAMEWORKS)
def test_classifier_epoch_matches_reference(fw):
    """The check case trained through its pretraining, then one classifier epoch against the
    reference started from the adapter's own weights."""
    case = spec.check_case()
    model, train = case["model"], case["trains"][0]
    ad = _adapter(fw, model, case["info"], train, spec.init_weights(model, case["info"], np.random.default_rng(0)))
    n_pre = len(model.hidden) * model.pretrain_epochs
    for epoch in range(n_pre):
        ad.train_epoch(*_epoch(case, model, epoch))
    start = ad.get_weights()
    xb, yb = _epoch(case, model, n_pre)
    ref = spec.Trainer(start, model, train, epoch=n_pre)
    _assert_close(ad, ref, ad.train_epoch(xb, yb), ref.epoch(xb, yb), "the first classifier epoch")
    for k in start:  # the classifier phase leaves the RBMs alone
        if k.startswith("rbm"):
            np.testing.assert_array_equal(ad.get_weights()[k], start[k], err_msg=k)


def test_phase_schedule_and_validation():
    model = spec.Model(hidden=[8, 4, 2], pretrain_epochs=3)
    assert [spec.phase(e, model) for e in range(11)] == [0, 0, 0, 1, 1, 1, 2, 2, 2, None, None]
    info = spec.check_case()["info"]
    assert spec.validate(model, info, TrainConfig(epochs=9)).startswith("train.epochs:")
    assert spec.validate(model, info, TrainConfig(epochs=10)) is None


def test_make_epoch_layout():
    case = spec.check_case()
    model = case["model"]
    xb, yb = spec.make_epoch(case["x"], case["y"], 4, np.arange(8), model, np.random.default_rng(0))
    assert xb.shape == (2, 4, 6) and xb.dtype == np.float32
    assert yb.shape == (2, 4, 1 + max(spec.noise_widths(model, case["info"]))) and yb.dtype == np.float32
    np.testing.assert_array_equal(yb[..., 0].astype(np.int64).ravel(), case["y"])
