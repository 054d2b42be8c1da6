"""The machine-limit GEMM probe (harness/frameworks/gemm.py): sizes, repeats and the shape of its
answer. No timing is asserted; the clock is faked where the repeat rule is checked."""
from __future__ import annotations

import pytest

from harness import measure
from harness.frameworks import gemm


def test_sizes_reach_4096_on_cpu_and_8192_on_gpu():
    assert max(gemm.SIZES["cpu"]) >= 4096 and max(gemm.SIZES["cuda"]) >= 8192
    assert list(gemm.SIZES["cpu"]) == sorted(gemm.SIZES["cpu"])


def test_peak_reports_every_size():
    out = gemm.peak("numpy", "cpu", sizes=(32, 64, 96))
    assert set(out) == {"flops", "size", "rates", "timed"}
    assert set(out["rates"]) == set(out["timed"]) == {"32", "64", "96"}
    assert out["size"] in (32, 64, 96) and out["flops"] == max(out["rates"].values()) > 0
    assert out["rates"][str(out["size"])] == out["flops"]
    assert all(gemm.MIN_TIMED <= c <= gemm.MAX_TIMED for c in out["timed"].values())


def _fake_calls(monkeypatch, seconds: list[float]) -> list[float]:
    """Each timed call takes the next of ``seconds``; returns the list of calls made."""
    made = []

    def fake(fn, repeats, warmup):
        assert (repeats, warmup) == (1, 0)
        made.append(seconds[len(made)])
        return [made[-1]]

    monkeypatch.setattr(measure, "time_repeated", fake)
    return made


def test_short_calls_get_a_warm_up_then_repeats_until_the_budget(monkeypatch):
    made = _fake_calls(monkeypatch, [0.2] + [0.06] * 50)  # a slower first call (compiling), then 60 ms each
    best, count = gemm.best_time(lambda: None)
    assert best == 0.06 and count == 4 and len(made) == 5  # the warm-up is not timed; 4 x 60 ms >= 0.2 s


def test_tiny_calls_stop_at_the_cap(monkeypatch):
    made = _fake_calls(monkeypatch, [1e-4] * 100)
    assert gemm.best_time(lambda: None) == (1e-4, gemm.MAX_TIMED) and len(made) == gemm.MAX_TIMED + 1


def test_long_calls_count_the_first_and_take_the_best_of_two(monkeypatch):
    made = _fake_calls(monkeypatch, [1.5, 1.4, 1.3])
    assert gemm.best_time(lambda: None) == (1.4, 2) and len(made) == 2


@pytest.mark.parametrize("n", [64])
def test_operands_are_float32_squares(n):
    a, b = gemm._operands(n)
    assert a.shape == b.shape == (n, n) and a.dtype == b.dtype == "float32"


def test_sizes_from_the_environment(monkeypatch):
    monkeypatch.setenv("ANNBENCH_GEMM_SIZES", "64, 128")
    assert gemm.default_sizes("cpu") == (64, 128)
    monkeypatch.delenv("ANNBENCH_GEMM_SIZES")
    assert gemm.default_sizes("cpu") == gemm.SIZES["cpu"] and gemm.default_sizes("cuda") == gemm.SIZES["cuda"]
    for bad in ("64,x", "0,64"):
        monkeypatch.setenv("ANNBENCH_GEMM_SIZES", bad)
        with pytest.raises(ValueError, match="ANNBENCH_GEMM_SIZES"):
            gemm.default_sizes("cpu")
