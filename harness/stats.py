"""Small statistics over repeats: median, IQR, confidence intervals of the median and of ratios.
numpy only (the runner uses it for ``repeats: auto``, the report for its tables).

Every interval is an :class:`Interval` that carries its exact coverage (``level``), how it was
made (``method``) and from how many values (``n``), so nothing downstream can call it what it is
not.

How many repeats a 95% interval needs. The median's interval here is distribution-free: for n
independent values of any continuous distribution, the true median lies between the k-th
smallest and the k-th largest value with probability 1 - 2·P(B <= k - 1), B ~ Binomial(n, 1/2).
The widest such interval, [min, max], covers it with probability 1 - 2·0.5^n: 50% at n = 2,
75% at n = 3, 87.5% at n = 4, 93.75% at n = 5, 96.9% at n = 6. So **a 95% interval of a median
needs n >= 6**; with fewer repeats an interval is labelled with the coverage it has. (A bootstrap
does no better at small n: its median can only take a sample value, so at n = 3-5 it returns
[min, max] too, with the same coverage, and calling that 95% is what this module replaces.)
With ties (identical times) the closed interval covers at least as often as stated.
"""
from __future__ import annotations

import functools
import math
from fractions import Fraction
from typing import NamedTuple

import numpy as np

LEVEL = 0.95  # the coverage asked for by default
MIN_PAIRS = 3  # fewer common rounds than this: a ratio is unpaired (too few per-round ratios to lean on)
# A ratio between jobs that ran on different machines (nodes of a Ray run, or two runs): its mark and why
CROSS = "⇄"
CROSS_WHY = ("pairing by round does not hold across machines, so its interval is the unpaired one; the ratio "
             "measures the machines as much as the frameworks")


def node_names(records: list[dict]) -> list[str]:
    """The nodes ``records`` ran on (``record["node"]``), sorted; [] when they name none (older runs)."""
    return sorted({r["node"] for r in records if isinstance(r.get("node"), str) and r["node"]})


def cross_machine(*node_lists: list[str]) -> bool:
    """Within one run: whether rows (or cells) that ran on these nodes span more than one machine between
    them, so that a ratio of theirs cannot be paired by round (runs that name no node never do)."""
    return len(set().union(*node_lists)) > 1


class Interval(NamedTuple):
    """A confidence interval: ``low``/``high`` first, so ``ci[0]``/``ci[1]`` read as before.
    ``level`` is its exact coverage (not the level asked for), ``method`` how it was made and
    ``n`` the number of values (or pairs) it came from."""
    low: float
    high: float
    level: float
    method: str
    n: int


def level_text(level: float) -> str:
    """A coverage as a percentage, rounded down so it never claims more: 0.96875 -> '96.8%'."""
    return f"{math.floor(level * 1000 + 1e-9) / 10:g}%"


def _finite(values) -> np.ndarray:
    """The values as a float array, None/NaN/inf dropped (failed or untimed jobs)."""
    return np.array([x for x in values if x is not None and np.isfinite(x)], dtype=float)


def coverage(n: int, k: int) -> Fraction:
    """Exact probability that [x_(k), x_(n+1-k)] (k-th smallest to k-th largest of n independent
    draws of a continuous distribution) holds the true median: 1 - 2·P(Binomial(n, 1/2) <= k-1).
    A Fraction, so comparing with a level is exact (96.875% is not rounded down below 95%)."""
    if not 1 <= k <= (n + 1) // 2:
        raise ValueError(f"no order-statistic pair k={k} for n={n}")
    return 1 - 2 * Fraction(sum(math.comb(n, i) for i in range(k)), 2**n)


def min_n(level: float = LEVEL) -> int:
    """The fewest values whose [min, max] covers the median with probability >= ``level``
    (6 for 95%: 1 - 2·0.5^6 = 96.9%, while n = 5 gives only 93.75%)."""
    n = 2
    while coverage(n, 1) < level:
        n += 1
    return n


def median_ci(values, level: float = LEVEL, method: str = "order-statistic",
              seq: tuple[int, int] | None = None) -> Interval | None:
    """Distribution-free interval of the median: the narrowest symmetric pair of order statistics
    [x_(k), x_(n+1-k)] whose exact coverage is >= ``level``; when n is too small for ``level`` it is
    [min, max] with the coverage it really has (75% at n = 3). None below 2 finite values.
    ``seq=(n_min, n_max)``: the values came from ``repeats: auto``, which looked at them after each
    round from n_min on and stopped when the interval was narrow; see :func:`sequential`."""
    v = np.sort(_finite(values))
    n = v.size
    if n < 2:
        return None
    if seq and n >= seq[0]:
        ks, level_seq = sequential(seq[0], max(seq[1], n), level)
        k = ks[n]
        return Interval(float(v[k - 1]), float(v[n - k]), float(level_seq),
                        f"{method}, sequential (looks at n={seq[0]}..{max(seq[1], n)})", n)
    k = 1
    while k + 1 <= (n + 1) // 2 and coverage(n, k + 1) >= level:
        k += 1  # a higher k gives a narrower interval; stop before its coverage drops below level
    return Interval(float(v[k - 1]), float(v[n - k]), float(coverage(n, k)), method, n)


def _next_count(alive: dict[int, Fraction], n: int, k: int) -> dict[int, Fraction]:
    """One more draw of the sign walk: ``alive`` maps c (values below the median among the first
    n - 1) to the probability that no look so far missed; the look at n with pair k misses when
    fewer than k values lie on either side (c < k or c > n - k)."""
    new: dict[int, Fraction] = {}
    for c, p in alive.items():
        for c2 in (c, c + 1):
            new[c2] = new.get(c2, 0) + p / 2
    return {c: p for c, p in new.items() if k <= c <= n - k}


