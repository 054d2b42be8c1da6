"""annbench command line: run | report | list | env | compare | export.

User mistakes (bad config, missing directory) print one line and exit with code 2; no traceback.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from harness import registry

app = typer.Typer(add_completion=False, no_args_is_help=True, rich_markup_mode=None,
                  help="Comparative benchmarks of neural-network architectures across frameworks.")
console = Console(highlight=False, width=None if sys.stdout.isatty() else 130)  # no truncation in pipes/CI
err = Console(stderr=True, highlight=False)


def fail(msg: str, code: int = 2) -> None:
    typer.echo(f"annbench: error: {msg}", err=True)  # plain: never wrapped, one line
    raise typer.Exit(code)


def _split(values: Optional[list[str]]) -> Optional[list[str]]:
    if not values:
        return None
    out = [v.strip() for item in values for v in item.split(",") if v.strip()]
    return out or None


class RichProgress:
    """Progress bar over the job matrix plus one line per finished job."""

    def __init__(self) -> None:
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), console=console, transient=False,
                                 refresh_per_second=2)  # redraws run on the jobs' CPUs: few of them
        self.task = None
        self.counts: dict[str, int] = {}

    def start(self, todo: int, already: int) -> None:
        if already:
            console.print(f"resuming: {already} job(s) already recorded, {todo} to run")
        self.progress.start()
        self.task = self.progress.add_task("starting", total=todo)

    def note(self, msg: str) -> None:
        console.print(f"[dim]{msg}[/dim]")

    def more(self, n: int) -> None:
        """repeats: auto added n jobs (another round for cells whose CI is still too wide)."""
        self.progress.console.print(f"repeats: auto — {n} more job(s): another round where the CI is wider than asked")
        task = next(t for t in self.progress.tasks if t.id == self.task)
        self.progress.update(self.task, total=(task.total or 0) + n)

    def job_started(self, job) -> None:
        self.progress.update(self.task, description=escape(job.job_id))  # sweep names hold [...]

    def job_done(self, job, rec: dict) -> None:
        st = rec["status"]
        self.counts[st] = self.counts.get(st, 0) + 1
        colour = {"ok": "green", "failed": "red", "timeout": "red"}.get(st, "yellow")
        detail = ""
        if st == "ok":
            m = rec.get("metrics") or {}
            key = next(iter(m), None)
            ep = (rec.get("timing") or {}).get("epoch_s")
            detail = (f"{key}={m[key]:.4g} " if key and isinstance(m[key], (int, float)) else "") + \
                     (f"epoch={ep * 1e3:.1f}ms" if ep else "")
        else:
            detail = rec.get("error") or ""
        self.progress.console.print(f"[{colour}]{st:>11}[/] {escape(job.job_id)}  {escape(detail)}", markup=True,
                                    highlight=False)
        self.progress.advance(self.task)

    def stop(self) -> None:
        self.progress.update(self.task, description="done")
        self.progress.stop()


@app.command()
def run(config: Optional[Path] = typer.Argument(None, help="YAML config (optional with --resume: the run's own config is used)."),
        out: Optional[Path] = typer.Option(None, "--out", help="Output directory (default results/<name>-<UTC time>)."),
        resume: Optional[Path] = typer.Option(None, "--resume", help="Finish a previous run directory: only jobs without a record run."),
        arch: Optional[list[str]] = typer.Option(None, "--arch", "-a", help="Only these architectures (repeatable or comma-separated)."),
        framework: Optional[list[str]] = typer.Option(None, "--framework", "-f", help="Only these frameworks."),
        benchmark: Optional[list[str]] = typer.Option(None, "--benchmark", "-b", help="Only these benchmark names."),
        repeats: Optional[str] = typer.Option(None, "--repeats", help="Override the config's repeats: a number or 'auto'."),
        report: bool = typer.Option(True, "--report/--no-report", help="Write report.html at the end."),
        executor: str = typer.Option("local", "--executor", help="local (one job after another here) or ray "
                                     "(spread over a Ray cluster's nodes, one job per node)."),
        address: Optional[str] = typer.Option(None, "--address", help="--executor ray: the head's HOST:PORT "
                                              "(default: a cluster on this machine, else a new local one).")) -> None:
    """Run a benchmark config: one fresh process per job; records appended to results.jsonl."""
    _check_executor(executor, address)
    cfg = _run_config(config, resume)
    out_dir = resume if resume is not None else out
    _override_repeats(cfg, repeats)
    fws, archs = _split(framework), _split(arch)
    _check_names(fws, archs)
    from harness import runner

    out_dir = out_dir or runner.default_out_dir(cfg.name)
    if out_dir.exists() and resume is None and (out_dir / "results.jsonl").exists():
        fail(f"{out_dir} already holds results; use --resume {out_dir} to finish it, or another --out")
    t0 = time.monotonic()
    execute = runner.run if executor == "local" else _ray_runner(address)  # connects before anything starts
    console.print(f"annbench: config [b]{cfg.name}[/b] → {out_dir}")
    prog = RichProgress()
    try:
        res_path = execute(cfg, out_dir, resume=resume is not None, architectures=archs, frameworks=fws,
                           benchmarks=_split(benchmark), progress=prog)
    except KeyboardInterrupt:
        err.print(f"interrupted; finished jobs are in {out_dir / 'results.jsonl'}; continue with: annbench run --resume {out_dir}")
        raise typer.Exit(130) from None
    console.print(f"records: {res_path}  ({', '.join(f'{k} {v}' for k, v in sorted(prog.counts.items())) or 'nothing to run'})")
    _print_same_model(res_path)
    if report:
        from harness import report as reportmod

        console.print(f"report: {reportmod.build(out_dir)}")
    console.print(f"elapsed: {time.monotonic() - t0:.1f} s")
    _exit_if_nothing_ran(res_path)


def _print_same_model(res_path: Path) -> None:
    """One line: how many benchmarks' jobs trained the same model, by their loss curves
    (harness/agreement.py); those whose jobs departed from epoch 1 on named in red."""
    from harness import agreement, results

    by: dict[str, list[dict]] = {}
    for r in results.read(res_path).records:
        by.setdefault(r["benchmark"], []).append(r)
    checks = {b: a for b, recs in by.items() if (a := agreement.check(recs))}
    if not checks:
        return
    count = {s: sum(a["state"] == s for a in checks.values()) for s in ("same", "drift", "reported", "differ")}
    drift = ", ".join(f"{b} after epoch {a['through']}" for b, a in checks.items() if a["state"] == "drift")
    reported = ", ".join(f"{b}: {', '.join(a['who'])}" for b, a in checks.items() if a["state"] == "reported")
    line = (f"same model (loss curves within {agreement.REL:.1%}): {count['same']} "
            f"benchmark{'' if count['same'] == 1 else 's'} at every epoch")
    line += f", {count['drift']} drifting apart later ({drift})" if drift else ""
    line += f", {count['reported']} with a loss reported differently for a few epochs ({reported})" if reported else ""
    console.print(escape(line), soft_wrap=True)  # one line, however long: scripts grep it
    for b, a in checks.items():
        if a["state"] == "differ":
            err.print(f"[red]{escape(b)}: {escape(agreement.sentence(a))}[/red]")


def _check_executor(executor: str, address: Optional[str]) -> None:
    from harness.executors import EXECUTORS

    if executor not in EXECUTORS:
        fail(f"--executor: unknown executor {executor!r} (allowed: {', '.join(EXECUTORS)})")
    if address is not None and executor != "ray":
        fail("--address: only with --executor ray")


def _ray_runner(address: Optional[str]):
    """runner.run's counterpart on a Ray cluster, connected now (bad input: one line, exit 2)."""
    from harness.executors import ExecutorError, ray_exec

    try:
        cluster = ray_exec.connect(address)
    except ExecutorError as e:
        fail(str(e))

    def execute(cfg, out_dir, **kw):
        try:
            return ray_exec.run(cluster, cfg, out_dir, **kw)
        finally:
            cluster.close()
    return execute


