"""Structured request logs: one JSON line per request on the ``stylestudy.requests`` logger.

Fields: method, path (participant page paths, which hold a link token, as ``/s/…``),
status, ms (until the app returned its response), pid, and for a bearer token the first
12 hex digits of its hash (the session's ``token_hash`` prefix, never the token).
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Iterable
from typing import Any

from stylestudy.study_server.tokens import token_hash

__all__ = ["RequestLog", "log_record"]

request_log = logging.getLogger("stylestudy.requests")


def log_record(environ: dict[str, Any], status: str, ms: float) -> dict[str, Any]:
    """The log fields of one request."""
    path = environ.get("PATH_INFO", "")
    record = {"method": environ.get("REQUEST_METHOD", ""),
              "path": "/s/…" if path.startswith("/s/") else path,
              "status": int(status[:3]) if status[:3].isdigit() else None,
              "ms": round(ms, 2), "pid": os.getpid()}
    auth = environ.get("HTTP_AUTHORIZATION", "")
    if auth.startswith("Bearer ") and auth[7:].strip():
        record["session"] = token_hash(auth[7:].strip())[:12]
    return record


class RequestLog:
    """WSGI middleware that logs each request (a plain wrapper: no Flask hooks, which
    cost more per request than the line itself)."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]
                 ) -> Iterable[bytes]:
        t0 = time.perf_counter()
        seen: list[str] = []

        def _start(status: str, headers: list, exc_info: Any = None) -> Any:
            seen.append(status)
            return start_response(status, headers, exc_info)

        try:
            return self.app(environ, _start)
        finally:
            if request_log.isEnabledFor(logging.INFO):
                status = seen[-1] if seen else "500"
                request_log.info(json.dumps(log_record(
                    environ, status, (time.perf_counter() - t0) * 1000)))
