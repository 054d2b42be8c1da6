"""Realistic scale: mode_pick, the AIS error bar, the memory estimate, and the report's crossovers,
rank table and memory rows (synthetic records: no framework, no job)."""
import numpy as np
import pytest

from architectures import _shared
from architectures.mlp import spec as mlp_spec
from architectures.rbm import spec as rbm_spec
from harness import config, plan, registry
from harness.config import TrainConfig
from harness.datasets import DataInfo
from harness.report import scale


def _rec(bench, fw, mode, epoch_s, arch="mlp", sweep=None, **kw):
    extra = {"sweep": sweep} if sweep else {}
    extra.update(kw.pop("extra", {}))
    return {"benchmark": bench, "architecture": arch, "framework": fw, "mode": mode, "device": "cpu",
            "repeat": 0, "status": "ok", "timing": {"epoch_s": epoch_s}, "extra": extra, **kw}


def _sweep(x):
    return {"group": "mlp-width", "param": "model.hidden", "x": x, "value": [x], "numeric": True}


def test_crossovers_name_where_the_fastest_framework_changes():
    recs = []
    for x, (t_torch, t_jax) in {64: (0.01, 0.002), 512: (0.05, 0.04), 4096: (1.0, 2.0)}.items():
        recs += [_rec(f"mlp-width[hidden={x}]", "torch", "eager", t_torch, sweep=_sweep(x)),
                 _rec(f"mlp-width[hidden={x}]", "jax", "epoch", t_jax, sweep=_sweep(x))]
    fastest = scale.fastest_per_point(recs)["mlp-width"]
    assert [r["fastest"] for r in fastest] == ["jax · epoch", "jax · epoch", "torch · eager"]
    assert scale.crossovers(recs) == {"mlp-width": [{"after": [512], "at": [4096], "from": "jax · epoch",
                                                     "to": "torch · eager"}]}
    assert "jax · epoch → torch · eager" in scale.crossovers_html(recs)


def test_a_single_measurement_lead_within_the_noise_is_called_a_tie():
    """Points whose runner-up is within 10% on one measurement per cell are named as ties; a lead of
    1.25x, or one resting on 3 repeats, is not."""
    recs = []
    for x, (t_a, t_b) in {64: (1.0, 1.05), 512: (1.0, 1.25)}.items():
        recs += [_rec(f"w[{x}]", "a", "step", t_a, sweep=_sweep(x)), _rec(f"w[{x}]", "b", "step", t_b, sweep=_sweep(x))]
    rows = scale.fastest_per_point(recs)["mlp-width"]
    assert [(r["second"], round(r["margin"], 2), r["repeats"]) for r in rows] == [("b · step", 1.05, 1), ("b · step", 1.25, 1)]
    html = scale.crossovers_html(recs)
    assert "At [64] the lead is under 10%" in html and "At [64], [512]" not in html
    three = [{**r, "repeat": k} for r in recs for k in range(3)]
    assert "the lead is under" not in scale.crossovers_html(three)


def test_no_crossover_when_one_framework_leads_everywhere():
    recs = [_rec("w", fw, "step", t * x, sweep=_sweep(x)) for x in (1, 2, 4) for fw, t in (("a", 1), ("b", 2))]
    assert scale.crossovers(recs) == {"mlp-width": []}


def test_rank_table_sets_small_ranks_beside_realistic_ranks():
    small = [_rec("mlp-digits", "torch", "eager", 0.02), _rec("mlp-digits", "jax", "epoch", 0.005),
             _rec("mlp-digits", "jax", "step", 0.01), _rec("mlp-digits", "autograd", "step", 0.03)]
    big = [_rec("mlp-mnist5k", "torch", "eager", 0.5), _rec("mlp-mnist5k", "jax", "epoch", 0.9),
           _rec("mlp-wide", "jax", "epoch", 9.0), _rec("mlp-mnist5k", "autograd", "step", 0.7)]
    (row,) = scale.rank_table(small, big)
    assert (row["small"], row["realistic"]) == ("mlp-digits", "mlp-mnist5k")
    ranks = {f["framework"]: (f["small_rank"], f["realistic_rank"]) for f in row["frameworks"]}
    assert ranks == {"jax": (1, 3), "torch": (2, 1), "autograd": (3, 2)}
    assert "rank realistic" in scale.rank_table_html(small, big)


