"""The long table: validation of CSVs, the pwcmp projection, and loading from the database."""

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from stylestudy.analysis import api
from stylestudy.analysis.data import (
    COLUMNS,
    load_csv,
    pwcmp_table,
    require_single_question,
    validate,
)
from stylestudy.analysis.simulate import simulate_study
from stylestudy.cli import cli
from stylestudy.errors import UserError


def _base(n=4):
    return pd.DataFrame({
        "worker_id": ["w1", "w1", "w2", "w2"][:n], "trial_id": [f"t{i}" for i in range(n)],
        "item_id": ["i1", "i2", "i1", "i2"][:n], "question": ["content"] * n,
        "method_A": ["a"] * n, "method_B": ["b"] * n, "chose_A": ["1", "0", "true", "1"][:n],
    })


def test_minimal_table_is_completed():
    df = validate(_base())
    assert list(df.columns) == list(COLUMNS)
    assert list(df.chose_A) == [True, False, True, True]
    assert list(df.chosen_method) == ["a", "b", "a", "a"]
    assert list(df.trial_kind) == ["real"] * 4


@pytest.mark.parametrize("mutate,message", [
    (lambda d: d.drop(columns="chose_A"), "lacks column"),
    (lambda d: d.assign(colour=1), "unknown column"),
    (lambda d: d.assign(trial_id=["t0", "t0", "t2", "t3"]), "duplicate trial_id"),
    (lambda d: d.assign(question=["content", "Beauty!", "content", "content"]),
     "not a question key"),
    (lambda d: d.assign(chose_A=["1", "maybe", "0", "1"]), "must be 0/1"),
    (lambda d: d.assign(method_B=["a", "b", "b", "b"]), "with itself"),
    (lambda d: d.assign(chosen_method=["b", "b", "a", "a"]), "contradicts"),
    (lambda d: d.assign(left_method=["c", "a", "a", "a"]), "left_method"),
    (lambda d: d.iloc[:0], "no rows"),
])
def test_bad_tables_are_refused(mutate, message):
    with pytest.raises(UserError, match=message):
        validate(mutate(_base()))


def test_not_sure_rows_carry_no_preference(tmp_path):
    """Relaxed forced choice: a "not sure" row keeps its place in the table (QC sees it)
    with no chosen method, and leaves every preference statistic as if it were absent."""
    from stylestudy.analysis.data import real_trials
    from stylestudy.analysis.pairs import pair_table

    decided = _base()
    unsure = pd.DataFrame({"worker_id": ["w3", "w3"], "trial_id": ["u1", "u2"],
                           "item_id": ["i1", "i2"], "question": ["content"] * 2,
                           "method_A": ["a"] * 2, "method_B": ["b"] * 2, "chose_A": ["", ""],
                           "not_sure": ["1", "1"]})
    path = tmp_path / "j.csv"
    pd.concat([decided.assign(not_sure="0"), unsure]).to_csv(path, index=False)
    df = load_csv(path)  # blank chose_A is read as missing: allowed only when not sure
    assert list(df.not_sure) == [False] * 4 + [True] * 2
    assert df.chosen_method.isna().tolist() == [False] * 4 + [True] * 2
    assert len(real_trials(df)) == 4 and list(pwcmp_table(df).observer) == ["w1"] * 2 + ["w2"] * 2
    assert pair_table(df).equals(pair_table(validate(decided)))
    with pytest.raises(UserError, match="must be 0/1"):  # a decided row needs its choice
        validate(pd.concat([decided, unsure.assign(not_sure=["0", "1"])]))


def test_unknown_method_refused():
    with pytest.raises(UserError, match="unknown method"):
        validate(_base(), methods={"a"})


def test_mixed_questions_refused_in_one_analysis():
    df = validate(_base().assign(question=["content", "style", "content", "style"]))
    with pytest.raises(UserError, match="mixes content, style"):
        require_single_question(df)
    assert require_single_question(df[df.question == "style"]) == "style"


def test_practice_rows_dropped():
    df = validate(_base().assign(trial_kind=["practice", "real", "real", "real"]))
    assert len(df) == 3


def test_pwcmp_projection():
    df = validate(_base().assign(rt_ms=[1, 2, 3, 4]))
    p = pwcmp_table(df)
    assert list(p.columns[:6]) == ["observer", "session", "scene", "condition_A",
                                   "condition_B", "is_A_selected"]
    assert list(p.is_A_selected) == [1, 0, 1, 1]
    assert list(p.observer) == ["w1", "w1", "w2", "w2"] and list(p.rt_ms) == [1, 2, 3, 4]


