"""annbench command line: run | report | list | env | compare.

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
        report: bool = typer.Option(True, "--report/--no-report", help="Write report.html at the end.")) -> None:
    """Run a benchmark config: one fresh process per job; records appended to results.jsonl."""
    from harness import config as cfgmod
    from harness import report as reportmod
    from harness import runner

    if resume is not None:
        if not (resume / "config.json").exists() and config is None:
            fail(f"{resume}: not a run directory (no config.json) and no CONFIG given")
        out_dir = resume
    else:
        if config is None:
            fail("CONFIG is required (or --resume DIR)")
        out_dir = out
    try:
        if config is not None:
            cfg = cfgmod.load(config)
        else:
            import json

            cfg = cfgmod.parse(json.loads((resume / "config.json").read_text()), str(resume / "config.json"))
    except cfgmod.ConfigError as e:
        fail(str(e))
    if resume is not None and config is not None and (resume / "config.json").exists():
        import json

        stored = cfgmod.parse(json.loads((resume / "config.json").read_text()), str(resume / "config.json"))
        if stored.hash() != cfg.hash():
            fail(f"{config}: differs from the config of {resume} (config.json); resuming would mix two "
                 f"experiments — omit CONFIG to resume with the run's own config")
    if repeats:  # overrides the run's and every benchmark's repeats
        try:
            cfg.repeats = cfgmod.check_repeats(repeats if repeats == "auto" else int(repeats))
        except ValueError:
            fail(f"--repeats: must be a whole number from 1 to 1000, or auto (got {repeats!r})")
        for b in cfg.benchmarks:
            b.repeats = None
    fws, archs = _split(framework), _split(arch)
    for f in fws or []:
        if f not in registry.FRAMEWORKS:
            fail(f"--framework: unknown framework {f!r} (allowed: {', '.join(registry.FRAMEWORKS)})")
    for a in archs or []:
        if a not in registry.architectures():
            fail(f"--arch: unknown architecture {a!r} (allowed: {', '.join(registry.architectures())})")
    out_dir = out_dir or runner.default_out_dir(cfg.name)
    if out_dir.exists() and resume is None and (out_dir / "results.jsonl").exists():
        fail(f"{out_dir} already holds results; use --resume {out_dir} to finish it, or another --out")
    t0 = time.monotonic()
    console.print(f"annbench: config [b]{cfg.name}[/b] → {out_dir}")
    prog = RichProgress()
    try:
        res_path = runner.run(cfg, out_dir, resume=resume is not None, architectures=archs, frameworks=fws,
                              benchmarks=_split(benchmark), progress=prog)
    except KeyboardInterrupt:
        err.print(f"interrupted; finished jobs are in {out_dir / 'results.jsonl'}; continue with: annbench run --resume {out_dir}")
        raise typer.Exit(130) from None
    console.print(f"records: {res_path}  ({', '.join(f'{k} {v}' for k, v in sorted(prog.counts.items())) or 'nothing to run'})")
    if report:
        path = reportmod.build(out_dir)
        console.print(f"report: {path}")
    console.print(f"elapsed: {time.monotonic() - t0:.1f} s")


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
        threads: int = typer.Option(2, help="Threads to request when probing.")) -> None:
    """Machine and software: CPU, cores, memory, GPUs, framework versions (and, with --probe, threads/devices)."""
    from harness import envinfo

    info = envinfo.collect(gemm=False)
    t = Table(show_header=False)
    for k in ("cpu", "cores_logical", "cores_physical", "affinity", "memory_gb", "os", "python", "numpy", "git_commit"):
        t.add_row(k, str(info.get(k)))
    t.add_row("gpus", ", ".join(g["name"] for g in info["gpus"]) or "none (nvidia-smi not found or no GPU)")
    for fw, v in info["frameworks"].items():
        line = v or "not installed"
        if probe and v:
            p = envinfo.probe(fw, threads)
            gemm = p.get("gemm") or {}
            line += (f"  threads={p.get('threads')}  float32 GEMM peak="
                     + (f"{gemm['flops'] / 1e9:.1f} GFLOP/s (n={gemm['size']})" if gemm else p.get("gemm_error", "?"))
                     if "error" not in p else f"  probe failed: {p['error']}")
        t.add_row(registry.DISPLAY.get(fw, fw), line)
    console.print(t)


@app.command()
def compare(a: Path = typer.Argument(..., help="Baseline run directory."),
            b: Path = typer.Argument(..., help="Run directory to compare with the baseline.")) -> None:
    """Compare two runs: steady epoch time ratio (B/A) and primary-metric change per cell."""
    from harness import results
    from harness.report import aggregate
    from harness.stats import ratio_ci

    frames = []
    for d in (a, b):
        if not (d / "results.jsonl").exists():
            fail(f"{d}: no results.jsonl here")
        frames.append(aggregate.frame(results.read(d / "results.jsonl").records))
    fa, fb = (f[f.status == "ok"] for f in frames)
    t = Table(title=f"{b.name} vs {a.name}")
    for c in ("benchmark", "framework", "mode", "device", "epoch time B/A [95% CI]", "metric A", "metric B"):
        t.add_column(c)
    keys = ["benchmark", "framework", "mode", "device"]
    for key, ga in fa.groupby(keys):
        gb = fb
        for k, v in zip(keys, key):
            gb = gb[gb[k] == v]
        if gb.empty:
            continue
        r = ratio_ci(gb.epoch_s.tolist(), ga.epoch_s.tolist())
        metric = aggregate.metric_names(ga.architecture.iloc[0], ga)
        m = metric[0] if metric else None
        ma = f"{ga[f'm.{m}'].median():.4g}" if m else "–"
        mb = f"{gb[f'm.{m}'].median():.4g}" if m and f"m.{m}" in gb else "–"
        rs = "–" if not r else f"{r['ratio']:.2f}" + (f" [{r['ci'][0]:.2f}, {r['ci'][1]:.2f}]" if r["ci"] else "")
        t.add_row(*map(str, key), rs, f"{m} {ma}" if m else "–", mb)
    console.print(t)


def main() -> None:  # pragma: no cover
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
