"""The participant state machine: start, state, responses, events, completion, return.

Every transition is a compare-and-set ``UPDATE … WHERE state = :expected`` with its
rowcount checked (docs/study-protocol.md, State machine). Responses are append-only and
idempotent by the client's UUID (docs/study-protocol.md, Responses). Functions take an
open SQLAlchemy session and leave committing to the caller; errors are
``stylestudy.study_server.errors.ApiError`` (a 4xx JSON answer).
"""

from __future__ import annotations

import datetime as dt
import random
import re
import secrets
import time
from typing import Any, NamedTuple

from sqlalchemy import and_, bindparam, func, insert, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.orm import Session

from stylestudy.db.engine import autocommit_twin
from stylestudy.db.models import (
    Asset,
    BlockedIdentity,
    DesignCell,
    Participant,
    PaymentIdentity,
    Response,
    SessionEvent,
    Study,
    StudySession,
    Trial,
    utcnow,
)
from stylestudy.db.states import SESSIONS_ABANDONED, SESSIONS_FINISHED, SessionState
from stylestudy.study_server.errors import ApiError
from stylestudy.study_server.study import scheduling
from stylestudy.study_server.study.entry import Entry, completion_action
from stylestudy.study_server.study.spec import stored_spec
from stylestudy.study_server.tokens import new_token, pid_hash, token_hash

__all__ = ["A_IMG", "B_IMG", "CELL_IMAGES", "REF_IMG", "complete",
           "counted_participants", "maybe_sweep", "record_event",
           "record_response", "session_for", "session_state", "start_session", "withdraw"]

#: the answers a response may carry ("not_sure" only where the study allows it)
CHOICES = ("left", "right", "not_sure")
EVENT_KINDS = ("preload_error", "image_error", "blur", "focus", "resize", "visibility",
               "viewport", "client_error")
UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-4[0-9a-fA-F]{3}-[89abAB][0-9a-fA-F]{3}-"
                     r"[0-9a-fA-F]{12}$")
MAX_RT_MS = 3_600_000


def _first_lease(spec: dict, now: dt.datetime) -> dt.datetime:
    """Until its first stored response a session holds its cells only briefly."""
    return now + dt.timedelta(minutes=min(spec["first_lease_minutes"], spec["lease_minutes"]))


_last_sweep: dict[tuple[URL, int], float] = {}
SWEEP_EVERY_S = 30.0


def maybe_sweep(s: Session, study_id: int) -> None:
    """Time out expired sessions at most every ``SWEEP_EVERY_S`` seconds per process."""
    t = time.monotonic()
    key = (s.get_bind().url, study_id)
    if t - _last_sweep.get(key, -1e9) < SWEEP_EVERY_S:
        return
    _last_sweep[key] = t
    scheduling.sweep_expired(s, study_id, utcnow())


def counted_participants(s: Session, study_id: int, exclude: int | None = None,
                         cohort: str | None = None) -> int:
    """Sessions that hold a place under ``max_participants`` (of ``cohort``, when given):
    started ones (until the sweep times them out) and those completed with outcome
    ``completed``; screened-out, technical-error, returned and timed-out sessions free
    their place."""
    q = select(func.count()).select_from(StudySession).where(
        StudySession.study_id == study_id,
        or_(StudySession.state == SessionState.STARTED,
            and_(StudySession.state.in_(SESSIONS_FINISHED),
                 StudySession.outcome == "completed")))
    if exclude is not None:
        q = q.where(StudySession.id != exclude)
    if cohort is not None:
        q = q.where(StudySession.cohort == cohort)
    return s.scalar(q)