def test_csv_roundtrip_and_errors(tmp_path):
    df = simulate_study({"a": 0.5, "b": 0.0}, n_workers=3, catch_per_worker=1,
                        repeats_per_worker=1)
    path = tmp_path / "j.csv"
    df.to_csv(path, index=False)
    back = load_csv(path)
    pd.testing.assert_frame_equal(back.reset_index(drop=True), df.reset_index(drop=True),
                                  check_dtype=False)
    with pytest.raises(UserError, match="not found"):
        load_csv(tmp_path / "missing.csv")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(UserError, match="cannot read"):
        load_csv(tmp_path / "empty.csv")


def test_cli_csv_without_database(tmp_path, monkeypatch):
    monkeypatch.setenv("STYLESTUDY_DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
    df = simulate_study({"ours": 1.0, "base": 0.0}, n_workers=8, seed=2)
    df.to_csv(tmp_path / "j.csv", index=False)
    res = CliRunner().invoke(cli, ["analyze", "--quick", "--csv", str(tmp_path / "j.csv"),
                                   "-o", str(tmp_path / "out")])
    assert res.exit_code == 0, res.output
    k = int((df.chosen_method == "base").sum())
    assert f"{k}/{len(df)}" in res.output
    pairs = pd.read_csv(tmp_path / "out" / "pairs.csv")
    assert pairs.loc[0, "k"] == k and pairs.loc[0, "n"] == len(df)
    res = CliRunner().invoke(cli, ["analyze", "--csv", str(tmp_path / "nope.csv")])
    assert res.exit_code == 2 and "not found" in res.output and "Traceback" not in res.output


def test_cli_one_cohort(tmp_path, monkeypatch):
    """``--cohort`` analyses one recruitment cohort's judgments; an unknown one is one
    clear error naming the cohorts the table has."""
    monkeypatch.setenv("STYLESTUDY_DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
    df = simulate_study({"ours": 1.0, "base": 0.0}, n_workers=8, seed=2)
    df["cohort"] = np.where(df["worker_id"].isin(sorted(df["worker_id"].unique())[:3]),
                            "experts", "novices")
    df.to_csv(tmp_path / "j.csv", index=False)
    experts = df[df.cohort == "experts"]
    res = CliRunner().invoke(cli, ["analyze", "--quick", "--csv", str(tmp_path / "j.csv"),
                                   "--cohort", "experts", "-o", str(tmp_path / "out")])
    assert res.exit_code == 0, res.output
    pairs = pd.read_csv(tmp_path / "out" / "pairs.csv")
    assert pairs.loc[0, "n"] == len(experts) < len(df)
    assert pairs.loc[0, "k"] == int((experts.chosen_method == "base").sum())
    res = CliRunner().invoke(cli, ["analyze", "--quick", "--csv", str(tmp_path / "j.csv"),
                                   "--cohort", "pilot", "-o", str(tmp_path / "out2")])
    assert res.exit_code == 2 and "cohorts here: experts, novices" in res.output


def _insert_study(with_practice=True):
    """A 2-worker study through the ORM; returns the expected (k, n) of 'ours' vs 'base'."""
    from stylestudy.db.assets import store_pixels
    from stylestudy.db.engine import session_scope
    from stylestudy.db.models import (
        ComparisonSet,
        DesignCell,
        Method,
        Participant,
        Response,
        Study,
        StudySession,
        Trial,
    )

    with session_scope(write=True) as s:
        img = [store_pixels(s, np.full((4, 4, 3), v, np.uint8), r)
               for v, r in ((10, "content"), (20, "style"), (30, "output"), (40, "output"),
                            (50, "catch"))]
        cs = ComparisonSet(name="cs")
        ours = Method(name="ours", version="1", label="ours", params_hash="x")
        base = Method(name="base", version="1", label="base", params_hash="y")
        s.add_all([cs, ours, base])
        s.flush()
        st = Study(slug="demo", title="Demo", comparison_set_id=cs.id, platform="link",
                   spec={"qc": {"catch_max_failures": 1, "catch_rate": 0.1}})
        s.add(st)
        s.flush()
        real = DesignCell(study_id=st.id, question="content", content_asset_id=img[0].id,
                          style_asset_id=img[1].id, reference_asset_id=img[0].id,
                          a_asset_id=img[2].id, b_asset_id=img[3].id, method_a_id=base.id,
                          method_b_id=ours.id, target=5)
        catch = DesignCell(study_id=st.id, question="content", kind="catch",
                           content_asset_id=img[0].id, style_asset_id=img[1].id,
                           reference_asset_id=img[0].id, a_asset_id=img[0].id,
                           b_asset_id=img[4].id, expected="a", target=5)
        s.add_all([real, catch])
        s.flush()
        n_trial = 0
        for w, answers in enumerate([[True, False, True], [False, False, False]]):
            p = Participant(study_id=st.id, platform="link", pid_hash=f"{w}" * 64)
            s.add(p)
            s.flush()
            ss = StudySession(study_id=st.id, participant_id=p.id, token_hash=f"tok{w}",
                              seed=w, state="completed")
            s.add(ss)
            s.flush()
            kinds = (["practice"] if with_practice else []) + ["real", "real", "catch"]
            answers = ([True] if with_practice else []) + answers
            for pos, (kind, chose_a) in enumerate(zip(kinds, answers, strict=True)):
                n_trial += 1
                t = Trial(public_id=f"pub{n_trial}", session_id=ss.id,
                          cell_id=(catch if kind == "catch" else real).id, position=pos,
                          kind=kind, left_is_a=bool(pos % 2))
                s.add(t)
                s.flush()
                s.add(Response(trial_id=t.id, response_id=f"r{n_trial}", session_id=ss.id,
                               chose_a=chose_a, rt_ms=800.0 + pos))


def test_load_study_from_database(db_url, tmp_path):
    from stylestudy.db.engine import get_engine

    get_engine(db_url)
    _insert_study()
    report = api.analyze_study("demo", full=False)
    df = report.judgments
    assert len(df) == 6  # practice excluded
    assert set(df.trial_kind) == {"real", "catch"}
    real = df[df.trial_kind == "real"]
    assert set(real.method_A) == {"base"} and set(real.method_B) == {"ours"}
    # positions 1, 2 are real; left_is_a = position odd
    assert list(real.left_method) == ["base", "ours", "base", "ours"]
    assert list(real.chosen_method) == ["base", "ours", "ours", "ours"]
    assert real.worker_id.nunique() == 2
    # the spec's rule (1 failed catch excludes; its unknown key catch_rate is ignored)
    # removes worker 1, who failed the catch trial
    assert report.qc.summary.attrs["workers_after"] == 1
    row = report.pairs.iloc[0]
    assert (row.method_A, row.method_B, row.k, row.n) == ("base", "ours", 1, 2)
    row = report.pairs_all.iloc[0]
    assert (row.k, row.n) == (1, 4)
    with pytest.raises(UserError, match="no study named"):
        api.analyze_study("nope", full=False)
    # the study server's long export reads back into the same table
    from stylestudy.db.engine import session_scope
    from stylestudy.study_server.study.exports import render

    with session_scope() as s:
        (tmp_path / "export.csv").write_text(render(s, "demo", "long"))
    exported = load_csv(tmp_path / "export.csv")
    cols = ["worker_id", "session_id", "trial_id", "item_id", "question", "method_A",
            "method_B", "left_method", "chose_A", "chosen_method", "trial_kind"]
    pd.testing.assert_frame_equal(
        exported[cols].sort_values("trial_id").reset_index(drop=True),
        df[cols].sort_values("trial_id").reset_index(drop=True), check_dtype=False)


def test_power_from_study_design(db_url):
    from stylestudy.db.engine import get_engine

    get_engine(db_url)
    _insert_study()
    from stylestudy.analysis.power import design_from_study

    d = design_from_study("demo")
    # one real cell (target 5), one item, one pair, one question; 20 trials per session
    assert d == {"workers": 2, "items": 1, "pairs": 1, "questions": 1,
                 "judgments_per_pair": 5, "trials_per_worker": 20}
    res = CliRunner().invoke(cli, ["power", "--study", "demo", "--p1", "0.7", "--sims", "3"])
    assert res.exit_code == 0, res.output
    assert "2 workers, 1 items" in res.output and "clustered power" in res.output
    res = CliRunner().invoke(cli, ["power", "--study", "nope"])
    assert res.exit_code == 2 and "no study named" in res.output
