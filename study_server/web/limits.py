"""Rate limits.

- ``limiter`` (Flask-Limiter): session starts per client address and admin login, counted
  in ``STYLESTUDY_RATELIMIT_STORAGE`` (default in memory, per process; with several
  gunicorn workers set e.g. ``redis://localhost:6379``). Should that storage fail, they
  count in process memory until it answers again, so its failure refuses no one.
- ``session_limit``: every endpoint a session token opens (its state, responses, events,
  their beacons, reload, complete, return), the path of every judgment. ``RESPONSE_LIMIT``
  per session, or per client address for a token that matches no session (so made-up
  tokens share their sender's budget). Each of ``WORKERS`` processes counts its share
  (limit ÷ workers, at least 1) in memory with Flask-Limiter's engine (the ``limits``
  package, fixed windows): the server as a whole never admits more than the limit, and a
  judgment depends on no other service.
"""

from __future__ import annotations

from flask import Flask, current_app
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from limits import RateLimitItem, parse
from limits.storage import MemoryStorage
from limits.strategies import FixedWindowRateLimiter

from stylestudy.study_server.errors import ApiError

__all__ = ["init_limits", "limiter", "session_limit", "storage_options"]

limiter = Limiter(key_func=get_remote_address, default_limits=[], headers_enabled=False)


def storage_options(uri: str) -> dict[str, float]:
    """Short socket timeouts for a networked store: a dead Redis must not stall requests."""
    return {} if uri.startswith("memory") else {"socket_timeout": 0.5,
                                                "socket_connect_timeout": 0.5}


def worker_share(item: RateLimitItem, workers: int) -> RateLimitItem:
    """``item`` with its amount divided among ``workers`` processes (at least 1 each)."""
    return type(item)(max(1, item.amount // max(1, workers)), item.multiples,
                      namespace=item.namespace)


class SessionLimit:
    """``RESPONSE_LIMIT`` per session (else per client address), a share per process."""

    def init_app(self, app: Flask) -> None:
        item = worker_share(parse(app.config["RESPONSE_LIMIT"]), app.config["WORKERS"])
        app.extensions["stylestudy.session_limit"] = (item, FixedWindowRateLimiter(MemoryStorage()))

    def check(self, th: str | None) -> None:
        """Count one request of the session with token hash ``th`` (None: of the client
        address); a 429 ``too_many_requests`` once this process's share is spent."""
        item, counter = current_app.extensions["stylestudy.session_limit"]
        key = "t:" + th[:32] if th else "ip:" + (get_remote_address() or "unknown")
        if not counter.hit(item, "api.session", key):
            raise ApiError(429, "too_many_requests",
                           f"rate limit exceeded ({current_app.config['RESPONSE_LIMIT']})")


session_limit = SessionLimit()


def init_limits(app: Flask) -> None:
    """Both limiters on ``app``. Flask-Limiter's application-wide ``before_request`` check
    serves default, application and meta limits, of which stylestudy sets none (each limit
    decorates its view, and the view checks it), so it is removed: it cost every judgment
    about 0.1 ms of CPU (docs/benchmarks.md)."""
    limiter.init_app(app)
    hooks = app.before_request_funcs.get(None, [])
    if limiter._check_request_limit in hooks:  # registered only while limits are enabled
        hooks.remove(limiter._check_request_limit)
    session_limit.init_app(app)
