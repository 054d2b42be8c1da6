"""The report as a reader meets it: built from synthetic records (the results.jsonl/env.json format
the runner writes, no jobs run), checked in Python, then opened in headless Chromium driven over the
DevTools protocol: no console errors, no network fetch, one overview cell per (benchmark,
framework), header clicks sort, the first 1400x900 screen holds machine line, counts and matrix."""
from __future__ import annotations

import base64
import json
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from harness import registry, results
from harness.report import aggregate, build, codesize, figures, overview, verdicts

# framework -> (steady epoch seconds, accuracy, peak RSS MB): distinct, so every ranking is known
SPEED = {"theano": (0.010, 0.93, 180.0), "jax": (0.020, 0.95, 300.0), "sklearn": (0.100, 0.91, 120.0),
         "autograd": (0.300, 0.92, 110.0), "torch": (0.015, 0.94, 400.0), "tensorflow": (0.050, 0.94, 600.0),
         "flax": (0.025, 0.95, 320.0), "minisom": (0.200, 0.90, 90.0)}
ENV = {"created_utc": "2026-01-01T00:00:00+00:00", "cpu": "Test CPU 9000", "cores_logical": 8, "cores_physical": 4,
       "affinity": 8, "memory_gb": 31.2, "gpus": [], "os": "Linux", "python": "3.11", "numpy": "2.0",
       "frameworks": {}, "git_commit": "abc", "config_name": "synthetic", "config_hash": "h", "threads": 2,
       "gemm_peaks": {"cpu": {"flops": 123.4e9, "size": 1024, "library": "torch"}}}


def _record(bench: str, arch: str, fw: str, mode: str, rep: int, status: str = "ok", error: str | None = None,
            slow: float = 1.0) -> dict:
    job = {"run": "syn", "benchmark": bench, "architecture": arch, "dataset": "digits", "framework": fw,
           "device": "cpu", "seed": rep, "repeat": rep, "mode": mode, "job_id": f"{bench}/{fw}/{mode}/cpu/r{rep}"}
    if status != "ok":
        return results.make_record(job, status, error)
    t, acc, rss = SPEED[fw]
    t = t * slow * (1 + 0.01 * rep)  # the same order in every round: rank-stable by construction
    metric = "quantization_error" if arch == "som" else "accuracy"
    val = (1 - acc) * 10 if arch == "som" else acc
    curve = [{"epoch": e, "loss": 1.0 / e, "metric": val, "seconds": e * t} for e in (1, 2, 3)]
    return results.make_record(
        job, "ok", params=1000, metrics={metric: val, "loss": 0.3}, curve=curve,
        timing={"epoch_s": t, "first_epoch_s": 2 * t, "train_s": 3 * t, "compile_s": t, "import_s": 1.0,
                "infer_per_s": 1e5, "epochs_timed": 2, "train_flops_per_s": 1e9},
        memory={"rss_peak_mb": rss + rep})


def write_run(run: Path, benches: list[tuple[str, str, list[str]]], repeats: int = 3,
              failing: tuple[str, ...] = ("torch",)) -> Path:
    """A run dir: results.jsonl, env.json, config.json. benches: (name, architecture, frameworks);
    'jax' runs two modes (epoch slower), ``failing`` frameworks fail, 'sklearn' on a SOM is unsupported."""
    run.mkdir(parents=True, exist_ok=True)
    for rep in range(repeats):
        for name, arch, fws in benches:
            for fw in fws:
                if fw in failing:
                    rec = _record(name, arch, fw, "eager", rep, "failed", "RuntimeError: boom <script>alert(1)</script>")
                elif fw == "sklearn" and arch == "som":
                    rec = _record(name, arch, fw, "step", rep, "unsupported", "scikit-learn has no self-organizing map")
                else:
                    rec = _record(name, arch, fw, "eager" if fw == "torch" else "step", rep)
                results.append(run / "results.jsonl", rec)
                if fw == "jax":
                    results.append(run / "results.jsonl", _record(name, arch, fw, "epoch", rep, slow=1.5))
    (run / "env.json").write_text(json.dumps(ENV))
    (run / "config.json").write_text(json.dumps({"name": "synthetic", "benchmarks": [
        {"name": n, "architecture": a, "dataset": "digits"} for n, a, _ in benches]}))
    return run


