"""The participant JSON API under ``/api/`` (bearer-token auth, no cookies).

Described by ``/api/openapi.json`` (``stylestudy.study_server.web.openapi``). Every refusal is a 4xx
JSON body ``{"error": code, "message": text}``.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request
from flask_limiter.util import get_remote_address

from stylestudy.db.states import SessionState
from stylestudy.study_server.errors import ApiError
from stylestudy.study_server.study import participation as flow
from stylestudy.study_server.study.entry import EntryError, parse_entry
from stylestudy.study_server.study.lookup import study_or_404
from stylestudy.study_server.tokens import token_hash
from stylestudy.study_server.web.dbsession import commit, get_db
from stylestudy.study_server.web.limits import limiter, session_limit
from stylestudy.study_server.web.openapi import openapi_document
from stylestudy.study_server.web.participant import MOBILE_UA
from stylestudy.study_server.web.security import check_origin

__all__ = ["bp"]

bp = Blueprint("api", __name__, url_prefix="/api")
log = logging.getLogger("stylestudy.api")


def _secret() -> bytes:
    return current_app.config["SECRET"]


def _token() -> str | None:
    auth = request.headers.get("Authorization", "")
    if auth.startswith("Bearer "):
        return auth[7:].strip() or None
    return None


def _limit(token: str | None, write: bool = True) -> str | None:
    """Count a request against its session's rate limit (a token that matches no session
    counts against the sender's address); returns the token."""
    if not current_app.config["RATELIMIT_ENABLED"]:
        return token
    th = token_hash(token) if token else None
    if th is not None and flow.session_for(get_db(write=write), th) is None:
        th = None
    session_limit.check(th)
    return token


def _unstorable(value: Any) -> bool:
    """Text that no database column stores: a NUL character, or a lone surrogate (which
    has no UTF-8 form)."""
    if isinstance(value, str):
        return "\x00" in value or not value.isascii() and not _utf8(value)
    if isinstance(value, dict):
        return any(_unstorable(k) or _unstorable(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_unstorable(v) for v in value)
    return False


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


#: JSON escapes that can decode to a NUL or a lone surrogate (case-insensitive hex)
_SUSPECT = re.compile(rb"\\u(?:0000|[dD][89a-fA-F])")


def _json() -> Any:
    """The request body as JSON; text that no database column stores (a NUL character, a
    lone surrogate) is refused here, not retried as a database error."""
    data = request.get_data(cache=True)
    if not data:
        return {}
    try:
        body = json.loads(data)
        bad = _SUSPECT.search(data) is not None and _unstorable(body)
    except (ValueError, RecursionError):  # not JSON, or nested beyond Python's depth
        raise ApiError(400, "bad_json", "the body is not valid JSON") from None
    if bad:
        raise ApiError(400, "bad_json", "text in the body must not contain NUL characters "
                                        "or lone surrogates")
    return body


@bp.before_request
def _origin() -> None:
    if request.method == "POST" and not check_origin(request):
        raise ApiError(403, "bad_origin", "cross-origin request refused")


@bp.get("/openapi.json")
def openapi() -> Response:
    return jsonify(openapi_document())


@bp.post("/studies/<slug>/sessions")
@limiter.limit(lambda: current_app.config["START_LIMIT"])
def start(slug: str) -> tuple[Response, int]:
    """Consent accepted: create the session and allocate its trials."""
    body = _json()
    if not isinstance(body, dict):
        raise ApiError(400, "bad_json", "the body must be a JSON object")
    if body.get("consent") is not True:
        raise ApiError(422, "no_consent", "consent must be true to start")
    params = body.get("params") or {}
    viewport = body.get("viewport") or {}
    if not isinstance(params, dict) or not isinstance(viewport, dict):
        raise ApiError(422, "bad_params", "params and viewport must be JSON objects")
    viewport = {k: v for k, v in viewport.items()
                if isinstance(k, str) and isinstance(v, int | float) and not isinstance(v, bool)
                and len(k) <= 32}
    s = get_db(write=True)
    study = study_or_404(s, slug)
    try:
        entry = parse_entry(study.spec, params)
    except EntryError as exc:
        raise ApiError(422, "bad_entry", str(exc)) from None
    ua = (request.headers.get("User-Agent") or "").replace("\x00", "")
    if study.spec["exclude_mobile"] and re.search(MOBILE_UA, ua):
        raise ApiError(403, "device_excluded", "this study needs a computer with a large "
                       "screen; it cannot be done on a phone or tablet")
    client = {"user_agent": ua, "viewport": viewport, "address": get_remote_address()}
    flow.maybe_sweep(s, study.id)
    commit()  # the sweep commits on its own, before the allocation takes its locks
    cfg = current_app.config
    token, sess = flow.start_session(s, study, entry, _secret(), client,
                                     cfg["OPEN_PER_ADDRESS"] if cfg["RATELIMIT_ENABLED"] else 0)
    commit()
    log.info("session started", extra={"session_id": sess.id, "study": slug})
    return jsonify({"token": token, "state": SessionState.STARTED}), 201


@bp.get("/session")
def state() -> Response:
    token = _limit(_token(), write=False)
    return jsonify(flow.session_state(get_db(), token, _secret()))


@bp.post("/responses")
def responses() -> tuple[Response, int]:
    """Store one judgment (idempotent by ``response_id``)."""
    token = _limit(_token())
    status, body = flow.record_response(get_db(write=True), token, _json(), _secret())
    commit()
    return jsonify(body), status


def _beacon() -> tuple[str | None, dict[str, Any]]:
    """A ``navigator.sendBeacon`` body: JSON with the session token in it (a beacon
    cannot carry an Authorization header)."""
    body = _json()
    if not isinstance(body, dict):
        raise ApiError(400, "bad_json", "the body must be a JSON object")
    token = body.get("token") if isinstance(body.get("token"), str) else None
    return _limit(token), body


@bp.post("/beacon")
def beacon() -> tuple[Response, int]:
    """``navigator.sendBeacon`` flush: like /responses with the token in the body."""
    token, body = _beacon()
    status, out = flow.record_response(get_db(write=True), token, body, _secret())
    commit()
    return jsonify(out), status


@bp.post("/events")
def events() -> tuple[Response, int]:
    """Log a client event (idempotent by ``event_id``)."""
    token = _limit(_token())
    stored = flow.record_event(get_db(write=True), token, _json())
    commit()
    return jsonify({"stored": stored}), 201 if stored else 200


@bp.post("/events/beacon")
def events_beacon() -> tuple[Response, int]:
    """``navigator.sendBeacon`` flush of a queued event: like /events with the token in
    the body."""
    token, body = _beacon()
    stored = flow.record_event(get_db(write=True), token, body)
    commit()
    return jsonify({"stored": stored}), 201 if stored else 200


@bp.post("/session/reload")
def reload() -> Response:
    """The page resumed this session; may end it under the study's ``max_reloads``."""
    token = _limit(_token())
    out = flow.report_reload(get_db(write=True), token, _secret())
    commit()
    return jsonify(out)


@bp.post("/session/complete")
def complete() -> Response:
    body = _json()
    feedback = body.get("feedback") if isinstance(body, dict) else None
    token = _limit(_token())
    action = flow.complete(get_db(write=True), token, feedback, _secret())
    commit()
    return jsonify({"state": SessionState.COMPLETED, "completion": action})


@bp.post("/session/return")
def withdraw() -> Response:
    token = _limit(_token())
    out = flow.withdraw(get_db(write=True), token, _secret())
    commit()
    return jsonify(out)
