"""Boltzmann machine beyond the shared check set: exact likelihood, learning, and every framework
against the numpy reference for the variants the check case does not cover."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from architectures.boltzmann import spec
from conftest import build_adapter, frameworks
from harness.config import TrainConfig
from harness.datasets import DataInfo, bars_and_stripes

FRAMEWORKS = frameworks("boltzmann")


def _random_weights(n: int, seed: int = 0, scale: float = 1.0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    upper = np.triu(rng.normal(0, scale, (n, n)), k=1)
    return {"W": upper + upper.T, "b": rng.normal(0, scale, n)}


def _brute_log_z(w: dict[str, np.ndarray]) -> float:
    n = len(w["b"])
    states = np.array(list(itertools.product([0.0, 1.0], repeat=n)))
    return float(np.log(np.sum([np.exp(-spec.energy(w, s[None])[0]) for s in states])))


def test_log_partition_matches_brute_force():
    w = _random_weights(7, seed=1)
    assert spec.log_partition(w) == pytest.approx(_brute_log_z(w), rel=1e-12)
    assert spec.log_partition(w, chunk=16) == pytest.approx(_brute_log_z(w), rel=1e-12)  # chunked sum


def test_log_likelihood_marginalises_hidden_units():
    w = _random_weights(6, seed=2)  # 4 visible + 2 hidden
    v = np.array([[0, 1, 1, 0], [1, 1, 1, 1], [0, 0, 0, 0]], np.float64)
    log_z = _brute_log_z(w)
    for row, got in zip(v, spec.log_likelihood(w, v)):
        joint = [np.exp(-spec.energy(w, np.concatenate([row, h])[None])[0])
                 for h in itertools.product([0.0, 1.0], repeat=2)]
        assert got == pytest.approx(np.log(np.sum(joint)) - log_z, rel=1e-12)
    all_v = spec.all_states(4)
    assert np.exp(spec.log_likelihood(w, all_v)).sum() == pytest.approx(1.0, rel=1e-12)


def test_exact_likelihood_refuses_large_machines():
    with pytest.raises(ValueError):
        spec.log_partition({"W": np.zeros((21, 21)), "b": np.zeros(21)})
    info = DataInfo(name="bars_stripes", input_shape=(16,), task="binary")
    assert spec.validate(spec.Model(hidden=4), info, TrainConfig()) is None
    assert spec.validate(spec.Model(hidden=5), info, TrainConfig()).startswith("model.hidden")


def test_likelihood_rises_on_bars_and_stripes():
    """Complete 3x3 bars-and-stripes: the exact LL climbs from ~9 ln(1/2) and never passes -ln 14."""
    x = bars_and_stripes(3)
    info = DataInfo(name="bars_stripes", input_shape=(9,), task="binary")
    model = spec.Model(hidden=2, gibbs_steps=5)
    train = TrainConfig(optimizer="adam", lr=0.05, batch_size=14)
    w = spec.init_weights(model, info, np.random.default_rng(0))
    lls = [spec.mean_log_likelihood(w, x)]
    for chunk in range(6):  # 6 x 25 epochs; chains and Adam restart with each reference call
        epochs = [spec.make_epoch(x, np.zeros(14), 14, np.random.default_rng([chunk, e]).permutation(14),
                                  model, np.random.default_rng([chunk, e, 1])) for e in range(25)]
        xb = np.concatenate([e[0] for e in epochs])
        yb = np.concatenate([e[1] for e in epochs])
        w, _ = spec.reference_epoch(w, xb, yb, model, train)
        lls.append(spec.mean_log_likelihood(w, x))
    assert lls[0] == pytest.approx(9 * np.log(0.5), abs=0.05)
    assert max(lls) <= -np.log(14) + 1e-9
    assert lls[-1] > lls[0] + 2.0 and lls[-1] > -4.0 and min(np.diff(lls)) > -0.2, lls


def _adapter(fw: str, model: spec.Model, info: DataInfo, train: TrainConfig, w0: dict[str, np.ndarray]):
    return build_adapter("boltzmann", fw, model, info, train, weights=w0)[0]


VARIANTS = {
    "visible-only": spec.Model(hidden=0, gibbs_steps=3),
    "hidden-cd": spec.Model(hidden=2, gibbs_steps=2, persistent=False),
}


@pytest.mark.parametrize("variant", list(VARIANTS))
@pytest.mark.parametrize("fw", FRAMEWORKS)
def test_two_epochs_match_reference(fw, variant):
    """Two train_epoch calls = one reference run over both epochs: chains and optimizer state persist."""
    model = VARIANTS[variant]
    info = DataInfo(name="check", input_shape=(5,), task="binary")
    x = (np.random.default_rng(3).random((8, 5)) < 0.5).astype(np.float32)
    train = TrainConfig(optimizer="adam", lr=0.05)
    w0 = spec.init_weights(model, info, np.random.default_rng(0))
    ad = _adapter(fw, model, info, train, w0)
    e1 = spec.make_epoch(x, np.zeros(8), 4, np.arange(8), model, np.random.default_rng(1))
    e2 = spec.make_epoch(x, np.zeros(8), 4, np.arange(8)[::-1], model, np.random.default_rng(2))
    losses = [ad.train_epoch(*e1), ad.train_epoch(*e2)]
    ref_w, ref_loss = spec.reference_epoch(w0, np.concatenate([e1[0], e2[0]]), np.concatenate([e1[1], e2[1]]),
                                           model, train)
    for k, v in ad.get_weights().items():
        np.testing.assert_allclose(v, ref_w[k], rtol=1e-4, atol=2e-5, err_msg=k)
    assert np.mean(losses) == pytest.approx(ref_loss, rel=1e-4, abs=1e-5)


@pytest.mark.parametrize("fw", FRAMEWORKS)
def test_conditionals_of_full_states(fw):
    model = spec.Model(hidden=3)
    info = DataInfo(name="check", input_shape=(4,), task="binary")
    w = {k: v.astype(np.float32) for k, v in _random_weights(7, seed=4).items()}
    ad = _adapter(fw, model, info, TrainConfig(), w)
    s = spec.all_states(7)[::9].astype(np.float32)
    np.testing.assert_allclose(ad.predict(s), spec.forward(w, s, model), rtol=1e-4, atol=1e-5)
    assert spec.evaluate(ad, s[:, :4], None, model)["log_likelihood"] == pytest.approx(
        spec.mean_log_likelihood(w, s[:, :4]), rel=1e-6)
