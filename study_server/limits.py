"""Rate limits (Flask-Limiter): per session token, else per client address.

With several gunicorn workers set ``STYLESTUDY_RATELIMIT_STORAGE`` (e.g.
``redis://localhost:6379``): the default in-memory storage counts per process.
"""

from __future__ import annotations

from flask import request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

from study_server.security import token_hash

__all__ = ["limiter", "token_or_ip"]


def token_or_ip() -> str:
    auth = request.headers.get("Authorization", "")
    if auth.startswith("Bearer ") and len(auth) > 7:
        return "t:" + token_hash(auth[7:].strip())[:32]
    return "ip:" + (get_remote_address() or "unknown")


limiter = Limiter(key_func=get_remote_address, default_limits=[], headers_enabled=False)
