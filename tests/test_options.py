"""The option space: every value of every option of every architecture, in every framework.

The options are read from the schemas: each ``Literal``, ``bool`` (and ``Enum``) field of each spec's
``Model``, nested pydantic models included (``conv.<field>`` for a list of conv layers). The shared
check set (test_adapters.py) runs each spec's ``check_case()``, so it covers the value the check case
holds; here every *other* value gets the check case with that one field replaced, shared by every
framework that implements the architecture, and is checked against the numpy reference:

- forward (``predict``) at the starting weights equals ``spec.forward`` (the starting weights: the
  spec's ``check_weights(model, info)`` where it has one, for stochastic nets whose options do not show
  from near-zero weights; else ``init_weights`` from default_rng(0), as in the shared check set);
- one training epoch (the case's first optimizer) equals the reference epoch
  (``spec.reference_epoch``, else finite-difference gradients through the reference optimizer),
  weights and the mean loss of the epoch;
- forward on the trained weights equals ``spec.forward`` of them;
- where a spec declares ``check_methods(model, x) -> {method: args}`` (options that act outside
  forward and training: the Hopfield network's recall mode), ``adapter.<method>(*args)`` equals the
  spec's ``<method>(weights, *args)``, before and after the epoch.

Each runs in the framework's cheapest mode to build (``eager`` where there is one, else what ``step``
runs): the model code is the same in every mode, and test_adapters.py runs every mode on the check
case; the compiled modes would only add tracing and compile time per option value.
A value a framework cannot express raises ``Unsupported`` in its adapter: skipped with the reason.

So an option added later is checked the day it is added. Three guards keep that true: every field of
every ``Model`` must be classified (an option, a nested model, or a number / list of numbers the
reference takes as it is) or the suite fails naming it; every option value must change what the
reference computes on the check case (else the check case cannot see the option: make it, or list
the field in NEUTRAL with the reason); and the enumeration must find the options known today.
"""
from __future__ import annotations

import enum
import types
import typing
from functools import lru_cache

import numpy as np
import pytest
from pydantic import BaseModel

from architectures._shared import reference_steps
from conftest import build_adapter, frameworks, spec_module
from harness import registry
from harness.batching import epoch_arrays

# Option fields that do not change the computation, with the reason: the only way to leave one out.
NEUTRAL: dict[tuple[str, str], str] = {}

# Options the enumeration must find (a schema-reading bug must not empty the check): the list.
KNOWN = {("mlp", "activation"), ("cnn", "activation"), ("rnn", "cell"), ("rnn", "readout"),
         ("rnn", "bidirectional"), ("lstm", "readout"), ("lstm", "bidirectional"),
         ("autoencoder", "activation"), ("autoencoder", "output"), ("autoencoder", "tied"),
         ("rbm", "persistent"), ("dbn", "persistent"), ("boltzmann", "persistent"),
         ("hopfield", "rule"), ("hopfield", "recall"), ("som", "decay"), ("som", "algorithm")}

NUMBERS = (int, float)  # sizes, counts and rates: the reference takes them as numbers


def _strip_optional(annotation):
    """X | None -> (X, True); anything else -> (annotation, False)."""
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType) and type(None) in args:
        rest = [a for a in args if a is not type(None)]
        return (rest[0] if len(rest) == 1 else typing.Union[tuple(rest)]), True
    return annotation, False


def option_values(annotation) -> tuple | None:
    """The finite set of values of an option annotation (Literal, bool, Enum, optionally | None), or None."""
    inner, optional = _strip_optional(annotation)
    if typing.get_origin(inner) is typing.Literal:
        values = typing.get_args(inner)
    elif inner is bool:
        values = (False, True)
    elif isinstance(inner, type) and issubclass(inner, enum.Enum):
        values = tuple(inner)
    else:
        return None
    return (*values, None) if optional else values


def _leaves(annotation) -> list:
    """The non-container types inside an annotation: list[list[int]] -> [int]."""
    inner, _ = _strip_optional(annotation)
    if typing.get_origin(inner) in (list, tuple, set, typing.Union, types.UnionType):
        return [t for a in typing.get_args(inner) if a is not Ellipsis for t in _leaves(a)]
    return [inner]


def _is_model(t) -> bool:
    return isinstance(t, type) and issubclass(t, BaseModel)


def classify(model_cls: type[BaseModel], prefix: str = "") -> tuple[dict[str, tuple], list[str]]:
    """-> ({field path: option values}, [field paths that are neither options, models nor numbers])."""
    options, unknown = {}, []
    for name, field in model_cls.model_fields.items():
        values = option_values(field.annotation)
        if values is not None:
            options[prefix + name] = values
            continue
        for leaf in _leaves(field.annotation):
            if _is_model(leaf):
                sub_options, sub_unknown = classify(leaf, f"{prefix}{name}.")
                options.update(sub_options)
                unknown += sub_unknown
            elif leaf not in NUMBERS:
                unknown.append(f"{prefix}{name}: {field.annotation}")
    return options, unknown


