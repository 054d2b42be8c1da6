"""matplotlib figures rendered to inline base64 PNG (the report is one self-contained file)."""
from __future__ import annotations

import base64
import io

import matplotlib
import numpy as np

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


def _strip(ims: list, shape: tuple[int, int], n: int) -> np.ndarray:
    """Images side by side in one array, one blank (NaN) column between them, ``n`` places wide; each
    image scaled to [0, 1] on its own (darkest black, lightest white, as imshow scales one image)."""
    h, w = shape
    out = np.full((h, n * (w + 1) - 1), np.nan)
    for j, im in enumerate(ims[:n]):
        a = np.asarray(im, dtype=float).reshape(shape)
        lo, hi = float(np.min(a)), float(np.max(a))
        out[:, j * (w + 1):j * (w + 1) + w] = (a - lo) / (hi - lo) if hi > lo else 0.0
    return out


def images(title: str, rows: list[tuple[str, list]], shape: tuple[int, int], size: float = 0.9) -> str | None:
    """A grid of small grey images, each ``size`` inches wide: each row a label and a list of flat
    arrays (one strip per row: a few axes however many images). A label that starts with a
    framework's id is written in its colour."""
    rows = [(lbl, ims) for lbl, ims in rows if len(ims)]
    if not rows:
        return None
    n = max(len(ims) for _, ims in rows)
    fig, axes = plt.subplots(len(rows), 1, figsize=(size * n + 0.4, (size + 0.25) * len(rows) + 0.3),
                             squeeze=False, layout="constrained")
    grey = plt.get_cmap("gray").with_extremes(bad="white")
    for ax, (lbl, ims) in zip(axes[:, 0], rows):
        ax.imshow(_strip(ims, shape, n), cmap=grey, vmin=0.0, vmax=1.0, interpolation="nearest")
        ax.axis("off")
        fw = lbl.split(" ")[0]
        ax.set_title(lbl, fontsize=7, loc="left", color=colour(fw) if fw in FRAMEWORK_COLOURS else "black")
    fig.suptitle(title, fontsize=9)
    return _png(fig)


# decision regions: pale backgrounds and dark points per class (ColorBrewer PuOr: no framework's colour)
CLASS_FILLS = ("#fee0b6", "#d8daeb", "#fdb863", "#b2abd2")
CLASS_POINTS = ("#b35806", "#542788", "#e08214", "#8073ac")


def regions(title: str, panels: list[tuple[str, str, np.ndarray]], extent: tuple[float, float, float, float],
            x: np.ndarray, y: np.ndarray, per_row: int = 4) -> str | None:
    """TensorFlow-Playground-style panels, one per (label, framework, grid): the predicted class on a
    grid over ``extent`` (x0, x1, y0, y1; grid row i at the i-th y from y0, column j at the j-th x),
    its class boundary, and the points ``x`` (n, 2) coloured by their class ``y`` on top. Each
    panel's title and frame are in its framework's colour."""
    from matplotlib.colors import ListedColormap

    if not panels:
        return None
    k = max(2, int(max(g.max() for _, _, g in panels)) + 1, int(y.max()) + 1)
    cols = min(per_row, len(panels))
    nrows = -(-len(panels) // cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(2.3 * cols, 2.5 * nrows), squeeze=False,
                             layout="constrained")
    for ax in axes.ravel()[len(panels):]:
        ax.axis("off")
    for ax, (label, fw, grid) in zip(axes.ravel(), panels):
        ax.imshow(grid, origin="lower", extent=extent, cmap=ListedColormap(CLASS_FILLS[:k]), vmin=-0.5,
                  vmax=k - 0.5, interpolation="nearest", aspect="auto")
        xs = np.linspace(extent[0], extent[1], grid.shape[1])
        ys = np.linspace(extent[2], extent[3], grid.shape[0])
        ax.contour(xs, ys, grid, levels=np.arange(k - 1) + 0.5, colors="black", linewidths=0.6)
        ax.scatter(x[:, 0], x[:, 1], c=[CLASS_POINTS[int(c) % len(CLASS_POINTS)] for c in y], s=6,
                   edgecolors="white", linewidths=0.3)
        ax.set_title(label, fontsize=8, color=colour(fw))
        ax.set_xticks([])
        ax.set_yticks([])
        for side in ax.spines.values():
            side.set_color(colour(fw))
            side.set_linewidth(2.5)
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