def start_session(s: Session, study: Study, entry: Entry, secret: bytes,
                  client: dict[str, Any], open_per_address: int = 0
                  ) -> tuple[str, StudySession]:
    """Consent accepted: repeat and blocklist checks, the session row, the hoarding limits
    (at most ``open_per_address`` open sessions per client address, 0 = no limit; one per
    identity; unanswered sessions bounded against the work left), trial allocation."""
    if study.state != "open":
        raise ApiError(409, f"study_{study.state}", f"this study is {study.state}; "
                       "it is not taking participants now")
    if entry.preview:
        raise ApiError(409, "preview", "accept the HIT before starting")
    spec = stored_spec(study.spec)
    raw = entry.raw_id if entry.raw_id is not None else f"anon:{secrets.token_hex(16)}"
    h = pid_hash(secret, entry.platform, raw)
    if s.get(BlockedIdentity, h) is not None:
        raise ApiError(403, "blocked", "you cannot take part in this study")
    attempt = 0
    if spec["allow_repeats"]:
        attempt = s.scalar(select(func.count()).select_from(Participant).where(
            Participant.study_id == study.id, Participant.pid_hash == h))
    participant = Participant(study_id=study.id, platform=entry.platform, pid_hash=h,
                              attempt=attempt)
    try:
        with s.begin_nested():
            s.add(participant)
    except IntegrityError:
        raise ApiError(409, "already_participated",
                       "you have already taken part in this study") from None
    if entry.payment:
        s.add(PaymentIdentity(participant_id=participant.id, raw=entry.payment))
    now = utcnow()
    token = new_token()
    seed = secrets.randbits(62)
    address = client.get("address")
    client_hash = pid_hash(secret, "address", address)[:32] if address else None
    sess = StudySession(study_id=study.id, participant_id=participant.id,
                        token_hash=token_hash(token), state=SessionState.STARTED, seed=seed,
                        lease_expires_at=_first_lease(spec, now),
                        user_agent=(client.get("user_agent") or "")[:512],
                        viewport=client.get("viewport") or {}, platform_data=entry.data,
                        cohort=entry.cohort, client_hash=client_hash, created_at=now)
    s.add(sess)
    s.flush()
    scheduling.lock_study(s, study.id)  # the limits are counted and cells allocated under it
    _hoarding_limits(s, study, spec, sess, h if entry.raw_id is not None else None,
                     open_per_address, now)
    cap = spec["max_participants"]
    group_cap = spec["cohorts"]["caps"][entry.cohort] if entry.cohort else None
    if cap is not None or group_cap is not None:
        if cap is not None and counted_participants(s, study.id, exclude=sess.id) >= cap:
            raise ApiError(409, "study_full", "this study has all the participants it "
                           "needs; thank you for your interest")
        if group_cap is not None and counted_participants(
                s, study.id, exclude=sess.id, cohort=entry.cohort) >= group_cap:
            raise ApiError(409, "cohort_full", "this study has all the participants it "
                           "needs from your group; thank you for your interest")
    planned = scheduling.allocate(s, study.id, spec, random.Random(seed))
    if not planned:
        raise ApiError(409, "study_full", "this study has all the responses it needs; "
                       "thank you for your interest")
    scheduling.insert_trials(s, sess.id, planned)
    return token, sess


def _hoarding_limits(s: Session, study: Study, spec: dict, sess: StudySession,
                     identity: str | None, open_per_address: int, now: dt.datetime) -> None:
    """What keeps one client from holding a study's cells (docs/study-protocol.md, Hoarding
    limits); runs under the study's allocation lock, so it holds across workers."""
    if open_per_address and sess.client_hash is not None:
        n = s.scalar(select(func.count()).select_from(StudySession).where(
            StudySession.study_id == study.id, StudySession.state == SessionState.STARTED,
            StudySession.client_hash == sess.client_hash))
        if n > open_per_address:
            raise ApiError(429, "too_many_sessions", f"{open_per_address} sessions of this "
                           "study are already open from your network; finish one of them, "
                           "or try again later")
    if identity is not None and spec["allow_repeats"]:  # one open session per identity
        for sid in s.scalars(select(StudySession.id).join(Participant).where(
                Participant.study_id == study.id, Participant.pid_hash == identity,
                StudySession.state == SessionState.STARTED, StudySession.id != sess.id)).all():
            scheduling.end_session(s, sid)
    scheduling.reclaim_unanswered(s, study.id, spec["trials_per_session"], now)


def _session(s: Session, token: str | None, *, lock: bool = False) -> StudySession:
    if not token:
        raise ApiError(401, "no_token", "missing session token")
    q = select(StudySession).where(StudySession.token_hash == token_hash(token))
    if lock and s.get_bind().dialect.name == "postgresql":
        q = q.with_for_update()
    sess = s.scalar(q)
    if sess is None:
        raise ApiError(401, "bad_token", "unknown session token")
    return sess


