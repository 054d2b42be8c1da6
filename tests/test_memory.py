"""Peak-memory measurement: the VmHWM reset is checked to take effect (else the sampler), and the
runner records the peak of the job's whole process tree beside the worker's own."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from harness import measure


def _hwm_mb() -> float | None:
    kb = measure._status_kb("VmHWM")
    return kb / 1024 if kb is not None else None


def test_reset_forgets_an_earlier_peak():
    """A 300 MB block touched and freed before the phase is not the phase's peak: with the kernel's
    high-water mark only if its reset worked here, else by sampling."""
    block = np.ones(300 * 2**20 // 8)  # touched: resident
    before = _hwm_mb()
    del block
    with measure.PeakRSS() as peak:
        small = np.ones(2**20)  # 8 MB during the phase
    del small
    assert peak.method in ("vmhwm", "sampled-5ms")
    assert (peak.method == "vmhwm") == (peak.reason == "")
    assert 0 < peak.peak_mb
    if before is not None:
        assert peak.peak_mb < before - 200, (peak.method, peak.peak_mb, before)


def test_an_ignored_reset_falls_back_to_sampling(monkeypatch):
    """A kernel that accepts the write to clear_refs and ignores it: VmHWM stays at an old peak far
    above VmRSS; the phase is then sampled and says so."""
    real = measure._status_kb

    def stale(field: str):
        kb = real(field)
        return kb + 500 * 1024 if field == "VmHWM" and kb is not None else kb

    monkeypatch.setattr(measure, "_status_kb", stale)
    monkeypatch.setattr(measure, "_CLEAR", _Sink())
    with measure.PeakRSS() as peak:
        x = np.ones(2**20)
    del x
    assert peak.method == "sampled-5ms" and "no effect" in peak.reason
    assert measure.rss_mb() * 0.5 < peak.peak_mb < real("VmHWM") / 1024 + 400  # not the stale 500 MB extra


def test_an_impossible_reset_falls_back_to_sampling(monkeypatch):
    monkeypatch.setattr(measure, "_CLEAR", Path("/nonexistent-dir/clear_refs"))
    with measure.PeakRSS() as peak:
        pass
    assert peak.method == "sampled-5ms" and "cannot reset" in peak.reason and peak.peak_mb > 0


def test_a_reset_that_works_is_accepted(monkeypatch):
    monkeypatch.setattr(measure, "_status_kb", lambda field: {"VmHWM": 101 * 1024, "VmRSS": 100 * 1024}[field])
    assert measure.hwm_reset_took_effect() == (True, "")
    monkeypatch.setattr(measure, "_status_kb", lambda field: {"VmHWM": 200 * 1024, "VmRSS": 100 * 1024}[field])
    ok, why = measure.hwm_reset_took_effect()
    assert not ok and "200 MB" in why


class _Sink:
    """Stands in for /proc/self/clear_refs: accepts the write, does nothing."""

    def write_text(self, text: str) -> int:
        return len(text)


def test_a_real_job_records_both_peaks_and_the_methods(tmp_path):
    """One tiny job through the runner (a fresh worker process): the worker's own peak with its
    method, and the process tree's peak, at least the worker's, recorded by the runner."""
    from harness import runner
    from harness.plan import Job

    job = Job(job_id="mem/autograd/step/cpu/r0", run="mem", benchmark="mem", architecture="mlp", dataset="digits",
              data={}, model={"hidden": [8]}, train={"epochs": 2, "batch_size": 64}, framework="autograd",
              mode="step", device="cpu", seed=0, repeat=0, threads=1, timeout_s=120, memory_limit_mb=4000)
    rec = runner.run_one(job, tmp_path).record
    assert rec["status"] == "ok", rec["error"]
    mem = rec["memory"]
    assert mem["rss_method"] in ("vmhwm", "sampled-5ms")
    assert mem["rss_peak_mb"] >= mem["rss_base_mb"] > 0
    # sampled every 0.1 s, so no exact relation with a short peak, but never below the worker's own
    assert mem["tree_peak_mb"] >= mem["rss_peak_mb"] and mem["tree_method"].startswith("sampled-0.1s")


def test_tree_peak_is_never_below_the_workers_own():
    from harness.runner import _record_tree_peak

    rec = {"memory": {"rss_peak_mb": 120.0}}
    _record_tree_peak(rec, 100.0)  # the samples missed the worker's peak
    assert rec["memory"]["tree_peak_mb"] == 120.0 and "raised" in rec["memory"]["tree_method"]
    _record_tree_peak(rec, 180.0)  # a compile worker alongside
    assert rec["memory"]["tree_peak_mb"] == 180.0 and rec["memory"]["tree_method"] == "sampled-0.1s"
    failed = {"memory": {"rss_peak_mb": None}}
    _record_tree_peak(failed, 90.0)  # a job that died before measuring: the tree's peak still counts
    assert failed["memory"]["tree_peak_mb"] == 90.0
