import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from lutnas.analysis import Breakdown, cosine_distances, file_breakdown, flops_breakdown, kendall_matrix, pareto_mask
from lutnas.analysis.breakdown import stacked_bar_png
from lutnas.analysis.rank import heatmap_png
from lutnas.categories import CATEGORIES
from lutnas.cli.main import cli
from lutnas.spaces import parse_spec


def test_flops_breakdown_sums_to_total():
    b = flops_breakdown(parse_spec("deit-tiny"))
    assert sum(b.values.values()) == pytest.approx(parse_spec("deit-tiny").gflops)
    assert sum(b.percent.values()) == pytest.approx(100)


def test_cosine_distance_properties():
    a = Breakdown("a", {"MLP": 3, "Others": 1})
    b = Breakdown("b", {"MLP": 6, "Others": 2})  # same shares
    c = Breakdown("c", {"MSA-Gather": 5})
    d = cosine_distances([a, b, c])
    assert d[0, 1] == 0 and d[0, 0] == 0 and d[0, 2] == pytest.approx(1.0)
    assert np.allclose(d, d.T)


def test_kendall_identity_reverse_and_ties():
    x = np.arange(30, dtype=float)
    df = pd.DataFrame({"a": x, "b": x * 2 + 1, "rev": -x, "tied": np.repeat(np.arange(10), 3).astype(float)})
    m = kendall_matrix(df, bootstrap=200)
    i = m.columns.index
    assert m.tau[i("a"), i("a")] == 1 and m.tau[i("a"), i("b")] == pytest.approx(1.0)
    assert m.tau[i("a"), i("rev")] == pytest.approx(-1.0)
    from scipy.stats import kendalltau

    assert m.tau[i("a"), i("tied")] == pytest.approx(kendalltau(x, df["tied"], variant="b").statistic)
    assert m.tau[i("a"), i("tied")] < 1  # tau-b corrects for ties but is not 1 with them
    assert m.ci_low[i("a"), i("b")] <= m.tau[i("a"), i("b")] <= m.ci_high[i("a"), i("b")]
    assert set(m.to_dict()) >= {"columns", "tau", "ci_low", "ci_high", "p_value", "n"}


def test_pareto_mask():
    cost = np.array([1, 2, 3, 2, 4])
    score = np.array([1, 3, 2, 1, 5])
    assert pareto_mask(cost, score).tolist() == [True, True, False, False, True]


def test_plots_are_written(tmp_path):
    b = [flops_breakdown(parse_spec("deit-tiny")), Breakdown("x", {c: 1 for c in CATEGORIES})]
    assert stacked_bar_png(b, tmp_path / "b.png").stat().st_size > 2000
    m = kendall_matrix(pd.DataFrame({"a": np.arange(10.0), "b": np.arange(10.0)[::-1]}), bootstrap=0)
    assert heatmap_png(m, tmp_path / "k.png").stat().st_size > 2000


def test_breakdown_from_real_tool_output(tool_outputs):
    b = file_breakdown(tool_outputs / "trtexec_profile_2.json")
    assert b.total == pytest.approx(2.12378, rel=1e-4)
    t = file_breakdown(tool_outputs / "tflite_benchmark_1.txt")
    # convs and pools are Others; the final SOFTMAX and SQUEEZE map by type
    assert t.values["Others"] == pytest.approx(t.total - 0.233 - 0.017)
    assert t.values["MSA-Softmax"] == pytest.approx(0.233) and t.values["MLP"] == 0
    assert not t.unclassified


