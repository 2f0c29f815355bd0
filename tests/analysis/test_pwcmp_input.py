"""`analyze --csv` reads pwcmp's own layouts: the reference cases of test_jod.py written as
pwcmp tables give the same JOD, and `study export --format pwcmp` round-trips."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from scipy.stats import norm
from test_jod import README, _pwcmp_objective_literal

from stylestudy.analysis import jod
from stylestudy.cli import cli

SETTINGS = "analysis:\n  bootstrap: 0\n  pair_bootstrap: 50\n"


def _pwcmp_rows(D: np.ndarray, names: list[str], observers: int = 4,
                layout: str = "table") -> pd.DataFrame:
    """Every judgment of count matrix D (D[i, j] = i beat j) as a pwcmp row, observers in
    turn; ``layout`` 'table' (pw_scale_table) or 'readme' (the README, Selection 1/2)."""
    rows, k = [], 0
    for i, j in zip(*np.nonzero(D), strict=True):
        for _ in range(int(D[i, j])):
            first, second = (i, j) if k % 2 else (j, i)  # both orders of presentation
            obs = f"o{k % observers}"
            if layout == "table":
                rows.append({"observer": obs, "session": obs, "scene": f"s{k % 3}",
                             "condition_A": names[first], "condition_B": names[second],
                             "is_A_selected": int(first == i)})
            else:
                rows.append({"Observer": obs, "Session": obs, "Scene": f"s{k % 3}",
                             "Condition_1": names[first], "Condition_2": names[second],
                             "Selection": 1 if first == i else 2})
            k += 1
    return pd.DataFrame(rows)


def _analyse(tmp_path: Path, table: pd.DataFrame, *extra: str, question: str = "content"
             ) -> pd.Series:
    tmp_path.mkdir(parents=True, exist_ok=True)
    table.to_csv(tmp_path / "pw.csv", index=False)
    (tmp_path / "s.yaml").write_text(SETTINGS)
    res = CliRunner().invoke(cli, ["analyze", "--csv", str(tmp_path / "pw.csv"), "-o",
                                   str(tmp_path / "out"), "--settings", str(tmp_path / "s.yaml"),
                                   *extra])
    assert res.exit_code == 0, res.output
    return pd.read_csv(tmp_path / "out" / f"jod_{question}.csv").set_index("condition")["jod"]


def _readme_vector_cases():
    rng = np.random.default_rng(0)
    out = [("readme", README.astype(float), [-0.9999984, 0.0, 0.9999984])]
    for k, n in ((7, 10), (30, 40), (12, 50)):
        d = jod.SIGMA * norm.ppf(k / n)
        out.append((f"{k}/{n}", np.array([[0, k], [n - k, 0]], float), [d / 2, -d / 2]))
    for seed in (0, 1, 2):  # test_jod's Nelder–Mead route with a unanimous pair
        rng = np.random.default_rng(seed)
        D = rng.integers(1, 9, size=(4, 4)).astype(float)
        np.fill_diagonal(D, 0)
        D[0, 3], D[3, 0] = 6, 0
        from scipy.optimize import minimize

        ref = minimize(_pwcmp_objective_literal, np.zeros(4), args=(D, "gaussian"),
                       method="Nelder-Mead", options={"xatol": 1e-9, "fatol": 1e-12,
                                                      "maxiter": 40000, "maxfev": 40000})
        out.append((f"nelder-mead-{seed}", D, list(ref.x)))
    return out


@pytest.mark.parametrize("layout", ["table", "readme"])
def test_reference_cases_in_pwcmp_layout(tmp_path, layout):
    """Every reference case in one pwcmp table, each its own set of conditions: the graph's
    components are scaled alone, so each must give its reference vector."""
    cases = _readme_vector_cases()
    table = pd.concat([_pwcmp_rows(D, [f"{name}:c{i}" for i in range(len(D))], layout=layout)
                       for name, D, _ in cases], ignore_index=True)
    got = _analyse(tmp_path, table)
    for name, D, expected in cases:
        names = [f"{name}:c{i}" for i in range(len(D))]
        assert got.loc[names].to_numpy() == pytest.approx(expected, abs=1e-4), name


def test_pwcmp_table_with_question_and_refusals(tmp_path):
    table = _pwcmp_rows(README.astype(float), ["a", "b", "c"])
    got = _analyse(tmp_path, table, "--question", "style", question="style")
    assert got.loc[["a", "b", "c"]].to_numpy() == pytest.approx([-1, 0, 1], abs=1e-4)
    table["question"] = "style"
    got = _analyse(tmp_path / "col", table, question="style")  # the column says style
    assert got.loc[["a", "b", "c"]].to_numpy() == pytest.approx([-1, 0, 1], abs=1e-4)
    assert not (tmp_path / "col" / "out" / "jod_content.csv").exists()
    table.to_csv(tmp_path / "q.csv", index=False)
    res = CliRunner().invoke(cli, ["analyze", "--quick", "--csv", str(tmp_path / "q.csv"),
                                   "--question", "content", "-o", str(tmp_path / "o2")])
    assert res.exit_code == 2 and "pwcmp table without a question column" in res.output
    bad = table.assign(extra=1)
    bad.to_csv(tmp_path / "bad.csv", index=False)
    res = CliRunner().invoke(cli, ["analyze", "--quick", "--csv", str(tmp_path / "bad.csv"),
                                   "-o", str(tmp_path / "o3")])
    assert res.exit_code == 2 and "unknown column(s) extra" in res.output
    sel = _pwcmp_rows(README.astype(float), ["a", "b", "c"], layout="readme")
    sel.loc[3, "Selection"] = 3
    sel.to_csv(tmp_path / "sel.csv", index=False)
    res = CliRunner().invoke(cli, ["analyze", "--quick", "--csv", str(tmp_path / "sel.csv"),
                                   "-o", str(tmp_path / "o4")])
    assert res.exit_code == 2 and "row 5 has '3'" in res.output


def test_study_export_pwcmp_round_trips(db_url, tmp_path, monkeypatch):
    """`study export --format pwcmp` → `analyze --csv` gives the study's own JOD."""
    sys.path.insert(0, str(Path(__file__).parents[1] / "study_server"))
    from study_helpers import make_comparison_set, spec

    from stylestudy.analysis import api
    from stylestudy.analysis.settings import QCRules, Settings
    from stylestudy.db.engine import get_engine
    from stylestudy.study_server.ops.simulate import simulate
    from stylestudy.study_server.study.studies import create_study

    engine = get_engine(db_url)
    make_comparison_set(engine, methods=("m1", "m2", "m3", "m4"))
    create_study(spec(questions=["content", "style"], trials_per_session=12), engine)
    simulate("s1", 10, strengths={"m1": 1.5, "m2": 0.5, "m3": 0.0, "m4": -1.0}, seed=1,
             database_url=db_url)
    monkeypatch.setenv("STYLESTUDY_DATABASE_URL", db_url)
    # the pwcmp export drops unusable sessions and nothing else
    study = api.analyze_study("s1", settings=Settings(qc=QCRules(exclude=("unusable",)),
                                                      bootstrap=0, pair_bootstrap=50))
    for q in ("content", "style"):
        path = tmp_path / f"{q}.csv"
        res = CliRunner().invoke(cli, ["study", "export", "s1", "--format", "pwcmp",
                                       "--question", q, "-o", str(path)])
        assert res.exit_code == 0, res.output
        assert pd.read_csv(path).columns[0] == "Observer"
        got = _analyse(tmp_path / q, pd.read_csv(path), "--question", q, question=q)
        want = study.scaling["tables"][f"jod_{q}"].set_index("condition")["jod"]
        assert len(want) == 4
        assert got.loc[want.index].to_numpy() == pytest.approx(want.to_numpy(), abs=1e-9)
