"""The worker's timing-only epochs (``min_timed_s``), on a fake adapter and a fake clock: epochs and
batching take exactly the time the test says (no sleeping, nothing depends on this machine's speed)."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from harness import worker
from harness.batching import epoch_batches, epoch_permutation
from harness.config import TrainConfig

DATA = SimpleNamespace(x_train=np.arange(40, dtype=np.float32).reshape(20, 2), y_train=np.arange(20))
TRAIN = TrainConfig(epochs=3, batch_size=4)


class Clock:
    t = 0.0

    def now(self) -> float:
        return self.t


@pytest.fixture(autouse=True)
def clock(monkeypatch):
    c = Clock()
    monkeypatch.setattr(worker.measure, "now", c.now)
    return c


class FakeAdapter:
    """Each epoch advances the clock by ``epoch_s`` and returns ``losses[i]`` (then the last one);
    remembers the first example of every epoch it was given."""

    def __init__(self, clock: Clock, epoch_s: float, losses=(0.5,)):
        self.clock, self.epoch_s, self.losses, self.seen = clock, epoch_s, list(losses), []

    def train_epoch(self, xb, yb):
        self.seen.append(xb[0, 0].copy())
        self.clock.t += self.epoch_s
        return self.losses[min(len(self.seen), len(self.losses)) - 1]

    def sync(self):
        pass


def _spec(clock: Clock, extra: bool = True, batching_s: float = 0.0):
    def make_epoch(x, y, batch_size, perm, model, rng):
        clock.t += batching_s
        return epoch_batches(x, y, batch_size, perm)

    return SimpleNamespace(EXTRA_TIMING=extra, make_epoch=make_epoch)


def _run(adapter, spec, steady, budget):
    """worker.extra_timing after a first epoch and ``steady`` (extended in place, as the worker's)."""
    j = worker.Job({"seed": 7, "min_timed_s": budget}, spec, data=DATA, train=TRAIN)
    run = worker.Training(times=[9.0, *steady], phases=["train"] * (1 + len(steady)))
    out = worker.extra_timing(j, adapter, run)
    steady[:] = run.times[1:]
    assert run.phases == ["train"] * len(run.times)
    return out


def test_extra_epochs_until_the_budget_then_stop(clock):
    ad, steady = FakeAdapter(clock, 0.25), [0.25, 0.25]
    out = _run(ad, _spec(clock, batching_s=0.1), steady, 2.0)
    assert out["extra_epochs"] == len(ad.seen) == 6 and len(steady) == 8 and out["min_timed_s"] == 2.0
    assert steady == pytest.approx([0.25] * 8)  # the timed region holds the epoch, not the batching
    assert "extra_stopped" not in out
    # the batches of epochs E, E+1, ... (E = train.epochs), as a longer job would have had them
    for k, first in enumerate(ad.seen[:3]):
        perm = epoch_permutation(20, 7, TRAIN.epochs + k)
        np.testing.assert_array_equal(first, DATA.x_train[perm[0]])


@pytest.mark.parametrize("steady, extra, budget", [([], True, 1.0), ([0.5, 0.6], True, 1.0),
                                                   ([0.01], False, 1.0), ([0.01], True, 0.0)])
def test_no_extra_epochs(clock, steady, extra, budget):
    """Without a steady state, with enough time already, where the spec forbids it, or when off."""
    ad = FakeAdapter(clock, 0.001)
    out = _run(ad, _spec(clock, extra), list(steady), budget)
    assert out == {"extra_epochs": 0, "min_timed_s": budget} and not ad.seen


def test_a_non_finite_loss_ends_them_and_is_not_timed(clock):
    ad, steady = FakeAdapter(clock, 0.001, losses=(0.5, 0.4, float("nan"))), [0.001]
    out = _run(ad, _spec(clock), steady, 10.0)
    assert out["extra_epochs"] == 2 and len(steady) == 3 and "nan" in out["extra_stopped"]


def test_slow_batching_hits_the_wall_time_cap(clock):
    """Batching (untimed) 9 s per 1 s epoch: the cap, 4 x 2 s of wall time, ends it after 1 epoch."""
    ad, steady = FakeAdapter(clock, 1.0), [0.5]
    out = _run(ad, _spec(clock, batching_s=9.0), steady, 2.0)
    assert "wall-time cap" in out["extra_stopped"] and out["extra_epochs"] == 1 and steady == pytest.approx([0.5, 1.0])


def _phased(times, phases, flops=None):
    """A finished Training and its Job for worker.timing, with a spec whose epochs have phases."""
    spec = SimpleNamespace(epoch_phase=lambda epoch, model: phases[epoch])
    j = worker.Job({}, spec, train=TrainConfig(epochs=len(times), batch_size=4),
                   base={"timing": {"import_s": 0.1}, "flops_per_example": flops})
    return j, worker.Training(times=list(times), phases=list(phases), examples=100)


def test_each_phase_first_epoch_is_compile_time_and_phases_are_timed_apart():
    """A DBN-like job: two phases, each a new program whose first epoch compiles. Neither first epoch
    is steady; both excesses are compile time; each phase gets its own median and FLOP/s."""
    times = [5.0, 1.0, 1.0, 1.2, 3.0, 0.5, 0.5, 0.5]
    phases = ["pre0"] * 4 + ["clf"] * 4
    flops = {"forward": 10, "train": 99, "phases": {"pre0": 40, "clf": 20}}
    j, run = _phased(times, phases, flops)
    t = worker.timing(j, run, 0.0, 0.0, (1.0, 1.0), {"extra_epochs": 0})
    assert t["epochs_timed"] == 6 and t["epoch_s"] == pytest.approx(0.75)
    assert t["compile_s"] == pytest.approx((5.0 - 1.0) + (3.0 - 0.5))
    assert t["phases"]["pre0"] == {"first_epoch_s": 5.0, "epochs_timed": 3, "epoch_s": 1.0,
                                   "train_flops_per_s": pytest.approx(4000)}
    assert t["phases"]["clf"]["epoch_s"] == 0.5 and t["phases"]["clf"]["train_flops_per_s"] == pytest.approx(4000)
    # every steady epoch's FLOPs (its own phase's) over their summed time, not the mean FLOPs / median
    assert t["train_flops_per_s"] == pytest.approx((40 * 100 * 3 + 20 * 100 * 3) / (3.2 + 1.5))


def test_one_phase_keeps_the_plain_steady_epoch():
    spec = SimpleNamespace(epoch_phase=None)
    j = worker.Job({}, spec, train=TrainConfig(epochs=3, batch_size=4),
                   base={"timing": {}, "flops_per_example": {"forward": 1, "train": 3}})
    run = worker.Training(times=[2.0, 1.0, 3.0], phases=["train"] * 3, examples=10)
    t = worker.timing(j, run, 0.0, 0.0, (1.0, 1.0), {})
    assert t["epoch_s"] == 2.0 and t["compile_s"] == 0.0 and "phases" not in t
    assert t["train_flops_per_s"] == pytest.approx(3 * 10 / 2.0) and t["train_s"] == 6.0


def test_a_phase_of_one_epoch_is_listed_without_a_steady_time():
    j, run = _phased([4.0, 2.0, 1.0, 1.0], ["pre0", "clf", "clf", "clf"], {"forward": 1, "train": 2, "phases": {"clf": 5}})
    t = worker.timing(j, run, 0.0, 0.0, (1.0, 1.0), {})
    assert t["phases"]["pre0"] == {"first_epoch_s": 4.0, "epochs_timed": 0, "epoch_s": None, "train_flops_per_s": None}
    assert t["epochs_timed"] == 2 and t["compile_s"] == pytest.approx(1.0)  # only clf has a steady state