def _inactive(secret: bytes, study: Study, sess: StudySession) -> ApiError:
    """A timed-out or returned session: 4xx naming the state, plus a way to be paid."""
    action = completion_action(secret, study.spec, sess.id, "technical_error",
                               sess.platform_data)
    return ApiError(409, f"session_{sess.state}", f"this session is {sess.state}",
                    state=sess.state, completion=action)


_SESSIONS = StudySession.__table__
_TRIALS = Trial.__table__
_CELLS = DesignCell.__table__
_RESPONSES = Response.__table__
#: design cells joined to their reference and both option images, as Core aliases built
#: once: ORM aliases cost more to build per request than the queries take to run
REF_IMG, A_IMG, B_IMG = (Asset.__table__.alias(n) for n in ("ref", "opt_a", "opt_b"))
CELL_IMAGES = (_CELLS.join(REF_IMG, REF_IMG.c.id == _CELLS.c.reference_asset_id)
               .join(A_IMG, A_IMG.c.id == _CELLS.c.a_asset_id)
               .join(B_IMG, B_IMG.c.id == _CELLS.c.b_asset_id))
#: a session's trials with their images' tokens and sizes, in order (``:sid``)
_SESSION_TRIALS = (
    select(_TRIALS.c.public_id, _TRIALS.c.position, _TRIALS.c.kind, _TRIALS.c.left_is_a,
           _CELLS.c.question, REF_IMG.c.token, A_IMG.c.token, B_IMG.c.token, A_IMG.c.width,
           A_IMG.c.height, REF_IMG.c.width, REF_IMG.c.height, _RESPONSES.c.id.is_not(None))
    .select_from(_TRIALS.join(CELL_IMAGES, _CELLS.c.id == _TRIALS.c.cell_id)
                 .outerjoin(_RESPONSES, _RESPONSES.c.trial_id == _TRIALS.c.id))
    .where(_TRIALS.c.session_id == bindparam("sid")).order_by(_TRIALS.c.position))


#: the response path's statements, built once (``:sid``, ``:lease``; ``:tid``; the insert's
#: values; ``:cell``): the session compare-and-set renewing the lease, the trial lookup,
#: the insert (``ON CONFLICT DO NOTHING``), the cell's served count; SQLite runs them one
#: by one, PostgreSQL as one statement (``_PG_RECORD``)
_RENEW_LEASE = (update(_SESSIONS).where(_SESSIONS.c.id == bindparam("sid"),
                                        _SESSIONS.c.state == SessionState.STARTED)
                .values(lease_expires_at=bindparam("lease")))
_RESPONSE_TRIAL = (select(_TRIALS.c.id, _TRIALS.c.kind, _TRIALS.c.left_is_a, _TRIALS.c.cell_id,
                          _CELLS.c.method_a_id, _CELLS.c.method_b_id, _CELLS.c.expected)
                   .join(_CELLS, _CELLS.c.id == _TRIALS.c.cell_id)
                   .where(_TRIALS.c.public_id == bindparam("tid"),
                          _TRIALS.c.session_id == bindparam("sid")))
_INSERT_RESPONSE = (sqlite_insert(_RESPONSES).values({c: bindparam(c) for c in (
    "trial_id", "response_id", "session_id", "chose_a", "chosen_method_id", "rt_ms",
    "client_time", "received_at")}).on_conflict_do_nothing().returning(_RESPONSES.c.id))
_COUNT_SERVED = (update(_CELLS).where(_CELLS.c.id == bindparam("cell"))
                 .values(served=_CELLS.c.served + 1))


