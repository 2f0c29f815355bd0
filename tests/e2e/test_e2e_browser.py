"""A real chromium completes studies through Prolific-style and MTurk-style links."""

from __future__ import annotations

import json
import os
import shutil
import time
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import func, select

from stylestudy.db.engine import get_engine, session_scope
from stylestudy.db.models import Participant, Response, SessionEvent, StudySession, Trial
from stylestudy.study_server.study.studies import create_study
from tests.e2e.e2e_helpers import CHROMIUM, chromium, serve
from tests.study_server.study_helpers import make_comparison_set, spec

pytestmark = [pytest.mark.browser, pytest.mark.slow,
              pytest.mark.skipif(not shutil.which(CHROMIUM), reason="needs Debian chromium")]


@pytest.fixture
def browser():
    with chromium() as b:
        yield b


#: all three images of the trial on screen are decoded
SHOWN = "['ref-img', 'left-img', 'right-img'].every((id) => " \
        "document.getElementById(id).complete && document.getElementById(id).naturalWidth > 0)"


def run_trials(page, until: int | None = None) -> int:
    """Answer trials (arrow keys and clicks) until the finish page or ``until`` answers."""
    n = 0
    while (until is None or n < until) and n < 50:
        page.wait_for_selector("#task:not([hidden]), #finish:not([hidden])")
        if page.is_visible("#finish"):
            break
        page.wait_for_selector("#left:not([disabled])")
        assert page.evaluate(SHOWN), "a trial became answerable before its images showed"
        position = page.get_attribute("#app", "data-trial")
        if n % 2:
            page.keyboard.press("ArrowLeft")
        else:
            page.click("#right")
        n += 1
        page.wait_for_selector(f'#app:not([data-trial="{position}"])', state="attached")
    return n


def counts(engine):
    with session_scope(engine) as s:
        return (s.scalar(select(func.count()).select_from(StudySession)),
                s.scalar(select(func.count()).select_from(Response)),
                s.scalar(select(func.count()).select_from(Trial)))


@pytest.fixture
def studies(home):
    engine = get_engine()
    make_comparison_set(engine)
    create_study(spec(slug="pro", platform="prolific", min_view_ms=150,
                      completion_codes={"completed": "PRO123"},
                      cohorts={"param": "group", "caps": {"art": None}}), engine)
    create_study(spec(slug="turk", platform="mturk", min_view_ms=150), engine)
    create_study(spec(slug="norel", min_view_ms=150, max_reloads=0,
                      completion_codes={"screened_out": "NR0"}), engine)
    create_study(spec(slug="flash", min_view_ms=700, stimulus_duration_ms=300), engine)
    create_study(spec(slug="unsure", min_view_ms=150, allow_not_sure=True), engine)
    with serve(workers=2, env={"STYLESTUDY_HOME": home,
                               "STYLESTUDY_SECRET": os.environ["STYLESTUDY_SECRET"]}) as (url, _):
        yield url, engine


def test_prolific_with_reload(browser, studies):
    url, engine = studies
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    prolific = []
    page.route("https://app.prolific.com/**", lambda route: (
        prolific.append(route.request.url),
        route.fulfill(status=200, body="<p>prolific</p>", content_type="text/html")))
    bad = page.goto(f"{url}/study/pro?PROLIFIC_PID=pp1&STUDY_ID=st&SESSION_ID=se1")
    assert bad.status == 400 and "its group is missing" in page.inner_text("body")
    page.goto(f"{url}/study/pro?PROLIFIC_PID=pp1&STUDY_ID=st&SESSION_ID=se1&group=art")
    page.click("#consent")
    page.wait_for_selector("#instructions:not([hidden])")
    assert page.locator(".example").count() == 2  # worked examples for both questions
    page.click("#begin")
    first = run_trials(page, until=4)
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.type), d.accept()))
    page.reload()  # asks first (warn_before_leave), then resumes at the first unanswered trial
    page.wait_for_selector("#task:not([hidden])")
    assert dialogs == ["beforeunload"]
    assert "Comparison" in page.inner_text("#phase")
    rest = run_trials(page)
    assert first + rest == 9
    page.fill("#feedback-text", "all good")
    page.click("#submit")
    page.wait_for_selector("#done:not([hidden])")
    assert page.inner_text("#code") == "PRO123"
    page.wait_for_url("https://app.prolific.com/**", timeout=10000)
    assert dialogs == ["beforeunload"]  # the completion redirect leaves without asking
    assert parse_qs(urlsplit(prolific[0]).query)["cc"] == ["PRO123"]
    with session_scope(engine) as s:
        sess = s.scalar(select(StudySession))
        assert (sess.state, sess.outcome, sess.feedback) == ("completed", "completed", "all good")
        assert sess.cohort == "art"  # the recruitment link's cohort, through the page
        assert s.scalar(select(func.count()).select_from(Response)) == 9


