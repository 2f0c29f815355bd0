"""`stylestudy demo --no-serve` runs the whole loop on a fresh home and prints the analysis."""

from __future__ import annotations

import os
import subprocess
import sys

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
    # the simulated observers put each copy control at the top of its own question and at
    # the bottom of the other: the scale must recover that
    for question, best, worst in (("content", "content-copy", "style-copy"),
                                  ("style", "style-copy", "content-copy")):
        jod = pd.read_csv(folder / f"jod_{question}.csv").set_index("condition")["jod"]
        assert jod.idxmax() == best and jod.idxmin() == worst, (question, jod.to_dict())