SMALL = [("mlp-digits", "mlp", ["autograd", "jax", "sklearn", "theano", "torch"]),
         ("mlp-wide", "mlp", ["jax", "sklearn"]),
         ("som-digits", "som", ["minisom", "autograd", "sklearn"])]


@pytest.fixture(scope="module")
def small_run(tmp_path_factory) -> Path:
    run = write_run(tmp_path_factory.mktemp("report") / "run", SMALL)
    build(run)
    return run


def _benches(run: Path) -> list[aggregate.Bench]:
    recs = results.read(run / "results.jsonl").records
    by: dict[str, list[dict]] = {}
    for r in recs:
        by.setdefault(r["benchmark"], []).append(r)
    return [aggregate.bench(n, rs) for n, rs in by.items()]


# ---- pieces, without a browser ---------------------------------------------------------------

def test_code_lines_skip_comments_blank_lines_and_docstrings():
    src = ('"""module doc\nmore"""\nimport os  # why\n\n# a comment\n'
           'def f(x):\n    """doc"""\n    y = """a\nb"""\n    return (x +\n            1)\n')
    assert codesize.code_lines(src) == 6  # import, def, the 2-line string assignment, the 2-line return
    assert codesize.implementation_lines("mlp", "jax") > 10
    assert codesize.implementation_lines("som", "sklearn") is None  # declared unsupported: nothing to count


def test_every_framework_has_its_own_colour():
    assert set(registry.FRAMEWORKS) <= set(figures.FRAMEWORK_COLOURS)
    colours = [c.lower() for c in figures.FRAMEWORK_COLOURS.values()]
    assert len(set(colours)) == len(colours) and figures.OTHER_COLOUR.lower() not in colours


def test_pareto_front_keeps_only_undominated_points():
    pts = [{"time": 1, "metric": 0.9}, {"time": 2, "metric": 0.95}, {"time": 3, "metric": 0.93}, {"time": 0.5, "metric": 0.8}]
    assert [p["time"] for p in aggregate.pareto(pts, lower_better=False)] == [0.5, 1, 2]
    assert [p["time"] for p in aggregate.pareto(pts, lower_better=True)] == [0.5]


def test_picks_name_the_winner_with_margin_significance_and_stability(small_run):
    mlp = next(b for b in _benches(small_run) if b.name == "mlp-digits")
    picks = {p["slot"]: p for p in verdicts.picks(mlp)}
    fast = picks["fastest"]
    assert fast["framework"] == "theano" and fast["other"].startswith("jax")
    assert fast["ratio"] == pytest.approx(2.0, rel=0.02) and fast["significant"] and fast["stable"]
    assert picks["accurate"]["framework"] == "jax" and picks["accurate"]["stable"]
    assert picks["memory"]["framework"] == "autograd"
    text = verdicts.describe(fast)
    # 3 rounds: the interval of the per-round ratios is [min, max] with 75% coverage, and says so
    assert fast["ci"].level == pytest.approx(0.75) and "2.00× faster than jax · step" in text["margin"]
    assert "] 75%" in text["margin"] and ("significant (75% CI)", "yes") in text["flags"]


def test_sklearn_claim_verdicts(small_run):
    mlp = next(b for b in _benches(small_run) if b.name == "mlp-digits")
    claim = verdicts.sklearn_claim(mlp)
    by = {r["framework"]: r for r in claim["rows"]}
    assert by["autograd"]["verdict"] == "slower" and by["jax"]["verdict"] == "faster"
    assert claim["verdict"] == "does not hold"
    wide = next(b for b in _benches(small_run) if b.name == "mlp-wide")
    assert verdicts.sklearn_claim(wide)["verdict"] == "holds"
    som = next(b for b in _benches(small_run) if b.name == "som-digits")
    assert verdicts.sklearn_claim(som) is None  # sklearn did not run a SOM: nothing to check


def test_overview_matrix_cells(small_run):
    recs = results.read(small_run / "results.jsonl").records
    m = overview.matrix(_benches(small_run), recs)
    assert [r["bench"] for r in m["rows"]] == ["mlp-digits", "mlp-wide", "som-digits"]
    assert m["rows"][0]["span"] == 2 and m["rows"][1]["span"] == 0  # grouped by architecture
    cells = {(r["bench"], c["framework"]): c for r in m["rows"] for c in r["cells"]}
    assert len(cells) == 3 * len(m["frameworks"])
    assert cells[("mlp-digits", "theano")]["ratio"] == pytest.approx(1.0)
    assert cells[("mlp-digits", "jax")]["mode"] == "step"  # the faster of its two modes, named
    assert cells[("mlp-digits", "torch")]["state"] == "failed" and "boom" in cells[("mlp-digits", "torch")]["title"]
    assert cells[("som-digits", "sklearn")]["state"] == "unsupported"
    assert "self-organizing" in cells[("som-digits", "sklearn")]["title"]
    line = overview.machine_line(ENV, recs)
    assert "Test CPU 9000" in line and "123.4 GFLOP/s" in line and "torch" in line and "cpu" in line


