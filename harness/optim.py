"""Reference optimizers in numpy: the definition every framework's update must match.

sgd:  v <- momentum * v + g;            w <- w - lr * v           (PyTorch/optax semantics, no nesterov)
adam: m <- b1 m + (1-b1) g;  v <- b2 v + (1-b2) g^2
      w <- w - lr * (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps)  (PyTorch/optax semantics)

Keras and scikit-learn put Adam's eps inside the bias correction ("eps-hat"); an adapter that uses
them says so in its NOTES, the others write the update by hand or use a library with these formulas.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class OptState:
    t: int = 0
    slots: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)


def apply_update(weights: dict[str, np.ndarray], grads: dict[str, np.ndarray], train, state: OptState | None = None
                 ) -> tuple[dict[str, np.ndarray], OptState]:
    """One optimizer step on every weight with a gradient; returns new weights (float64) and state."""
    state = state or OptState()
    state.t += 1
    new = {}
    for name, w in weights.items():
        if name not in grads:
            new[name] = np.asarray(w, dtype=np.float64)
            continue
        g = np.asarray(grads[name], dtype=np.float64)
        s = state.slots.setdefault(name, {})
        w = np.asarray(w, dtype=np.float64)
        if train.optimizer == "sgd":
            v = train.momentum * s.get("v", np.zeros_like(g)) + g
            s["v"] = v
            new[name] = w - train.lr * v
        elif train.optimizer == "adam":
            m = train.beta1 * s.get("m", np.zeros_like(g)) + (1 - train.beta1) * g
            v = train.beta2 * s.get("v", np.zeros_like(g)) + (1 - train.beta2) * g * g
            s["m"], s["v"] = m, v
            mhat = m / (1 - train.beta1 ** state.t)
            vhat = v / (1 - train.beta2 ** state.t)
            new[name] = w - train.lr * mhat / (np.sqrt(vhat) + train.eps)
        else:  # pragma: no cover - config validation forbids it
            raise ValueError(f"unknown optimizer {train.optimizer!r}")
    return new, state
