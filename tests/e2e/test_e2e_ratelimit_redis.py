"""Rate limits shared by gunicorn workers through Redis (``STYLESTUDY_RATELIMIT_STORAGE``)."""

from __future__ import annotations

import os
import uuid

import pytest

from db.engine import get_engine
from study_server.client import ApiClient
from study_server.studies import create_study
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