def _exit_if_nothing_ran(res_path: Path) -> None:
    """Exit 3 with one line when no job of the run ran (all skipped or unsupported), so scripts notice."""
    from harness import results

    recs = results.read(res_path).records
    if recs and not any(r.get("status") in ("ok", "failed", "timeout") for r in recs):
        first = next((r.get("error") for r in recs if r.get("error")), "")
        typer.echo(f"annbench: nothing ran: all {len(recs)} job(s) were skipped or unsupported "
                   f"(e.g. {first})", err=True)
        raise typer.Exit(3)


def _run_config(config: Optional[Path], resume: Optional[Path]):
    """The validated config of ``run``. With --resume, the run's own config.json, which a CONFIG
    given as well must equal."""
    import json

    from harness import config as cfgmod

    if resume is not None and not (resume / "config.json").exists() and config is None:
        fail(f"{resume}: not a run directory (no config.json) and no CONFIG given")
    if resume is None and config is None:
        fail("CONFIG is required (or --resume DIR)")
    stored_path = resume / "config.json" if resume is not None else None
    try:
        if config is not None:
            cfg = cfgmod.load(config)
        else:
            cfg = cfgmod.parse(json.loads(stored_path.read_text()), str(stored_path))
        if config is not None and stored_path is not None and stored_path.exists():
            stored = cfgmod.parse(json.loads(stored_path.read_text()), str(stored_path))
            if stored.hash() != cfg.hash():
                fail(f"{config}: differs from the config of {resume} (config.json); resuming would mix two "
                     f"experiments — omit CONFIG to resume with the run's own config")
    except cfgmod.ConfigError as e:
        fail(str(e))
    return cfg


