"""harness/agreement.py: do a benchmark's jobs train the same model? (from their loss curves)"""
import html
import re

from runfixtures import record, write_run

from harness import agreement
from harness.report import build


def _job(fw: str, losses: list[float], rep: int = 0, acc: float = 0.9) -> dict:
    r = record("b", "mlp", fw, "step", rep, metrics={"accuracy": acc}, epochs=len(losses))
    r["curve"] = [{"epoch": e + 1, "loss": v, "metric": acc, "seconds": 0.1 * (e + 1)} for e, v in enumerate(losses)]
    return r


BASE = [2.0, 1.0, 0.5, 0.3, 0.2]


def test_identical_curves_are_the_same_model():
    recs = [_job(fw, [v * (1 + 1e-6 * i) for v in BASE], rep)
            for rep in range(2) for i, fw in enumerate(("torch", "jax", "theano"))]
    a = agreement.check(recs)
    assert (a["state"], a["through"], a["epochs"], a["jobs"]) == ("same", 5, 5, 3)
    assert "all 3 jobs of a repeat agree within 0.1% at every epoch (5)" in agreement.sentence(a)


def test_curves_that_part_after_agreeing_drift():
    recs = [_job("torch", BASE), _job("jax", BASE[:3] + [0.35, 0.1]), _job("theano", BASE[:3] + [0.25, 0.3])]
    a = agreement.check(recs)
    assert (a["state"], a["through"]) == ("drift", 3)
    assert "through epoch 3 of 5, then drift apart" in agreement.sentence(a)
    # the least over repeats: another repeat parting earlier sets it
    more = recs + [_job("torch", BASE, 1), _job("jax", [2.0, 1.1, 0.6, 0.4, 0.3], 1)]
    assert agreement.check(more)["through"] == 1


def test_a_curve_apart_from_the_first_epoch_differs_and_is_named():
    recs = [_job("torch", BASE), _job("jax", BASE), _job("theano", [v * 1.05 for v in BASE])]
    a = agreement.check(recs)
    assert (a["state"], a["through"], a["who"]) == ("differ", 0, ["theano (PyTensor) · step"])
    assert "theano (PyTensor) · step depart from the others' from epoch 1 on" in agreement.sentence(a)


def test_a_loss_reported_differently_then_agreeing_is_not_a_different_training():
    """scikit-learn's clipped log-loss: lower at the first epochs, the same training (it ends agreeing)."""
    recs = [_job("torch", BASE), _job("jax", BASE), _job("sklearn", [1.99, 0.995] + BASE[2:])]
    a = agreement.check(recs)
    assert (a["state"], a["who"], a["at"]) == ("reported", ["sklearn · step"], [1, 2])
    assert "reported a different loss at epochs 1–2 and then agreed again" in agreement.sentence(a)


def test_nothing_to_compare_without_two_curves_in_a_repeat():
    assert agreement.check([_job("torch", BASE), _job("jax", BASE, rep=1)]) is None
    assert agreement.check([_job("torch", BASE), record("b", "mlp", "jax", "step", 0, status="failed")]) is None
    assert agreement.sentence(None) is None


def _section(run) -> str:
    page = build(run).read_text()
    i = page.index(">b</h2>")
    return html.unescape(re.sub(r"<[^>]+>", " ", page[i:page.index("<h2", i + 5) if "<h2" in page[i + 5:] else None]))


def test_the_report_says_it_and_qualifies_a_lead_that_drift_made(tmp_path):
    drift = []
    for rep in range(3):
        drift += [_job("torch", BASE, rep, acc=0.9), _job("jax", BASE[:2] + [0.6, 0.5, 0.4], rep, acc=0.95)]
    text = _section(write_run(tmp_path / "drift", drift))
    assert "through epoch 2 of 5, then drift apart" in text
    assert "a lead here is not the framework's" in text
    differ = [_job("torch", BASE, acc=0.9), _job("jax", [v * 2 for v in BASE], acc=0.95)]
    page = build(write_run(tmp_path / "differ", differ)).read_text()
    assert re.search(r'<p class="bad agree">Training losses of [^<]* depart from the others', page)
    same = [_job("torch", BASE), _job("jax", BASE)]
    text = _section(write_run(tmp_path / "same", same))
    assert "both jobs of a repeat agree" in text and "not the framework's" not in text