def test_cli_breakdown_and_correlate(tmp_path, tool_outputs):
    runner = CliRunner()
    res = runner.invoke(cli, ["breakdown", "--model", "seed-start", "--device", "torch-cpu", "--protocol", "quick",
                              "--from", str(tool_outputs / "trtexec_5_trt10.16.1_dumpProfile_full.log"), "--out",
                              str(tmp_path), "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["sources"][0] == "FLOPs" and len(data["cosine_distance"]) == 3
    measured = data["breakdowns"][1]
    assert sum(measured["values"].values()) == pytest.approx(measured["total"])
    trt = data["breakdowns"][2]
    assert trt["unclassified"] and 0 < trt["unclassified_share"] < 1
    measured_table = tmp_path / "m.csv"
    specs = ["d=3,h=2,e=32,r=2,I=128,p=16", "d=6,h=3,e=64,r=4,I=160,p=16", "d=12,h=3,e=64,r=4,I=224,p=16",
             "d=6,h=2,e=64,r=2,I=128,p=32", "d=3,h=6,e=32,r=4,I=224,p=32"]
    pd.DataFrame({"spec": specs, "phone_ms": [5, 40, 120, 9, 30]}).to_csv(measured_table, index=False)
    res = runner.invoke(cli, ["correlate", str(measured_table), "--json", "--bootstrap", "100", "--out", str(tmp_path)])
    assert res.exit_code == 0, res.output
    d = json.loads(res.stdout)
    assert d["columns"] == ["FLOPs", "params", "phone_ms"] and d["n"] == 5
    assert (tmp_path / "kendall.png").stat().st_size > 2000


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory):
    """A report (Markdown and HTML) of a tiny real table, written beside a `breakdown --out` PNG."""
    from lutnas.devices import get_device
    from lutnas.measure import build_lut
    from lutnas.profiler import get_protocol
    from lutnas.spaces import get_space

    tmp_path = tmp_path_factory.mktemp("report")
    space = get_space("vit-mini", {"d": [2], "h": [2], "e": [32], "I": [64]})
    path = tmp_path / "t.parquet"
    build_lut(get_device("torch-cpu"), space, space.grid(), path, get_protocol("quick"))
    model = "d=2,h=2,e=32,r=4,I=64,p=16"
    res = CliRunner().invoke(cli, ["breakdown", "--model", model, "--lut", str(path), "--out", str(tmp_path / "rep")])
    assert res.exit_code == 0, res.output
    before = (tmp_path / "rep" / "breakdown.png").stat().st_mtime_ns
    res = CliRunner().invoke(cli, ["report", "--lut", str(path), "--model", model, "--specs", "grid",
                                   "--out", str(tmp_path / "rep"), "--html", "--json"])
    assert res.exit_code == 0, res.output
    # the report does not overwrite the figure `lutnas breakdown --out` wrote to the same folder
    assert (tmp_path / "rep" / "breakdown.png").stat().st_mtime_ns == before
    return tmp_path / "rep"


def test_report_writes_markdown_and_figures(report_dir):
    md = (report_dir / "report.md").read_text()
    assert "## Breakdown" in md and "## Kendall" in md and "## Pareto" in md and "torch-cpu (LUT)" in md
    for name in ("report-breakdown.png", "report-kendall.png", "report-pareto.png", "breakdown.png"):
        assert (report_dir / name).stat().st_size > 2000


def _chromium() -> str | None:
    import shutil

    return next((p for p in (shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")) if p), None)


def test_html_report_renders_in_a_real_browser(report_dir, tmp_path):
    """Headless Chromium loads report.html: a non-blank screenshot, and every <img> decoded
    (a copy of the page in the same folder carries the probe script; the report itself has none)."""
    import subprocess

    browser = _chromium()
    if browser is None:
        pytest.skip("no chromium here (Debian package `chromium`; .ci/run installs it)")
    page = (report_dir / "report.html").read_text()
    assert page.count("<img") == 3 and "<table>" in page
    probe = report_dir / "_probe.html"
    probe.write_text(page.replace("</body>", "<script>window.addEventListener('load', () => {"
                                  "const imgs = [...document.images];"
                                  "document.body.dataset.images = imgs.length + ':' + "
                                  "imgs.filter(i => i.complete && i.naturalWidth > 0).length;});</script></body>"))
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--allow-file-access-from-files",
             f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=5000"]
    dom = subprocess.run([browser, *flags, "--dump-dom", probe.as_uri()], capture_output=True, text=True, timeout=120)
    probe.unlink()
    assert 'data-images="3:3"' in dom.stdout, dom.stderr[-2000:]
    shot = tmp_path / "shot.png"
    subprocess.run([browser, *flags, f"--screenshot={shot}", "--window-size=1200,2400",
                    (report_dir / "report.html").as_uri()], capture_output=True, timeout=120)
    from PIL import Image

    img = Image.open(shot).convert("L")
    lo, hi = img.getextrema()
    assert hi - lo > 100  # not a blank page: dark text and figures on white


def test_log_axis_labels_thin_out_over_many_decades():
    """1 2 3 5 per decade over two decades; one label per decade over four (2000 3000 5000 overlapped)."""
    from lutnas.plots import figure, log_axes, log_subs

    assert log_subs(1.0, 80.0) == (1.0, 2.0, 3.0, 5.0)
    assert log_subs(1.0, 800.0) == (1.0, 2.0, 5.0)
    assert log_subs(1.0, 8000.0) == (1.0,)
    fig, ax = figure((6, 3))
    ax.plot([1.0, 8000.0], [0.0, 1.0])
    log_axes(ax, "x")
    fig.canvas.draw()
    labels = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
    assert "3000" not in labels and "1000" in labels


def test_residual_plot_bias_is_the_validations_mean_over_every_pass(tmp_path, monkeypatch):
    """The dashed line's label is the validation's bias (mean over each measurement), not the mean of medians."""
    import lutnas.plots as plots
    from lutnas.analysis.fidelity import residual_png

    labels = []

    def capture(fig, path):
        labels.extend(t.get_text() for ax in fig.axes for t in ax.get_legend().get_texts())
        return path

    monkeypatch.setattr(plots, "save", capture)
    models = [{"predicted_ms": 10.0, "measured_ms": 10.0, "measured_runs_ms": [8.0, 12.5]},
              {"predicted_ms": 5.0, "measured_ms": 4.5, "measured_runs_ms": [4.0, 5.0]}]
    residual_png(models, tmp_path / "r.png", "t")
    # per pass: +25 %, -20 %, +25 %, 0 -> +7.5 %; the medians alone would say +5.6 %
    assert "bias +7.5 %" in labels, labels