def test_leads_and_ranks_measured_on_several_machines_are_marked():
    """A Ray run: a sweep point, or one size's ranking, whose jobs ran on more than one node compares
    machines too (⇄ and one note); one node everywhere, no mark."""
    recs = []
    for x, nodes in {64: ("n1", "n1"), 512: ("n1", "n2")}.items():
        recs += [_rec(f"w[{x}]", "a", "step", 1.0, sweep=_sweep(x), node=nodes[0]),
                 _rec(f"w[{x}]", "b", "step", 2.0, sweep=_sweep(x), node=nodes[1])]
    rows = scale.fastest_per_point(recs)["mlp-width"]
    assert [r["nodes"] for r in rows] == [["n1"], ["n1", "n2"]]
    html = scale.crossovers_html(recs)
    assert "<td>2.00×</td>" in html and "<td>2.00× ⇄</td>" in html and "⇄ cross-machine: a point so marked" in html
    small = [_rec("mlp-digits", "a", "step", 0.01, node="n1"), _rec("mlp-digits", "b", "step", 0.02, node="n1")]
    big = [_rec("mlp-big", "a", "step", 0.5, node="n1"), _rec("mlp-big", "b", "step", 0.4, node="n2")]
    (row,) = scale.rank_table(small, big)
    assert (row["small_nodes"], row["realistic_nodes"]) == (["n1"], ["n1", "n2"])
    html = scale.rank_table_html(small, big)
    assert "mlp: mlp-digits → mlp-big ⇄" in html and "a ranking so marked" in html
    one = [{**r, "node": "n1"} for r in recs]
    assert "⇄" not in scale.crossovers_html(one) and "⇄" not in scale.rank_table_html(small, small)


def test_memory_rows_set_the_added_rss_beside_the_estimate():
    r = _rec("mlp-mnist5k", "torch", "eager", 0.5, memory={"rss_peak_mb": 500.0, "rss_base_mb": 300.0},
             extra={"memory_estimate": {"total_mb": 50.0}})
    (row,) = scale.memory_rows([r, {**r, "status": "failed"}])
    assert row["added_mb"] == 200.0 and row["ratio"] == 4.0
    assert "added / estimate" in scale.section([r])


def test_memory_estimate_of_an_mlp_by_hand():
    info = DataInfo(name="x", input_shape=(784,), task="classification", n_classes=10)
    model = mlp_spec.Model(hidden=[512, 512])
    params = 784 * 512 + 512 + 512 * 512 + 512 + 512 * 10 + 10
    est = _shared.memory_estimate_mb(registry.spec("mlp"), model, info, TrainConfig(optimizer="adam", batch_size=128))
    mib = 4 / 2**20
    assert est["params_mb"] == pytest.approx(params * mib, abs=1e-3)
    assert est["optimizer_mb"] == pytest.approx(2 * params * mib, abs=1e-3)  # Adam: m and v
    assert est["activations_mb"] == pytest.approx(128 * (784 + 2 * (512 + 512 + 10)) * mib, abs=1e-3)
    sgd = _shared.memory_estimate_mb(registry.spec("mlp"), model, info, TrainConfig(optimizer="sgd", momentum=0.0))
    assert sgd["optimizer_mb"] == 0.0 and sgd["total_mb"] < est["total_mb"]


def test_ais_error_bar_covers_the_exact_log_partition():
    rng = np.random.default_rng(3)
    W, b_v, b_h = rng.normal(0, 0.5, (12, 30)), rng.normal(0, 0.3, 12), rng.normal(0, 0.3, 30)
    exact = rbm_spec.log_partition(W, b_v, b_h)  # enumerates the 12 visibles
    log_z, se = rbm_spec.ais_estimate(*rbm_spec.ais_log_weights(W, b_v, b_h, n_runs=64, n_betas=300, seed=1))
    assert 0 < se < 0.5
    assert abs(log_z - exact) < 4 * se + 0.05


