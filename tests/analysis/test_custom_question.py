"""A question a study declares (here EGSC-IT's "realism") is its own family in the whole
analysis: pairs, JOD, dependence, QC, report and LaTeX."""

from __future__ import annotations

import pandas as pd
import pytest
from click.testing import CliRunner

from stylestudy.analysis.simulate import simulate_study
from stylestudy.cli import cli

TRUTH = {"ours": 1.0, "munit": 0.4, "copy": -0.5}


@pytest.mark.slow
def test_custom_question_flows_through_the_report(tmp_path):
    df = simulate_study(TRUTH, n_workers=16, n_items=4, trials_per_worker=16,
                        question=("content", "realism"), catch_per_worker=3, bad_workers=2,
                        repeats_per_worker=1, seed=3)
    df.to_csv(tmp_path / "judgments.csv", index=False)
    (tmp_path / "settings.yaml").write_text("analysis:\n  bootstrap: 60\n"
                                            "  focal_method: ours\n")
    out = tmp_path / "out"
    res = CliRunner().invoke(cli, ["analyze", "--csv", str(tmp_path / "judgments.csv"),
                                   "-o", str(out), "--settings", str(tmp_path / "settings.yaml")])
    assert res.exit_code == 0, res.output
    assert "[realism]" in res.output
    for name in ("jod_realism", "jod_differences_realism", "dependence_realism",
                 "outliers_realism", "scenes_realism"):
        assert (out / f"{name}.csv").is_file(), name
    pairs = pd.read_csv(out / "pairs.csv")
    real = pairs[pairs["question"] == "realism"]
    assert len(real) == 3
    # Holm within the question's own family (the focal method's two pairs), not with the
    # content question's p-values
    from statsmodels.stats.multitest import multipletests

    fam = real[real["p_holm"].notna()]
    assert len(fam) == 2
    holm = multipletests(fam["p_exact"], method="holm")[1]
    assert list(fam["p_holm"].round(12)) == list(pd.Series(holm).round(12))
    jod = pd.read_csv(out / "jod_realism.csv").set_index("condition")
    assert jod.loc["ours", "jod"] > jod.loc["copy", "jod"]
    assert not (out / "trade_off.csv").exists()  # content and style are not both asked
    html = (out / "report.html").read_text()
    assert "Realism" in html or "realism" in html
    assert (out / "methods_realism.tex").is_file() and (out / "pairs_realism.tex").is_file()


def test_a_pwcmp_table_takes_a_declared_question_key(tmp_path):
    from stylestudy.analysis.data import pwcmp_table

    df = simulate_study(TRUTH, n_workers=6, n_items=2, trials_per_worker=8,
                        question="realism", seed=4)
    table = pwcmp_table(df).drop(columns="question")
    table.to_csv(tmp_path / "realism.csv", index=False)
    res = CliRunner().invoke(cli, ["analyze", "--csv", str(tmp_path / "realism.csv"), "--quick",
                                   "-o", str(tmp_path / "out"), "--question", "realism"])
    assert res.exit_code == 0, res.output
    assert set(pd.read_csv(tmp_path / "out" / "pairs.csv")["question"]) == {"realism"}
    res = CliRunner().invoke(cli, ["analyze", "--csv", str(tmp_path / "realism.csv"), "--quick",
                                   "-o", str(tmp_path / "out2"), "--question", "Real ism"])
    assert res.exit_code != 0 and "is not a question key" in res.output
    assert "Traceback" not in res.output
