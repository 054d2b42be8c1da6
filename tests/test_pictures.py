"""Pictures drawn from each job's trained canonical weights (issue 12, item 5): toy2d's shapes, the
worker saving ``weights/<job>.npz``, and the report drawing the playground, reconstructions,
filters, U-matrix and recall from those files. Run directories are built by hand (records through
results.make_record, weights trained or initialised in numpy): no worker process is started."""
from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from harness import config, datasets, plan, registry, results, worker
from harness.report import build, figures, pictures

# ------------------------------------------------------------------------------------------ toy2d


def test_toy2d_shapes_are_fixed_balanced_and_distinct():
    prints = {}
    for shape in datasets.TOY2D_SHAPES:
        d = datasets.load("toy2d", shape=shape)
        assert d.fingerprint() == datasets.load("toy2d", shape=shape).fingerprint()  # the same every time
        assert d.x_train.shape == (800, 2) and d.x_test.shape == (200, 2) and d.x_train.dtype == np.float32
        assert np.bincount(d.y_train).tolist() == [400, 400] and np.bincount(d.y_test).tolist() == [100, 100]
        prints[shape] = d.fingerprint()
    assert len(set(prints.values())) == len(prints)
    # moons is the old toy2d byte for byte: the fingerprints of earlier runs still match
    assert prints["moons"] == datasets.load("toy2d").fingerprint() == "4282e0a6e822fd93"
    with pytest.raises(datasets.DatasetError, match="not a toy2d shape"):
        datasets.load("toy2d", shape="torus")


def test_toy2d_shapes_are_their_shapes():
    """Each class where its shape puts it (standardized coordinates: relative checks only)."""
    c = datasets.load("toy2d", shape="circles")
    radius = np.linalg.norm(c.x_train, axis=1)
    assert radius[c.y_train == 1].mean() < 0.6 * radius[c.y_train == 0].mean()  # class 1: the inner ring
    x = datasets.load("toy2d", shape="xor")
    same_sign = np.sign(x.x_train[:, 0]) == np.sign(x.x_train[:, 1])
    assert (same_sign == (x.y_train == 0)).mean() > 0.9  # class 0: quadrants I and III
    b = datasets.load("toy2d", shape="blobs")
    assert b.x_train[b.y_train == 0].mean(axis=0).sum() < 0 < b.x_train[b.y_train == 1].mean(axis=0).sum()


def test_the_shape_is_a_checked_data_option():
    cfg = config.parse({"name": "t", "benchmarks": [{"architecture": "mlp", "dataset": "toy2d",
                                                     "data": {"shape": "spirals"}}]})
    assert cfg.benchmarks[0].data == {"shape": "spirals"}
    with pytest.raises(config.ConfigError, match=r"benchmarks\[0\]\.data\.shape: must be a str \(got 3\)"):
        config.parse({"name": "t", "benchmarks": [{"architecture": "mlp", "dataset": "toy2d",
                                                   "data": {"shape": 3}}]})


# ------------------------------------------------------------------------------------------ the worker


class _Adapter:
    def __init__(self, weights=None, error=None):
        self.weights, self.error = weights, error

    def get_weights(self):
        if self.error:
            raise self.error
        return self.weights


def _job(mb: float) -> worker.Job:
    return worker.Job({"save_weights_mb": mb}, spec=None)


def test_the_worker_saves_the_trained_weights_under_the_limit(tmp_path):
    w = {"dense0.kernel": np.arange(6, dtype=np.float32).reshape(2, 3), "dense0.bias": np.ones(3, np.float32)}
    path = tmp_path / "weights" / "b__torch__eager__cpu__r0.npz"
    assert worker.save_weights(_job(1.0), _Adapter(w), path) == {"file": str(path)}
    with np.load(path) as z:
        assert sorted(z.files) == sorted(w) and all(np.array_equal(z[k], w[k]) for k in w)
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left behind