def _override_repeats(cfg, repeats: Optional[str]) -> None:
    """--repeats overrides the run's and every benchmark's repeats."""
    if not repeats:
        return
    from harness import config as cfgmod

    try:
        cfg.repeats = cfgmod.check_repeats(repeats if repeats == "auto" else int(repeats))
    except ValueError:
        fail(f"--repeats: must be a whole number from 1 to 1000, or auto (got {repeats!r})")
    for b in cfg.benchmarks:
        b.repeats = None


def _check_names(fws: Optional[list[str]], archs: Optional[list[str]]) -> None:
    for f in fws or []:
        if f not in registry.FRAMEWORKS:
            fail(f"--framework: unknown framework {f!r} (allowed: {', '.join(registry.FRAMEWORKS)})")
    for a in archs or []:
        if a not in registry.architectures():
            fail(f"--arch: unknown architecture {a!r} (allowed: {', '.join(registry.architectures())})")


@app.command()
def report(run_dir: Path = typer.Argument(..., help="A run directory holding results.jsonl."),
           baseline: Path | None = typer.Option(None, "--baseline", help="A small-size run (e.g. make bench) "
                                                "whose ranks the scale section sets beside this run's.")) -> None:
    """(Re)build report.html from a run directory's records."""
    from harness import report as reportmod

    for d in (run_dir, baseline):
        if d is not None and not (d / "results.jsonl").exists():
            fail(f"{d}: no results.jsonl here")
    console.print(f"report: {reportmod.build(run_dir, baseline)}")


