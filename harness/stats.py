"""Small statistics over repeats: median, IQR, bootstrap CI of the median, ratios. numpy only (the
runner uses it for `repeats: auto`, the report for its tables)."""
from __future__ import annotations

import numpy as np


def _finite(values) -> np.ndarray:
    """The values as a float array, None/NaN/inf dropped (failed or untimed jobs)."""
    return np.array([x for x in values if x is not None and np.isfinite(x)], dtype=float)


def summary(values, n_boot: int = 2000, seed: int = 0) -> dict:
    """median, q1, q3, iqr, rel_iqr, bootstrap 95% CI of the median, n; NaN/None dropped."""
    v = _finite(values)
    if v.size == 0:
        return {"n": 0, "median": None, "q1": None, "q3": None, "iqr": None, "rel_iqr": None, "ci": None}
    q1, med, q3 = np.percentile(v, [25, 50, 75])
    ci = None
    if v.size >= 3:
        rng = np.random.default_rng(seed)
        meds = np.median(rng.choice(v, size=(n_boot, v.size), replace=True), axis=1)
        ci = [float(np.percentile(meds, 2.5)), float(np.percentile(meds, 97.5))]
    rel = float((q3 - q1) / abs(med)) if med else None
    return {"n": int(v.size), "median": float(med), "q1": float(q1), "q3": float(q3), "iqr": float(q3 - q1),
            "rel_iqr": rel, "ci": ci}


def ratio_ci(a, b, n_boot: int = 2000, seed: int = 0) -> dict | None:
    """Ratio of medians a/b with a bootstrap 95% CI (resampling each side independently)."""
    a, b = _finite(a), _finite(b)
    if a.size == 0 or b.size == 0 or np.median(b) == 0:
        return None
    r = float(np.median(a) / np.median(b))
    if a.size < 3 or b.size < 3:
        return {"ratio": r, "ci": None}
    rng = np.random.default_rng(seed)
    ra = np.median(rng.choice(a, size=(n_boot, a.size)), axis=1)
    rb = np.median(rng.choice(b, size=(n_boot, b.size)), axis=1)
    rs = ra / rb
    return {"ratio": r, "ci": [float(np.percentile(rs, 2.5)), float(np.percentile(rs, 97.5))]}


def paired_ratio_ci(a: dict, b: dict, n_boot: int = 2000, seed: int = 0) -> dict | None:
    """Ratio a/b from values keyed by repeat: the median of the per-repeat ratios, each of two jobs
    of the same interleaved round (adjacent in time, so slow machine drift cancels), with a bootstrap
    95% CI. Falls back to ``ratio_ci`` (independent medians) with fewer than 3 common repeats."""
    keys = [k for k in a if k in b and a[k] is not None and b[k] is not None and b[k] > 0]
    if len(keys) < 3:
        return ratio_ci(list(a.values()), list(b.values()), n_boot, seed)
    s = summary([a[k] / b[k] for k in keys], n_boot, seed)
    return {"ratio": s["median"], "ci": s["ci"], "paired": True}