def test_the_worker_saves_nothing_when_off_over_the_limit_or_failing(tmp_path):
    big = {"W": np.zeros((1024, 1024), np.float32)}  # 4 MB
    path = tmp_path / "w.npz"
    assert worker.save_weights(_job(0.0), _Adapter(big), path) == {}  # save_weights off, or a repeat > 0
    assert worker.save_weights(_job(1.0), _Adapter(big), None) == {}  # no path: a Ray node
    note = worker.save_weights(_job(1.0), _Adapter(big), path)["note"]
    assert "4.0 MB > save_weights_max_mb (1 MB)" in note
    note = worker.save_weights(_job(8.0), _Adapter(error=RuntimeError("device lost")), path)["note"]
    assert "RuntimeError: device lost" in note
    assert not path.exists()


def test_repeat_0_of_each_cell_saves_unless_the_config_says_no():
    bench = {"architecture": "mlp", "dataset": "toy2d", "frameworks": ["torch", "jax"]}
    cfg = config.parse({"name": "t", "repeats": 2, "save_weights_max_mb": 3, "benchmarks": [bench]})
    jobs = plan.expand(cfg, "t")
    assert sorted((j.repeat, j.save_weights_mb) for j in jobs) == [(0, 3.0), (0, 3.0), (1, 0.0), (1, 0.0)]
    off = config.parse({"name": "t", "save_weights": False, "benchmarks": [bench]})
    assert {j.save_weights_mb for j in plan.expand(off, "t")} == {0.0}


# ------------------------------------------------------------------------------------------ the report

MLP = {"hidden": [16], "activation": "tanh"}


def _trained_mlp(data) -> dict[str, np.ndarray]:
    """An MLP trained in numpy (the spec's own backprop, full-batch gradient descent) on ``data``."""
    spec = registry.spec("mlp")
    model = spec.Model(**MLP)
    w = spec.init_weights(model, data.info, np.random.default_rng(0))
    w = {k: v.astype(np.float64) for k, v in w.items()}
    for _ in range(400):
        g = spec.gradients(w, data.x_train, data.y_train, model)
        w = {k: w[k] - 1.0 * g[k] for k in w}
    return {k: v.astype(np.float32) for k, v in w.items()}


def _flipped(w: dict) -> dict:
    """The same net with its two output classes swapped: every prediction the other way."""
    return {**w, "dense1.kernel": w["dense1.kernel"][:, ::-1].copy(),
            "dense1.bias": w["dense1.bias"][::-1].copy()}


@pytest.fixture(scope="module")
def moons():
    data = datasets.load("toy2d")
    return data, _trained_mlp(data)


def _grid_accuracy(weights, data) -> float:
    """Accuracy on the test points of the class the decision grid shows at each point's cell."""
    spec = registry.spec("mlp")
    extent = spec.data_extent(np.concatenate([data.x_train, data.x_test]))
    grid = spec.decision_grid(weights, spec.Model(**MLP), extent, n=200)
    col = np.round((data.x_test[:, 0] - extent[0]) / (extent[1] - extent[0]) * 199).astype(int)
    row = np.round((data.x_test[:, 1] - extent[2]) / (extent[3] - extent[2]) * 199).astype(int)
    return float((grid[row, col] == data.y_test).mean())


def test_the_decision_regions_are_the_trained_weights_predictions(moons):
    """The grid is laid out as the panel draws it (row = y, column = x) and comes from the weights: a
    transposed grid reads the moons wrong, and the flipped net's regions are the other way round."""
    data, w = moons
    assert _grid_accuracy(w, data) > 0.95
    assert _grid_accuracy(_flipped(w), data) < 0.05


def _record(bench: str, arch: str, fw: str, mode: str, dataset: str, data, weights_file: str | None,
            metrics: dict | None = None, extra: dict | None = None) -> dict:
    job = {"run": "pics", "benchmark": bench, "architecture": arch, "dataset": dataset, "framework": fw,
           "device": "cpu", "seed": 0, "repeat": 0, "mode": mode, "job_id": f"{bench}/{fw}/{mode}/cpu/r0"}
    return results.make_record(job, "ok", metrics=metrics or {}, timing={"epoch_s": 0.01}, params=10,
                               weights_file=weights_file,
                               extra={"data_fingerprint": data.fingerprint(), **(extra or {})})


def _save(run: Path, rec: dict, weights: dict) -> None:
    (run / "weights").mkdir(parents=True, exist_ok=True)
    np.savez_compressed(run / rec["weights_file"], **weights)