def session_state(s: Session, token: str | None, secret: bytes) -> dict[str, Any]:
    """Everything the participant page needs to (re)build itself; no method identity."""
    sess = _session(s, token)
    study = s.get(Study, sess.study_id)
    spec = stored_spec(study.spec)
    rows = s.connection().execute(_SESSION_TRIALS, {"sid": sess.id}).all()
    trials = []
    for (pid, pos, kind, left_a, q, rt, at, bt, w, h, rw, rh, answered) in rows:
        left, right = (at, bt) if left_a else (bt, at)
        shown = spec["question_rules"][q]["reference"] != "none"
        trials.append({"id": pid, "position": pos, "practice": kind == "practice",
                       "question": q, "prompt": spec["prompts"][q],
                       "reference": f"/s/{rt}" if shown else None,
                       "left": f"/s/{left}", "right": f"/s/{right}",
                       "width": w, "height": h, "reference_width": rw,
                       "reference_height": rh, "answered": answered})
    out: dict[str, Any] = {
        "study": study.slug, "state": sess.state, "outcome": sess.outcome,
        "min_view_ms": spec["min_view_ms"],
        "stimulus_duration_ms": spec["stimulus_duration_ms"],
        "allow_not_sure": spec["allow_not_sure"], "trials": trials,
        "answered": sum(t["answered"] for t in trials), "total": len(trials),
    }
    if sess.state in SESSIONS_FINISHED:
        out["completion"] = completion_action(secret, spec, sess.id, sess.outcome,
                                              sess.platform_data)
    elif sess.state in SESSIONS_ABANDONED:
        out["completion"] = _inactive(secret, study, sess).extra["completion"]
    return out


def _iso(t: dt.datetime) -> str:
    """UTC ISO-8601 with a Z, the same whether the driver returns aware or naive times."""
    if t.tzinfo is not None:
        t = t.astimezone(dt.UTC).replace(tzinfo=None)
    return t.isoformat(timespec="microseconds") + "Z"


def _response_body(trial_public_id: str, response_id: str, received_at: dt.datetime,
                   practice_correct: bool | None) -> dict[str, Any]:
    body = {"response_id": response_id, "trial": trial_public_id,
            "received_at": _iso(received_at)}
    if practice_correct is not None:
        body["correct"] = practice_correct
    return body


def _replay(s: Session, response_id: str, session_id: int, trial: str) -> dict[str, Any] | None:
    """The first answer to ``response_id`` when this is a replay of it, else None; a 409
    when the id answered another session's trial or another trial."""
    row = s.execute(select(Response, Trial.public_id, Trial.kind, DesignCell.expected)
                    .join(Trial, Trial.id == Response.trial_id)
                    .join(DesignCell, DesignCell.id == Trial.cell_id)
                    .where(Response.response_id == response_id)).first()
    if row is None:
        return None
    resp, public_id, kind, expected = row
    if resp.session_id != session_id:
        raise ApiError(409, "response_id_taken", "this response_id belongs to another session")
    if public_id != trial:
        raise ApiError(409, "response_id_reused", "this response_id answered another trial")
    correct = _correct(resp.chose_a, expected) if kind == "practice" else None
    return _response_body(public_id, resp.response_id, resp.received_at, correct)


def _chose_a(chose_left: bool | None, left_is_a: bool) -> bool | None:
    """Whether option A was chosen; None for "not sure"."""
    return None if chose_left is None else chose_left == left_is_a


def _correct(chose_a: bool | None, expected: str | None) -> bool:
    """A practice or catch answer is right when it picks the expected option."""
    return chose_a is not None and chose_a == (expected == "a")


def validate_response(body: Any) -> tuple[str, str, bool | None, float | None, str | None]:
    """(response_id, trial id, chose left (None: "not sure"), rt_ms, client_time) or
    ``ApiError`` 422."""
    if not isinstance(body, dict):
        raise ApiError(400, "bad_json", "the body must be a JSON object")
    rid, tid, choice = body.get("response_id"), body.get("trial"), body.get("choice")
    if not isinstance(rid, str) or not UUID_RE.match(rid):
        raise ApiError(422, "bad_response_id", "response_id must be a UUIDv4 string")
    if not isinstance(tid, str) or not re.fullmatch(r"[0-9a-f]{32}", tid):
        raise ApiError(422, "bad_trial", "trial must be a trial id from the session")
    if choice not in CHOICES:
        raise ApiError(422, "bad_choice", "choice must be 'left', 'right' or 'not_sure'")
    rt = body.get("rt_ms")
    if rt is not None and (isinstance(rt, bool) or not isinstance(rt, int | float)
                           or not 0 <= rt <= MAX_RT_MS):
        raise ApiError(422, "bad_rt", f"rt_ms must be a number in [0, {MAX_RT_MS}]")
    _client_time(body.get("client_time"))
    left = None if choice == "not_sure" else choice == "left"
    return rid.lower(), tid, left, (float(rt) if rt is not None else None), body.get("client_time")


