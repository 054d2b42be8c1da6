"""``annbench export``: a run's records as CSV / parquet (one row per record), a markdown overview
matrix (benchmark x framework), or TensorBoard event files (learning curves and timing scalars).

Imports no framework: TensorBoard's framework-free writer is imported lazily, with its stub of the
TensorFlow API forced (see ``_tensorboard_writer``).
"""
from __future__ import annotations

import json
import math
import re
import sys
import types
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from harness import registry, results, stats
from harness.stats import CROSS, CROSS_WHY, cross_machine, node_names

FORMATS = ("csv", "parquet", "markdown", "tensorboard")


class RunError(ValueError):
    """Bad user input about a run directory or an output path: the CLI prints it as one line."""


@dataclass
class Run:
    path: Path
    records: list[dict]
    env: dict | None = None  # env.json, None when the run has none
    problems: list[str] = field(default_factory=list)  # unreadable lines of results.jsonl


def load_run(path: Path) -> Run:
    """A run directory's records and env.json; RunError when it is not a readable run directory."""
    path = Path(path)
    if not path.is_dir():
        raise RunError(f"{path}: no such directory")
    res_path = path / "results.jsonl"
    if not res_path.is_file():
        raise RunError(f"{path}: no results.jsonl here (not a run directory)")
    try:
        res = results.read(res_path)
    except OSError as e:
        raise RunError(f"{res_path}: cannot read ({e.strerror or e})") from None
    if not res.records:
        raise RunError(f"{res_path}: no annbench records in it")
    env = None
    try:
        env = json.loads((path / "env.json").read_text())
    except (OSError, ValueError):
        pass  # old or partial runs: the comparison warns that the machines cannot be compared
    return Run(path, res.records, env if isinstance(env, dict) else None, res.problems)


# ---- primary metric -------------------------------------------------------------------------------

def metric_order(arch: str) -> list[str]:
    """The architecture's contract metrics, PRIMARY first (as the worker's learning curve picks them)."""
    try:
        spec = registry.spec(arch)  # numpy-only module
    except ImportError:  # a run of an architecture this checkout does not have
        return []
    return list(dict.fromkeys([spec.PRIMARY, *spec.METRICS]))


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def primary_metric(arch: str, records: list[dict]) -> str | None:
    """The first contract metric (PRIMARY, then METRICS) that every ok record given reports; else the
    first numeric metric they share (an architecture outside this checkout)."""
    ok = [r for r in records if r.get("status") == "ok"]
    if not ok:
        return None
    shared = [k for k, v in (ok[0].get("metrics") or {}).items()
              if _number(v) and all(_number((r.get("metrics") or {}).get(k)) for r in ok)]
    return next((m for m in metric_order(arch) if m in shared), shared[0] if shared else None)


def median(values: list) -> float | None:
    """The median of the finite numbers among ``values`` (None, NaN, bools left out), or None."""
    return stats.summary([x for x in values if _number(x)])["median"]


# ---- csv / parquet ------------------------------------------------------------------------------

def flatten(record: dict, prefix: str = "") -> dict:
    """One flat row: nested dicts joined with ``_`` (``timing.epoch_s`` -> ``timing_epoch_s``); lists
    (the learning curve) and anything else that does not flatten become JSON strings."""
    row: dict[str, Any] = {}
    for k, v in record.items():
        name = f"{prefix}{k}"
        if isinstance(v, dict):
            row.update(flatten(v, name + "_"))
        elif isinstance(v, (list, tuple)):
            row[name] = json.dumps(v)
        else:
            row[name] = v
    return row


def frame(records: list[dict]):
    """pandas DataFrame of flattened records. A column whose values mix types (a number here, a
    string there) becomes text throughout (numbers as JSON), so parquet gets one type per column."""
    import pandas as pd

    df = pd.DataFrame([flatten(r) for r in records])
    for col in [c for c in df.columns if pd.api.types.is_object_dtype(df[c])]:
        values = [None if pd.isna(v) else v for v in df[col]]  # pd.isna: scalars only, lists are JSON text
        if len({type(v) for v in values if v is not None}) > 1:
            df[col] = [v if v is None or isinstance(v, str) else json.dumps(v) for v in values]
    return df


def _write_table(run: Run, fmt: str, out: Path) -> Path:
    df = frame(run.records)
    _parent(out)
    try:
        if fmt == "csv":
            df.to_csv(out, index=False)
        else:
            try:
                import pyarrow  # noqa: F401  (pandas picks its engine silently; say what is missing)
            except ImportError:
                raise RunError("parquet export needs pyarrow: pip install pyarrow") from None
            df.to_parquet(out, index=False, engine="pyarrow")
    except OSError as e:
        raise RunError(f"{out}: cannot write ({_why(e)})") from None
    return out


def _why(e: OSError) -> str:
    if isinstance(e, (FileExistsError, NotADirectoryError)):
        return "a file stands where a directory is needed"
    return e.strerror or str(e)