def values_at(model: BaseModel, path: str) -> set:
    """The values a model holds at a field path (every element of a nested list)."""
    head, _, rest = path.partition(".")
    value = getattr(model, head)
    if not rest:
        return {value}
    items = value if isinstance(value, list) else [value]
    return {v for item in items for v in values_at(item, rest)}


def replaced(model: BaseModel, path: str, value) -> BaseModel:
    """A validated copy of ``model`` with ``path`` set to ``value`` (in every element of a nested list)."""
    head, _, rest = path.partition(".")
    data = {k: getattr(model, k) for k in type(model).model_fields}
    if not rest:
        data[head] = value
    elif isinstance(data[head], list):
        data[head] = [replaced(item, rest, value) for item in data[head]]
    else:
        data[head] = replaced(data[head], rest, value)
    return type(model)(**data)


def _enumerate() -> list[tuple[str, str, object]]:
    """(arch, field path, value) for every option value the check case does not already hold."""
    out = []
    for arch in registry.architectures():
        spec = spec_module(arch)
        options, _ = classify(spec.Model)
        held = spec.check_case()["model"]
        for path, values in options.items():
            if (arch, path) not in NEUTRAL:
                out += [(arch, path, v) for v in values if v not in values_at(held, path)]
    return out


OPTIONS = _enumerate()
OPTION_IDS = [f"{a}-{p}={v}" for a, p, v in OPTIONS]
CHECKS = [(a, p, v, fw) for a, p, v in OPTIONS for fw in frameworks(a)]
CHECK_IDS = [f"{a}-{p}={v}-{fw}" for a, p, v, fw in CHECKS]


@lru_cache(maxsize=None)
def _case(arch: str, path: str | None = None, value=None) -> dict:
    """The spec's check case, with ``path`` set to ``value`` (None: as it is)."""
    case = dict(spec_module(arch).check_case())
    if path is not None:
        case["model"] = replaced(case["model"], path, value)
    return case


def _epoch(spec, case) -> tuple[np.ndarray, np.ndarray]:
    """One epoch in the identity order, built the way the worker builds it (test_adapters does the same)."""
    perm = np.arange(len(case["x"]))
    return epoch_arrays(spec, case["x"], case["y"], case["batch_size"], perm, case["model"], np.random.default_rng(0))


def _start(spec, case) -> dict[str, np.ndarray]:
    """The spec's ``check_weights`` where it has them (stochastic nets whose options do not show from
    near-zero weights), else ``init_weights`` from default_rng(0) as the shared check set does."""
    if spec.check_weights is not None:
        return spec.check_weights(case["model"], case["info"])
    return spec.init_weights(case["model"], case["info"], np.random.default_rng(0))


def _reference_epoch(spec, case, w0, xb, yb) -> tuple[dict, float]:
    """(weights, mean loss) of one reference epoch with the case's first optimizer. Without a spec
    ``reference_epoch``: finite-difference steps, the loss of each batch taken before its step."""
    train, model = case["trains"][0], case["model"]
    if spec.reference_epoch is not None:
        return spec.reference_epoch(w0, xb, yb, model, train)
    step = lambda w, x, y: spec.loss(w, x, y, model)  # noqa: E731
    seen = [reference_steps(step, w0, xb[:i], yb[:i], train) for i in range(len(xb) + 1)]
    return seen[-1], float(np.mean([step(seen[i], xb[i], yb[i]) for i in range(len(xb))]))


def _methods(spec, weights, case) -> dict[str, np.ndarray]:
    """The reference side of the spec's ``check_methods``: {method: spec.<method>(weights, *args)}."""
    calls = spec.check_methods(case["model"], case["x"]) if spec.check_methods is not None else {}
    return {name: np.asarray(getattr(spec, name)(weights, *args)) for name, args in calls.items()}


@lru_cache(maxsize=None)
def _reference(arch: str, path: str | None = None, value=None) -> dict:
    """What the reference computes on a case: shared by every framework's check of it."""
    spec, case = spec_module(arch), _case(arch, path, value)
    w0 = _start(spec, case)
    xb, yb = _epoch(spec, case)
    w1, loss = _reference_epoch(spec, case, w0, xb, yb)
    return {"w0": w0, "xb": xb, "yb": yb, "w1": w1, "loss": loss,
            "forward0": spec.forward(w0, case["x"], case["model"]),
            "forward1": spec.forward(w1, case["x"], case["model"]),
            "methods0": _methods(spec, w0, case), "methods1": _methods(spec, w1, case)}


