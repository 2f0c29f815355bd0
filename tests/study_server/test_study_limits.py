"""Rate limits: the per-session write limit (a share per worker), Flask-Limiter's start
limit, and a rate-limit store that is down (the real app over loopback)."""

from __future__ import annotations

import uuid

import pytest
from limits import RateLimitItemPerHour, RateLimitItemPerMinute, parse
from sqlalchemy import func, select
from study_helpers import answer, spec, start

from stylestudy.db.engine import session_scope
from stylestudy.db.models import Response, SessionEvent
from stylestudy.study_server.app import create_app
from stylestudy.study_server.ops.client import ApiClient
from stylestudy.study_server.ops.simulate import local_server
from stylestudy.study_server.study.studies import create_study
from stylestudy.study_server.web.limits import limiter, worker_share


def test_worker_share_divides_the_amount_and_keeps_the_window():
    share = worker_share(parse("600/minute"), 2)
    assert isinstance(share, RateLimitItemPerMinute) and share.amount == 300
    assert share.multiples == 1
    assert worker_share(parse("7/2 hours"), 3).amount == 2  # 7 // 3
    assert isinstance(worker_share(parse("7/2 hours"), 3), RateLimitItemPerHour)
    assert worker_share(parse("7/2 hours"), 3).multiples == 2
    assert worker_share(parse("1/minute"), 4).amount == 1  # never 0
    assert worker_share(parse("5/second"), 1).amount == 5


def test_flask_limiters_global_check_is_removed():
    """Its decorated limits are checked by their views (the start limit below)."""
    app = create_app({"DATABASE_URL": "sqlite://", "RATELIMIT_ENABLED": True})
    assert limiter._check_request_limit not in app.before_request_funcs.get(None, [])
    assert app.extensions["limiter"] == {limiter}


@pytest.fixture
def limited(db_url, cset):
    """The app with limits on: RESPONSE_LIMIT 8/minute over 2 workers (4 per process)."""
    with local_server({"DATABASE_URL": db_url, "RATELIMIT_ENABLED": True,
                       "RESPONSE_LIMIT": "8/minute", "WORKERS": 2}) as url:
        yield url


def _stored(engine, model) -> int:
    with session_scope(engine) as s:
        return s.scalar(select(func.count()).select_from(model))


def _event(c: ApiClient) -> int:
    return c.request("POST", "/api/events", {"event_id": str(uuid.uuid4()), "kind": "blur",
                                             "payload": {}}, retries=0)[0]


def test_session_limit_refuses_beyond_the_share_and_stores_nothing(limited, engine):
    create_study(spec(), engine)
    a, b = start(limited), start(limited)
    trials = a.request("GET", "/api/session")[1]["trials"]  # 1 of a's 4
    assert [answer(a, t)[0] for t in trials[:3]] == [201, 201, 201]
    status, err = a.request("POST", "/api/responses",
                            {"response_id": str(uuid.uuid4()), "trial": trials[3]["id"],
                             "choice": "left", "rt_ms": 900}, retries=0)
    assert (status, err["error"]) == (429, "too_many_requests")
    assert "8/minute" in err["message"]
    assert _stored(engine, Response) == 3
    # every endpoint the token opens shares the session's budget
    assert _event(a) == 429 and _stored(engine, SessionEvent) == 0
    assert a.request("GET", "/api/session", retries=0)[0] == 429
    assert a.request("POST", "/api/session/complete", {}, retries=0)[0] == 429
    # another session has its own budget
    assert answer(b, b.request("GET", "/api/session")[1]["trials"][0])[0] == 201


def test_made_up_tokens_share_their_senders_budget(limited, engine):
    create_study(spec(), engine)
    real = start(limited)
    codes = []
    for _ in range(5):
        fake = ApiClient(limited)
        fake.token = uuid.uuid4().hex
        codes.append(_event(fake))
    assert codes == [401, 401, 401, 401, 429]
    # a real session is counted by its own key, not the address the fakes spent
    trial = real.request("GET", "/api/session")[1]["trials"][0]
    assert answer(real, trial)[0] == 201


def test_beacon_is_counted_by_the_token_in_its_body(limited, engine):
    create_study(spec(), engine)
    a = start(limited)
    trials = a.request("GET", "/api/session")[1]["trials"]
    codes = [a.request("POST", "/api/beacon",
                       {"token": a.token, "response_id": str(uuid.uuid4()),
                        "trial": t["id"], "choice": "left", "rt_ms": 900}, retries=0)[0]
             for t in trials[:4]]
    assert codes == [201, 201, 201, 429]
    assert _stored(engine, Response) == 3


def test_start_limit_counts_in_memory_while_the_store_is_down(db_url, cset, engine):
    """Redis unreachable (a closed port): starts are counted in process memory instead of
    failing with a 500."""
    create_study(spec(judgments_per_cell=20), engine)
    with local_server({"DATABASE_URL": db_url, "RATELIMIT_ENABLED": True,
                       "START_LIMIT": "2/minute",
                       "RATELIMIT_STORAGE_URI": "redis://127.0.0.1:9/0"}) as url:
        codes = [ApiClient(url).request("POST", "/api/studies/s1/sessions",
                                        {"consent": True}, retries=0)[0] for _ in range(3)]
    assert codes == [201, 201, 429]