def _parent(out: Path) -> None:
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise RunError(f"{out}: cannot create its directory ({_why(e)})") from None
    if out.is_dir():
        raise RunError(f"{out}: is a directory; give a file path")


# ---- markdown overview ----------------------------------------------------------------------------

def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    """A GitHub-flavoured markdown table; ``|`` inside a cell is escaped."""
    def line(cells):
        return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"
    return "\n".join([line(header), line(["---"] * len(header)), *map(line, rows)])


def _best_cell(recs: list[dict]) -> tuple[str, float | None, list[dict]]:
    """Among one framework's ok (mode, device) cells of a benchmark: the fastest steady epoch (median
    over repeats); cells without a steady epoch (one epoch run) come last."""
    cells: dict[str, list[dict]] = {}
    for r in recs:
        dev = "" if r.get("device") in (None, "cpu") else f"@{r['device']}"
        cells.setdefault(f"{r.get('mode')}{dev}", []).append(r)
    timed = {k: median([(r.get("timing") or {}).get("epoch_s") for r in v]) for k, v in cells.items()}
    best = min(cells, key=lambda k: (timed[k] is None, timed[k] or 0.0))
    return best, timed[best], cells[best]


def _status_cell(recs: list[dict], notes: list[str], fw: str, bench: str) -> str:
    status = recs[0].get("status")
    label = {"unsupported": "n/a", "timeout": "failed (timeout)"}.get(status, status)
    reason = next((r.get("error") for r in recs if r.get("error")), None) or status
    notes.append(f"{registry.DISPLAY.get(fw, fw)} on {bench}: {reason}")
    return f"{label} ({len(notes)})"


def overview(records: list[dict]) -> tuple[list[str], list[list[str]], list[str]]:
    """The benchmark x framework matrix: steady-epoch time of each framework's fastest (mode, device)
    over the fastest framework's, then the primary metric (median over repeats); failed/unsupported
    cells name their reason in a numbered note. Returns (header, rows, notes)."""
    fws = [f for f in registry.FRAMEWORKS if any(r.get("framework") == f for r in records)]
    fws += sorted({r.get("framework") for r in records} - set(fws))
    benches = list(dict.fromkeys(r.get("benchmark") for r in records))
    rows, notes = [], []
    for bench in benches:
        recs = [r for r in records if r.get("benchmark") == bench]
        metric = primary_metric(recs[0].get("architecture"), recs)
        best = {}
        for fw in fws:
            ok = [r for r in recs if r.get("framework") == fw and r.get("status") == "ok"]
            if ok:
                best[fw] = _best_cell(ok)
        fastest = min((t for _, t, _ in best.values() if t), default=None)
        base = next((c for c in best.values() if c[1] == fastest and fastest), None)
        several = any(len({(r.get("mode"), r.get("device")) for r in recs if r.get("framework") == fw}) > 1
                      for fw in fws)
        low = registry.lower_is_better(recs[0].get("architecture"), metric) if metric else None
        row = [f"{bench} ({metric} {'↓' if low else '↑'})" if metric else bench]
        for fw in fws:
            mine = [r for r in recs if r.get("framework") == fw]
            if fw in best:
                cross = base is not None and cross_machine(node_names(best[fw][2]), node_names(base[2]))
                row.append(_ok_cell(best[fw], fastest, metric, several) + (f" {CROSS}" if cross else ""))
            else:
                row.append(_status_cell(mine, notes, fw, bench) if mine else "—")
        rows.append(row)
    return ["benchmark (primary metric)", *[registry.DISPLAY.get(f, f) for f in fws]], rows, notes


def _ok_cell(best: tuple[str, float | None, list[dict]], fastest: float | None, metric: str | None,
             several: bool) -> str:
    mode, epoch_s, recs = best
    if epoch_s and fastest:
        ratio = f"{epoch_s / fastest:.2f}×"
        speed = f"**{ratio}**" if epoch_s == fastest else ratio
    else:
        speed = "–"  # a one-epoch run has no steady epoch
    value = median([(r.get("metrics") or {}).get(metric) for r in recs]) if metric else None
    cell = speed + (f" · {value:.4g}" if value is not None else "")
    return cell + (f" ({mode})" if several else "")


def markdown(run: Run) -> str:
    header, rows, notes = overview(run.records)
    env = run.env or {}
    peak = ((env.get("gemm_peaks") or {}).get("cpu") or env.get("gemm_peak") or {}).get("flops")
    machine = ", ".join(x for x in (env.get("cpu"), f"{env['cores_logical']} logical cores"
                                    if env.get("cores_logical") else None,
                                    f"float32 GEMM peak {peak / 1e9:.1f} GFLOP/s" if peak else None) if x)
    lines = [f"Run `{run.path.name}`" + (f" on {machine}" if machine else "") + ".", "",
             "Each cell: the steady-epoch time of the framework's fastest mode over the fastest framework's "
             "(**bold**: the fastest; median over repeats), then the primary metric (↑ higher is better, "
             "↓ lower). Mode named where a benchmark ran several.", "", markdown_table(header, rows)]
    if any(CROSS in c for row in rows for c in row[1:]):
        lines += ["", f"{CROSS} cross-machine: this cell and the fastest ran on more than one node between them; {CROSS_WHY}."]
    if notes:
        lines += ["", *[f"({i}) {n}" for i, n in enumerate(notes, 1)]]
    return "\n".join(lines) + "\n"


