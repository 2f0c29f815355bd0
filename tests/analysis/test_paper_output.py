"""Output that goes straight into a paper: LaTeX that pdflatex compiles, figures as PDF and
SVG files, a trade-off plot with one curve per method and labels that do not overlap, and an
HTML report that fits a 1280-pixel window (checked in chromium)."""

from __future__ import annotations

import itertools
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from report_checks import check_outputs

from stylestudy.analysis import api, figures, latex
from stylestudy.analysis.settings import Settings
from stylestudy.analysis.simulate import simulate_study

#: hostile method names: every LaTeX special character, brackets, non-Latin text
HOSTILE = {"ours_v2 (50% steps)": 1.2, "a&b #1 $x$": 0.8,
           "strotss[content_weight=0.5]": 0.6, "strotss[content_weight=2]": 0.2,
           "α×β→γ ~^\\": -0.3, "copy{}": -3.0}


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("paper") / "out"
    df = simulate_study(HOSTILE, n_workers=14, n_items=4, trials_per_worker=30,
                        question=("content", "style"), seed=5)
    api.analyze(df, Settings(bootstrap=40, pair_bootstrap=200), out_dir=out,
                title="pilot_1% & co")
    return out


def test_latex_tables_and_main_compile(report_dir):
    """Before: captions with unescaped %, Phi^-1 outside math, 16-column dumps, 2.776e-17."""
    pdflatex = shutil.which("pdflatex")
    assert pdflatex, "pdflatex is missing: `make system-deps` installs Debian's texlive"
    main = (report_dir / "main.tex").read_text()
    for q in ("content", "style"):
        for kind in ("methods", "pairs"):
            assert f"\\input{{{kind}_{q}}}" in main
            tex = (report_dir / f"{kind}_{q}.tex").read_text()
            assert "\\toprule" in tex and "\\bottomrule" in tex
            assert not re.search(r"\d[eE][-+]\d", tex)  # no exponents
            assert "50\\% steps" in tex and "\\&b \\#1 \\$x\\$" in tex
        for fig in ("jod", "preferences"):
            assert f"{{{fig}_{q}.pdf}}" in main
    assert "{trade_off.pdf}" in main and "pilot\\_1\\% \\& co" in main
    pairs = (report_dir / "pairs_content.tex").read_text()
    assert "$<$ 0.001" in pairs  # p as journals write it
    assert len(re.findall(r"\\\\\n", pairs.split("\\midrule")[1].split("\\bottomrule")[0])) \
        == 15  # one row per pair of six methods
    res = subprocess.run([pdflatex, "-interaction=nonstopmode", "-halt-on-error", "main.tex"],
                         cwd=report_dir, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout[-3000:]
    assert (report_dir / "main.pdf").read_bytes()[:5] == b"%PDF-"
    check_outputs(report_dir)


def test_figure_files_beside_the_report(report_dir):
    for name in ("jod_content", "jod_style", "preferences_content", "preferences_style",
                 "trade_off"):
        assert (report_dir / f"{name}.pdf").read_bytes()[:5] == b"%PDF-"
        svg = (report_dir / f"{name}.svg").read_text()
        assert "<svg" in svg and "</svg>" in svg
        # the same figure is inline in the report, linked to its files
        assert f"href='{name}.pdf'" in (report_dir / "report.html").read_text()
    # a '$' in a method name is text, not matplotlib's mathtext
    assert "a&amp;b #1 $x$ vs" in (report_dir / "preferences_content.svg").read_text()


@pytest.mark.parametrize("low,high", [(0.0, 0.3), (-0.2, 1.8)])
def test_number_format(low, high):
    assert latex.fmt_p(0.0004) == "$<$ 0.001" and latex.fmt_p(0.0063477) == "0.006"
    assert latex.fmt_p(float("nan")) == "--" and latex.fmt(float("nan"), 2) == "--"
    assert latex.fmt(-0.004, 2) == "0.00" and latex.fmt(-1.234, 2) == "$-1.23$"
    assert latex.decimals([0.45, 0.5]) == 2 and latex.decimals([2.3]) == 1
    assert latex.decimals([0.004]) == 3 and latex.decimals([]) == 2
    assert latex.escape("50% a_b [x] α") == "50\\% a\\_b {[}x{]} $\\alpha$"


def _sweep_trade_off() -> pd.DataFrame:
    """Three methods, four settings each, points close together (labels would collide)."""
    rows = []
    for m, (method, base) in enumerate((("strotss", 0.0), ("gatys", 0.1), ("ours", -0.1))):
        for k, w in enumerate((0.25, 0.5, 1.0, 2.0)):
            x, y = base + 0.12 * k, 0.5 - 0.1 * k + 0.05 * m
            rows.append({"condition": f"{method}[content_weight={w}]", "jod_content": x,
                         "jod_low_content": x - 0.3, "jod_high_content": x + 0.3,
                         "jod_style": y, "jod_low_style": y - 0.3, "jod_high_style": y + 0.3})
    rows.append({"condition": "copy", "jod_content": -2.0, "jod_low_content": -2.2,
                 "jod_high_content": -1.8, "jod_style": 2.0, "jod_low_style": 1.8,
                 "jod_high_style": 2.2})
    return pd.DataFrame(rows)


def test_trade_off_one_curve_per_method_and_no_overlapping_labels():
    """Before: one point per condition, labels at a fixed offset on top of each other."""
    fig = figures.trade_off_figure(_sweep_trade_off())
    ax = fig.axes[0]
    curves = {c.get_label(): c.lines[0] for c in ax.containers}  # errorbar: (line, …)
    assert set(curves) == {"strotss (content_weight)", "gatys (content_weight)",
                           "ours (content_weight)", "copy"}
    xs = curves["strotss (content_weight)"].get_xdata()  # x: content, y: stylization
    assert list(np.round(np.asarray(xs, float), 2)) == [0.0, 0.12, 0.24, 0.36]  # sweep order
    labels = [t.get_text() for t in ax.texts]
    assert labels.count("0.25") == 3 and labels.count("2.0") == 3 and "copy" in labels
    boxes = figures.label_boxes(fig)
    assert len(boxes) == 13
    for a, b in itertools.combinations(boxes, 2):
        assert not (a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1)


def test_report_fits_a_1280_pixel_window(report_dir, tmp_path):
    """Before: the page was 1962 px wide; now wide tables scroll inside their box."""
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    assert Path(chromium).exists(), "chromium is missing: `make system-deps` installs it"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto((report_dir / "report.html").as_uri())
        width = page.evaluate("document.documentElement.scrollWidth")
        boxes = page.evaluate("[...document.querySelectorAll('.scroll')].map("
                              "e => [e.scrollWidth, e.clientWidth])")
        page.screenshot(path=str(tmp_path / "report.png"), full_page=False)
        browser.close()
    assert not errors
    assert width <= 1280, width
    assert any(sw > cw for sw, cw in boxes)  # some table is wider than its box: it scrolls
    assert all(cw <= 1280 for _, cw in boxes)
    assert (tmp_path / "report.png").stat().st_size > 10_000
