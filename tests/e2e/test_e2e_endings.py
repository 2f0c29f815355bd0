"""How a session's end looks in a real chromium: a Prolific participant who did not
complete gets no code and is asked to return the study; a refused completion is shown and
not retried forever."""

from __future__ import annotations

import os
import shutil
import time

import pytest

from stylestudy.db.engine import get_engine
from stylestudy.study_server.study.studies import create_study
from tests.e2e.e2e_helpers import CHROMIUM, chromium, serve
from tests.e2e.test_e2e_browser import run_trials
from tests.study_server.study_helpers import make_comparison_set, spec

pytestmark = [pytest.mark.browser, pytest.mark.slow,
              pytest.mark.skipif(not shutil.which(CHROMIUM), reason="needs Debian chromium")]

ENTRY = "PROLIFIC_PID=pp{n}&STUDY_ID=st&SESSION_ID=se{n}"


@pytest.fixture
def page(home):
    engine = get_engine()
    make_comparison_set(engine)
    create_study(spec(slug="pro", platform="prolific", min_view_ms=100, max_reloads=0,
                      completion_codes={"completed": "PAID77"}), engine)
    env = {"STYLESTUDY_HOME": home, "STYLESTUDY_SECRET": os.environ["STYLESTUDY_SECRET"]}
    with serve(workers=1, env=env) as (url, _), chromium() as b:
        pg = b.new_page(viewport={"width": 1280, "height": 900})
        pg.on("dialog", lambda d: d.accept())
        pg.route("https://app.prolific.com/**", lambda route: route.fulfill(
            status=200, body="<p>prolific</p>", content_type="text/html"))
        yield url, pg


def test_screened_out_without_a_code_is_asked_to_return(page):
    """No-reload mode and no screen-out code: the reload ends the session, and the page
    shows no code, redirects nowhere and asks the participant to return the study."""
    url, pg = page
    pg.goto(f"{url}/study/pro?{ENTRY.format(n=1)}")
    pg.click("#consent")
    pg.wait_for_selector("#instructions:not([hidden])")
    pg.reload()
    pg.wait_for_selector("#done:not([hidden])")
    assert "return your submission on Prolific" in pg.inner_text("#done-text")
    assert not pg.is_visible("#code") and pg.inner_text("#code") == ""
    assert "PAID77" not in pg.content()
    time.sleep(3.5)  # the redirect of a code would have followed after 3 s
    assert pg.url.startswith(url) and not pg.is_visible("#redirect-link")


def test_refused_completion_is_shown_not_retried(page):
    """Feedback the server cannot store (a lone surrogate) is refused with a 400: the page
    says so once and lets the participant finish again, without a request loop."""
    url, pg = page
    completes = []
    pg.on("request", lambda r: completes.append(r.url) if r.url.endswith("/complete") else None)
    pg.goto(f"{url}/study/pro?{ENTRY.format(n=2)}")
    pg.click("#consent")
    pg.click("#begin")
    run_trials(pg)
    pg.wait_for_selector("#finish:not([hidden])")
    pg.evaluate("document.getElementById('feedback-text').value = 'odd \\ud800 text'")
    pg.click("#submit")
    pg.wait_for_selector("#submit:not([disabled])")
    assert "could not be saved" in pg.inner_text("#saving")
    time.sleep(4)  # the old page asked again every 1.5 s
    assert len(completes) == 1
    pg.fill("#feedback-text", "fine")
    pg.click("#submit")
    pg.wait_for_selector("#done:not([hidden])")
    assert pg.inner_text("#code") == "PAID77" and len(completes) == 2
