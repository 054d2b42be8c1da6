"""matplotlib figures rendered to inline base64 PNG (the report is one self-contained file)."""
from __future__ import annotations

import base64
import io

import matplotlib

matplotlib.use("Agg")  # no display; must precede pyplot
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

COLORS = {"torch": "#ee4c2c", "tensorflow": "#ff8f00", "jax": "#5e97f6", "flax": "#1a237e", "autograd": "#7cb342",
          "sklearn": "#f7931e", "theano": "#8e24aa", "minisom": "#00897b"}


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def bars(rows: list[dict], col: str, label: str, unit: str, log: bool = False) -> str | None:
    """Horizontal bars of the median with the IQR as error bars, one per framework/mode/device."""
    data = [(f"{r['framework']} · {r['mode']}" + ("" if r["device"] == "cpu" else f" · {r['device']}"),
             r[col]["median"], r[col]["q1"], r[col]["q3"], r["framework"]) for r in rows if r[col]["median"] is not None]
    if not data:
        return None
    fig, ax = plt.subplots(figsize=(6, 0.35 * len(data) + 1.0))
    names = [d[0] for d in data]
    med = [d[1] for d in data]
    err = [[d[1] - d[2] for d in data], [d[3] - d[1] for d in data]]
    ax.barh(names, med, xerr=err, color=[COLORS.get(d[4], "#888") for d in data], capsize=3)
    ax.invert_yaxis()
    ax.set_xlabel(f"{label} ({unit}), median over repeats, bars = IQR")
    if log and min(med) > 0 and max(med) / min(med) > 30:
        ax.set_xscale("log")
    return _png(fig)


def curves(records: list[dict], metric_label: str) -> str | None:
    """Learning curves: held-out primary metric (left) and training loss (right) per epoch."""
    recs = [r for r in records if r.get("status") == "ok" and r.get("curve")]
    if not recs:
        return None
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.4))
    seen = set()
    for r in recs:
        key = f"{r['framework']} · {r['mode']}"
        ep = [c["epoch"] for c in r["curve"]]
        kw = {"color": COLORS.get(r["framework"], "#888"), "alpha": 0.8, "lw": 1.2, "marker": "o" if len(ep) <= 5 else None,
              "ls": "-" if r["mode"] in ("step", "eager") else "--", "label": None if key in seen else key}
        seen.add(key)
        a1.plot(ep, [c.get("metric") for c in r["curve"]], **kw)
        a2.plot(ep, [c.get("loss") for c in r["curve"]], **{**kw, "label": None})
    for ax in (a1, a2):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    a1.set_xlabel("epoch")
    a1.set_ylabel(f"test {metric_label}")
    a2.set_xlabel("epoch")
    a2.set_ylabel("training loss")
    a1.legend(fontsize=7, loc="best")
    return _png(fig)


def images(title: str, rows: list[tuple[str, list]], shape: tuple[int, int]) -> str | None:
    """A grid of small grey images: each row a label and a list of flat arrays."""
    import numpy as np

    rows = [(lbl, ims) for lbl, ims in rows if ims]
    if not rows:
        return None
    n = max(len(ims) for _, ims in rows)
    fig, axes = plt.subplots(len(rows), n, figsize=(0.9 * n + 1, 0.95 * len(rows) + 0.3), squeeze=False)
    for i, (lbl, ims) in enumerate(rows):
        for j in range(n):
            ax = axes[i][j]
            ax.axis("off")
            if j < len(ims):
                ax.imshow(np.asarray(ims[j], dtype=float).reshape(shape), cmap="gray", interpolation="nearest")
        axes[i][0].set_title(lbl, fontsize=7, loc="left")
    fig.suptitle(title, fontsize=9)
    return _png(fig)


def lines(title: str, series: dict[str, tuple[list, list]], xlabel: str, ylabel: str, logy: bool = False) -> str | None:
    if not series:
        return None
    fig, ax = plt.subplots(figsize=(6, 3.2))
    for name, (x, y) in series.items():
        fw = name.split(" ")[0]
        ax.plot(x, y, marker="o", ms=3, label=name, color=COLORS.get(fw))
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=9)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if logy:
        ax.set_yscale("log")
    ax.legend(fontsize=7)
    return _png(fig)


def sweep(panels: list[tuple[str, dict[str, tuple[list, list]]]], xlabel: str, loglog: bool = True) -> str | None:
    """Side-by-side panels (title, {series: (x, y)}) against the swept parameter; log-log axes when
    the parameter is a size, so a straight line of slope k means cost grows as size^k."""
    panels = [(t, s) for t, s in panels if s]
    if not panels:
        return None
    fig, axes = plt.subplots(1, len(panels), figsize=(4.3 * len(panels), 3.3), squeeze=False)
    for ax, (title, series) in zip(axes[0], panels):
        for name, (x, y) in series.items():
            fw = name.split(" ")[0]
            ax.plot(x, y, marker="o", ms=3, label=name, color=COLORS.get(fw), ls="-" if "eager" in name or "step" in name else "--")
        if loglog:
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
        ax.set_xlabel(xlabel)
        ax.set_title(title, fontsize=9)
    axes[0][0].legend(fontsize=7)
    return _png(fig)