# benchmark -> (architecture, dataset, model options)
BENCHES = {"mlp-moons": ("mlp", "toy2d", MLP), "ae": ("autoencoder", "digits_unit", {"encoder": [8]}),
           "rbm": ("rbm", "bars_stripes", {"hidden": 6}),
           "dbn": ("dbn", "digits_binary", {"hidden": [16, 8]}),
           "som": ("som", "digits_unit", {"rows": 4, "cols": 5}),
           "hop": ("hopfield", "random_patterns", {})}
CAPTIONS = {"mlp-moons": "playground:", "ae": "reconstructions of test inputs from each framework",
            "rbm": "RBM first-layer filters", "dbn": "DBN (its first RBM) first-layer filters",
            "som": "SOM U-matrix and hit map (test data) from each framework",
            "hop": "recall per noise level"}


def _run(run: Path, moons_weights: dict) -> Path:
    """A run of every picture-drawing architecture on two frameworks; the MLP on toy2d's moons with
    trained weights, the rest from their initial weights (a picture needs weights, not good ones)."""
    recs, cfg = [], []
    for name, (arch, ds, model) in BENCHES.items():
        spec, data = registry.spec(arch), datasets.load(ds)
        m = spec.Model(**model)
        cfg.append({"name": name, "architecture": arch, "dataset": ds, "data": {}, "model": m.model_dump()})
        for i, (fw, mode) in enumerate((("torch", "eager"), ("jax", "step"))):
            rec = _record(name, arch, fw, mode, ds, data, f"weights/{name}__{fw}.npz", {"accuracy": 0.9})
            w = moons_weights if arch == "mlp" else spec.init_weights(m, data.info, np.random.default_rng(i))
            _save(run, rec, w)
            recs.append(rec)
    for r in recs:
        results.append(run / "results.jsonl", r)
    (run / "config.json").write_text(json.dumps({"name": "pics", "benchmarks": cfg}))
    return run


def _figures(html: str) -> dict[str, str]:
    """caption -> base64 PNG of every figure of the report."""
    found = re.findall(r'<img alt="[^"]*" src="data:image/png;base64,([^"]+)">'
                       r'<figcaption>([^<]*)</figcaption>', html)
    return {cap.replace("&#39;", "'"): png for png, cap in found}


@pytest.fixture(scope="module")
def picture_run(tmp_path_factory, moons) -> Path:
    run = _run(tmp_path_factory.mktemp("pics") / "run", moons[1])
    with pytest.MonkeyPatch.context() as mp:  # only the pictures are under test: the rest costs seconds
        for name in ("bars", "curves", "tradeoff"):
            mp.setattr(figures, name, lambda *a, **k: None)
        build(run)
    return run


def test_every_architecture_has_its_pictures_in_its_section(picture_run):
    html = (picture_run / "report.html").read_text()
    figs = _figures(html)
    for name, caption in CAPTIONS.items():
        section = html[html.index(f'<h2 id="bench-{name}">'):]
        section = section[:section.index("<h2 ", 1)]
        assert caption in section.replace("&#39;", "'"), name
        png = next(p for c, p in figs.items() if caption in c)
        assert base64.b64decode(png)[:8] == b"\x89PNG\r\n\x1a\n"
    assert "unavailable" not in " ".join(figs)
    assert "two moons" in next(c for c in figs if c.startswith("playground:"))
    assert (picture_run / "report.html").stat().st_size < 5 * 2**20


def test_the_playground_is_drawn_from_the_weights_file(picture_run, moons):
    """The same records with the MLP's weights files holding the flipped net: another picture."""
    recs = [r for r in results.read(picture_run / "results.jsonl").records if r["benchmark"] == "mlp-moons"]
    cfg = {"model": MLP}
    (fig,) = pictures.section("mlp", recs, cfg, picture_run)
    assert fig["png"] == _figures((picture_run / "report.html").read_text())[fig["title"]]
    for fw in ("torch", "jax"):
        np.savez_compressed(picture_run / f"weights/mlp-moons__{fw}.npz", **_flipped(moons[1]))
    try:
        (flipped,) = pictures.section("mlp", recs, cfg, picture_run)
    finally:
        for fw in ("torch", "jax"):
            np.savez_compressed(picture_run / f"weights/mlp-moons__{fw}.npz", **moons[1])
    assert flipped["title"] == fig["title"] and flipped["png"] != fig["png"]


