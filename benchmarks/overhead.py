"""The harness's own overhead: the MLP's steady epoch through the adapter vs a bare hand-written loop.

Runs each framework in a fresh process with the harness's thread settings; in that process the
harness path (Adapter.train_epoch + sync on harness-built batches) and the bare loop alternate
epoch by epoch (so drift hits both), and the medians are compared. Prints harness/bare per framework.
Not part of `make test` (it measures time). Usage: .venv/bin/python benchmarks/overhead.py [--epochs 40]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CHILD = r'''
import json, sys, time
import numpy as np
fw, epochs = sys.argv[1], int(sys.argv[2])
from harness import datasets
from harness.batching import epoch_batches, epoch_permutation
from harness.config import TrainConfig
from harness.frameworks import helper
from architectures.mlp import spec
import importlib
helper(fw).setup(2, 0)
data = datasets.load("digits")
model, train = spec.Model(hidden=[64]), TrainConfig(epochs=epochs, batch_size=32, optimizer="adam", lr=1e-3)
w0 = spec.init_weights(model, data.info, np.random.default_rng(0))
ad = importlib.import_module(f"architectures.mlp.fw_{fw}").Adapter(model, data.info, train)
ad.build({k: v.copy() for k, v in w0.items()})
batches = [epoch_batches(data.x_train, data.y_train, 32, epoch_permutation(len(data.x_train), 0, e)) for e in range(epochs)]

if fw == "torch":
    import torch
    net = torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.ReLU(), torch.nn.Linear(64, 10))
    with torch.no_grad():
        net[0].weight.copy_(torch.from_numpy(w0["dense0.kernel"].T.copy())); net[0].bias.zero_()
        net[2].weight.copy_(torch.from_numpy(w0["dense1.kernel"].T.copy())); net[2].bias.zero_()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-8)
    lossf = torch.nn.CrossEntropyLoss()
    def bare(xb, yb):
        x, y = torch.from_numpy(xb), torch.from_numpy(yb)
        tot = torch.zeros(())
        for i in range(len(x)):
            opt.zero_grad(set_to_none=True)
            l = lossf(net(x[i]), y[i]); l.backward(); opt.step(); tot += l.detach()
        return float(tot.item() / len(x))
else:
    import jax, jax.numpy as jnp, optax
    p = {k: jnp.asarray(v) for k, v in w0.items()}
    tx = optax.adam(1e-3, b1=0.9, b2=0.999, eps=1e-8)
    st = tx.init(p)
    def lossf(p, x, y):
        h = jax.nn.relu(x @ p["dense0.kernel"] + p["dense0.bias"])
        z = h @ p["dense1.kernel"] + p["dense1.bias"]
        return optax.softmax_cross_entropy_with_integer_labels(z, y).mean()
    @jax.jit
    def step(p, st, xs, ys, i, tot):
        # the batch is sliced inside the jit: slicing outside dispatches an extra op per step
        l, g = jax.value_and_grad(lossf)(p, xs[i], ys[i])
        u, st = tx.update(g, st, p)
        return optax.apply_updates(p, u), st, tot + l
    def bare(xb, yb):
        global p, st
        x, y = jnp.asarray(xb), jnp.asarray(yb)
        tot = jnp.zeros(())
        for i in range(len(x)):
            p, st, tot = step(p, st, x, y, i, tot)
        return float(tot / len(x))

th, tb = [], []
for e, (xb, yb) in enumerate(batches):
    t = time.perf_counter(); ad.train_epoch(xb, yb); ad.sync(); th.append(time.perf_counter() - t)
    t = time.perf_counter(); bare(xb, yb); tb.append(time.perf_counter() - t)
print(json.dumps({"harness": float(np.median(th[1:])), "bare": float(np.median(tb[1:]))}))
'''


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--frameworks", default="torch,jax")
    args = ap.parse_args()
    from harness.runner import thread_env

    worst = 0.0
    for fw in args.frameworks.split(","):
        env = {**os.environ, **thread_env(2, "cpu"), "PYTHONPATH": str(ROOT)}
        p = subprocess.run([sys.executable, "-c", CHILD, fw, str(args.epochs)], env=env, cwd=ROOT,
                           capture_output=True, text=True)
        if p.returncode != 0:
            print(f"{fw}: failed: {p.stderr.strip().splitlines()[-1:]}")
            return 1
        r = json.loads(p.stdout.strip().splitlines()[-1])
        ratio = r["harness"] / r["bare"]
        worst = max(worst, ratio)
        print(f"{fw:>6}: harness {r['harness'] * 1e3:8.2f} ms/epoch   bare {r['bare'] * 1e3:8.2f} ms/epoch   "
              f"overhead ratio {ratio:.3f}")
    print(f"worst overhead ratio {worst:.3f} (goal <= 1.01)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
