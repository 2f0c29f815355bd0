"""`stylestudy preset strotss-study` end to end on the demo images: preset, generate (quick
settings, 64 px), study create, simulate, analyze; the report draws one trade-off curve per
method through its settings."""

from __future__ import annotations

import pandas as pd
import pytest
import yaml
from click.testing import CliRunner

from stylestudy.cli import cli
from tests.generator.manifests import DEMO
from tests.generator.stylepairs import one_thread


def _run(*args: str) -> str:
    res = CliRunner().invoke(cli, list(args))
    assert res.exit_code == 0, res.output
    return res.output


@pytest.mark.slow
def test_preset_runs_end_to_end_with_one_curve_per_method(home, tmp_path, use_weights):
    out = tmp_path / "preset"
    printed = _run("preset", "strotss-study", "--contents", str(DEMO / "contents"),
                   "--styles", str(DEMO / "styles"), "--out", str(out), "--quick",
                   "--judgments", "2")
    assert "4 conditions of 2 methods" in printed
    manifest = yaml.safe_load((out / "manifest.yaml").read_text())
    assert [(m["name"], m["sweep"]) for m in manifest["methods"]] == [
        ("strotss", {"content_weight": [0.25, 4.0]}), ("gatys", {"ratio": [0.0001, 0.01]})]
    spec = yaml.safe_load((out / "study.yaml").read_text())
    assert spec["questions"] == ["content", "style"] and len(spec["methods"]) == 4
    with one_thread():
        _run("generate", str(out / "manifest.yaml"), "--no-progress", "--device", "cpu")
    _run("study", "create", str(out / "study.yaml"))
    # simulated people who prefer a higher content weight for content and a lower one
    # for style (the trade-off)
    strengths = []
    for label in spec["methods"]:
        low = "0.25" in label or "0.0001" in label
        strengths += ["--strength", f"{label}={0.0 if low else 1.0}"]
    _run("simulate", "strotss-study", "-n", "12", *strengths)
    settings = tmp_path / "settings.yaml"
    settings.write_text(yaml.safe_dump({"analysis": {"bootstrap": 200,
                                                     "pair_bootstrap": 200}}))
    report = tmp_path / "report"
    _run("analyze", "strotss-study", "-o", str(report), "--settings", str(settings))
    curves = pd.read_csv(report / "trade_off.csv")
    assert set(curves["method"]) == {"strotss", "gatys"}  # from the parameters
    for method, knob, settings_ in (("strotss", "content_weight", [0.25, 4.0]),
                                    ("gatys", "ratio", [0.0001, 0.01])):
        g = curves[curves["method"] == method].sort_values("order")
        assert set(g["knob"]) == {knob}
        assert list(g["setting"].astype(float)) == settings_
        assert g[["jod_content", "jod_style"]].notna().all().all()
    assert (report / "trade_off.svg").is_file() and (report / "trade_off.pdf").is_file()
    html = (report / "report.html").read_text()
    assert "Content-style trade-off" in html and "strotss (content_weight)" in html
    assert "gatys (ratio)" in html


def test_bad_input_is_one_line(tmp_path):
    res = CliRunner().invoke(cli, ["preset", "strotss-study", "--contents", str(tmp_path),
                                   "--styles", str(DEMO / "styles"), "--out", str(tmp_path)])
    assert res.exit_code != 0 and "holds no images" in res.output
    assert "Traceback" not in res.output
    res = CliRunner().invoke(cli, ["preset", "strotss-study", "--contents",
                                   str(DEMO / "contents"), "--styles", str(DEMO / "styles"),
                                   "--methods", "strotss,nope"])
    assert res.exit_code != 0 and "unknown method(s) nope" in res.output
