"""The harness's own overhead: the MLP's steady epoch through the adapter vs a bare hand-written loop.

Each (framework, mode) case runs in a fresh process with the harness's thread settings. In that
process the harness path (``Adapter.train_epoch`` + ``sync`` on harness-built batches, exactly what
the worker times) and a bare loop written by hand in the same framework and mode train the same
64-64-10 MLP on digits from the same weights, epoch by epoch, which of the two goes first drawn at
random per epoch, so drift and cache effects hit both; of the two processes of a case, one builds the
adapter first and the other the bare model (an A/A run showed a ~1-2% edge from order alone).
Prints the median steady epoch of each, the ratio harness/bare with the order-statistic interval of
the median per-epoch ratio (labelled with its coverage, harness.stats.median_ci), and the
worst ratio. Cases:

- ``torch/eager``: the adapter's eager loop vs a plain PyTorch loop
- ``torch/compiled``: the adapter's torch.compile step vs a bare torch.compile'd step (slow: compiles)
- ``jax/step``: the adapter's jitted step per batch vs a bare jitted step loop
- ``jax/epoch``: the adapter's fused epoch vs a hand-fused ``lax.scan`` epoch (the original target: within 1.2x)

Not part of ``make test`` (it measures time); run it on a quiet machine:
``.venv/bin/python benchmarks/overhead.py [--epochs 60] [--cases torch/eager,jax/step,jax/epoch]``
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CHILD = r'''
import importlib, json, sys, time
import numpy as np
fw, mode, epochs, first = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
from harness import datasets
from harness.batching import epoch_batches, epoch_permutation
from harness.config import TrainConfig
from harness.frameworks import helper
from architectures.mlp import spec
helper(fw).setup(2, 0)
data = datasets.load("digits")
model, train = spec.Model(hidden=[64]), TrainConfig(epochs=epochs, batch_size=32, optimizer="adam", lr=1e-3)
w0 = spec.init_weights(model, data.info, np.random.default_rng(0))
if first:  # build order alternates between the two processes too: what is allocated first can run faster
    ad = None
else:
    ad = importlib.import_module(f"architectures.mlp.fw_{fw}").Adapter(model, data.info, train, mode=mode)
    ad.build({k: v.copy() for k, v in w0.items()})
batches = [epoch_batches(data.x_train, data.y_train, 32, epoch_permutation(len(data.x_train), 0, e))
           for e in range(epochs)]

if fw == "torch":
    import torch
    net = torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.ReLU(), torch.nn.Linear(64, 10))
    with torch.no_grad():
        for i, lin in enumerate((net[0], net[2])):
            lin.weight.copy_(torch.from_numpy(w0[f"dense{i}.kernel"].T.copy()))
            lin.bias.copy_(torch.from_numpy(w0[f"dense{i}.bias"]))
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-8)
    lossf = torch.nn.CrossEntropyLoss()
    def step(x, y):
        opt.zero_grad(set_to_none=True)
        l = lossf(net(x), y); l.backward(); opt.step()
        return l.detach()
    if mode == "compiled":
        step = torch.compile(step)
    def bare(xb, yb):
        x, y = torch.from_numpy(xb), torch.from_numpy(yb.astype(np.int64))
        tot = torch.zeros(())
        for i in range(len(x)):
            tot += step(x[i], y[i])
        return float(tot.item() / len(x))
else:
    import jax, jax.numpy as jnp, optax
    from functools import partial
    state = {"p": {k: jnp.asarray(v) for k, v in w0.items()}}
    tx = optax.adam(1e-3, b1=0.9, b2=0.999, eps=1e-8)
    state["s"] = tx.init(state["p"])
    def lossf(p, x, y):
        h = jax.nn.relu(x @ p["dense0.kernel"] + p["dense0.bias"])
        z = h @ p["dense1.kernel"] + p["dense1.bias"]
        return optax.softmax_cross_entropy_with_integer_labels(z, y).mean()
    def update(p, s, x, y):
        l, g = jax.value_and_grad(lossf)(p, x, y)
        u, s = tx.update(g, s, p)
        return optax.apply_updates(p, u), s, l
    @partial(jax.jit, donate_argnums=(0, 1, 2))  # updated in place, as a careful hand-written loop does
    def jstep(p, s, tot, xs, ys, i):
        p, s, l = update(p, s, xs[i], ys[i])
        return p, s, tot + l
    @partial(jax.jit, donate_argnums=(0, 1))
    def jepoch(p, s, xs, ys):
        def body(c, b):
            p, s, l = update(*c, *b)
            return (p, s), l
        (p, s), ls = jax.lax.scan(body, (p, s), (xs, ys))
        return p, s, ls.mean()
    def bare(xb, yb):
        x, y = jnp.asarray(xb), jnp.asarray(yb.astype(np.int32))
        p, s = state["p"], state["s"]
        if mode == "epoch":
            p, s, mean = jepoch(p, s, x, y)
        else:
            tot = jnp.zeros(())
            for i in range(len(x)):
                p, s, tot = jstep(p, s, tot, x, y, i)
            mean = tot / len(x)
        state["p"], state["s"] = p, s
        mean = float(mean)
        # the loss is out before the update's last writes: wait for the new state too, as any timed
        # loop must (the harness's sync does); else that tail is charged to whatever is timed next
        jax.block_until_ready((p, s))
        return mean

if ad is None:
    ad = importlib.import_module(f"architectures.mlp.fw_{fw}").Adapter(model, data.info, train, mode=mode)
    ad.build({k: v.copy() for k, v in w0.items()})

def harness(xb, yb):
    loss = ad.train_epoch(xb, yb); ad.sync()
    return loss

th, tb = [], []
coin = np.random.default_rng(first).random(len(batches)) < 0.5  # which goes first, epoch by epoch
for e, (xb, yb) in enumerate(batches):
    order = ((harness, th), (bare, tb)) if coin[e] else ((bare, tb), (harness, th))
    for fn, times in order:
        t = time.perf_counter(); fn(xb, yb); times.append(time.perf_counter() - t)
print(json.dumps({"harness": th[1:], "bare": tb[1:]}))
'''

CASES = ("torch/eager", "torch/compiled", "jax/step", "jax/epoch")


def run_case(case: str, epochs: int) -> dict:
    """Both build orders (harness first, bare first), each in a fresh process; their epoch times pooled."""
    from harness.jobenv import thread_env

    fw, mode = case.split("/")
    env = {**os.environ, **thread_env(2, "cpu"), "PYTHONPATH": str(ROOT)}
    out: dict = {"harness": [], "bare": [], "per_process": []}
    for first in (0, 1):
        p = subprocess.run([sys.executable, "-c", CHILD, fw, mode, str(epochs), str(first)], env=env, cwd=ROOT,
                           capture_output=True, text=True)
        if p.returncode != 0:
            return {"error": (p.stderr.strip().splitlines() or ["failed"])[-1]}
        r = json.loads(p.stdout.strip().splitlines()[-1])
        out["harness"] += r["harness"]
        out["bare"] += r["bare"]
        out["per_process"].append(float(np.median(np.divide(r["harness"], r["bare"]))))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--cases", default="torch/eager,jax/step,jax/epoch",
                    help=f"comma-separated, from {', '.join(CASES)}")
    args = ap.parse_args()
    from harness.stats import level_text, summary

    worst, failed = 0.0, False
    for case in args.cases.split(","):
        if case not in CASES:
            print(f"unknown case {case!r} (allowed: {', '.join(CASES)})")
            return 2
        r = run_case(case, args.epochs)
        if "error" in r:
            print(f"{case:>15}: failed: {r['error']}")
            failed = True
            continue
        h, b = summary(r["harness"]), summary(r["bare"])
        paired = summary([a / c for a, c in zip(r["harness"], r["bare"])])
        worst = max(worst, paired["median"])
        print(f"{case:>15}: harness {h['median'] * 1e3:8.2f} ms/epoch (IQR {h['iqr'] * 1e3:.2f})   "
              f"bare {b['median'] * 1e3:8.2f} ms/epoch (IQR {b['iqr'] * 1e3:.2f})   "
              f"ratio {paired['median']:.3f} [{paired['ci'].low:.3f}, {paired['ci'].high:.3f}] "
              f"{level_text(paired['ci'].level)}   "
              f"(per process: {r['per_process'][0]:.3f} harness built first, {r['per_process'][1]:.3f} bare first)")
    print(f"worst overhead ratio {worst:.3f} (goal <= 1.01; jax/epoch vs hand-fused lax.scan: <= 1.2)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