def _client_time(ct: Any) -> None:
    """The client's clock reading: printable text of at most 40 characters, or absent."""
    if ct is not None and (not isinstance(ct, str) or len(ct) > 40 or not ct.isprintable()):
        raise ApiError(422, "bad_client_time", "client_time must be printable text (max 40)")


#: per-process caches of immutable facts: token hash → (session id, study id), and
#: study id → (lease minutes, screen-out limit, "not sure" allowed); these spec fields never
#: change after creation
_token_cache: dict[str, tuple[int, int]] = {}
_study_cache: dict[tuple[URL, int], tuple[int, int, bool]] = {}


def session_for(s: Session, th: str) -> tuple[int, int] | None:
    """(session id, study id) of a token hash, or None; remembered per process."""
    ids = _token_cache.get(th)
    if ids is None:
        row = s.connection().execute(select(_SESSIONS.c.id, _SESSIONS.c.study_id)
                                     .where(_SESSIONS.c.token_hash == th)).first()
        if row is None:
            return None
        if len(_token_cache) > 200_000:
            _token_cache.clear()
        ids = _token_cache[th] = (row.id, row.study_id)
    return ids


def _session_ids(s: Session, th: str) -> tuple[int, int]:
    ids = session_for(s, th)
    if ids is None:
        raise ApiError(401, "bad_token", "unknown session token")
    return ids


def _study_facts(s: Session, study_id: int) -> tuple[int, int, bool]:
    key = (s.get_bind().url, study_id)  # one process may serve several databases
    facts = _study_cache.get(key)
    if facts is None:
        spec = stored_spec(s.get(Study, study_id).spec)
        facts = _study_cache[key] = (spec["lease_minutes"],
                                     spec["screen_out_after_practice_errors"],
                                     spec["allow_not_sure"])
    return facts


def record_response(s: Session, token: str | None, body: Any, secret: bytes
                    ) -> tuple[int, dict[str, Any]]:
    """Store one judgment; a replay of the same ``response_id`` answers as the first did.

    One path: the store step (the session compare-and-set, which renews the lease and locks
    the row against a concurrent timeout sweep; the trial lookup; the insert, ``ON CONFLICT
    DO NOTHING``; the cell's served count) answers the same four facts on both databases,
    and every decision is taken on them here. SQLite stores with four statements in the
    request's transaction; PostgreSQL with one, run alone in autocommit unless the study
    screens out on practice errors (then the screen-out joins the insert's transaction).
    Pooled connections are not pinged before use; a connection found closed (the database
    restarted) is dropped and the store runs once more on a new one, which is safe because
    it is idempotent.
    """
    rid, tid, chose_left, rt, ct = validate_response(body)
    if not token:
        raise ApiError(401, "no_token", "missing session token")
    session_id, study_id = _session_ids(s, token_hash(token))
    lease_minutes, screen_limit, not_sure_ok = _study_facts(s, study_id)
    if chose_left is None and not not_sure_ok:
        raise ApiError(422, "bad_choice", "this study is strict 2AFC: choice must be 'left' "
                       "or 'right'")
    now = utcnow()
    params = {"sid": session_id, "lease": now + dt.timedelta(minutes=lease_minutes),
              "tid": tid, "rid": rid, "left": chose_left, "rt": rt, "ct": ct, "now": now}
    store = _store_postgres if s.get_bind().dialect.name == "postgresql" else _store_sqlite
    for attempt in (1, 2):
        try:
            row = store(s, params, bool(screen_limit))
            break
        except DBAPIError as exc:
            if not exc.connection_invalidated or attempt == 2:
                raise
            s.rollback()
    if not row.cas:
        return _not_started(s, rid, tid, session_id, study_id, secret)
    if row.kind is None:
        _no_trial(s, rid, tid, session_id)
    if not row.inserted:
        return _conflict(s, rid, tid, session_id)
    correct = None
    if row.kind == "practice":
        correct = _correct(_chose_a(chose_left, row.left_is_a), row.expected)
        _maybe_screen_out(s, screen_limit, session_id, now)
    return 201, _response_body(tid, rid, now, correct)


