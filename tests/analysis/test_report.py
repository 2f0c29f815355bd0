"""The full report from a CSV (no database): tables, LaTeX, HTML in headless chromium."""

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from report_checks import check_outputs

from stylestudy.analysis import api
from stylestudy.analysis.settings import Settings
from stylestudy.analysis.simulate import simulate_study
from stylestudy.cli import cli

TRUTH = {"ours": 1.0, "gatys": 0.3, "copy": -0.8}


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("report")
    df = simulate_study(TRUTH, n_workers=24, n_items=6, trials_per_worker=24,
                        question=("content", "style"), catch_per_worker=4, bad_workers=3,
                        repeats_per_worker=2, seed=11)
    df.to_csv(tmp / "judgments.csv", index=False)
    items = sorted(df["item_id"].unique())
    rows = [{"item_id": i, "method": m, "lpips_alex": 0.5 - 0.2 * q + 0.01 * k,
             "ssim_y": 0.5 + 0.01 * k, "gram_vgg19": 1.0 - q}
            for k, i in enumerate(items) for m, q in TRUTH.items()]
    pd.DataFrame(rows).to_csv(tmp / "metrics.csv", index=False)
    (tmp / "settings.yaml").write_text("analysis:\n  bootstrap: 60\n  focal_method: ours\n")
    return tmp


@pytest.mark.slow
def test_full_report_from_csv(study):
    out = study / "out"
    res = CliRunner().invoke(cli, ["analyze", "--csv", str(study / "judgments.csv"), "-o",
                                   str(out), "--settings", str(study / "settings.yaml"),
                                   "--metrics", str(study / "metrics.csv")])
    assert res.exit_code == 0, res.output
    for name in ("pairs", "jod_content", "jod_style", "jod_differences_content", "trade_off",
                 "dependence_content", "agreement", "outliers_style", "scenes_content",
                 "metric_agreement", "metric_paired", "exclusions", "judgments_pwcmp",
                 "position_bias", "metric_method_level"):
        assert (out / f"{name}.csv").is_file(), name
    jod = pd.read_csv(out / "jod_content.csv").set_index("condition")
    assert jod.loc["ours", "jod"] > jod.loc["gatys", "jod"] > jod.loc["copy", "jod"]
    assert np.sign(jod["bt_jod"]).equals(np.sign(jod["jod"]))
    assert (jod["jod_crossed_low"] <= jod["jod"]).all()
    assert (jod["jod"] <= jod["jod_crossed_high"]).all()
    excl = pd.read_csv(out / "exclusions.csv").set_index("rule")
    assert excl.loc["total excluded", "workers"] >= 3   # the three random responders
    ma = pd.read_csv(out / "metric_agreement.csv")
    assert set(ma["question"]) == {"content", "style"}
    assert set(ma.loc[ma.question == "style", "metric"]) == {"gram_vgg19"}
    # LPIPS follows the truth, SSIM is uninformative here
    lp = ma.set_index(["question", "metric"]).loc[("content", "lpips_alex")]
    assert lp["score_2afc"] > 0.6
    level = pd.read_csv(out / "metric_method_level.csv").set_index(["question", "metric"])
    assert level.loc[("content", "lpips_alex"), "kendall_tau"] == 1.0  # −LPIPS follows q
    assert level.loc[("content", "lpips_alex"), "note"].startswith("weak evidence")
    tex = (out / "pairs_content.tex").read_text()
    assert "\\begin{table}" in tex and "Holm per question" in tex
    check_outputs(out)
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["settings"]["bootstrap"] == 60 and meta["versions"]["numpy"]
    html = (out / "report.html").read_text()
    assert "<script" not in html and "<link" not in html and 'src="http' not in html
    assert "<metadata>" not in html
    _open_in_chromium(out / "report.html", study / "report.png")


def _open_in_chromium(path: Path, shot: Path):
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(chromium).exists():
        pytest.skip("chromium is not installed")
    sync_api = pytest.importorskip("playwright.sync_api")
    errors = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        page = browser.new_page()
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("requestfailed", lambda r: errors.append(r.url))
        page.goto(path.as_uri())
        assert page.locator("h2").count() >= 6
        assert page.locator("svg").count() >= 5
        page.screenshot(path=str(shot), full_page=True)
        browser.close()
    assert not errors
    assert shot.stat().st_size > 10_000


def test_quick_analysis_and_disconnected_graph(tmp_path):
    """A pilot that never compared {a, b} with {c, d}: exit 2 before; now per-pair
    statistics for everything and JOD per connected component, labelled."""
    rows = []
    for w in range(4):
        for t, (a, b) in enumerate([("a", "b"), ("c", "d"), ("c", "e"), ("d", "e")]):
            rows.append({"worker_id": f"w{w}", "trial_id": f"{w}-{t}", "item_id": "i",
                         "question": "content", "method_A": a, "method_B": b,
                         "chose_A": (w + t) % 2 == 0})
    from stylestudy.analysis.data import validate

    df = validate(pd.DataFrame(rows))
    report = api.analyze(df, Settings(bootstrap=10), full=False)
    assert len(report.pairs) == 4 and "a vs b" in str(report)
    df.to_csv(tmp_path / "j.csv", index=False)
    (tmp_path / "s.yaml").write_text("analysis:\n  bootstrap: 10\n")
    res = CliRunner().invoke(cli, ["analyze", "--csv", str(tmp_path / "j.csv"), "-o",
                                   str(tmp_path / "out"), "--settings", str(tmp_path / "s.yaml")])
    assert res.exit_code == 0, res.output
    out = tmp_path / "out"
    check_outputs(out)
    assert len(pd.read_csv(out / "dependence_content.csv")) == 4
    jod = pd.read_csv(out / "jod_content.csv").set_index("condition")
    assert jod["component"].to_dict() == {"a": 2, "b": 2, "c": 1, "d": 1, "e": 1}
    assert jod.loc["a", "reason"].startswith("component 2 of 2 (a, b): JOD relative to this")
    assert jod.loc[["a", "b"], "jod"].sum() == pytest.approx(0, abs=1e-6)  # mean 0 within
    assert jod.loc[["c", "d", "e"], "jod"].sum() == pytest.approx(0, abs=1e-6)
    diffs = pd.read_csv(out / "jod_differences_content.csv").set_index(
        ["condition_A", "condition_B"])
    assert np.isnan(diffs.loc[("a", "c"), "jod_diff"])
    assert diffs.loc[("a", "c"), "reason"] == "different components: no common scale"
    assert np.isfinite(diffs.loc[("c", "d"), "jod_diff"])
    html = (out / "report.html").read_text()
    assert "component 2 of 2" in html
