"""A study that asks questions of its own (EGSC-IT's realism, with no reference and no
catch cells, and agreement with the exemplar, with the style image as reference) runs
through `study create`, the participant page in chromium, `simulate` and `analyze`."""

from __future__ import annotations

import os
import shutil

import pandas as pd
import pytest
import yaml
from click.testing import CliRunner
from sqlalchemy import func, select

from stylestudy.cli import cli
from stylestudy.db.engine import get_engine, session_scope
from stylestudy.db.models import DesignCell
from tests.e2e.e2e_helpers import CHROMIUM, chromium, serve
from tests.study_server.study_helpers import make_comparison_set, spec

pytestmark = [pytest.mark.browser, pytest.mark.slow,
              pytest.mark.skipif(not shutil.which(CHROMIUM), reason="needs Debian chromium")]

REALISM = "Which image looks more like a real photograph?"
EXEMPLAR = "Which image agrees better with the exemplar?"
QUESTIONS = ["content",
             {"key": "realism", "prompt": REALISM, "reference": "none"},
             {"key": "exemplar", "prompt": EXEMPLAR, "reference": "style"}]


def _run(*args: str):
    res = CliRunner().invoke(cli, list(args))
    assert res.exit_code == 0, res.output
    return res


def test_custom_questions_end_to_end(home, tmp_path):
    engine = get_engine()
    make_comparison_set(engine)
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(spec(slug="qs", questions=QUESTIONS, min_view_ms=100,
                                        trials_per_session=9, judgments_per_cell=2)))
    res = _run("study", "create", str(path))
    assert "realism/real" in res.stdout and "exemplar/catch" in res.stdout
    assert "the realism question has no catch cells (its catch rule is none)" in res.stderr
    with session_scope(engine) as s:
        n = dict(s.execute(select(DesignCell.question, func.count())
                           .group_by(DesignCell.question)).all())
    assert set(n) == {"content", "realism", "exemplar"}

    seen: dict[str, list[bool]] = {}
    with serve(workers=1, env={"STYLESTUDY_HOME": home,
                               "STYLESTUDY_SECRET": os.environ["STYLESTUDY_SECRET"]}) as (url, _), \
            chromium() as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(f"{url}/study/qs")
        page.click("#consent")
        page.wait_for_selector("#instructions:not([hidden])")
        assert "some with a reference image" in page.inner_text("#instructions")
        page.click("#begin")
        for _ in range(40):
            page.wait_for_selector("#task:not([hidden]), #finish:not([hidden])")
            if page.is_visible("#finish"):
                break
            page.wait_for_selector("#left:not([disabled])")
            prompt = page.inner_text("#prompt")
            shown = page.is_visible("#ref-img")
            if shown:  # the reference is there and has loaded
                assert page.evaluate("document.getElementById('ref-img').naturalWidth > 0")
            seen.setdefault(prompt, []).append(shown)
            position = page.get_attribute("#app", "data-trial")
            page.click("#left")
            page.wait_for_selector(f'#app:not([data-trial="{position}"])', state="attached")
    assert set(seen[REALISM]) == {False}  # no reference for realism
    assert set(seen[EXEMPLAR]) == {True}  # the exemplar (style image) above the options
    assert set(seen["Which image better preserves the content of the reference?"]) == {True}

    _run("simulate", "qs", "-n", "12", "--strength", "m1=1", "--strength", "m3=-1")
    settings = tmp_path / "settings.yaml"
    settings.write_text(yaml.safe_dump({"analysis": {"bootstrap": 60, "pair_bootstrap": 200}}))
    out = tmp_path / "report"
    res = _run("analyze", "qs", "-o", str(out), "--settings", str(settings))
    assert "[realism]" in res.stdout and "[exemplar]" in res.stdout
    for q in ("realism", "exemplar"):
        jod = pd.read_csv(out / f"jod_{q}.csv").set_index("condition")
        assert jod.loc["m1", "jod"] > jod.loc["m3", "jod"]
        assert (out / f"pairs_{q}.tex").is_file()
    assert set(pd.read_csv(out / "pairs.csv")["question"]) == {"content", "realism",
                                                               "exemplar"}
    export = _run("study", "export", "qs", "--format", "pwcmp", "--question", "realism")
    assert export.stdout.count("\n") > 10