def test_stimulus_duration_hides_images_keeps_choice(browser, studies):
    """stimulus_duration_ms 300 < min_view_ms 700: each trial's images show, are hidden
    after 300 ms, and the choice opens at 700 ms with nothing on screen."""
    url, engine = studies
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(f"{url}/study/flash")
    page.click("#consent")
    page.click("#begin")
    visibility = ("['ref-img', 'left-img', 'right-img'].map((id) => "
                  "getComputedStyle(document.getElementById(id)).visibility)")
    for _ in range(3):
        page.wait_for_selector("#task:not([hidden])")
        page.wait_for_function(f"{SHOWN} && {visibility}.every((v) => v === 'visible')")
        page.wait_for_selector("#left:not([disabled])")
        assert page.evaluate(visibility) == ["hidden"] * 3
        position = page.get_attribute("#app", "data-trial")
        page.keyboard.press("ArrowRight")
        page.wait_for_selector(f'#app:not([data-trial="{position}"])', state="attached")
    with session_scope(engine) as s:
        rts = s.scalars(select(Response.rt_ms)).all()
    assert len(rts) == 3 and all(rt >= 700 for rt in rts)


def test_not_sure_button_and_key(browser, studies):
    """allow_not_sure shows a third choice (click or down arrow) that stores no choice; a
    strict study shows none and ignores the key."""
    url, engine = studies
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(f"{url}/study/flash")
    assert page.locator("#not-sure").count() == 0
    page.goto(f"{url}/study/unsure")
    page.click("#consent")
    page.click("#begin")
    for how in ("click", "key", "click"):
        page.wait_for_selector("#not-sure:not([disabled])")
        position = page.get_attribute("#app", "data-trial")
        if how == "key":
            page.keyboard.press("ArrowDown")
        else:
            page.click("#not-sure")
        page.wait_for_selector(f'#app:not([data-trial="{position}"])', state="attached")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with session_scope(engine) as s:
            stored = s.scalars(select(Response.chose_a)).all()
        if len(stored) == 3:
            break
        time.sleep(0.2)
    assert stored == [None, None, None]


def test_mturk_preview_then_accepted(browser, studies):
    url, engine = studies
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(f"{url}/study/turk?assignmentId=ASSIGNMENT_ID_NOT_AVAILABLE&hitId=H1")
    assert page.is_visible("#preview-note") and page.is_disabled("#consent")
    with session_scope(engine) as s:
        assert s.scalar(select(func.count()).select_from(Participant)) == 0
    submitted = []
    page.route("https://workersandbox.mturk.com/**", lambda route: (
        submitted.append(route.request.post_data),
        route.fulfill(status=200, body="<p>ok</p>", content_type="text/html")))
    page.goto(f"{url}/study/turk?assignmentId=A1&hitId=H1&workerId=W1"
              "&turkSubmitTo=https%3A%2F%2Fworkersandbox.mturk.com")
    page.click("#consent")
    page.click("#begin")
    run_trials(page, until=3)
    page.reload()
    assert run_trials(page) == 6
    page.click("#submit")
    page.wait_for_selector("#mturk-form:not([hidden])")
    assert page.get_attribute("#mturk-form", "action") == \
        "https://workersandbox.mturk.com/mturk/externalSubmit"
    page.click("#mturk-form button")
    page.wait_for_selector("text=ok")
    fields = parse_qs(submitted[0])
    assert fields["assignmentId"] == ["A1"] and len(fields["completion_token"][0]) > 10
    with session_scope(engine) as s:
        assert s.scalar(select(StudySession.state)) == "completed"
        assert s.scalar(select(func.count()).select_from(Response)) == 9


def test_no_reload_mode_ends_the_session_on_reload(browser, studies):
    url, engine = studies
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.on("dialog", lambda d: d.accept())
    page.goto(f"{url}/study/norel")
    page.click("#consent")
    page.click("#begin")
    run_trials(page, until=2)
    page.reload()
    page.wait_for_selector("#done:not([hidden])")
    assert page.inner_text("#code") == "NR0"
    with session_scope(engine) as s:
        sess = s.scalar(select(StudySession).where(StudySession.outcome.is_not(None)))
        assert (sess.state, sess.outcome) == ("completed", "screened_out")
        assert s.scalar(select(func.count()).select_from(Response)
                        .where(Response.session_id == sess.id)) == 2