@functools.lru_cache(maxsize=64)
def sequential(n_min: int, n_max: int, level: float = LEVEL) -> tuple[dict[int, int], Fraction]:
    """The order-statistic pair k per look n = n_min..n_max for a rule that stops as soon as the
    interval looks narrow (``repeats: auto``), and the coverage guaranteed at whatever look it stops.

    Stopping when the interval is narrow biases it: with right-skewed times a narrow cluster sits
    below the median more often than chance (simulated: 93% real coverage for a "96%" [min, max]).
    The bound used instead: P(the interval at the stopping look misses) <= P(some look misses), and
    whether a look misses depends only on how many values lie below the true median -- a Binomial
    walk, the same for every continuous distribution -- so that probability is exact arithmetic.
    Each look takes the narrowest k that keeps P(some look misses) <= 1 - level (greedy; a later
    look can always fall back to k = 1, which misses only if an earlier look did). Returns ({n: k},
    guaranteed coverage = 1 - P(some look misses)), e.g. k = 1 at n = 6..9, 2 at 10..13; 95.7% for
    looks 6..12. With fewer than ``min_n(level)`` values at the first look no k reaches ``level``
    and k = 1 is used, the coverage saying so."""
    alive: dict[int, Fraction] = {0: Fraction(1)}
    ks: dict[int, int] = {}
    for n in range(1, n_max + 1):
        if n < n_min:
            alive = _next_count(alive, n, 0)  # no look before n_min
            continue
        k = 1
        while k + 1 <= (n + 1) // 2 and 1 - sum(_next_count(alive, n, k + 1).values()) <= 1 - level:
            k += 1
        ks[n], alive = k, _next_count(alive, n, k)
    return ks, sum(alive.values())


def summary(values, level: float = LEVEL, seq: tuple[int, int] | None = None) -> dict:
    """median, q1, q3, iqr, rel_iqr, ``ci`` (the median's :func:`median_ci`, or None; ``seq`` as
    there), ``n`` (the finite values used) and ``n_dropped`` (None/NaN/inf left out: callers show
    it, so a missing value never shrinks n unseen)."""
    raw = list(values)
    v = _finite(raw)
    dropped = len(raw) - int(v.size)
    if v.size == 0:
        return {"n": 0, "n_dropped": dropped, "median": None, "q1": None, "q3": None, "iqr": None,
                "rel_iqr": None, "ci": None}
    q1, med, q3 = np.percentile(v, [25, 50, 75])
    rel = float((q3 - q1) / abs(med)) if med else None
    return {"n": int(v.size), "n_dropped": dropped, "median": float(med), "q1": float(q1), "q3": float(q3),
            "iqr": float(q3 - q1), "rel_iqr": rel, "ci": median_ci(v, level, seq=seq)}


def ratio_ci(a, b, level: float = LEVEL, seq: tuple[int, int] | None = None) -> dict | None:
    """Unpaired ratio of medians a/b. Its interval divides the two medians' order-statistic
    intervals, [lo_a / hi_b, hi_a / lo_b], each taken at 1 - (1 - level)/2; both hold with
    probability >= La + Lb - 1 (Bonferroni, true whether or not a and b are independent), which
    is the coverage it is labelled with. No interval when that bound is not above 0 (n < 3 a side).
    ``seq`` as in :func:`median_ci`, for each side."""
    a, b = _finite(a), _finite(b)
    if a.size == 0 or b.size == 0 or np.median(b) <= 0:
        return None
    r = float(np.median(a) / np.median(b))
    side = 1 - (1 - level) / 2
    ca, cb = median_ci(a, side, seq=seq), median_ci(b, side, seq=seq)
    ci = None
    if ca and cb and cb.low > 0 and ca.level + cb.level - 1 > 0:
        ci = Interval(ca.low / cb.high, ca.high / cb.low, ca.level + cb.level - 1,
                      "unpaired: ratio of the two medians' intervals (Bonferroni)", min(ca.n, cb.n))
    return {"ratio": r, "ci": ci, "paired": False, "n": min(int(a.size), int(b.size))}


def pairs(a: dict, b: dict) -> tuple[list, int]:
    """The keys (rounds) where both a and b have a finite value and b's is positive, and how many
    keys of either side were left out for it."""
    def ok(d, k, positive=False):
        x = d.get(k)
        return x is not None and np.isfinite(x) and (x > 0 or not positive)
    keys = [k for k in a if ok(a, k) and ok(b, k, positive=True)]
    return keys, len(set(a) | set(b)) - len(keys)


def paired_ratio_ci(a: dict, b: dict, level: float = LEVEL, min_pairs: int = MIN_PAIRS,
                    seq: tuple[int, int] | None = None) -> dict | None:
    """Ratio a/b from values keyed by repeat: the median of the per-repeat ratios, each of two jobs
    of the same interleaved round (adjacent in time, so slow machine drift cancels), with the
    order-statistic interval of those ratios (same coverage rules as :func:`median_ci`).
    With fewer than ``min_pairs`` common repeats it is :func:`ratio_ci` and says ``paired: False``.
    ``n_dropped``: rounds of either side left out for want of a time on both; ``seq`` as in
    :func:`median_ci` (cells of ``repeats: auto``, whose round counts were chosen by a stopping rule)."""
    keys, left_out = pairs(a, b)
    if len(keys) < min_pairs:
        out = ratio_ci(list(a.values()), list(b.values()), level, seq)
        return out and {**out, "n_dropped": left_out}
    rs = [a[k] / b[k] for k in keys]
    return {"ratio": float(np.median(rs)), "ci": median_ci(rs, level, "paired order-statistic (per-round ratios)", seq),
            "paired": True, "n": len(keys), "n_dropped": left_out}
