"""MLP in scikit-learn: MLPClassifier, one ``partial_fit`` per harness epoch.

scikit-learn runs its own epoch loop: with ``shuffle=False`` and ``batch_size=B`` it slices the
harness's already-ordered epoch (steps*B rows) into exactly the harness's batches, one optimizer
step each. It has no way to take initial weights, so ``build`` primes the estimator with one
``partial_fit`` on dummy data (which allocates its internals), then overwrites ``coefs_`` /
``intercepts_`` with the canonical weights and drops the primed optimizer, so the first harness
step starts from the canonical weights with fresh optimizer state.
"""
from __future__ import annotations

import numpy as np
from sklearn.neural_network import MLPClassifier

from architectures._shared import Unsupported
from harness.frameworks.sklearn import AdapterBase

ACT = {"relu": "relu", "tanh": "tanh", "sigmoid": "logistic"}


def make_classifier(model, train, n_classes: int, seed: int) -> MLPClassifier:
    """The canonical MLP and optimizer as MLPClassifier settings (no L2, no schedule, no shuffle)."""
    opt = ({"solver": "sgd", "momentum": train.momentum, "nesterovs_momentum": False, "learning_rate": "constant"}
           if train.optimizer == "sgd" else
           {"solver": "adam", "beta_1": train.beta1, "beta_2": train.beta2, "epsilon": train.eps})
    # batch_size = n_classes fits the priming call's n_classes dummy rows; train_epoch sets the real B
    return MLPClassifier(hidden_layer_sizes=tuple(model.hidden), activation=ACT[model.activation], alpha=0.0,
                         learning_rate_init=train.lr, batch_size=n_classes, shuffle=False, random_state=seed, **opt)


class Adapter(AdapterBase):
    MODES = ("step",)  # scikit-learn's own per-batch loop inside partial_fit
    NOTES = ("Adam: scikit-learn puts eps inside the bias correction (eps-hat: "
             "w -= lr*sqrt(1-b2^t)/(1-b1^t) * m/(sqrt(v)+eps)). SGD momentum is the same update written with "
             "a negative velocity (v <- momentum*v - lr*g; w <- w + v). The epoch loss is scikit-learn's log_loss, "
             "which clips probabilities to [eps, 1-eps]. predict returns logits from scikit-learn's forward pass "
             "with its softmax output step switched off. Two-class problems are unsupported: MLPClassifier "
             "uses one logistic output unit there, not two softmax logits.")

    def __init__(self, model, info, train, **kw):
        if info.n_classes < 3:
            raise Unsupported("MLPClassifier has one logistic output unit for two classes, "
                              "not the canonical two softmax logits")
        super().__init__(model, info, train, **kw)

    def build(self, weights: dict[str, np.ndarray]) -> None:
        """weights: canonical ``dense{i}.kernel`` (in, out) and ``dense{i}.bias`` (out,), float32."""
        n_classes, n_layers = self.info.n_classes, len(self.model.hidden) + 1
        self.clf = make_classifier(self.model, self.train, n_classes, self.seed)
        features = int(np.prod(self.info.input_shape))
        classes = np.arange(n_classes)
        # float32 dummy rows make scikit-learn allocate float32 weights and fit the label binarizer
        self.clf.partial_fit(np.zeros((n_classes, features), np.float32), classes, classes=classes)
        self.clf.coefs_ = [np.array(weights[f"dense{i}.kernel"], np.float32) for i in range(n_layers)]
        self.clf.intercepts_ = [np.array(weights[f"dense{i}.bias"], np.float32) for i in range(n_layers)]
        self._forget_priming()

    def _forget_priming(self) -> None:
        """Drop the primed optimizer (partial_fit builds a fresh one over the current coefs_ when
        none exists) and the priming call's loss bookkeeping."""
        del self.clf._optimizer
        self.clf.t_ = 0
        self.clf.loss_curve_ = []
        self.clf.best_loss_ = np.inf
        self.clf._no_improvement_count = 0

    def get_weights(self) -> dict[str, np.ndarray]:
        """Canonical names -> float32 numpy copies (coefs_ are already (in, out))."""
        out = {}
        for i, (k, b) in enumerate(zip(self.clf.coefs_, self.clf.intercepts_)):
            out[f"dense{i}.kernel"] = np.array(k, dtype=np.float32)
            out[f"dense{i}.bias"] = np.array(b, dtype=np.float32)
        return out

    def train_epoch(self, xb: np.ndarray, yb: np.ndarray) -> float:
        """xb (steps, B, features), yb (steps, B) int -> mean loss over the steps."""
        steps, b = xb.shape[:2]
        self.clf.set_params(batch_size=b)  # the harness's B (train.batch_size may differ, e.g. in checks)
        self.clf.partial_fit(xb.reshape(steps * b, -1), yb.reshape(-1))
        return float(self.clf.loss_)  # sum of batch_loss * B over steps*B rows = mean of batch losses

    def predict(self, x: np.ndarray) -> np.ndarray:
        """x (N, features) -> logits (N, classes).

        MLPClassifier has no public logits; its ``_forward_pass_fast`` ends with the output
        activation (softmax), so it is run with that step set to identity."""
        out_activation = self.clf.out_activation_
        self.clf.out_activation_ = "identity"
        try:
            return self.clf._forward_pass_fast(np.asarray(x.reshape(len(x), -1), dtype=np.float32))
        finally:
            self.clf.out_activation_ = out_activation