# ---- tensorboard ------------------------------------------------------------------------------

def _tensorboard_writer():
    """TensorBoard's framework-free ``tensorboard.summary.Writer``. Its event file writer reaches the
    file system through ``tensorboard.compat.tf``, which imports TensorFlow when it is installed
    (seconds, and the harness process imports no framework) unless the module
    ``tensorboard.compat.notf`` exists: TensorBoard's own switch (its no-TensorFlow build provides
    that module) to the bundled stub of the TensorFlow API."""
    sys.modules.setdefault("tensorboard.compat.notf", types.ModuleType("tensorboard.compat.notf"))
    try:
        from tensorboard.summary import Writer
    except ImportError:
        raise RunError("tensorboard export needs the tensorboard package: pip install tensorboard") from None
    return Writer


def _safe(name: Any) -> str:
    return re.sub(r"[^A-Za-z0-9._=+-]+", "_", str(name)).strip("_") or "_"


def tb_run_name(rec: dict) -> str:
    """``<benchmark>/<framework>.<mode>.<device>.r<repeat>``: one TensorBoard run per job, grouped by
    benchmark so a run filter on the benchmark shows all frameworks' curves side by side."""
    leaf = ".".join(_safe(rec.get(k)) for k in ("framework", "mode", "device")) + f".r{rec.get('repeat')}"
    return f"{_safe(rec.get('benchmark'))}/{leaf}"


def _start_time(run: Run) -> float:
    try:
        return datetime.fromisoformat((run.env or {})["created_utc"]).timestamp()
    except (KeyError, TypeError, ValueError):
        return (run.path / "results.jsonl").stat().st_mtime


def _write_job(Writer, rec: dict, logdir: Path, metric: str | None, t0: float) -> None:
    """One job's learning curve (a scalar per epoch; wall time = start + training seconds so far, so
    TensorBoard's "relative" axis is training time) and its timing/memory scalars at step 0."""
    w = Writer(str(logdir))
    try:
        for pt in rec.get("curve") or []:
            step, wall = int(pt.get("epoch", 0)), t0 + float(pt.get("seconds") or 0.0)
            if _number(pt.get("loss")):
                w.add_scalar("curve/loss", pt["loss"], step, wall_time=wall)
            if _number(pt.get("metric")):
                w.add_scalar(f"curve/{metric or 'metric'}", pt["metric"], step, wall_time=wall)
        for sec in ("timing", "memory"):
            for k, v in (rec.get(sec) or {}).items():
                if _number(v):
                    w.add_scalar(f"{sec}/{k}", v, 0, wall_time=t0)
    finally:
        w.close()


def tensorboard(run: Run, out: Path) -> Path:
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise RunError(f"{out}: exists and is not an empty directory (event files would pile up); "
                       f"give a new or empty directory")
    Writer = _tensorboard_writer()
    ok = [r for r in run.records if r.get("status") == "ok"]
    metrics = {b: primary_metric(rs[0].get("architecture"), rs)
               for b, rs in _by(ok, "benchmark").items()}
    t0 = _start_time(run)
    try:
        out.mkdir(parents=True, exist_ok=True)
        for rec in ok:
            logdir = out / tb_run_name(rec)
            logdir.mkdir(parents=True, exist_ok=True)  # here, not in the writer's thread: errors surface
            _write_job(Writer, rec, logdir, metrics[rec.get("benchmark")], t0)
    except OSError as e:
        raise RunError(f"{out}: cannot write ({_why(e)})") from None
    return out


def _by(records: list[dict], key: str) -> dict[Any, list[dict]]:
    out: dict[Any, list[dict]] = {}
    for r in records:
        out.setdefault(r.get(key), []).append(r)
    return out


# ---- entry ------------------------------------------------------------------------------------

DEFAULT_NAMES = {"csv": "results.csv", "parquet": "results.parquet", "tensorboard": "tensorboard"}


def export(run_dir: Path, fmt: str, out: Path | None = None) -> tuple[Path | None, str | None]:
    """Export a run; returns (path written, markdown text when written to no file)."""
    if fmt not in FORMATS:
        raise RunError(f"--format: unknown format {fmt!r} (allowed: {', '.join(FORMATS)})")
    run = load_run(run_dir)
    if fmt == "markdown":
        text = markdown(run)
        if out is None:
            return None, text
        _parent(out)
        try:
            out.write_text(text)
        except OSError as e:
            raise RunError(f"{out}: cannot write ({_why(e)})") from None
        return out, None
    out = out if out is not None else run.path / DEFAULT_NAMES[fmt]
    if fmt == "tensorboard":
        return tensorboard(run, out), None
    return _write_table(run, fmt, out), None
