"""The GPU path, checked on a GPU machine: configs/gpu.yaml (MLP, CNN, LSTM in torch, TensorFlow, jax and
flax) on cuda AND cpu through the real runner, then, for every cuda record: status ok, the GPU named
(model, driver, CUDA, cuDNN), ``memory.gpu_peak_mb > 0``, and the framework's GEMM peak probe measured
on the device (env.json). Prints one line per check that fails and a cuda/cpu table; exit 0 when all
pass, 1 when one fails, 3 when there is no GPU here (nothing to check).

Usage (in the CUDA venv, ``make setup-gpu``): ``.venv-gpu/bin/python benchmarks/gpu_check.py [OUT]``
(``--repeats N`` to shorten it).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness import config, gpu, results, runner  # noqa: E402


def problems(recs: list[dict], env: dict) -> list[str]:
    """One line per cuda record (or GEMM probe) that does not show the GPU path working."""
    out = []
    probes = env.get("framework_probe") or {}
    for r in recs:
        if r["device"] != "cuda":
            continue
        where = r["job_id"]
        if r["status"] != "ok":
            out.append(f"{where}: {r['status']}: {r.get('error')}")
            continue
        peak = (r.get("memory") or {}).get("gpu_peak_mb")
        if not peak or peak <= 0:
            out.append(f"{where}: memory.gpu_peak_mb is {peak!r}, not > 0")
        g = r.get("gpu") or {}
        if not g.get("name") or not g.get("cuda"):
            out.append(f"{where}: the record does not name its GPU and CUDA version: {g!r}")
    for fw in sorted({r["framework"] for r in recs if r["device"] == "cuda"}):
        gemm = ((probes.get(fw) or {}).get("gemm") or {}).get("cuda") or {}
        if not gemm.get("flops") or not (gemm.get("device") == "cuda" or gemm.get("same_as")):
            out.append(f"{fw}: the GEMM peak probe did not run on the GPU: {gemm!r}")
    return out


def table(recs: list[dict]) -> list[str]:
    """Median steady epoch time per (benchmark, framework) on cuda and cpu, and their ratio."""
    import pandas as pd

    rows = [{"benchmark": r["benchmark"], "framework": r["framework"], "device": r["device"],
             "epoch_ms": ((r.get("timing") or {}).get("epoch_s") or float("nan")) * 1e3,
             "h2d_ms": ((r.get("timing") or {}).get("h2d_s") or float("nan")) * 1e3,
             "gpu_peak_mb": (r.get("memory") or {}).get("gpu_peak_mb")} for r in recs if r["status"] == "ok"]
    if not rows:
        return ["(no ok records)"]
    df = pd.DataFrame(rows).groupby(["benchmark", "framework", "device"]).median(numeric_only=True).unstack("device")
    return df.round(2).to_string().splitlines()


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", nargs="?", type=Path, default=runner.default_out_dir("gpu-check"))
    ap.add_argument("--config", type=Path, default=ROOT / "configs" / "gpu.yaml")
    ap.add_argument("--repeats", type=int, default=None)
    args = ap.parse_args(argv)
    if why := gpu.no_gpu_reason():
        print(f"gpu_check: nothing to check: {why}")
        return 3
    cfg = config.load(args.config)
    cfg.devices = ["cuda", "cpu"]
    if args.repeats:
        cfg.repeats = args.repeats
    res = runner.run(cfg, args.out)
    recs = results.read(res).records
    env = json.loads((args.out / "env.json").read_text())
    print(f"gpu: {[g['name'] for g in env.get('gpus', [])]}  records: {res}")
    for line in table(recs):
        print(line)
    bad = problems(recs, env)
    for line in bad:
        print(f"FAIL {line}")
    n = sum(r["device"] == "cuda" for r in recs)
    failing = {b.split(": ")[0] for b in bad if "/cuda/" in b}
    print(f"gpu_check: {n - len(failing)}/{n} cuda records pass; {len(bad)} problem(s)")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
