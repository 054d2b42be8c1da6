"""MLP spec: analytic gradients equal finite differences; the deep-sigmoid vanishing gradient shows."""
import numpy as np

from architectures._shared import fd_gradient
from architectures.mlp import spec
from harness import datasets


def test_analytic_gradients_match_finite_differences():
    c = spec.check_case()
    for act in ("relu", "tanh", "sigmoid"):
        m = spec.Model(hidden=[5, 4], activation=act)
        w = spec.init_weights(m, c["info"], np.random.default_rng(1))
        w = {k: v + 0.05 for k, v in w.items()}  # nonzero biases: keep relu away from its kink
        g = spec.gradients(w, c["x"], c["y"], m)
        fd = fd_gradient(lambda ww: spec.loss(ww, c["x"], c["y"], m), w)
        for k in g:
            np.testing.assert_allclose(g[k], fd[k], atol=1e-7, err_msg=f"{act} {k}")


def test_deep_sigmoid_gradient_vanishes_but_relu_does_not():
    d = datasets.load("digits")
    x, y = d.x_train[:256], d.y_train[:256]
    ratios = {}
    for act in ("sigmoid", "relu"):
        m = spec.Model(hidden=[32] * 6, activation=act)
        norms = spec.layer_grad_norms(spec.init_weights(m, d.info, np.random.default_rng(0)), x, y, m)
        ratios[act] = norms[0] / norms[-1]
    assert ratios["sigmoid"] < 0.01 < 0.3 < ratios["relu"]


def test_logistic_regression_is_an_mlp_without_hidden_layers():
    d = datasets.load("mnist1d")
    m = spec.Model(hidden=[])
    w = spec.init_weights(m, d.info, np.random.default_rng(0))
    assert list(w) == ["dense0.kernel", "dense0.bias"] and w["dense0.kernel"].shape == (40, 10)
    assert spec.forward(w, d.x_test[:5], m).shape == (5, 10)
