"""Rate limits across gunicorn workers: starts counted in Redis
(``STYLESTUDY_RATELIMIT_STORAGE``), a session's writes by each worker's share."""

from __future__ import annotations

import json
import os
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select

from stylestudy.db.engine import get_engine, session_scope
from stylestudy.db.models import Response
from stylestudy.study_server.ops.client import ApiClient
from stylestudy.study_server.study.studies import create_study
from tests.e2e.e2e_helpers import serve
from tests.study_server.study_helpers import make_comparison_set, spec

pytestmark = pytest.mark.slow

REDIS = "redis://127.0.0.1:6379/0"


@pytest.fixture
def redis_prefix():
    import redis

    client = redis.Redis.from_url(REDIS)
    client.ping()  # `make system-deps` starts the local Redis server
    prefix = f"stylestudy-test-{uuid.uuid4().hex[:8]}"
    yield client, prefix
    for key in client.scan_iter(f"*/{prefix}/*"):  # limits' keys: LIMITS:LIMITER/<prefix>/…
        client.delete(key)


def test_start_limit_is_counted_in_redis_across_workers(home, redis_prefix):
    client, prefix = redis_prefix
    engine = get_engine()
    make_comparison_set(engine)
    create_study(spec(judgments_per_cell=20), engine)
    env = {"STYLESTUDY_HOME": home, "STYLESTUDY_SECRET": os.environ["STYLESTUDY_SECRET"],
           "STYLESTUDY_RATELIMIT_STORAGE": REDIS, "STYLESTUDY_RATELIMIT_PREFIX": prefix,
           "STYLESTUDY_START_LIMIT": "3/minute"}
    with serve(workers=2, env=env) as (url, _):
        codes = []
        for _ in range(6):  # a new connection each time: either worker may answer
            c = ApiClient(url)
            codes.append(c.request("POST", "/api/studies/s1/sessions", {"consent": True},
                                   retries=0)[0])
            c.close()
    assert codes == [201] * 3 + [429] * 3
    keys = [k.decode() for k in client.scan_iter(f"*/{prefix}/*")]
    assert keys and all("api.start" in k for k in keys)  # the counts live in Redis


def test_session_limit_never_admits_more_than_the_limit_across_workers(home, tmp_path):
    """RESPONSE_LIMIT 4/minute over 2 workers: each worker admits 2 of a session's requests
    (its state read and its responses, counted from the request log's pids), so at most 3
    of 8 responses are stored after the read, and only those."""
    engine = get_engine()
    make_comparison_set(engine)
    create_study(spec(), engine)
    env = {"STYLESTUDY_HOME": home, "STYLESTUDY_SECRET": os.environ["STYLESTUDY_SECRET"],
           "STYLESTUDY_RESPONSE_LIMIT": "4/minute", "STYLESTUDY_REQUEST_LOG": "on"}
    log_path = tmp_path / "server.log"
    with log_path.open("w") as log, serve(workers=2, env=env, log=log) as (url, _):
        c = ApiClient(url)
        status, body = c.request("POST", "/api/studies/s1/sessions", {"consent": True})
        assert status == 201
        c.token = body["token"]
        trials = c.request("GET", "/api/session")[1]["trials"]
        c.close()

        def post(trial: dict) -> int:
            client = ApiClient(url)  # its own connection: either worker may answer
            client.token = body["token"]
            try:
                return client.request("POST", "/api/responses",
                                      {"response_id": str(uuid.uuid4()), "trial": trial["id"],
                                       "choice": "left", "rt_ms": 900}, retries=0)[0]
            finally:
                client.close()

        with ThreadPoolExecutor(4) as pool:
            codes = list(pool.map(post, trials[:8]))
    accepted = codes.count(201)
    assert set(codes) <= {201, 429} and 1 <= accepted <= 3
    lines = [json.loads(x) for x in log_path.read_text().splitlines() if x.startswith("{")]
    admitted = [x for x in lines if "session" in x and x["status"] < 400]
    assert [x["path"] for x in admitted].count("/api/responses") == accepted
    per_worker = Counter(x["pid"] for x in admitted)
    assert sum(per_worker.values()) == accepted + 1 and max(per_worker.values()) <= 2
    with session_scope(engine) as s:
        assert s.scalar(select(func.count()).select_from(Response)) == accepted
