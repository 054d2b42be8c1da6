"""Do the frameworks of a benchmark train the same model? Every job of one repeat starts from the same
weights, data and batch order (or harness-drawn random numbers), so their per-epoch training losses
should agree up to float rounding at first. Per benchmark, from the records' curves: the last epoch
through which every curve of a repeat agrees within ``REL`` with the others, and what that means for
the end metrics:

- agreeing at every epoch: the frameworks trained the same model, their metrics are comparable as is;
- agreeing at first and drifting apart later: float32 rounding amplified by training (a deep net at a
  high learning rate, a sampling chain, a long recurrence), not different models: the end metrics
  differ by that much between equally valid runs;
- differing from the first epoch: the jobs did not compute the same thing, and the section says so
  (the check set in ``make test`` compares each implementation with the numpy reference).

Imports no framework, measures nothing.
"""
from __future__ import annotations

from harness import registry

REL = 1e-3  # a loss within this (relative) of the curves' median agrees: float32 rounding of an epoch is ~1e-6


def _curves(records: list[dict]) -> dict[int, dict[str, list[float]]]:
    """{repeat: {framework · mode · device: [loss per epoch]}} of the ok jobs with a loss curve."""
    out: dict[int, dict[str, list[float]]] = {}
    for r in records:
        losses = [c.get("loss") for c in r.get("curve") or []]
        if r.get("status") != "ok" or not losses or any(not isinstance(v, (int, float)) for v in losses):
            continue
        device = "" if r.get("device", "cpu") == "cpu" else f" · {r['device']}"
        key = f"{registry.DISPLAY.get(r['framework'], r['framework'])} · {r['mode']}{device}"
        out.setdefault(r.get("repeat", 0), {})[key] = [float(v) for v in losses]
    return out


def _departures(curves: dict[str, list[float]]) -> dict[str, list[int]]:
    """Per curve, the epochs (1-based) where its loss departs from the curves' median by more than REL
    (relative), over the epochs every curve has."""
    n = min(len(c) for c in curves.values())
    out: dict[str, list[int]] = {k: [] for k in curves}
    for e in range(n):
        vals = sorted(c[e] for c in curves.values())
        mid = (vals[(len(vals) - 1) // 2] + vals[len(vals) // 2]) / 2
        for k, c in curves.items():
            if abs(c[e] - mid) > REL * max(abs(mid), 1e-12):
                out[k].append(e + 1)
    return out


def _persistent_from(epochs: list[int], n: int) -> int | None:
    """The first epoch of the run of departures that lasts to the last epoch ``n`` (None: it ends agreeing)."""
    if not epochs or epochs[-1] != n:
        return None
    start = n
    while start - 1 in epochs:
        start -= 1
    return start


def check(records: list[dict]) -> dict | None:
    """How the training-loss curves of each repeat agree: {"state": "same" | "drift" | "differ" |
    "reported", "through": the last epoch all agree before one departs for good (the least over
    repeats), "epochs": the shortest curve, "jobs": the most curves in a repeat, "who": the curves that
    depart for good from epoch 1 ("differ") or only at some epochs ("reported": they end agreeing, so
    the training was the same and the reported loss was not), "at": those epochs}. None without a
    repeat of two or more curves."""
    reps = [c for c in _curves(records).values() if len(c) > 1]
    if not reps:
        return None
    epochs = min(min(len(v) for v in c.values()) for c in reps)
    through, persistent, first, transient, at = epochs, False, set(), set(), set()
    for c in reps:
        n = min(len(v) for v in c.values())
        for k, dep in _departures(c).items():
            start = _persistent_from(dep, n)
            if start is None:
                transient.update([k] if dep else [])
                at.update(dep)
                continue
            persistent, through = True, min(through, start - 1)
            first.update([k] if start == 1 else [])
    out = {"through": through, "epochs": epochs, "jobs": max(len(c) for c in reps), "who": [], "at": []}
    if not persistent:
        return {**out, "state": "reported", "who": sorted(transient), "at": sorted(at)} if transient else \
            {**out, "state": "same"}
    return {**out, "state": "differ", "who": sorted(first)} if through == 0 else {**out, "state": "drift"}


def _span(epochs: list[int]) -> str:
    return f"epoch {epochs[0]}" if len(epochs) == 1 else f"epochs {epochs[0]}–{epochs[-1]}"


def sentence(a: dict | None) -> str | None:
    """The section's line for ``check``'s result (None: nothing to compare)."""
    if a is None:
        return None
    if a["state"] == "same":
        jobs = "both jobs" if a["jobs"] == 2 else f"all {a['jobs']} jobs"
        return (f"Training losses of {jobs} of a repeat agree within {REL:.1%} at every epoch "
                f"({a['epochs']}): the same model, trained the same way.")
    if a["state"] == "reported":
        return (f"Training losses agree within {REL:.1%} at the end of every repeat; {', '.join(a['who'])} "
                f"reported a different loss at {_span(a['at'])} and then agreed again: a difference in how the "
                "loss is reported, not in the training.")
    if a["state"] == "drift":
        return (f"Training losses agree within {REL:.1%} through epoch {a['through']} of {a['epochs']}, then "
                "drift apart: float32 rounding amplified by training, not different models; the end metrics "
                "differ by that much between equally valid runs.")
    return (f"Training losses of {', '.join(a['who'])} depart from the others' from epoch 1 on: these jobs did "
            "not compute the same thing (different settings, or an implementation that departs from the numpy "
            "reference).")
