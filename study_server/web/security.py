"""Response headers, Origin checks, admin CSRF and script nonces.

The header values are listed in docs/study-protocol.md, Security.
"""

from __future__ import annotations

import hmac
import secrets
from urllib.parse import urlsplit

from flask import Request, Response, abort, g, request, session

__all__ = [
    "admin_headers",
    "api_headers",
    "check_origin",
    "csrf_token",
    "participant_headers",
    "script_nonce",
    "verify_csrf",
]

#: the hosts that may frame participant pages and receive their forms: MTurk's (its
#: frame-ancestors host names are not verified against a live HIT)
MTURK_FRAMERS = "https://*.mturk.com"
MTURK_SUBMIT = "https://www.mturk.com https://workersandbox.mturk.com"


def participant_headers(resp: Response, nonce: str | None = None) -> Response:
    """CSP allowing MTurk framing and externalSubmit; no X-Frame-Options (MTurk frames
    the page)."""
    script = f"'self' 'nonce-{nonce}'" if nonce else "'self'"
    resp.headers["Content-Security-Policy"] = (
        f"default-src 'self'; img-src 'self' data: blob:; script-src {script}; "
        f"style-src 'self'; frame-ancestors 'self' {MTURK_FRAMERS}; "
        f"form-action 'self' https://app.prolific.com {MTURK_SUBMIT}")
    resp.headers.pop("X-Frame-Options", None)
    _common(resp)
    return resp


def admin_headers(resp: Response) -> Response:
    resp.headers["Content-Security-Policy"] = (
        "default-src 'self'; img-src 'self' data:; script-src 'self'; style-src 'self'; "
        "frame-ancestors 'none'; form-action 'self'")
    resp.headers["X-Frame-Options"] = "DENY"
    _common(resp)
    return resp


def api_headers(resp: Response) -> Response:
    """JSON answers (session tokens, completion codes) are never stored or sniffed."""
    resp.headers["Cache-Control"] = "no-store"
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["Referrer-Policy"] = "no-referrer"
    return resp


def _common(resp: Response) -> None:
    resp.headers["Referrer-Policy"] = "no-referrer"
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers.setdefault("Cache-Control", "no-store")
    if request.is_secure:
        resp.headers["Strict-Transport-Security"] = "max-age=31536000"


def check_origin(req: Request) -> bool:
    """A POST's Origin (when sent) must be this host; beacons and CLI clients send none."""
    origin = req.headers.get("Origin")
    if origin is None or origin == "null" and req.path in ("/api/beacon", "/api/events/beacon"):
        return True
    parts = urlsplit(origin)
    return parts.scheme == req.scheme and parts.netloc == req.host and not parts.path


def csrf_token() -> str:
    """The admin session's CSRF token (created on first use)."""
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(32)
    return session["csrf"]


def verify_csrf() -> None:
    """Abort 400 unless the form field or header carries this session's CSRF token."""
    sent = request.form.get("csrf_token") or request.headers.get("X-CSRF-Token") or ""
    expected = session.get("csrf")
    if not expected or not hmac.compare_digest(sent.encode("utf-8", "surrogatepass"),
                                               str(expected).encode()):  # any text: bytes
        abort(400, description="missing or invalid CSRF token")


def script_nonce() -> str:
    if "nonce" not in g:
        g.nonce = secrets.token_urlsafe(16)
    return g.nonce