@pytest.mark.postgres
def test_database_outage_mid_study_loses_nothing(browser, pg_url):
    """PostgreSQL drops and refuses every connection while the participant answers three
    trials and leaves the window: the page goes on from its outboxes, the refused POSTs
    (503) are retried, and once the database is back every response and the event are
    stored once and the study completes."""
    import datetime as dt

    from sqlalchemy import create_engine

    from tests.conftest import PG_ADMIN_URL

    engine = get_engine()
    make_comparison_set(engine)
    create_study(spec(slug="pg", min_view_ms=150), engine)
    name = pg_url.rsplit("/", 1)[1]
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")

    def database(allow: bool) -> None:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS {allow}')
            if not allow:
                conn.exec_driver_sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                     f"WHERE datname = '{name}'")

    with serve(workers=2, env={"STYLESTUDY_SECRET": os.environ["STYLESTUDY_SECRET"]}) as (url, _):
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        api = []
        page.on("response", lambda r: "/api/" in r.url and api.append(r.status))
        page.goto(f"{url}/study/pg")
        page.click("#consent")
        page.click("#begin")
        first = run_trials(page, until=3)
        database(allow=False)
        try:
            down = dt.datetime.now(dt.UTC)
            during = run_trials(page, until=3)
            page.evaluate("window.dispatchEvent(new Event('blur'))")
            page.wait_for_timeout(1500)  # the outboxes retry meanwhile
            up = dt.datetime.now(dt.UTC)
        finally:
            database(allow=True)
        rest = run_trials(page)
        page.click("#submit")
        page.wait_for_selector("#done:not([hidden])", timeout=30000)
        page.wait_for_function("JSON.parse(localStorage.getItem('stylestudy:events:pg') "
                               "|| '[]').length === 0", timeout=30000)
    admin.dispose()
    assert (first, during, first + during + rest) == (3, 3, 9)
    # the outage was real: the server answered 503 (never a 500) and the page retried
    assert 503 in api and not {s for s in api if s >= 500} - {503}
    with session_scope(engine) as s:
        assert s.scalar(select(StudySession.state)) == "completed"
        assert s.scalar(select(func.count()).select_from(Response)) == 9
        events = s.execute(select(SessionEvent.event_id, SessionEvent.kind,
                                  SessionEvent.client_time)).all()
    blurs = [dt.datetime.fromisoformat(t) for _, k, t in events if k == "blur"]
    assert len(blurs) == 1 and down <= blurs[0] <= up  # sent during the outage, kept
    assert len({e for e, _, _ in events}) == len(events)  # none stored twice


def test_failed_image_blocks_the_trial_until_a_retry_shows_it(browser, studies):
    """One stimulus fails to load (aborted by the network) until it is asked for again: the
    trial cannot be answered while it is missing, the failures are logged server-side,
    and the response time starts when the images show."""
    url, engine = studies
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    victim: list[str] = []

    def network(route) -> None:
        u = route.request.url
        if started and not victim and "?" not in u:
            victim.append(u)  # the first stimulus the session preloads
        if victim and u == victim[0]:
            route.abort()
        else:
            route.continue_()

    started = False
    page.route("**/s/*", network)
    page.goto(f"{url}/study/pro?PROLIFIC_PID=pp2&STUDY_ID=st&SESSION_ID=se2&group=art")
    started = True
    page.click("#consent")
    page.click("#begin")
    assert run_trials(page) == 9
    page.click("#submit")
    page.wait_for_selector("#done:not([hidden])")
    page.wait_for_function("JSON.parse(localStorage.getItem('stylestudy:events:pro') "
                           "|| '[]').length === 0")
    with session_scope(engine) as s:
        events = s.execute(select(SessionEvent.kind, SessionEvent.payload)).all()
        rts = dict(s.execute(select(Trial.position, Response.rt_ms)
                             .join(Trial, Trial.id == Response.trial_id)).all())
    kinds = [k for k, _ in events]
    assert "preload_error" in kinds and "image_error" in kinds
    assert all(p["url"].startswith("/s/") and victim[0].endswith(p["url"])
               for k, p in events if k == "image_error")
    retried = {p["position"] for k, p in events if k == "image_error"}
    assert len(rts) == 9 and retried
    # the trial waited ≥ 1 s for its retried image; that wait is not response time
    assert all(rts[pos] < 1000 for pos in retried)