def test_missing_broken_or_foreign_weights_cost_the_pictures_not_the_report(tmp_path, moons):
    data = datasets.load("toy2d")
    run = tmp_path / "run"
    run.mkdir()
    (run / "outside.npz").write_bytes(b"")
    recs = [_record("m", "mlp", "torch", "eager", "toy2d", data, "weights/missing.npz"),
            _record("m", "mlp", "jax", "step", "toy2d", data, "weights/broken.npz"),
            _record("m", "mlp", "flax", "step", "toy2d", data, "../outside.npz"),
            _record("m", "mlp", "sklearn", "step", "toy2d", data, None)]
    (run / "weights").mkdir()
    (run / "weights" / "broken.npz").write_bytes(b"not a zip")
    assert pictures.jobs(recs, run) == []
    assert pictures.section("mlp", recs, {"model": MLP}, run) == []
    # data that no longer matches what the jobs trained on: said in a caption, nothing drawn
    xor = datasets.load("toy2d", shape="xor")
    stale = _record("m", "mlp", "torch", "eager", "toy2d", xor, "weights/w.npz")
    _save(run, stale, moons[1])
    (fig,) = pictures.section("mlp", [stale], {"model": MLP}, run)
    assert fig["png"] is None and "unavailable" in fig["title"] and "fingerprint" in fig["title"]
    # one good file among them: that framework alone
    good = _record("m", "mlp", "theano", "step", "toy2d", data, "weights/w.npz")
    assert [r["framework"] for r, _ in pictures.jobs([*recs, good], run)] == ["theano"]


def test_older_runs_keep_their_pictures_from_the_record_extras(tmp_path):
    """Records of runs from before weights were saved carry the pictures' data in ``extra``."""
    data = datasets.load("digits_unit")
    x = data.x_test[:2].tolist()
    old = _record("ae", "autoencoder", "torch", "eager", "digits_unit", data, None,
                  extra={"reconstructions": {"inputs": x, "outputs": x, "image_shape": [8, 8]}})
    run = tmp_path / "run"
    run.mkdir()
    results.append(run / "results.jsonl", old)
    figs = _figures(build(run).read_text())
    assert any(c.startswith("reconstructions of test digits") for c in figs)
    assert not any("from each framework's trained weights" in c for c in figs)


def test_class_colours_are_no_frameworks_colour():
    assert not set(figures.CLASS_FILLS + figures.CLASS_POINTS) & set(figures.FRAMEWORK_COLOURS.values())
    assert len(set(figures.FRAMEWORK_COLOURS.values())) == len(figures.FRAMEWORK_COLOURS)


def test_the_hopfield_probes_are_the_evaluations():
    """The picture's probe at each noise level is the first row of what ``evaluate`` recalls from."""
    spec = registry.spec("hopfield")
    data = datasets.load("random_patterns")
    model = spec.Model()
    w = {"W": spec.store(data.x_train, "hebbian").astype(np.float32), "b": np.zeros(64, np.float32)}
    drawn = {}

    def images(title, rows, shape, size=0.9):
        drawn.update(rows=rows, shape=shape)
        return "png"

    rec = {"framework": "jax", "mode": "step"}
    (caption, png), = spec.weight_figures([(rec, w)], data, model, SimpleNamespace(images=images))
    assert png == "png" and drawn["shape"] == (8, 8)
    (_, target), (_, probes), (label, recalled) = drawn["rows"]
    assert label.startswith("jax") and len(probes) == len(model.noise_levels) == len(recalled)
    full = spec.to_pm1(data.x_test)
    for lv, probe in zip(model.noise_levels, probes):
        np.testing.assert_array_equal(probe, spec.corrupt(full, lv, spec._level_key(lv))[0])
        assert (probe != target[0]).sum() == round(lv * 64)
    # a Hebbian memory of 8 patterns in 64 units recalls the noiseless probe exactly
    np.testing.assert_array_equal(recalled[0], target[0])
