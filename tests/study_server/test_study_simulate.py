"""Simulated participants over the real HTTP API; the Thurstone choice model."""

from __future__ import annotations

import math
import socket

import pytest
from click.testing import CliRunner
from study_helpers import spec

from stylestudy.cli import cli
from stylestudy.db.engine import session_scope
from stylestudy.study_server.ops.simulate import choice_probabilities, p_left, simulate
from stylestudy.study_server.study.exports import judgments
from stylestudy.study_server.study.studies import create_study


def test_thurstone_case_v():
    # Φ(1) = 0.8413447461, Φ(0) = 0.5 (standard normal CDF)
    assert p_left(1.0, 0.0, 1 / math.sqrt(2)) == pytest.approx(0.8413447461, abs=1e-9)
    assert p_left(0.3, 0.3, 2.0) == 0.5
    assert p_left(2.0, 1.0, 0.0) == 1.0 and p_left(1.0, 2.0, 0.0) == 0.0


def test_choice_probabilities_with_indifference():
    # d = 0, σ = 1 (noise 1/√2): P(|z| < τ) = 2Φ(τ) − 1 = 0.5 at τ = 0.6744897502
    pl, pn = choice_probabilities(0.3, 0.3, 1 / math.sqrt(2), 0.6744897502)
    assert pn == pytest.approx(0.5, abs=1e-9) and pl == pytest.approx(0.25, abs=1e-9)
    # d = 1, σ = 1, τ = 1: P(left) = 1 − Φ(0) = 0.5, P(not sure) = Φ(0) − Φ(−2)
    pl, pn = choice_probabilities(1.0, 0.0, 1 / math.sqrt(2), 1.0)
    assert pl == pytest.approx(0.5) and pn == pytest.approx(0.5 - 0.0227501319, abs=1e-9)
    assert choice_probabilities(2.0, 1.0, 1.0) == (p_left(2.0, 1.0, 1.0), 0.0)  # τ 0
    assert choice_probabilities(2.0, 1.0, 0.0, 1.5) == (0.0, 1.0)  # no noise, |d| < τ


def test_simulate_not_sure_only_where_allowed(engine, cset, db_url):
    """A wide threshold makes every answer "not sure" where the study allows it; the
    strict study gets none, and its answers are those of the strict observer."""
    create_study(spec(), engine)
    create_study(spec(slug="s2", allow_not_sure=True), engine)
    wide = {"strengths": {"m1": 2.0, "m2": 1.0}, "noise": 0.0, "seed": 3,
            "not_sure_below": 100.0, "database_url": db_url}
    res = simulate("s2", 2, **wide)
    assert (res.completed, res.responses) == (2, 18)
    res = simulate("s1", 2, **{**wide, "seed": 4})  # a seed's response ids are taken
    assert (res.completed, res.responses, dict(res.refused)) == (2, 18, {})
    with session_scope(engine) as s:
        unsure = [r["not_sure"] for r in judgments(s, "s2")]
        strict = [r["not_sure"] for r in judgments(s, "s1")]
    assert unsure == [1] * 18 and strict == [0] * 18


def test_simulate_deterministic_observers(engine, cset, db_url):
    create_study(spec(), engine)
    res = simulate("s1", 4, strengths={"m1": 2.0, "m2": 1.0}, noise=0.0, seed=3,
                   database_url=db_url)
    assert (res.participants, res.completed, dict(res.refused)) == (4, 4, {})
    assert res.responses == 4 * 9
    with session_scope(engine) as s:
        rows = judgments(s, "s1")
    assert len(rows) == 36
    rank = {"m1": 2.0, "m2": 1.0, "m3": 0.0, "": -3.0}
    for r in rows:  # noise 0: the stronger option always wins; catch answers correct
        assert rank[r["chosen_method"]] == max(rank[r["method_A"]], rank[r["method_B"]])


def test_simulate_per_question_strengths(engine, cset, db_url):
    create_study(spec(), engine)
    strengths = {"content": {"m1": 2.0, "m2": 1.0}, "style": {"m3": 2.0, "m2": 1.0}}
    res = simulate("s1", 3, strengths=strengths, noise=0.0, database_url=db_url)
    assert res.completed == 3
    with session_scope(engine) as s:
        rows = judgments(s, "s1")
    for r in rows:
        rank = {"": -3.0, **{m: 0.0 for m in ("m1", "m2", "m3")}, **strengths[r["question"]]}
        assert rank[r["chosen_method"]] == max(rank[r["method_A"]], rank[r["method_B"]])


def test_simulate_errors(engine, cset, db_url):
    create_study(spec(), engine)
    from stylestudy.errors import UserError
    with pytest.raises(UserError, match="unknown method label"):
        simulate("s1", 1, strengths={"zz": 1.0}, database_url=db_url)
    with pytest.raises(UserError, match="no study"):
        simulate("nope", 1, database_url=db_url)
    with socket.socket() as closed:  # a port nothing listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    with pytest.raises(UserError, match="cannot reach the study server"):
        simulate("s1", 1, url=f"http://127.0.0.1:{port}", database_url=db_url)


def test_simulate_cli(engine, cset, db_url, monkeypatch):
    monkeypatch.setenv("STYLESTUDY_DATABASE_URL", db_url)
    create_study(spec(), engine)
    res = CliRunner().invoke(cli, ["simulate", "s1", "-n", "2", "--strength", "m1=1.5"])
    assert res.exit_code == 0, res.output
    assert '"completed": 2' in res.output
    res = CliRunner().invoke(cli, ["simulate", "s1", "-n", "2", "--strength", "m1"])
    assert res.exit_code == 2 and "LABEL=NUMBER" in res.output


def test_dashboard_flags_agree_with_the_analysis(engine, cset, db_url):
    """On one simulated study with lapsing participants, the admin dashboard's QC flags
    (per session) are the analysis's failed rules (per worker), under the study's own
    pre-registered rules."""
    from stylestudy.analysis.data import load_study
    from stylestudy.analysis.qc import quality_control
    from stylestudy.analysis.settings import Settings
    from stylestudy.study_server.study.qc import session_qc

    study = create_study(spec(min_catch_trials=4, judgments_per_cell=16,
                              qc={"catch_min_accuracy": 0.7, "rt_floor_ms": 850}), engine)
    # a trial lapses (a coin flip) with probability 0.8: a catch trial fails with p ≈ 0.4,
    # so a session fails >= 2 of its 4 with p ≈ 0.52 (all or none of 16: p < 1e-4)
    res = simulate("s1", 16, strengths={"m1": 2.0, "m2": 1.0}, noise=0.3, lapse=0.8,
                   seed=5, database_url=db_url)
    assert res.completed == 16
    rules = Settings.from_spec(study.spec).qc
    with session_scope(engine) as s:
        dash = session_qc(judgments(s, "s1"), rules)
    df, _ = load_study("s1", engine)
    workers = quality_control(df, rules).workers
    session_of = df.groupby("worker_id")["session_id"].first()
    rename = {"catch": "catch", "repeat": "repeat", "fast": "rt"}
    for _, w in workers.iterrows():
        got = {rename[f] for f in dash[int(session_of[w["worker_id"]])].flags}
        assert got == {r for r in ("catch", "repeat", "rt") if w[f"fail_{r}"]}
    flagged = [q for q in dash.values() if "catch" in q.flags]
    assert 0 < len(flagged) < 16  # the comparison covers flagged and unflagged sessions
