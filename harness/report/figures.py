"""matplotlib figures rendered to inline base64 PNG (the report is one self-contained file)."""
from __future__ import annotations

import base64
import io

import matplotlib

matplotlib.use("Agg")  # no display; must precede pyplot
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

# One fixed colour per framework in every figure and on the page (matplotlib's tab10, assigned by
# hand so no two frameworks share one; tab10's grey is kept for anything unknown).
FRAMEWORK_COLOURS = {"torch": "#d62728", "tensorflow": "#ff7f0e", "jax": "#1f77b4", "flax": "#17becf",
                     "autograd": "#2ca02c", "sklearn": "#8c564b", "theano": "#9467bd", "minisom": "#e377c2"}
OTHER_COLOUR = "#7f7f7f"
MODE_MARKERS = {"step": "o", "eager": "o", "epoch": "s", "epoch-xla": "D", "compiled": "^"}


def colour(framework: str) -> str:
    return FRAMEWORK_COLOURS.get(framework, OTHER_COLOUR)


def _png(fig) -> str:
    """The figure as base64 PNG, reduced to a 256-colour palette: about a quarter of the bytes of a
    full-colour PNG for plots like these, which keeps a full run's report well under 5 MB."""
    from PIL import Image  # matplotlib's own dependency

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    buf.seek(0)
    out = io.BytesIO()
    Image.open(buf).convert("RGB").quantize(colors=256, method=Image.Quantize.FASTOCTREE).save(out, format="PNG", optimize=True)
    return base64.b64encode(out.getvalue()).decode("ascii")


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
    ax.barh(names, med, xerr=err, color=[colour(d[4]) for d in data], capsize=3)
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
        kw = {"color": colour(r["framework"]), "alpha": 0.8, "lw": 1.2, "marker": "o" if len(ep) <= 5 else None,
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
        ax.plot(x, y, marker="o", ms=3, label=name, color=colour(fw))
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
            ax.plot(x, y, marker="o", ms=3, label=name, color=colour(fw), ls="-" if "eager" in name or "step" in name else "--")
        if loglog:
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
        ax.set_xlabel(xlabel)
        ax.set_title(title, fontsize=9)
    axes[0][0].legend(fontsize=7)
    return _png(fig)


def tradeoff(points: list[dict], front: list[dict], metric: str, lower_better: bool) -> str | None:
    """Primary metric against steady epoch time (log x) per row, marker area proportional to peak RSS,
    colour per framework; the Pareto-optimal rows (``front``, sorted by time) joined and named.
    points: {label, framework, time, metric, rss} with time and metric present."""
    if not points:
        return None
    fig, ax = plt.subplots(figsize=(5.6, 3.6))
    rss_max = max((p["rss"] or 0) for p in points) or 1.0
    for p in points:
        ax.scatter(p["time"], p["metric"], s=25 + 400 * (p["rss"] or 0) / rss_max, color=colour(p["framework"]),
                   marker=MODE_MARKERS.get(p.get("mode"), "o"), alpha=0.75, edgecolors="black", linewidths=0.5,
                   label=p["label"], zorder=3)
    ax.plot([p["time"] for p in front], [p["metric"] for p in front], color="black", lw=1, ls="--", zorder=2)
    for p in front:
        ax.annotate(p["label"], (p["time"], p["metric"]), xytext=(4, 4), textcoords="offset points", fontsize=7)
    ax.set_xscale("log")
    ax.margins(0.12, 0.15)  # room for the names of the points at the edges
    ax.set_xlabel("steady epoch time (s, log scale) — left is faster")
    ax.set_ylabel(f"{metric} ({'lower' if lower_better else 'higher'} is better)")
    ax.legend(fontsize=6, loc="best", markerscale=0.5, framealpha=0.6)
    return _png(fig)