@app.command("list")
def list_(modes: bool = typer.Option(False, "--modes", help="Show each implementation's execution modes "
                                     "instead of ✓ (step→eager: a request for step runs eager).")) -> None:
    """The architecture x framework matrix: implemented, unsupported (with reason) or missing."""
    t = Table(title="annbench implementations")
    t.add_column("architecture", no_wrap=True)
    for fw in registry.FRAMEWORKS:
        t.add_column(fw + ("" if registry.installed(fw) else "*"), no_wrap=not modes)
    reasons = []
    for a in registry.architectures():
        row = []
        for fw in registry.FRAMEWORKS:
            impl = registry.implementation(a, fw)
            if impl.status == "implemented":
                row.append(f"[green]{_modes_cell(a, fw) if modes else '✓'}[/green]")
            elif impl.status == "unsupported":
                reasons.append((a, fw, impl.reason))
                row.append(f"[yellow]n/a{len(reasons)}[/yellow]")
            else:
                row.append("[dim]—[/dim]")
        t.add_row(a, *row)
    console.print(t)
    for i, (a, fw, why) in enumerate(reasons, 1):
        console.print(f"n/a{i} {a}/{fw}: {why}", markup=False)
    console.print(("modes it runs (a→b: asked for a, runs b)" if modes else "✓ implemented") +
                  " · n/aN unsupported by that framework (reason above) · — not implemented · "
                  "* not installed · theano = PyTensor, Theano's maintained successor", markup=False)


def _modes_cell(arch: str, fw: str) -> str:
    table = registry.modes(arch, fw)
    return " ".join(table.modes) + "".join(f" {a}→{m}" for a, m in table.aliases.items())


@app.command()
def env(probe: bool = typer.Option(False, "--probe", help="Import each installed framework in a fresh process "
                                   "to report its threads and float32 GEMM peak (slow)."),
        threads: int = typer.Option(2, help="Threads to request when probing."),
        device: str = typer.Option("cpu", "--device", help="Device to probe: cpu, or cuda (a preflight: each "
                                   "framework's view of the GPU, or why it has none)."),
        framework: Optional[list[str]] = typer.Option(None, "--framework", "-f", help="Only these frameworks.")) -> None:
    """Machine and software: CPU, cores, memory, GPUs, framework versions (and, with --probe, threads/devices)."""
    from harness import envinfo
    from harness.config import DEVICES

    if device not in DEVICES:
        fail(f"--device: unknown device {device!r} (allowed: {', '.join(DEVICES)})")
    only = _split(framework)
    for f in only or []:
        if f not in registry.FRAMEWORKS:
            fail(f"--framework: unknown framework {f!r} (allowed: {', '.join(registry.FRAMEWORKS)})")

    info = envinfo.collect(gemm=False)
    t = Table(show_header=False)
    for k in ("cpu", "cores_logical", "cores_physical", "affinity", "memory_gb", "os", "python", "numpy", "git_commit"):
        t.add_row(k, str(info.get(k)))
    t.add_row("gpus", ", ".join(g["name"] for g in info["gpus"]) or "none (nvidia-smi not found or no GPU)")
    for fw, v in info["frameworks"].items():
        if only and fw not in only:
            continue
        line = v or "not installed"
        if probe and v:
            line += _probe_line(envinfo.probe(fw, threads, device), device)
        t.add_row(registry.DISPLAY.get(fw, fw), line)
    console.print(t)


def _probe_line(p: dict, device: str) -> str:
    """One framework's probe on ``device``: its threads, GPU (cuda) and GEMM peak, or why it has none."""
    if "error" in p:
        return f"  probe failed: {p['error']}"
    gemm = p.get("gemm") or {}
    peak = f"{gemm['flops'] / 1e9:.1f} GFLOP/s (n={gemm['size']})" if gemm else p.get("gemm_error", "?")
    if device == "cpu":
        return f"  threads={p.get('threads')}  float32 GEMM peak={peak}"
    g = p.get("gpu")
    if not g:
        return f"  no GPU: {p.get('gemm_error') or 'no GPU in view'}"
    return (f"  GPU {g.get('name')}  driver {g.get('driver')}  CUDA {g.get('cuda')}  cuDNN {g.get('cudnn')}"
            f"  float32 GEMM peak={peak}")