class _Stored(NamedTuple):
    """What the store step found: the session was ``started`` (its lease renewed), the
    trial's kind (None: no such trial in the session), its side and expected answer, and
    whether the response row is new."""

    cas: bool
    kind: str | None
    left_is_a: bool | None
    expected: str | None
    inserted: bool


def _store_sqlite(s: Session, p: dict[str, Any], _shared: bool) -> _Stored:
    """The store step as four statements in the request's transaction (``BEGIN
    IMMEDIATE``)."""
    conn = s.connection()
    if conn.execute(_RENEW_LEASE, p).rowcount != 1:
        return _Stored(False, None, None, None, False)
    trial = conn.execute(_RESPONSE_TRIAL, p).first()
    if trial is None:
        return _Stored(True, None, None, None, False)
    chose_a = _chose_a(p["left"], trial.left_is_a)
    chosen = None if chose_a is None else trial.method_a_id if chose_a else trial.method_b_id
    new_id = conn.execute(_INSERT_RESPONSE, {
        "trial_id": trial.id, "response_id": p["rid"], "session_id": p["sid"],
        "chose_a": chose_a, "chosen_method_id": chosen, "rt_ms": p["rt"],
        "client_time": p["ct"], "received_at": p["now"]}).scalar()
    if new_id is not None and trial.kind in ("real", "catch"):
        conn.execute(_COUNT_SERVED, {"cell": trial.cell_id})
    return _Stored(True, trial.kind, trial.left_is_a, trial.expected, new_id is not None)


def _store_postgres(s: Session, p: dict[str, Any], shared: bool) -> Any:
    """The store step as one statement: in the request's transaction when a screen-out
    rule (``shared``) or a lookup this request already ran needs it, else alone in
    autocommit."""
    if shared or s.in_transaction():
        return s.connection().execute(_PG_RECORD_TEXT, p).one()
    return _record_autocommit(s, p)


#: PostgreSQL: the whole response path in one round trip — session compare-and-set
#: (renews the lease), trial lookup, insert ON CONFLICT DO NOTHING, served count.
_PG_RECORD = f"""
WITH s AS (
    UPDATE session SET lease_expires_at = :lease
    WHERE id = :sid AND state = '{SessionState.STARTED}' RETURNING id
), t AS (
    SELECT trial.id, trial.kind, trial.left_is_a, trial.cell_id, c.method_a_id,
           c.method_b_id, c.expected
    FROM trial JOIN design_cell c ON c.id = trial.cell_id JOIN s ON s.id = trial.session_id
    WHERE trial.public_id = :tid
), ins AS (
    INSERT INTO response (trial_id, response_id, session_id, chose_a, chosen_method_id,
                          rt_ms, client_time, received_at)
    SELECT t.id, CAST(:rid AS varchar), :sid, t.left_is_a = CAST(:left AS boolean),
           CASE WHEN CAST(:left AS boolean) IS NULL THEN NULL
                WHEN t.left_is_a = CAST(:left AS boolean) THEN t.method_a_id
                ELSE t.method_b_id END,
           CAST(:rt AS double precision), CAST(:ct AS varchar), :now
    FROM t
    ON CONFLICT DO NOTHING RETURNING trial_id
), upd AS (
    UPDATE design_cell SET served = design_cell.served + 1 FROM t, ins
    WHERE design_cell.id = t.cell_id AND ins.trial_id = t.id AND t.kind IN ('real', 'catch')
    RETURNING design_cell.id
)
SELECT (SELECT count(*) FROM s) AS cas, t.kind, t.left_is_a, t.expected,
       (SELECT count(*) FROM ins) AS inserted, (SELECT count(*) FROM upd) AS counted
FROM (SELECT 1) AS one LEFT JOIN t ON true
"""
_PG_RECORD_TEXT = text(_PG_RECORD)
#: the same statement for psycopg (``%(name)s`` placeholders)
_PG_RECORD_RAW = re.sub(r"(?<![:\w]):(\w+)", r"%(\1)s", _PG_RECORD)