def test_leaving_with_unsent_answers_delivers_them(browser, studies):
    """The network drops every response and event POST; the participant answers three more
    trials, leaves the window and then navigates away: ``sendBeacon`` on ``pagehide``
    delivers the three queued responses and the queued event, and the next page of the
    study in that browser delivers the event again (it cannot know the beacon arrived),
    which is not stored twice."""
    url, engine = studies
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.on("dialog", lambda d: d.accept())  # the beforeunload question: leave
    study_url = f"{url}/study/pro?PROLIFIC_PID=pp4&STUDY_ID=st&SESSION_ID=se4&group=art"
    page.goto(study_url)
    page.click("#consent")
    page.click("#begin")
    assert run_trials(page, until=2) == 2
    page.route("**/api/responses", lambda route: route.abort())
    page.route("**/api/events", lambda route: route.abort())
    assert run_trials(page, until=3) == 3
    page.evaluate("window.dispatchEvent(new Event('blur'))")
    queued = page.evaluate("[localStorage.getItem('stylestudy:outbox:pro'), "
                           "localStorage.getItem('stylestudy:events:pro')]")
    assert len(json.loads(queued[0])) == 3
    assert [e["body"]["kind"] for e in json.loads(queued[1])] == ["blur"]

    def stored() -> tuple[int, int]:
        with session_scope(engine) as s:
            return (s.scalar(select(func.count()).select_from(Response)),
                    s.scalar(select(func.count()).select_from(SessionEvent)
                             .where(SessionEvent.kind == "blur")))

    assert stored() == (2, 0)
    page.goto("about:blank")  # pagehide: the beacon
    deadline = time.monotonic() + 15
    while stored() != (5, 1) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert stored() == (5, 1)
    later = context.new_page()
    later.goto(study_url)  # a new tab of the study: no session token, but the queued event
    later.wait_for_function("JSON.parse(localStorage.getItem('stylestudy:events:pro') "
                            "|| '[]').length === 0")
    assert stored() == (5, 1)
    context.close()


@pytest.fixture
def sized(home):
    """Two studies: 'wide' asks the content question about 600×300 images (references as
    large as the options; any window from 360 × 400 may take it), 'tiny' both questions
    about 32×24 outputs with 20×20 styles."""
    engine = get_engine()
    make_comparison_set(engine, name="wide-set", size=(300, 600))
    make_comparison_set(engine, name="tiny-set", methods=("t1", "t2", "t3"), seed=1)
    create_study(spec(slug="wide", comparison_set="wide-set", questions=["content"],
                      min_viewport=[360, 400]), engine)
    create_study(spec(slug="tiny", comparison_set="tiny-set"), engine)
    with serve(workers=1, env={"STYLESTUDY_HOME": home,
                               "STYLESTUDY_SECRET": os.environ["STYLESTUDY_SECRET"]}) as (url, _):
        yield url


def trial_boxes(page) -> dict[str, dict]:
    return page.evaluate("Object.fromEntries(['ref-img', 'left-img', 'right-img'].map((id) => "
                         "[id, document.getElementById(id).getBoundingClientRect().toJSON()]))")


@pytest.mark.parametrize("width,height", [(1280, 800), (1024, 768)])
def test_options_fill_the_window_side_by_side(browser, sized, tmp_path, width, height):
    """From 1024 px wide both options show at one size, side by side, at least 40 % of the
    window wide each (small outputs are scaled up), never smaller than the reference, with
    nothing past the window's edges; the screenshot shows them there."""
    import io

    import numpy as np
    from PIL import Image

    page = browser.new_page(viewport={"width": width, "height": height})
    for slug in ("wide", "tiny"):
        page.goto(f"{sized}/study/{slug}")
        page.click("#consent")
        page.click("#begin")
        for n in range(2):
            page.wait_for_selector("#left:not([disabled])")
            box = trial_boxes(page)
            ref, left, right = box["ref-img"], box["left-img"], box["right-img"]
            shot = np.asarray(Image.open(io.BytesIO(page.screenshot(
                path=tmp_path / f"{slug}-{width}x{height}-{n}.png"))).convert("RGB"))
            assert abs(left["width"] - right["width"]) < 1 and \
                abs(left["height"] - right["height"]) < 1, box
            assert abs(left["top"] - right["top"]) < 1 and left["right"] < right["left"], box
            assert left["width"] >= 0.4 * width, box
            # the reference (inside its 3-px border) is no larger than an option
            assert ref["width"] - 6 <= left["width"] + 0.5 and \
                ref["height"] - 6 <= left["height"] + 0.5, box
            for b in box.values():
                assert b["left"] >= 0 and b["right"] <= width and b["bottom"] <= height, box
                y0, y1, x0, x1 = (round(b[k]) for k in ("top", "bottom", "left", "right"))
                assert shot[y0 + 4:y1 - 4, x0 + 4:x1 - 4].std() > 10  # an image is painted
            position = page.get_attribute("#app", "data-trial")
            page.keyboard.press("ArrowLeft")
            page.wait_for_selector(f'#app:not([data-trial="{position}"])', state="attached")


def test_narrow_window_keeps_the_reference_inside(browser, sized):
    """A 390-px-wide desktop window: the reference and both options stay inside it."""
    page = browser.new_page(viewport={"width": 390, "height": 844})
    page.goto(f"{sized}/study/wide")
    page.click("#consent")
    page.click("#begin")
    page.wait_for_selector("#left:not([disabled])")
    box = trial_boxes(page)
    assert all(b["left"] >= 0 and b["right"] <= 390 for b in box.values()), box
    assert box["left-img"]["right"] < box["right-img"]["left"], box
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
