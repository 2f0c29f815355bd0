"""ASAP active sampling: parity with the official code, and rounds over a running study."""

from __future__ import annotations

import re

import numpy as np
import pytest
from click.testing import CliRunner
from sqlalchemy import func, select
from study_helpers import make_comparison_set, refused_downgrade, spec

from stylestudy.analysis.asap import (
    information_gain,
    next_pairs,
    spanning_pairs,
    trueskill,
    unroll,
)
from stylestudy.cli import cli
from stylestudy.db.engine import session_scope
from stylestudy.db.models import DesignCell, DesignRound, Study
from stylestudy.errors import UserError
from stylestudy.study_server.ops.simulate import simulate
from stylestudy.study_server.study import active
from stylestudy.study_server.study.active import run_round, watch_step
from stylestudy.study_server.study.exports import judgments
from stylestudy.study_server.study.studies import create_study, set_study_state

# Reference values: gfxdisp/asap python/asap_cpu.py at commit 90082a3, run on this machine
# (numpy 2.4.6, scipy 1.17.1, networkx 3.6.1 with from_numpy_matrix = from_numpy_array)
# on fresh objects: ASAP(N).ts_solver.solve(unroll_mat(M)) for the posterior,
# ASAP(N, approx=...).compute_information_gain_mat(N, G) for the gains and
# compute_minimum_spanning_tree(gains) for the batch.
WINS = {
    "four": [[0, 3, 1, 0], [1, 0, 2, 1], [0, 1, 0, 2], [1, 0, 0, 0]],
    "five": [[0, 6, 5, 7, 4], [1, 0, 3, 4, 2], [0, 2, 0, 3, 3], [1, 1, 2, 0, 1],
             [2, 2, 1, 3, 0]],
}
REFERENCE = {
    "four": {
        "mean": [0.27895453061554615, 0.0672949265627799, -0.016158358493940213,
                 -0.3335830059930621],
        "var": [0.19089904260739793, 0.1618768506650772, 0.19657944946315004,
                0.24526084644364596],
        "gain_full": {(1, 0): 4.089536146855003, (2, 0): 4.1422257651100844,
                      (2, 1): 4.107194974203425, (3, 0): 4.145025921114185,
                      (3, 1): 4.151895123452123, (3, 2): 4.1371159368526484},
        "mst_full": [(1, 3), (0, 3), (0, 2)],
        "gain_approx": {(1, 0): 2.096401296158435, (2, 0): 2.1031802862511446,
                        (2, 1): 2.0989766399293392, (3, 0): 2.1045923000053137,
                        (3, 1): 2.1053588774240284, (3, 2): 2.1150798349846065},
        "mst_approx": [(2, 3), (1, 3), (0, 3)],
    },
    "five": {
        "mean": [0.724994007006517, -0.022819700725646416, -0.18729273224330714,
                 -0.5321063246027019, -0.06991914643010211],
        "var": [0.07648089288996003, 0.0756986070717894, 0.082165884005731,
                0.0801214945298705, 0.0828018210013849],
        "gain_full": {(1, 0): 5.050000401596236, (2, 0): 5.054330791075456,
                      (2, 1): 5.061376409675585, (3, 0): 5.03931990684095,
                      (3, 1): 5.058821707633312, (3, 2): 5.061061140126945,
                      (4, 0): 5.050919044054101, (4, 1): 5.065534140102454,
                      (4, 2): 5.067126784586938, (4, 3): 5.0644382000722565},
        "mst_full": [(2, 4), (1, 4), (3, 4), (0, 2)],
        "gain_approx": {(1, 0): 2.0366754225225105, (2, 0): 2.0343654759851457,
                        (2, 1): 2.0466386950788524, (3, 0): 2.0253768883097396,
                        (3, 1): 2.0421288670635453, (3, 2): 2.0462106354573617,
                        (4, 0): 2.0372740887497707, (4, 1): 2.0472634189819257,
                        (4, 2): 2.0488502274676796, (4, 3): 2.044730353814568},
        "mst_approx": [(2, 4), (1, 4), (2, 3), (0, 4)],
    },
}


def _lower(entries: dict, n: int) -> np.ndarray:
    m = np.zeros((n, n))
    for (i, j), v in entries.items():
        m[i, j] = v
    return m