def _record_autocommit(s: Session, params: dict[str, Any]) -> Any:
    """Run the response statement alone in autocommit, on a pooled psycopg connection of
    the engine's autocommit twin: it is atomic by itself, and the BEGIN and COMMIT round
    trips are saved. Durable (committed) when it returns.

    Pooled connections are not pinged before use (the server's engine saves that round
    trip); a connection found closed (the database restarted) empties the pool and the
    statement runs once more on a new one, which is safe because it is idempotent.
    """
    import psycopg
    from psycopg.rows import namedtuple_row

    engine = autocommit_twin(s.get_bind())
    for attempt in (1, 2):
        try:
            raw = engine.raw_connection()
        except psycopg.OperationalError as exc:  # refused: answered as busy (503)
            raise OperationalError(_PG_RECORD, params, exc) from exc
        conn = raw.driver_connection
        try:
            with conn.cursor(row_factory=namedtuple_row) as cur:
                return cur.execute(_PG_RECORD_RAW, params).fetchone()
        except psycopg.Error as exc:
            if not isinstance(exc, psycopg.OperationalError) or not conn.closed \
                    or attempt == 2:  # as SQLAlchemy's error: busy (503), never a 500
                raise DBAPIError.instance(_PG_RECORD, params, exc, psycopg.Error) from exc
            raw.invalidate()
            engine.dispose()
        finally:
            raw.close()
    raise AssertionError("unreachable")


def _insert(s: Session) -> Any:
    """The dialect's INSERT, which knows ``ON CONFLICT DO NOTHING``."""
    return pg_insert if s.get_bind().dialect.name == "postgresql" else sqlite_insert


def _not_started(s: Session, rid: str, tid: str, session_id: int, study_id: int,
                 secret: bytes) -> tuple[int, dict[str, Any]]:
    """The session is not ``started``: a late replay is answered, anything else refused."""
    replay = _replay(s, rid, session_id, tid)
    if replay is not None:
        return 200, replay
    sess = s.get(StudySession, session_id)
    if sess.state in SESSIONS_ABANDONED:
        raise _inactive(secret, s.get(Study, study_id), sess)
    raise ApiError(409, f"session_{sess.state}", f"this session is {sess.state}",
                   state=sess.state)


def _no_trial(s: Session, rid: str, tid: str, session_id: int) -> None:
    _replay(s, rid, session_id, tid)  # a 409 when the id answered a trial of the session
    raise ApiError(404, "no_trial", "no such trial in this session")


def _conflict(s: Session, rid: str, tid: str, session_id: int) -> tuple[int, dict[str, Any]]:
    replay = _replay(s, rid, session_id, tid)
    if replay is not None:  # a retry, or the same response_id committed concurrently
        return 200, replay
    raise ApiError(409, "trial_answered", "this trial already has a response")


def _maybe_screen_out(s: Session, limit: int, session_id: int, now: dt.datetime) -> None:
    """End the session as ``screened_out`` once practice errors reach the spec's limit."""
    if not limit:
        return
    errors = s.scalar(select(func.count()).select_from(Response)
                      .join(Trial, Trial.id == Response.trial_id)
                      .join(DesignCell, DesignCell.id == Trial.cell_id)
                      .where(Response.session_id == session_id, Trial.kind == "practice",
                             or_(Response.chose_a.is_(None),  # "not sure" is not right
                                 Response.chose_a != (DesignCell.expected == "a"))))
    if errors >= limit and _cas(s, session_id, SessionState.STARTED, SessionState.COMPLETED,
                                outcome="screened_out", completed_at=now):
        scheduling.release_trials(s, session_id, unusable=True)


def _cas(s: Session, session_id: int, expected: SessionState, new: SessionState,
         **values: Any) -> bool:
    return s.execute(update(StudySession)
                     .where(StudySession.id == session_id, StudySession.state == expected)
                     .values(state=new, **values),
                     execution_options={"synchronize_session": False}).rowcount == 1


