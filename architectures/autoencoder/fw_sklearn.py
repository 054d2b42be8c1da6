"""Autoencoder in scikit-learn: an MLPRegressor trained to map inputs to themselves, one
``partial_fit`` per harness epoch.

scikit-learn runs its own epoch loop: with ``shuffle=False`` and ``batch_size=B`` it slices the
harness's already-ordered epoch (steps*B rows of corrupted inputs -> clean targets) into exactly
the harness's batches, one optimizer step each. It has no way to take initial weights, so
``build`` primes the estimator with one ``partial_fit`` on a dummy row (which allocates its
internals), then overwrites ``coefs_`` / ``intercepts_`` with the canonical weights and drops the
primed optimizer, so the first harness step starts from the canonical weights with fresh state.

Loss scale: MLPRegressor's gradient is that of ``0.5 * sum over features, mean over samples`` of
the squared error, i.e. D/2 times the gradient of the canonical loss (mean over batch *and*
features). SGD compensates exactly with ``learning_rate_init = lr * 2 / D``; Adam is invariant to
a constant gradient scale except for eps, so it gets ``epsilon = eps * D / 2``.
"""
from __future__ import annotations

import numpy as np
from sklearn.neural_network import MLPRegressor

from architectures._shared import Unsupported
from harness.frameworks.sklearn import AdapterBase

ACT = {"relu": "relu", "tanh": "tanh", "sigmoid": "logistic"}


def make_regressor(model, train, features: int, seed: int) -> MLPRegressor:
    """The canonical autoencoder and optimizer as MLPRegressor settings (no L2, no schedule, no
    shuffle), with the optimizer rescaled for the D/2 gradient scale (see the module docstring)."""
    scale = features / 2.0
    opt = ({"solver": "sgd", "learning_rate_init": train.lr / scale, "momentum": train.momentum,
            "nesterovs_momentum": False, "learning_rate": "constant"}
           if train.optimizer == "sgd" else
           {"solver": "adam", "learning_rate_init": train.lr, "beta_1": train.beta1, "beta_2": train.beta2,
            "epsilon": train.eps * scale})
    hidden = (*model.encoder, *reversed(model.encoder[:-1]))  # encoder, then the decoder's hidden layers
    # batch_size 1 fits the priming call's one dummy row; train_epoch sets the real B
    return MLPRegressor(hidden_layer_sizes=hidden, activation=ACT[model.activation], alpha=0.0,
                        batch_size=1, shuffle=False, random_state=seed, **opt)


def layer_names(model) -> list[str]:
    """Canonical layer names in MLPRegressor's coefs_ order (the order of application)."""
    k = len(model.encoder)
    return [f"enc{i}" for i in range(k)] + [f"dec{i}" for i in reversed(range(k))]


class Adapter(AdapterBase):
    MODES = ("step",)  # scikit-learn's own per-batch loop inside partial_fit
    NOTES = ("MLPRegressor's squared-error gradient is D/2 times the canonical one (0.5 * sum over features "
             "instead of mean over features): SGD gets learning_rate_init = lr*2/D (exactly equivalent); Adam "
             "gets epsilon = eps*D/2 and the same lr, equivalent except that scikit-learn puts eps inside the "
             "bias correction (eps-hat: w -= lr*sqrt(1-b2^t)/(1-b1^t) * m/(sqrt(v)+eps)), i.e. an effective "
             "eps of eps/sqrt(1-b2^t) in the canonical formula. SGD momentum is the same update written with a "
             "negative velocity (v <- momentum*v - lr*g; w <- w + v). The returned loss is 2 * scikit-learn's "
             "loss_ (its squared_loss is 0.5 * the canonical mean). Tied weights and a sigmoid output are "
             "unsupported.")

    def __init__(self, model, info, train, **kw):
        if model.tied:
            raise Unsupported("scikit-learn's MLPRegressor has one independent coefs_ matrix per layer and no "
                              "weight sharing, so tied decoder kernels (enc{i}.kernel transposed) cannot be expressed")
        if model.output != "linear":
            raise Unsupported("scikit-learn's MLPRegressor has a fixed identity output layer (out_activation_ "
                              "'identity' for squared error), so output: sigmoid cannot be expressed")
        super().__init__(model, info, train, **kw)

    def build(self, weights: dict[str, np.ndarray]) -> None:
        """weights: canonical ``enc{i}.*``, ``dec{i}.*`` (see the spec), float32."""
        features = int(np.prod(self.info.input_shape))
        self.reg = make_regressor(self.model, self.train, features, self.seed)
        dummy = np.zeros((1, features), np.float32)  # float32 rows make scikit-learn allocate float32 weights
        self.reg.partial_fit(dummy, dummy)
        names = layer_names(self.model)
        self.reg.coefs_ = [np.array(weights[f"{n}.kernel"], np.float32) for n in names]
        self.reg.intercepts_ = [np.array(weights[f"{n}.bias"], np.float32) for n in names]
        self._forget_priming()

    def _forget_priming(self) -> None:
        """Drop the primed optimizer (partial_fit builds a fresh one over the current coefs_ when
        none exists) and the priming call's loss bookkeeping."""
        del self.reg._optimizer
        self.reg.t_ = 0
        self.reg.loss_curve_ = []
        self.reg.best_loss_ = np.inf
        self.reg._no_improvement_count = 0

    def get_weights(self) -> dict[str, np.ndarray]:
        """Canonical names -> float32 numpy copies (coefs_ are already (in, out))."""
        out = {}
        for n, w, b in zip(layer_names(self.model), self.reg.coefs_, self.reg.intercepts_):
            out[f"{n}.kernel"] = np.array(w, dtype=np.float32)
            out[f"{n}.bias"] = np.array(b, dtype=np.float32)
        return out

    def train_epoch(self, xb: np.ndarray, yb: np.ndarray) -> float:
        """xb (steps, B, D) corrupted inputs, yb (steps, B, D) clean targets -> mean loss over the steps."""
        steps, b = xb.shape[:2]
        self.reg.set_params(batch_size=b)  # the harness's B (train.batch_size may differ, e.g. in checks)
        self.reg.partial_fit(xb.reshape(steps * b, -1), yb.reshape(steps * b, -1))
        # loss_ = mean of the equal-sized batch losses, each 0.5 * the canonical mean squared error
        return float(2.0 * self.reg.loss_)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """x (N, *input_shape) -> reconstruction (N, D) (the output layer is the identity)."""
        return self.reg.predict(np.asarray(x.reshape(len(x), -1), dtype=np.float32))