def test_report_is_one_self_contained_file(small_run):
    html = (small_run / "report.html").read_text()
    assert len(html.encode()) < 5 * 2**20
    assert html.lower().count("<script") == 1 and "http://" not in html and "https://" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html  # a record's text is escaped, never markup
    assert 'id="overview"' in html and "What to pick" in html and "<details" in html
    assert "every library performs better than sklearn" in html and "does not hold" in html
    assert html.count('alt="trade-off:') == len(SMALL)  # one trade-off figure per benchmark
    assert "IQR/median &gt;" not in html  # the yellow 'too noisy' rule is gone: significance replaced it


# ---- in a browser ------------------------------------------------------------------------------

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


class Browser:
    """Headless Chromium over the DevTools protocol (websocket-client; no browser download)."""

    def __init__(self, profile: Path):
        self.proc = subprocess.Popen(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
             "--hide-scrollbars",
             "--remote-debugging-port=0", "--remote-allow-origins=*", f"--user-data-dir={profile}",
             "--window-size=1400,900", "about:blank"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        port_file = profile / "DevToolsActivePort"
        for _ in range(300):
            if port_file.exists() and port_file.read_text().count("\n") >= 1:
                break
            time.sleep(0.1)
        assert port_file.exists(), f"{CHROMIUM} did not start: no DevToolsActivePort after 30 s"
        port = int(port_file.read_text().split()[0])
        pages = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=30).read())
        import websocket

        url = next(p["webSocketDebuggerUrl"] for p in pages if p["type"] == "page")
        self.ws = websocket.create_connection(url, timeout=60, suppress_origin=True)
        self.n, self.events = 0, []

    def call(self, method: str, **params) -> dict:
        self.n += 1
        self.ws.send(json.dumps({"id": self.n, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == self.n:
                assert "error" not in msg, msg
                return msg.get("result", {})
            self.events.append(msg)

    def wait_for(self, event: str, timeout: float = 60) -> None:
        end = time.time() + timeout
        while not any(e.get("method") == event for e in self.events):
            assert time.time() < end, f"no {event}"
            self.events.append(json.loads(self.ws.recv()))

    def js(self, expr: str):
        r = self.call("Runtime.evaluate", expression=expr, returnByValue=True)
        assert "exceptionDetails" not in r, r
        return r["result"].get("value")

    def open(self, path: Path) -> None:
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.call(f"{domain}.enable")
        self.call("Emulation.setDeviceMetricsOverride", width=1400, height=900, deviceScaleFactor=1, mobile=False)
        self.call("Page.navigate", url=path.resolve().as_uri())
        self.wait_for("Page.loadEventFired")

    def errors(self) -> list[str]:
        out = []
        for e in self.events:
            m, p = e.get("method"), e.get("params", {})
            if m == "Runtime.exceptionThrown":
                out.append(json.dumps(p["exceptionDetails"])[:300])
            elif m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
                out.append(json.dumps(p.get("args"))[:300])
            elif m == "Log.entryAdded" and p["entry"].get("level") == "error":
                out.append(p["entry"].get("text", ""))
        return out

    def requests(self) -> list[str]:
        return [e["params"]["request"]["url"] for e in self.events if e.get("method") == "Network.requestWillBeSent"]

    def screenshot(self, path: Path) -> None:
        path.write_bytes(base64.b64decode(self.call("Page.captureScreenshot", format="png")["data"]))

    def close(self) -> None:
        try:
            self.ws.close()
        finally:
            self.proc.terminate()
            self.proc.wait(timeout=30)


@pytest.fixture
def browser(tmp_path):
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (Debian: apt-get install chromium; .ci/run installs it)")
    pytest.importorskip("websocket", reason="websocket-client is not installed (pip install websocket-client)")
    b = Browser(tmp_path / "chromium-profile")
    yield b
    b.close()


def _click(browser: Browser, anchor: str, header: str) -> list[str]:
    """Click a benchmark table's header by its label; the rows' framework names in the new order."""
    return browser.js(f"""(() => {{
        let t = document.getElementById('{anchor}');
        while (!t.matches('table.bench')) t = t.nextElementSibling;
        const th = Array.from(t.tHead.rows[0].cells).find(h => h.firstChild.textContent.trim() === '{header}');
        th.click();
        return Array.from(t.tBodies).map(g => g.dataset.fw + ' ' + g.rows[0].cells[1].textContent.trim());
    }})()""")


def test_report_in_headless_chromium(small_run, browser):
    browser.open(small_run / "report.html")
    assert browser.errors() == []
    assert all(u.startswith(("file:", "data:")) for u in browser.requests()), browser.requests()
    recs = results.read(small_run / "results.jsonl").records
    pairs = {(r["benchmark"], r["framework"]) for r in recs}
    fws = {fw for _, fw in pairs}
    cells = browser.js("Array.from(document.querySelectorAll('#overview td.cell')).map(c => "
                       "[c.closest('tr').dataset.bench, c.dataset.fw, c.className, c.title])")
    assert len(cells) == len(SMALL) * len(fws)  # one cell per (benchmark row, framework of the run)
    assert pairs <= {(b, f) for b, f, *_ in cells}
    cls = {(b, f): (c, t) for b, f, c, t in cells}
    assert "failed" in cls[("mlp-digits", "torch")][0] and "boom" in cls[("mlp-digits", "torch")][1]
    assert "unsupported" in cls[("som-digits", "sklearn")][0] and "self-organizing" in cls[("som-digits", "sklearn")][1]
    # sorting: alphabetical at first; by steady epoch ascending, then descending on a second click
    before = _click(browser, "bench-mlp-digits", "framework")
    asc = _click(browser, "bench-mlp-digits", "steady epoch")
    desc = _click(browser, "bench-mlp-digits", "steady epoch")
    assert asc[0] == "theano step" and asc[-1] == "autograd step" and desc == asc[::-1]
    assert sorted(before) == sorted(asc) and before != asc
    # the folded secondary columns open on click, and no benchmark table is wider than the page
    assert browser.js("(() => { const b = document.querySelector('table.bench button.fold'); b.click();"
                      " return !b.closest('tr').nextElementSibling.hidden; })()")
    assert browser.js("Array.from(document.querySelectorAll('table.bench, #picks, #overview')).every("
                      "t => t.getBoundingClientRect().right <= document.documentElement.clientWidth)")
    browser.js("window.scrollTo(0, 0)")
    first_screen = browser.js("['machine', 'counts', 'overview'].map(id => "
                              "document.getElementById(id).getBoundingClientRect().bottom)")
    assert max(first_screen) <= 900, first_screen
    shot = small_run.parent / "report-1400x900.png"
    browser.screenshot(shot)
    assert shot.stat().st_size > 10_000
    assert browser.errors() == []


def test_first_screen_of_a_make_bench_sized_run(tmp_path, browser, monkeypatch):
    """configs/default.yaml's benchmarks (what `make bench` runs): machine line, counts and the whole
    overview matrix fit the first 1400x900 screen. Figures are left out: only the layout is under test."""
    from harness import config

    cfg = config.load(Path(__file__).resolve().parent.parent / "configs" / "default.yaml")
    benches = [(cfg.bench_name(i), b.architecture, cfg.frameworks_for(b)) for i, b in enumerate(cfg.benchmarks)]
    for name in ("bars", "curves", "tradeoff", "images", "lines", "sweep"):
        monkeypatch.setattr(figures, name, lambda *a, **k: None)
    run = write_run(tmp_path / "run", benches, repeats=1, failing=("tensorflow",))
    build(run)
    browser.open(run / "report.html")
    assert browser.errors() == []
    n_fws = len({fw for _, _, fws in benches for fw in fws})
    assert browser.js("document.querySelectorAll('#overview td.cell').length") == len(benches) * n_fws
    bottoms = browser.js("['machine', 'counts', 'overview'].map(id => "
                         "document.getElementById(id).getBoundingClientRect().bottom)")
    browser.screenshot(tmp_path / "report-1400x900.png")
    assert max(bottoms) <= 900, f"the first screen cuts the matrix: bottoms {bottoms} (px)"
    assert browser.js("document.getElementById('overview').getBoundingClientRect().right") <= 1400
