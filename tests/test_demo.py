"""`stylestudy demo --no-serve` runs the whole loop on a fresh home and prints the analysis."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

pytestmark = pytest.mark.slow


#: the demo is meant to take about 10 minutes on 2 cores; slower machines get room
DEMO_LIMIT_S = 1500


@pytest.mark.timeout(DEMO_LIMIT_S + 60)
def test_demo_end_to_end(tmp_path):
    env = dict(os.environ, STYLESTUDY_HOME=str(tmp_path / "home"), PYTHONUNBUFFERED="1")
    env.pop("STYLESTUDY_DATABASE_URL", None)
    res = subprocess.run([sys.executable, "-m", "stylestudy.cli", "demo", "--no-serve"],
                         env=env, capture_output=True, text=True, timeout=DEMO_LIMIT_S)
    assert res.returncode == 0, res.stderr[-3000:]
    out = res.stdout
    for step in ("1. Generating", "2. Creating the study", "3. Simulated participants",
                 "4. Analysis"):
        assert step in out
    assert "Traceback" not in res.stderr
    folder = tmp_path / "home" / "demo" / "report"
    assert (folder / "report.html").stat().st_size > 1000
    check_catch_cells(tmp_path / "home")
    # the simulation ran until the design was full and its attentive participants failed
    # no catch: the analysis sees every judgment, the same ones for the same seed
    workers = pd.read_csv(folder / "qc_workers.csv")
    assert len(workers) >= 4 and not workers["excluded"].any()
    # the simulated observers put each copy control at the top of its own question and at
    # the bottom of the other: the scale must recover that
    for question, best, worst in (("content", "content-copy", "style-copy"),
                                  ("style", "style-copy", "content-copy")):
        jod = pd.read_csv(folder / f"jod_{question}.csv").set_index("condition")["jod"]
        assert jod.idxmax() == best and jod.idxmin() == worst, (question, jod.to_dict())
    # issue 16: no reported p-value below 2·0.5^n (n = the pair's judgments), and every
    # separated pair (one side always chosen, or A always/never chosen on one side) is
    # flagged with its reason in the per-pair and the dependence-aware tables
    judgments = pd.read_csv(folder / "judgments.csv")
    excluded = pd.read_csv(folder / "qc_workers.csv").query("excluded")["worker_id"]
    real = judgments[(judgments["trial_kind"] == "real") & ~judgments["not_sure"].astype(bool)
                     & ~judgments["worker_id"].isin(excluded)]
    for name in ("pairs", "dependence_content", "dependence_style"):
        table = pd.read_csv(folder / f"{name}.csv")
        floor = 2 * 0.5 ** table["n"]
        for col in [c for c in table.columns if c == "p" or c.startswith("p_")
                    or c.endswith("_p")]:
            given = table[col].notna()
            assert (table.loc[given, col] >= floor[given] * (1 - 1e-9)).all(), (name, col)
            assert (table.loc[given, col] <= 1).all(), (name, col)
        for r in table.itertuples():
            question = getattr(r, "question", name.removeprefix("dependence_"))
            g = real[(real["question"] == question)
                     & real["method_A"].isin([r.method_A, r.method_B])
                     & real["method_B"].isin([r.method_A, r.method_B])]
            a_chosen = g["chosen_method"] == r.method_A
            a_left = g["left_method"] == r.method_A
            sides = [a_chosen[a_left], a_chosen[~a_left & g["left_method"].notna()]]
            separated = (a_chosen.nunique() == 1
                         or (all(len(s) for s in sides) and any(s.nunique() == 1 for s in sides)))
            assert len(g) == r.n and (not separated or "separation" in str(r.reason)), (
                name, r.method_A, r.method_B, r.reason)


def check_catch_cells(home: Path) -> None:
    """Every catch cell of the demo can be answered: its options differ visibly (mean
    ΔE*ab by scikit-image, an outside check) and pass the design's own rule; no copy
    control gives a catch in the question it ignores. Every real cell is full."""
    from skimage.color import deltaE_cie76, rgb2lab
    from sqlalchemy import create_engine, func, select
    from sqlalchemy.orm import Session

    from stylestudy.db.models import DesignCell
    from stylestudy.study_server.study.catch import MIN_DELTA_E, check_catch
    from tests.study_server.study_helpers import catch_cells

    engine = create_engine(f"sqlite:///{home / 'stylestudy.sqlite3'}")
    rows = catch_cells(engine, home / "assets")
    with Session(engine) as s:
        short = s.scalar(select(func.count()).select_from(DesignCell).where(
            DesignCell.kind == "real", DesignCell.served != DesignCell.target))
    questions = {q for q, *_ in rows}
    for q, label, px, py, pr in rows:
        assert deltaE_cie76(rgb2lab(px), rgb2lab(py)).mean() >= MIN_DELTA_E, (q, label)
        assert check_catch(q, px, py, pr).ok, (q, label)
        assert (q, label) not in (("style", "content-copy"), ("content", "style-copy"))
    engine.dispose()
    assert questions == {"content", "style"} and len(rows) == 12  # every item, both questions
    assert short == 0
