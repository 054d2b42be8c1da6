"""Which machine measured a row. A Ray run's env.json keeps every node's run-start probes (machine,
versions, GEMM peaks) under ``nodes[<name>]`` and every record names its ``node``; a local run is
one machine, its probes at env.json's top. From these: each row's efficiency against the GEMM peak
of the node it ran on, the words for a ratio between rows measured on different nodes
(cross-machine, ⇄), and the nodes' part of the report's machine line."""
from __future__ import annotations

from dataclasses import dataclass, field

from harness.stats import CROSS, CROSS_WHY  # noqa: F401  (re-exported: the report's modules use them from here)


def node_text(row: dict) -> str:
    """'node a', 'nodes a, b' (a row whose repeats were spread), or 'an unnamed node'."""
    ns = row.get("nodes") or []
    return f"node{'s' if len(ns) > 1 else ''} {', '.join(ns)}" if ns else "an unnamed node"


def cross_note(row: dict, base: dict, base_name: str) -> str:
    """The hover sentence of a cross-machine ratio of ``row`` over ``base``."""
    return f"{CROSS} cross-machine: this row ran on {node_text(row)}, {base_name} on {node_text(base)}: {CROSS_WHY}"


def _device_peaks(probes: dict) -> dict:
    return probes.get("gemm_peaks") or ({"cpu": probes["gemm_peak"]} if probes.get("gemm_peak") else {})


@dataclass
class Peaks:
    """``run``: device -> GEMM peak entry at env.json's top (a local run's machine; a Ray run's first
    node, the stand-in for a node without its own); ``nodes``: node name -> device -> entry."""
    run: dict = field(default_factory=dict)
    nodes: dict = field(default_factory=dict)

    def of(self, node: str | None, device: str) -> tuple[float | None, bool]:
        """(the peak FLOP/s a job on ``node`` and ``device`` is measured against, whether it is the
        run's peak standing in for a node of a Ray run that measured none)."""
        own = ((self.nodes.get(node) or {}).get(device) or {}).get("flops") if node else None
        if own:
            return own, False
        top = (self.run.get(device) or {}).get("flops")
        return top, bool(self.nodes) and bool(top)


def peaks(env: dict) -> Peaks:
    """The run's peaks and each node's, from env.json (an older run's ``gemm_peak`` is the CPU's)."""
    nodes = {name: _device_peaks(p) for name, p in (env.get("nodes") or {}).items() if isinstance(p, dict)}
    return Peaks(_device_peaks(env), nodes)


def efficiency(per_node: dict, device: str, pk: Peaks) -> tuple[str, str]:
    """A row's "of GEMM peak": (text, hover). ``per_node``: {node: the row's median achieved FLOP/s
    on it} (None: jobs naming no node). Each node's jobs against that node's own peak; † = the run's
    peak stood in for a node without one; a row spread over several nodes shows each ("mixed nodes");
    above 100% is a bug (FLOP count or timing), flagged ⚠."""
    parts, notes = [], []
    for node in sorted(per_node, key=lambda n: n or ""):
        flops = per_node[node]
        peak, stand_in = pk.of(node, device)
        if not flops or not peak:
            continue
        e = flops / peak
        parts.append((node, f"{e:.1%}" + (" †" if stand_in else ""), e))
        notes.append(f"{node or 'this machine'}: {flops / 1e9:.2f} GFLOP/s of {peak / 1e9:.1f} GFLOP/s"
                     + (f" († {node or 'it'} measured no {device} GEMM peak: the run's stands in)" if stand_in else ""))
    if not parts:
        return "–", "no achieved FLOP/s or no GEMM peak measured"
    text = parts[0][1] if len(per_node) == 1 else "mixed nodes: " + ", ".join(f"{n} {t}" for n, t, _ in parts)
    if any(e > 1 for *_, e in parts):
        text += " ⚠ >100%: FLOP count or timing is wrong"
    return text, "achieved training FLOP/s over the GEMM peak of the node it ran on; " + "; ".join(notes)


def _machine(p: dict) -> str:
    gpus = ", ".join(g.get("name", "?") for g in p.get("gpus") or [])
    return (f"{p.get('cpu') or 'CPU unknown'} · {p.get('cores_logical')} logical / {p.get('cores_physical')} "
            f"physical cores · {p.get('memory_gb')} GB RAM" + (f" · GPU: {gpus}" if gpus else ""))


def machines_text(env: dict) -> str:
    """A Ray run's nodes for the machine line: nodes of one kind of machine together, then each node's
    float32 GEMM peak per device: 'Ray, 2 nodes: a, b — Xeon · 8 logical / 4 physical cores · 31 GB
    RAM · float32 GEMM peak cpu: a 123.4, b 98.7 GFLOP/s'."""
    kinds: dict[str, list[str]] = {}
    failed, per_dev = [], {}
    for name, p in sorted((env.get("nodes") or {}).items()):
        if not isinstance(p, dict) or p.get("error") or not p.get("cpu"):
            failed.append(f"{name}: probes failed ({(p or {}).get('error') if isinstance(p, dict) else p})")
            continue
        kinds.setdefault(_machine(p), []).append(name)
        for dev, g in sorted(_device_peaks(p).items()):
            if (g or {}).get("flops"):
                per_dev.setdefault(dev, []).append(f"{name} {g['flops'] / 1e9:.1f}")
    n = len(env.get("nodes") or {})
    out = [f"Ray, {n} node{'s' if n != 1 else ''}: " + "; ".join(f"{', '.join(ns)} — {m}" for m, ns in kinds.items())]
    out += ["float32 GEMM peak " + "; ".join(f"{d}: {', '.join(v)} GFLOP/s" for d, v in per_dev.items())
            if per_dev else "GEMM peak not measured"]
    return " · ".join(out + failed)
