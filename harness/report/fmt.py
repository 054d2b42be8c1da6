"""How the report writes numbers and intervals (one place, so every table says the same)."""
from __future__ import annotations

from harness.stats import Interval, level_text


def fmt_num(v, unit: str = "") -> str:
    if v is None:
        return "–"
    if unit == "s":
        if v < 1e-3:
            return f"{v * 1e6:.0f} µs"
        if v < 1:
            return f"{v * 1e3:.1f} ms"
        return f"{v:.2f} s"
    if unit == "MB":
        return f"{v:.0f} MB"
    if unit == "ex/s":
        return f"{v:,.0f}/s"
    if unit == "GFLOP/s":
        return f"{v / 1e9:.2f}"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def _signed(x: float) -> str:
    return f"{'−' if x < 0 else '+'}{abs(x):.1%}"


def ci_text(ci: Interval, center: float) -> str:
    """Both sides of an interval relative to ``center`` and its coverage: '75% CI −2.1% / +3.4%'
    (an asymmetric interval keeps both sides; the coverage is the interval's own, not a nominal 95%)."""
    return f"{level_text(ci.level)} CI {_signed((ci.low - center) / abs(center))} / {_signed((ci.high - center) / abs(center))}"


def interval(ci: Interval | None, spec: str = ".2f") -> str:
    """'[1.08, 1.31] 75%': an interval with its own coverage; '' when there is none."""
    return f"[{ci.low:{spec}}, {ci.high:{spec}}] {level_text(ci.level)}" if ci else ""


def dropped(s: dict | None) -> str:
    """' (2 missing or NaN left out)' when a summary or ratio left values out, else ''."""
    d = (s or {}).get("n_dropped")
    return f" ({d} missing or NaN left out)" if d else ""