def _same(a, b) -> bool:
    if isinstance(a, dict):
        return isinstance(b, dict) and set(a) == set(b) and all(_same(a[k], b[k]) for k in a)
    if a is None or b is None:
        return a is b
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return a.shape == b.shape and np.allclose(a, b, rtol=1e-6, atol=1e-9)


def test_every_model_field_is_an_option_a_model_or_a_number():
    """A field of another kind (a str, a dict, ...) would escape the option check: classify it here."""
    unknown = [f"{arch}: {u}" for arch in registry.architectures()
               for u in classify(spec_module(arch).Model)[1]]
    assert not unknown, f"Model fields this check cannot enumerate: {unknown}"


def test_enumeration_finds_the_known_options():
    found = {(a, p) for a in registry.architectures() for p in classify(spec_module(a).Model)[0]}
    assert KNOWN <= found, f"options the schema reading missed: {sorted(KNOWN - found)}"
    assert set(NEUTRAL) <= found, f"NEUTRAL names fields that are not options: {sorted(set(NEUTRAL) - found)}"
    assert {(a, p) for a, p, _ in OPTIONS} >= KNOWN, "known options with no value checked beyond the check case's"


def test_classify_reads_nested_optional_and_enum_options_and_flags_the_rest():
    """The schema reading itself, on a made-up Model: what a future option could look like."""
    from typing import Literal

    class Color(enum.Enum):
        RED = "red"
        BLUE = "blue"

    class Layer(BaseModel):
        size: int = 3
        norm: Literal["batch", "layer"] | None = None

    class Made(BaseModel):
        layers: list[Layer] = []
        gated: bool = False
        color: Color = Color.RED
        rates: list[float] = []
        name: str = "x"  # free text: not enumerable, so it must be flagged

    options, unknown = classify(Made)
    assert options == {"layers.norm": ("batch", "layer", None), "gated": (False, True),
                       "color": (Color.RED, Color.BLUE)}
    assert len(unknown) == 1 and unknown[0].startswith("name:")
    m = Made(layers=[Layer(), Layer(norm="batch")])
    assert values_at(m, "layers.norm") == {None, "batch"}
    assert values_at(replaced(m, "layers.norm", "layer"), "layers.norm") == {"layer"}


@pytest.mark.parametrize("arch,path,value", OPTIONS, ids=OPTION_IDS)
def test_option_value_changes_what_the_reference_computes(arch, path, value):
    """Else the check case cannot tell the value from the one it holds, and a framework that ignored
    the option would pass: change the check case so it can, or list the field in NEUTRAL."""
    base, other = _reference(arch), _reference(arch, path, value)
    keys = ("forward0", "w1", "loss", "forward1", "methods0", "methods1")
    assert not all(_same(base[k], other[k]) for k in keys), (
        f"{arch}: {path}={value!r} computes the same as {path}={sorted(values_at(_case(arch)['model'], path))} "
        "on the check case")


def _assert_methods(ad, spec, case, weights, what):
    for name, want in _methods(spec, weights, case).items():
        args = spec.check_methods(case["model"], case["x"])[name]
        got = np.asarray(getattr(ad, name)(*args))
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5, err_msg=f"{name}, {what}")


@pytest.mark.parametrize("arch,path,value,fw", CHECKS, ids=CHECK_IDS)
def test_option_value_matches_reference(arch, path, value, fw):
    spec, case, ref = spec_module(arch), _case(arch, path, value), _reference(arch, path, value)
    what = f"{arch} with {path}={value!r} in {fw}"
    mode = "eager" if "eager" in registry.modes(arch, fw).modes else "step"
    ad, w0 = build_adapter(arch, fw, case["model"], case["info"], case["trains"][0], mode, ref["w0"])
    np.testing.assert_allclose(ad.predict(case["x"]), ref["forward0"], rtol=1e-4, atol=1e-5,
                               err_msg=f"forward, {what}")
    _assert_methods(ad, spec, case, w0, what)
    loss = ad.train_epoch(ref["xb"], ref["yb"])
    got = ad.get_weights()
    assert set(got) == set(ref["w1"]), what
    for k in got:
        np.testing.assert_allclose(got[k], ref["w1"][k], rtol=1e-4, atol=2e-5, err_msg=f"{k} after one epoch, {what}")
    assert isinstance(loss, float)
    if ref["loss"] is not None:
        np.testing.assert_allclose(loss, ref["loss"], rtol=1e-4, atol=1e-5, err_msg=f"epoch loss, {what}")
    np.testing.assert_allclose(ad.predict(case["x"]), spec.forward(got, case["x"], case["model"]),
                               rtol=1e-4, atol=1e-5, err_msg=f"forward on the trained weights, {what}")
    _assert_methods(ad, spec, case, got, f"{what}, trained")