def test_rbm_at_784x256_reports_ais_with_its_error_and_a_cheap_epoch_evaluation():
    class Fake:
        def __init__(self, w):
            self.w = w

        def get_weights(self):
            return self.w

    rng = np.random.default_rng(0)
    info = DataInfo(name="x", input_shape=(64,), task="binary")
    model = rbm_spec.Model(hidden=32)
    w = rbm_spec.init_weights(model, info, rng)
    x = (rng.random((40, 64)) < 0.3).astype(np.float32)
    m = rbm_spec.evaluate_epoch(Fake(w), x, np.zeros(40, np.int64), model)
    assert set(m) == {"log_likelihood", "log_likelihood_se", "recon_error"}  # 64 x 32: AIS, not exact
    assert m["log_likelihood_se"] > 0 and np.isfinite(m["log_likelihood"])
    small = rbm_spec.Model(hidden=8)
    ws = rbm_spec.init_weights(small, info, rng)
    full = rbm_spec.evaluate_epoch(Fake(ws), x, np.zeros(40, np.int64), small)
    assert full["log_likelihood_se"] is None and "pseudo_log_likelihood" in full  # exact: everything


def test_realistic_config_runs_one_job_per_framework_and_benchmark():
    cfg = config.load("configs/realistic.yaml")
    jobs = [j for j in plan.expand(cfg, "t") if j.preset_status is None]
    cells = [(j.benchmark, j.framework) for j in jobs]
    assert len(cells) == len(set(cells))  # mode_pick: first
    archs = {j.architecture for j in jobs}
    assert archs == {"mlp", "cnn", "rnn", "lstm", "autoencoder", "rbm", "dbn", "som", "hopfield", "boltzmann"}
    modes = {(j.benchmark, j.framework): j.mode for j in jobs}
    assert modes[("mlp-mnist5k", "tensorflow")] == "epoch-xla" and modes[("mlp-mnist5k", "torch")] == "eager"
    assert modes[("mlp-mnist5k", "jax")] == "epoch" and modes[("mlp-mnist5k", "sklearn")] == "step"


def test_mode_pick_all_keeps_every_mode():
    cfg = config.parse({"name": "t", "repeats": 1, "modes": ["epoch", "step"], "frameworks": ["jax"],
                        "benchmarks": [{"architecture": "mlp", "dataset": "toy2d"}]})
    assert sorted(j.mode for j in plan.expand(cfg, "t")) == ["epoch", "step"]
    cfg.mode_pick = "first"
    assert [j.mode for j in plan.expand(cfg, "t")] == ["epoch"]


def test_worker_records_the_memory_estimate_beside_the_peak_rss(tmp_path):
    import json

    from harness import report, worker

    cfg = config.parse({"name": "t", "repeats": 1, "frameworks": ["autograd"], "min_timed_s": 0,
                        "benchmarks": [{"architecture": "mlp", "dataset": "toy2d", "model": {"hidden": [8]},
                                        "train": {"epochs": 2, "batch_size": 50}}]})
    (job,) = plan.expand(cfg, "t")
    rec = worker.run_job(job.to_dict())
    assert rec["status"] == "ok", rec.get("error")
    est = rec["extra"]["memory_estimate"]
    params = 2 * 8 + 8 + 8 * 2 + 2
    assert est["params_mb"] == pytest.approx(params * 4 / 2**20, abs=1e-3) and est["total_mb"] > 0
    assert rec["memory"]["rss_peak_mb"] > 0
    (row,) = scale.memory_rows([rec])
    assert row["estimate_mb"] == est["total_mb"]
    (tmp_path / "results.jsonl").write_text(json.dumps(rec) + "\n")
    html = report.build(tmp_path, baseline=tmp_path).read_text()  # the hook: the report's scale section
    assert 'id="scale"' in html and "added / estimate" in html and "rank realistic" in html