def complete(s: Session, token: str | None, feedback: Any, secret: bytes) -> dict[str, Any]:
    """``started`` → ``completed`` once every assigned trial is stored; the platform action."""
    if feedback is not None and (not isinstance(feedback, str) or len(feedback) > 5000):
        raise ApiError(422, "bad_feedback", "feedback must be a string (max 5000 characters)")
    sess = _session(s, token, lock=True)
    study = s.get(Study, sess.study_id)
    if sess.state == SessionState.STARTED:
        missing = s.scalar(select(func.count()).select_from(Trial)
                           .outerjoin(Response, Response.trial_id == Trial.id)
                           .where(Trial.session_id == sess.id, Response.id.is_(None)))
        if missing:
            raise ApiError(409, "incomplete", f"{missing} trial(s) have no stored response yet",
                           missing=missing)
        if not _cas(s, sess.id, SessionState.STARTED, SessionState.COMPLETED, outcome="completed",
                    completed_at=utcnow(), feedback=feedback or None):
            s.refresh(sess)
        else:
            sess.state, sess.outcome = SessionState.COMPLETED, "completed"
    elif feedback and sess.state == SessionState.COMPLETED and sess.feedback is None:
        s.execute(update(StudySession).where(StudySession.id == sess.id,
                                             StudySession.feedback.is_(None))
                  .values(feedback=feedback))
    if sess.state in SESSIONS_FINISHED:
        return completion_action(secret, study.spec, sess.id, sess.outcome, sess.platform_data)
    raise _inactive(secret, study, sess)


def withdraw(s: Session, token: str | None, secret: bytes) -> dict[str, Any]:
    """The participant withdraws: ``started`` → ``returned``; stored responses are kept."""
    sess = _session(s, token, lock=True)
    study = s.get(Study, sess.study_id)
    if _cas(s, sess.id, SessionState.STARTED, SessionState.RETURNED):
        scheduling.release_trials(s, sess.id)
        sess.state = SessionState.RETURNED
    if sess.state == SessionState.RETURNED:
        return {"state": SessionState.RETURNED, "completion": _inactive(secret, study, sess)
                .extra["completion"]}
    raise ApiError(409, f"session_{sess.state}", f"this session is {sess.state}",
                   state=sess.state)


def report_reload(s: Session, token: str | None, secret: bytes) -> dict[str, Any]:
    """A page load that resumed the session (a reload, or a tab opened with its token) is
    logged; past the study's ``max_reloads`` it ends the session as screened out (the
    optional no-reload mode, docs/study-protocol.md, Participant flow)."""
    sess = _session(s, token, lock=True)
    study = s.get(Study, sess.study_id)
    s.execute(insert(SessionEvent).values(session_id=sess.id, kind="reload", payload={},
                                          created_at=utcnow()))
    reloads = s.scalar(select(func.count()).select_from(SessionEvent)
                       .where(SessionEvent.session_id == sess.id,
                              SessionEvent.kind == "reload"))
    limit = stored_spec(study.spec)["max_reloads"]
    if limit is not None and reloads > limit and _cas(
            s, sess.id, SessionState.STARTED, SessionState.COMPLETED, outcome="screened_out",
            completed_at=utcnow()):
        scheduling.release_trials(s, sess.id, unusable=True)
        sess.state = SessionState.COMPLETED
    return {"state": sess.state, "reloads": reloads, "max_reloads": limit}


def record_event(s: Session, token: str | None, body: Any) -> bool:
    """Log a client event (preload failure, blur, resize …) against the session; False
    when its ``event_id`` was stored before (a retried delivery)."""
    sess = _session(s, token)
    if not isinstance(body, dict) or body.get("kind") not in EVENT_KINDS:
        raise ApiError(422, "bad_event", f"kind must be one of {', '.join(EVENT_KINDS)}")
    payload = body.get("payload") or {}
    if not isinstance(payload, dict) or len(str(payload)) > 2000:
        raise ApiError(422, "bad_event", "payload must be a small JSON object")
    eid, ct = body.get("event_id"), body.get("client_time")
    if eid is not None and (not isinstance(eid, str) or not UUID_RE.match(eid)):
        raise ApiError(422, "bad_event_id", "event_id must be a UUIDv4 string")
    _client_time(ct)
    values = {"session_id": sess.id, "event_id": eid.lower() if eid else None,
              "kind": body["kind"], "payload": payload, "client_time": ct,
              "created_at": utcnow()}
    table = SessionEvent.__table__  # NULL event ids never conflict
    stmt = _insert(s)(table).values(**values).on_conflict_do_nothing()
    return s.execute(stmt.returning(table.c.id)).first() is not None