@app.command()
def compare(a: Path = typer.Argument(..., help="Baseline run directory."),
            b: Path = typer.Argument(..., help="Candidate run directory, compared with the baseline."),
            threshold: float = typer.Option(1.10, "--threshold", help="Time factor B/A beyond which a "
                                            "significant slowdown is a regression (1/threshold: improvement)."),
            fail_on_regression: bool = typer.Option(False, "--fail-on-regression",
                                                    help="Exit 1 when any cell regressed (for CI)."),
            fmt: str = typer.Option("table", "--format", help="table, markdown or json.")) -> None:
    """Compare run B with baseline run A per cell (benchmark, framework, mode, device).

    Time: the steady-epoch ratio B/A (median of the pairwise ratios) with, at >= 3 jobs per side, a
    distribution-free interval (its real coverage shown when below 95%: 3 vs 3 allows 90%) and a
    two-sided Mann-Whitney U p-value. A regression is slower than --threshold AND significant
    (interval excludes 1 or p < 0.01); with < 3 jobs on a side, every pairwise ratio must lie beyond
    the threshold. Beyond the threshold but not significant: inconclusive (no failure). Primary
    metric: a regression when it got worse by more than the run-to-run spread: per seed (same seed,
    same work) the median difference B - A against the range of those differences; without matching
    seeds the medians against the larger range over repeats; the spread is at least 0.01 for
    accuracy-like fractions, 1% of the value otherwise. A cell that was ok and now fails is a
    regression. Cells in one run only are listed. Runs from different machines (a Ray run: its
    nodes'): a warning with both GEMM peaks; a cell whose A and B jobs ran on different nodes is
    marked cross-machine (⇄).
    """
    from harness import compare as cmpmod
    from harness.export import RunError

    if fmt not in cmpmod.FORMATS:
        fail(f"--format: unknown format {fmt!r} (allowed: {', '.join(cmpmod.FORMATS)})")
    if not threshold > 1:
        fail(f"--threshold: must be greater than 1 (got {threshold})")
    try:
        result = cmpmod.compare(a, b, threshold)
    except RunError as e:
        fail(str(e))
    for w in result.warnings:
        typer.echo(f"annbench: warning: {w}", err=True)
    _print_comparison(result, fmt)
    if fail_on_regression and result.regressions:
        raise typer.Exit(1)


def _print_comparison(result, fmt: str) -> None:
    from harness import compare as cmpmod

    if fmt == "json":
        typer.echo(cmpmod.to_json(result))
    elif fmt == "markdown":
        typer.echo(cmpmod.to_markdown(result), nl=False)
    else:
        t = Table(title=f"{Path(result.b).name} (B) vs {Path(result.a).name} (A, baseline)")
        for c in cmpmod.HEADER:
            t.add_column(c, no_wrap=c not in ("primary metric A → B", "verdict"))  # numbers stay whole
        styles = {"regression": "red", "improvement": "green", "inconclusive": "yellow", "only in A": "yellow",
                  "only in B": "yellow"}
        for cell in result.cells:
            t.add_row(*map(escape, cmpmod.row(cell)), style=styles.get(cell.verdict))
        console.print(t)
        console.print(cmpmod.summary(result), markup=False)


@app.command()
def export(run_dir: Path = typer.Argument(..., help="A run directory holding results.jsonl."),
           fmt: str = typer.Option(..., "--format", help="csv, parquet, markdown or tensorboard."),
           out: Optional[Path] = typer.Option(None, "-o", "--out", help="Output path (default: RUN/results.csv, "
                                              "RUN/results.parquet, RUN/tensorboard; markdown to stdout).")) -> None:
    """Export a run: csv/parquet (one row per record, flattened columns such as timing_epoch_s),
    markdown (the benchmark x framework overview matrix) or tensorboard (learning curves and timing
    scalars, one TensorBoard run per benchmark/framework/mode/device/repeat: tensorboard --logdir PATH)."""
    from harness import export as exportmod

    try:
        path, text = exportmod.export(run_dir, fmt, out)
    except exportmod.RunError as e:
        fail(str(e))
    if text is not None:
        typer.echo(text, nl=False)
    else:
        console.print(f"{fmt}: {path}", markup=False)


def main() -> None:  # pragma: no cover
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