@pytest.mark.parametrize("case", sorted(WINS))
def test_posterior_matches_official_solver(case):
    wins = np.array(WINS[case])
    mean, var, _ = trueskill(unroll(wins), len(wins))
    np.testing.assert_allclose(mean, REFERENCE[case]["mean"], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(var, REFERENCE[case]["var"], rtol=1e-12)


@pytest.mark.parametrize("case", sorted(WINS))
@pytest.mark.parametrize("mode", ["full", "approx"])
def test_gains_and_batch_match_official_code(case, mode):
    wins = np.array(WINS[case])
    gain = information_gain(wins, approx=mode == "approx")
    ref = REFERENCE[case]
    np.testing.assert_allclose(gain, _lower(ref[f"gain_{mode}"], len(wins)), rtol=1e-12)
    assert spanning_pairs(gain) == ref[f"mst_{mode}"]


def test_unroll_lists_each_win():
    games = unroll(np.array([[0, 2, 0], [1, 0, 0], [0, 0, 0]]))
    assert sorted(map(tuple, games)) == [(0, 1), (0, 1), (1, 0)]


def test_one_game_from_the_prior_by_hand():
    """One EP sweep over one game is exact TrueSkill: with both scores at N(0, 0.5) and
    noise variance 1, c² = 2, t = 0, ψ(0) = φ(0)/Φ(0) = 0.7978845608, λ(0) = ψ(0)² =
    0.6366197724; μ_w = 0.5 ψ / √2 = 0.2820947918, σ²_w = 0.5 (1 − 0.5 λ / 2) =
    0.4204225284; every later sweep repeats the same message."""
    mean, var, _ = trueskill(np.array([[0, 1]]), 2, sweeps=1)
    np.testing.assert_allclose(mean, [0.2820947918, -0.2820947918], atol=1e-10)
    np.testing.assert_allclose(var, [0.4204225284] * 2, atol=1e-10)
    mean6, var6, _ = trueskill(np.array([[0, 1]]), 2)
    np.testing.assert_allclose(mean6, mean, atol=1e-12)
    np.testing.assert_allclose(var6, var, atol=1e-12)


def test_spanning_pairs_by_hand():
    # gains (symmetric): 0-1 5, 0-2 1, 1-2 4, 2-3 2, 1-3 3 → tree by decreasing gain:
    # 0-1, 1-2, 1-3 (2-3 and 0-2 would close a cycle)
    gain = _lower({(1, 0): 5, (2, 0): 1, (2, 1): 4, (3, 2): 2, (3, 1): 3}, 4)
    assert spanning_pairs(gain) == [(0, 1), (1, 2), (1, 3)]
    # pairs without a positive gain never enter: two components give a forest
    assert spanning_pairs(_lower({(1, 0): 2.0, (3, 2): 1.0, (2, 1): -1.0}, 4)) == [
        (0, 1), (2, 3)]


def test_warm_up_batch_is_a_seeded_random_spanning_tree():
    wins = np.zeros((5, 5), int)
    a = next_pairs(wins, np.random.default_rng(7))
    assert a == next_pairs(wins, np.random.default_rng(7))
    assert len(a) == 4 and _connected(a, 5)
    draws = {tuple(next_pairs(wins, np.random.default_rng(s))) for s in range(8)}
    assert len(draws) > 1


def test_batch_stays_within_the_design():
    """Only pairs the design has enter a batch; a star design gives the star."""
    star = np.zeros((4, 4), bool)
    star[0, 1:] = star[1:, 0] = True
    wins = np.array(WINS["four"])
    assert sorted(next_pairs(wins, np.random.default_rng(0), star)) == [(0, 1), (0, 2), (0, 3)]


def test_selective_gains_skip_only_distant_pairs():
    """Selective EIG evaluates a pair with probability proportional to how close it is
    (row-normalised min(p, 1 − p)): the closest pair of each row is always evaluated,
    evaluated pairs keep their value, skipped ones are −1. (The approx gains are compared:
    full gains also depend on which pairs were evaluated before, through the messages.)"""
    wins = np.array([[0, 9, 9, 9], [0, 0, 1, 9], [0, 1, 0, 9], [0, 0, 0, 0]])
    full = information_gain(wins, approx=True)
    skipped = set()
    for seed in range(20):
        sel = information_gain(wins, approx=True, selective=np.random.default_rng(seed))
        for i in range(1, 4):
            for j in range(i):
                if sel[i, j] == -1.0:
                    skipped.add((i, j))
                else:
                    assert sel[i, j] == pytest.approx(full[i, j], rel=1e-12)
    # rows 1 and 2 each have one closest partner (1 vs 0: the only one; 2 vs 1: each beat
    # the other once); the far pairs 2-0, 3-0 are skipped in some draws
    assert not {(1, 0), (2, 1)} & skipped and {(2, 0), (3, 0)} <= skipped


def _connected(pairs, n: int) -> bool:
    seen, todo = {0}, [0]
    while todo:
        x = todo.pop()
        for i, j in pairs:
            for a, b in ((i, j), (j, i)):
                if a == x and b not in seen:
                    seen.add(b)
                    todo.append(b)
    return len(seen) == n


# ------------------------------------------------------------- rounds over a study

STRENGTHS = {"m1": 3.0, "m2": 2.0, "m3": 1.0, "m4": 0.0}


@pytest.fixture
def warmed(engine, db_url):
    """A study over 4 methods × 2 items × 2 questions (24 real cells of target 1), every
    cell judged once by deterministic observers."""
    make_comparison_set(engine, methods=("m1", "m2", "m3", "m4"), contents=2, styles=1)
    create_study(spec(judgments_per_cell=1, repeat_rate=0.0), engine)
    res = simulate("s1", 6, strengths=STRENGTHS, noise=0.0, seed=1, database_url=db_url)
    assert res.completed == 6
    return engine


def _cells(engine) -> dict[int, tuple]:
    with session_scope(engine) as s:
        return {r.id: (r.question, r.content_asset_id, r.target, r.served) for r in s.execute(
            select(DesignCell.id, DesignCell.question, DesignCell.content_asset_id,
                   DesignCell.target, DesignCell.served)
            .where(DesignCell.kind == "real"))}


def test_a_round_raises_one_spanning_tree_per_group(warmed, db_url):
    before = _cells(warmed)
    assert {v[2:] for v in before.values()} == {(1, 1)}  # the warm-up is complete
    with session_scope(warmed) as s:
        real = [r for r in judgments(s, "s1") if r["trial_kind"] == "real"]
    r = run_round("s1", seed=5, engine=warmed)
    assert (r.number, r.judgments, r.groups, len(r.cells)) == (1, len(real), 4, 12)
    after = _cells(warmed)
    assert {c for c in after if after[c][2] == 2} == set(r.cells)
    assert all(after[c][2] == 1 for c in after if c not in r.cells)
    assert r.open_places == 12
    by_group: dict = {}
    with session_scope(warmed) as s:
        labels = {cid: (a, b) for cid, a, b in s.execute(
            select(DesignCell.id, DesignCell.method_a_id, DesignCell.method_b_id))}
        rnd = s.scalar(select(DesignRound))
        assert (rnd.number, rnd.cells, rnd.judgments) == (1, r.cells, len(real))
        assert rnd.settings["seed"] == 5 and rnd.settings["mode"] == "full"
        assert rnd.settings["algorithm"].startswith("ASAP mst")
    for c in r.cells:
        by_group.setdefault(after[c][:2], []).append(labels[c])
    for pairs in by_group.values():
        ids = sorted({m for p in pairs for m in p})
        assert len(pairs) == 3 and _connected(
            [(ids.index(a), ids.index(b)) for a, b in pairs], 4)
    # allocation hands out exactly the raised places: three more sessions fill them
    res = simulate("s1", 3, strengths=STRENGTHS, noise=0.0, seed=2, database_url=db_url)
    assert res.completed == 3
    final = _cells(warmed)
    assert all(final[c][3] == final[c][2] for c in final)
    r2 = run_round("s1", seed=5, per_pair=2, engine=warmed)
    assert r2.number == 2 and r2.judgments == len(real) + 12 and r2.open_places == 24


def test_analysis_records_the_rounds(warmed, tmp_path):
    """The report's metadata says how the design was shaped: each round's seed, mode and
    size, so an adaptive design is never mistaken for a fixed one."""
    import json

    from stylestudy.analysis.api import analyze_study

    r = run_round("s1", seed=5, engine=warmed)
    analyze_study("s1", tmp_path, full=False)
    meta = json.loads((tmp_path / "metadata.json").read_text())["study"]
    assert (meta["slug"], meta["judgments_per_cell"], meta["cohort"]) == ("s1", 1, None)
    [rnd] = meta["design_rounds"]
    assert (rnd["number"], rnd["seed"], rnd["mode"], rnd["cells_raised"],
            rnd["judgments_used"]) == (1, 5, "full", 12, r.judgments)


def test_dry_run_is_reproducible_and_changes_nothing(warmed):
    a = run_round("s1", seed=9, dry_run=True, engine=warmed)
    b = run_round("s1", seed=9, dry_run=True, engine=warmed)
    assert a.number is None and a.cells == b.cells and len(a.cells) == 12
    assert {v[2] for v in _cells(warmed).values()} == {1}
    with session_scope(warmed) as s:
        assert s.scalar(select(func.count()).select_from(DesignRound)) == 0
    assert run_round("s1", seed=9, approx=True, dry_run=True, engine=warmed).settings[
        "mode"] == "approx"


def test_a_round_recorded_meanwhile_wins(warmed, monkeypatch):
    """A round computed from judgments that another round has since acted on is refused
    and writes nothing."""
    choose = active._choose

    def racing(*args, **kwargs):
        chosen = choose(*args, **kwargs)
        with session_scope(warmed, write=True) as s:
            sid = s.scalar(select(Study.id))
            s.add(DesignRound(study_id=sid, number=1, settings={}, judgments=0, cells=[]))
        return chosen

    monkeypatch.setattr(active, "_choose", racing)
    with pytest.raises(UserError, match="recorded meanwhile"):
        run_round("s1", seed=1, engine=warmed)
    assert {v[2] for v in _cells(warmed).values()} == {1}


def test_rounds_refuse_bad_input(warmed):
    with pytest.raises(UserError, match="no study"):
        run_round("nope", engine=warmed)
    with pytest.raises(UserError, match="at least 1"):
        run_round("s1", per_pair=0, engine=warmed)
    set_study_state("s1", "closed", warmed)
    with pytest.raises(UserError, match="closed"):
        run_round("s1", engine=warmed)


def test_first_round_without_judgments_is_random(engine, cset):
    create_study(spec(), engine)
    r = run_round("s1", seed=3, engine=engine)
    # 3 methods → 2 pairs per group; 6 items × 2 questions
    assert (r.judgments, r.groups, len(r.cells)) == (0, 12, 24)


def test_cli_round(warmed):
    out = CliRunner().invoke(cli, ["study", "asap", "s1", "--seed", "4", "--dry-run"])
    assert out.exit_code == 0, out.output
    assert "dry run from" in out.output and "12 pairs over 4 question-item groups" in out.output
    none = CliRunner().invoke(cli, ["study", "rounds", "s1"])
    assert none.exit_code == 0 and "no rounds" in none.output
    out = CliRunner().invoke(cli, ["study", "asap", "s1", "--seed", "4", "--approx"])
    assert out.exit_code == 0 and "round 1 from" in out.output, out.output
    listed = CliRunner().invoke(cli, ["study", "rounds", "s1"])
    assert re.search(r"round 1\t[-0-9 :]+\t\d+ judgments\t12 pairs \+1\tapprox\tseed 4",
                     listed.output), listed.output
    bad = CliRunner().invoke(cli, ["study", "asap", "s1", "--per-pair", "0"])
    assert bad.exit_code != 0 and "at least 1" in bad.output and "Traceback" not in bad.output


def test_watch_runs_rounds_only_when_places_run_low(warmed):
    """24 real cells judged once (target total 24, nothing open): a round when fewer than
    ``open_below`` trials are open, none when enough are or when the targets reached the
    budget; a closed study ends the watch."""
    assert watch_step("s1", 24, 1, warmed) == ("budget", None)
    why, r = watch_step("s1", 100, 1, warmed, seed=1)
    assert why == "round" and (r.number, r.open_places) == (1, 12)
    assert watch_step("s1", 100, 12, warmed) == ("open", None)
    why, r = watch_step("s1", 100, 13, warmed, per_pair=2)
    assert why == "round" and (r.number, r.open_places) == (2, 36)
    set_study_state("s1", "closed", warmed)
    assert watch_step("s1", 100, 1000, warmed) == ("closed", None)


def test_cli_watch_stops_at_the_budget(warmed):
    out = CliRunner().invoke(cli, ["study", "asap", "s1", "--watch", "40", "--open-below",
                                   "100", "--interval", "0"])
    assert out.exit_code == 0, out.output
    assert "round 1 from" in out.output and "round 2 from" in out.output
    assert "round 3" not in out.output and "reached the budget; done" in out.output
    bad = CliRunner().invoke(cli, ["study", "asap", "s1", "--watch", "40", "--dry-run"])
    assert bad.exit_code != 0 and "drop --dry-run" in bad.output


def test_downgrade_refuses_to_drop_rounds(warmed):
    run_round("s1", seed=1, engine=warmed)
    refused_downgrade(warmed, "0004", "design_round holds 1 round")
