"""Trial allocation: least-served-first over design cells, in one locked transaction; the
leases that hold cells, their sweep, the bound on unanswered sessions and the release of
idle ones.

The rules are in docs/study-protocol.md, Allocation. The caller runs ``allocate`` inside a
write transaction (SQLite ``BEGIN IMMEDIATE``); on PostgreSQL the real cells are taken with
``SELECT … FOR UPDATE SKIP LOCKED`` so concurrent starts neither wait on each other nor
over-fill a cell. ``assigned`` counts trials handed out and not released (answered or still
leased); a cell is never handed out at ``assigned >= target``.
"""

from __future__ import annotations

import datetime as dt
import random
import secrets
from collections import Counter
from dataclasses import dataclass

from sqlalchemy import Engine, and_, bindparam, case, exists, func, insert, select, text, update
from sqlalchemy.orm import Session

from stylestudy.db.engine import get_engine, session_scope
from stylestudy.db.models import DesignCell, Response, StudySession, Trial, utcnow
from stylestudy.db.states import SessionState
from stylestudy.study_server.study.lookup import study_or_fail

__all__ = ["Plan", "Released", "allocate", "end_session", "insert_trials", "lock_study",
           "order_trials", "plan_counts", "reclaim_unanswered", "release_idle", "release_study",
           "release_trials", "sweep_expired"]

_CELLS = DesignCell.__table__
_TRIALS = Trial.__table__
_CELL_COLS = (DesignCell.id, DesignCell.question, DesignCell.content_asset_id,
              DesignCell.style_asset_id, DesignCell.method_a_id, DesignCell.method_b_id,
              DesignCell.assigned, DesignCell.left_a)


@dataclass
class Planned:
    cell_id: int
    kind: str
    item: tuple[str, int, int]
    pair: tuple[int | None, int | None]
    left_is_a: bool
    repeat_of: int | None = None  # index into the planned list


@dataclass
class Plan:
    real: int
    catch: int
    repeat: int
    practice: int


def plan_counts(spec: dict, have_catch: bool) -> Plan:
    """Trial counts per session from the spec's rates (defaults in docs/study-spec.md)."""
    n = spec["trials_per_session"]
    catch = 0
    if have_catch and spec["catch_rate"] > 0:
        catch = max(spec["min_catch_trials"], round(spec["catch_rate"] * n))
    repeat = round(spec["repeat_rate"] * n)
    practice = spec["practice_trials"] if have_catch else 0
    return Plan(n, catch, min(repeat, n), practice)


def _side(assigned: int, left_a: int, rng: random.Random) -> bool:
    """A on the left when the cell has shown A-left less often; a seeded coin on ties."""
    b_left = assigned - left_a
    if left_a != b_left:
        return left_a < b_left
    return rng.random() < 0.5


def _take(rows, n: int, seen: set, rng: random.Random, kind: str) -> list[Planned]:
    out = []
    for r in rows:
        if len(out) == n:
            break
        item = (r.question, r.content_asset_id, r.style_asset_id)
        if item in seen:
            continue
        seen.add(item)
        out.append(Planned(r.id, kind, item, (r.method_a_id, r.method_b_id),
                           _side(r.assigned, r.left_a, rng)))
    return out


def _prefer_crowded_items(rows: list, rng: random.Random) -> list:
    """Order by served level, then items with more cells at that level first.

    A session takes each item once, so draining the items with the most least-served
    cells first keeps every cell within one judgment of the others in balanced designs.
    """
    level = Counter((r.question, r.content_asset_id, r.style_asset_id, r.assigned)
                    for r in rows)
    keyed = [(r.assigned, -level[(r.question, r.content_asset_id, r.style_asset_id,
                                  r.assigned)], rng.random(), i) for i, r in enumerate(rows)]
    return [rows[k[3]] for k in sorted(keyed)]


def _lock_real(s: Session, study_id: int, need: int, seen: set, rng: random.Random,
               is_pg: bool, rounds: int = 12) -> list[Planned]:
    """Up to ``need`` least-served real cells with distinct items, locked.

    Candidates are read without a lock, then exactly the chosen rows are locked with
    ``FOR UPDATE SKIP LOCKED`` (re-checking ``assigned < target``); rows another
    transaction holds (a response updating ``served``) are replaced from the remaining
    candidates, so nothing waits on a cell lock. Near the end of a study a session may get
    fewer real trials than ``trials_per_session`` (``allocate`` refuses fewer than the
    spec's ``min_trials_per_session``).
    """
    base = select(*_CELL_COLS).where(DesignCell.study_id == study_id,
                                     DesignCell.kind == "real",
                                     DesignCell.assigned < DesignCell.target)
    chosen: list[Planned] = []
    tried: set[int] = set()
    pool: list = []
    for _ in range(rounds):
        if not pool:
            q = base.order_by(DesignCell.assigned, func.random()).limit(8 * need + 32)
            if tried:
                q = q.where(DesignCell.id.not_in(tried))
            pool = _prefer_crowded_items(s.execute(q).all(), rng)
        picked, items = [], set(seen)
        for r in pool:
            item = (r.question, r.content_asset_id, r.style_asset_id)
            if item not in items:
                items.add(item)
                picked.append(r)
                if len(picked) == need - len(chosen):
                    break
        if not picked:
            break
        ids = [r.id for r in picked]
        tried.update(ids)
        if is_pg:
            got = s.execute(base.where(DesignCell.id.in_(ids)).order_by(DesignCell.id)
                            .with_for_update(skip_locked=True)).all()
        else:  # SQLite: BEGIN IMMEDIATE already serialises writers
            got = picked
        order = {cid: i for i, cid in enumerate(ids)}
        chosen += _take(sorted(got, key=lambda r: order[r.id]), need - len(chosen), seen, rng,
                        "real")
        pool = [r for r in pool if r.id not in tried]
        if len(chosen) == need:
            break
    return chosen


#: advisory-lock namespace for per-study allocation (db/migrate.py uses 7_215_301)
ALLOC_LOCK_NS = 7_215_302


def lock_study(s: Session, study_id: int) -> None:
    """Serialise allocations and sweeps of one study (PostgreSQL advisory lock, released
    at commit; SQLite's BEGIN IMMEDIATE already serialises writers).

    Without it, concurrent starts skip each other's locked cells and come away with fewer
    trials although cells are free; responses never take this lock.
    """
    if s.get_bind().dialect.name == "postgresql":
        s.execute(text("SELECT pg_advisory_xact_lock(:ns, :sid)"),
                  {"ns": ALLOC_LOCK_NS, "sid": study_id})


def allocate(s: Session, study_id: int, spec: dict, rng: random.Random) -> list[Planned]:
    """Choose and lease this session's cells; returns them in presentation order, or
    nothing when fewer real cells are free than the spec's ``min_trials_per_session``."""
    is_pg = s.get_bind().dialect.name == "postgresql"
    lock_study(s, study_id)
    n_cells = s.scalar(select(func.count()).select_from(DesignCell)
                       .where(DesignCell.study_id == study_id, DesignCell.kind == "catch"))
    plan = plan_counts(spec, bool(n_cells))
    seen: set = set()
    real = _lock_real(s, study_id, plan.real, seen, rng, is_pg)
    if len(real) < (spec["min_trials_per_session"] or 1):
        return []
    catch_rows = s.execute(select(*_CELL_COLS)
                           .where(DesignCell.study_id == study_id, DesignCell.kind == "catch")
                           .order_by(DesignCell.assigned, func.random())).all()
    catch = _take(catch_rows, plan.catch, seen, rng, "catch")
    if len(catch) < plan.catch:  # few items: allow a catch on an item already shown
        catch += _take(catch_rows, plan.catch - len(catch),
                       {p.item for p in catch}, rng, "catch")
    used = {p.cell_id for p in catch}
    practice = _take([r for r in catch_rows if r.id not in used], plan.practice, set(), rng,
                     "practice")
    if len(practice) < plan.practice:
        practice += _take(catch_rows, plan.practice - len(practice),
                          {p.item for p in practice}, rng, "practice")
    counted = real + catch
    # Rows are updated in id order, so concurrent transactions lock them in one order.
    s.connection().execute(
        update(_CELLS).where(_CELLS.c.id == bindparam("cid"))
        .values(assigned=_CELLS.c.assigned + 1, left_a=_CELLS.c.left_a + bindparam("la")),
        sorted(({"cid": p.cell_id, "la": int(p.left_is_a)} for p in counted),
               key=lambda d: d["cid"]))
    main = order_trials(counted, rng)
    n_rep = min(round(spec["repeat_rate"] * spec["trials_per_session"]), len(real))
    for orig in rng.sample([i for i, p in enumerate(main) if p.kind == "real"], n_rep):
        p = main[orig]
        main.append(Planned(p.cell_id, "repeat", p.item, p.pair, not p.left_is_a,
                            repeat_of=orig))
    # Repeats go after their original, at least two trials later where possible.
    ordered = main[:len(counted)]
    for rep in main[len(counted):]:
        orig_pos = ordered.index(main[rep.repeat_of])
        lo = min(orig_pos + 3, len(ordered))
        ordered.insert(rng.randint(lo, len(ordered)), rep)
    for rep in ordered:
        if rep.repeat_of is not None:
            rep.repeat_of = ordered.index(main[rep.repeat_of])
    shift = len(practice)
    for rep in ordered:
        if rep.repeat_of is not None:
            rep.repeat_of += shift
    return practice + ordered


def _clash(a: Planned, b: Planned) -> bool:
    return a.item[1] == b.item[1] or (a.pair == b.pair and a.kind == b.kind == "real")


def order_trials(trials: list[Planned], rng: random.Random, tries: int = 8) -> list[Planned]:
    """A seeded order with the fewest neighbours sharing a content image or a method pair.

    Each try shuffles, then builds the sequence greedily (the next trial is the first
    remaining one that does not clash with the last); the try with the fewest clashes wins.
    """
    best, best_c = list(trials), None
    for _ in range(tries):
        pool = list(trials)
        rng.shuffle(pool)
        seq = [pool.pop()] if pool else []
        while pool:
            k = next((i for i, t in enumerate(pool) if not _clash(seq[-1], t)), 0)
            seq.append(pool.pop(k))
        c = sum(_clash(a, b) for a, b in zip(seq, seq[1:], strict=False))
        if best_c is None or c < best_c:
            best, best_c = seq, c
        if c == 0:
            break
    return best


def insert_trials(s: Session, session_id: int, planned: list[Planned]) -> None:
    """Store planned trials at positions 0…n−1 with fresh 128-bit public ids: the originals
    in one statement, then the repeats pointing at them."""
    rows = [{"public_id": secrets.token_hex(16), "session_id": session_id,
             "cell_id": p.cell_id, "position": i, "kind": p.kind, "left_is_a": p.left_is_a,
             "repeat_of_id": None} for i, p in enumerate(planned)]
    conn = s.connection()
    ids = dict(conn.execute(insert(_TRIALS).returning(_TRIALS.c.position, _TRIALS.c.id),
                            [r for r, p in zip(rows, planned, strict=True)
                             if p.repeat_of is None]).all())
    repeats = [{**r, "repeat_of_id": ids[p.repeat_of]}
               for r, p in zip(rows, planned, strict=True) if p.repeat_of is not None]
    if repeats:
        conn.execute(insert(_TRIALS), repeats)


def release_trials(s: Session, session_id: int, unusable: bool = False) -> int:
    """Return a session's leased cells to the pool; returns the number of trials released.

    Unanswered real and catch trials are released; with ``unusable`` (screened out,
    technical error) answered ones too, and their judgments stop counting as served.
    """
    answered = exists().where(Response.trial_id == Trial.id)
    cond = [Trial.session_id == session_id, Trial.kind.in_(("real", "catch"))]
    if not unusable:
        cond.append(~answered)
    rows = s.execute(select(Trial.cell_id, Trial.left_is_a, answered.label("answered"))
                     .where(and_(*cond))).all()
    if rows:
        s.connection().execute(
            update(_CELLS).where(_CELLS.c.id == bindparam("cid"))
            .values(assigned=_CELLS.c.assigned - 1, left_a=_CELLS.c.left_a - bindparam("la"),
                    served=_CELLS.c.served - bindparam("sv")),
            sorted(({"cid": r.cell_id, "la": int(r.left_is_a), "sv": int(r.answered)}
                    for r in rows), key=lambda d: d["cid"]))
    return len(rows)


def sweep_expired(s: Session, study_id: int, now: dt.datetime) -> int:
    """Time out ``started`` sessions whose lease expired; release their unanswered trials."""
    lock_study(s, study_id)
    ids = s.scalars(select(StudySession.id).where(
        StudySession.study_id == study_id, StudySession.state == SessionState.STARTED,
        StudySession.lease_expires_at < now)).all()
    n = 0
    for sid in ids:
        done = s.execute(update(StudySession)
                         .where(StudySession.id == sid, StudySession.state == SessionState.STARTED,
                                StudySession.lease_expires_at < now)
                         .values(state=SessionState.TIMED_OUT),
                         execution_options={"synchronize_session": False}).rowcount
        if done:
            release_trials(s, sid)
            n += 1
    return n


def end_session(s: Session, session_id: int, *, unanswered_only: bool = False) -> int | None:
    """Time out a ``started`` session and return its unanswered cells to the pool (its
    stored responses stay and count); ``unanswered_only`` spares it if it answered in the
    meantime. The number of trials released, or None when it was not ended."""
    q = update(StudySession).where(StudySession.id == session_id,
                                   StudySession.state == SessionState.STARTED)
    if unanswered_only:
        q = q.where(~exists().where(Response.session_id == session_id))
    if not s.execute(q.values(state=SessionState.TIMED_OUT),
                     execution_options={"synchronize_session": False}).rowcount:
        return None
    return release_trials(s, session_id)


#: an unanswered session younger than this is never reclaimed (a burst of arrivals is
#: admitted whole); older ones give way when unanswered sessions hold too much
RECLAIM_AFTER = dt.timedelta(minutes=1)
#: the share of the work left that unanswered sessions may hold
UNANSWERED_SHARE = 0.5


def reclaim_unanswered(s: Session, study_id: int, need: int, now: dt.datetime) -> list[int]:
    """Bound unanswered sessions against the work left: when those that have not answered
    a trial, plus a newcomer's ``need`` real trials, would hold more than half of the real
    judgments still to collect, the oldest of them (older than ``RECLAIM_AFTER``) are timed
    out until they do not. Call under the study's allocation lock; returns the ids ended."""
    left = s.scalar(select(func.coalesce(func.sum(case(
        (DesignCell.target > DesignCell.served, DesignCell.target - DesignCell.served),
        else_=0)), 0)).where(DesignCell.study_id == study_id, DesignCell.kind == "real"))
    rows = s.execute(
        select(StudySession.id, StudySession.created_at, func.count(Trial.id))
        .join(Trial, and_(Trial.session_id == StudySession.id, Trial.kind == "real"))
        .where(StudySession.study_id == study_id, StudySession.state == SessionState.STARTED,
               ~exists().where(Response.session_id == StudySession.id))
        .group_by(StudySession.id, StudySession.created_at)
        .order_by(StudySession.created_at, StudySession.id)).all()
    held = sum(r[2] for r in rows) + need
    cutoff = now - RECLAIM_AFTER
    ended = []
    for sid, created, n in rows:
        if held <= UNANSWERED_SHARE * left:
            break
        if _aware(created) >= cutoff:
            break  # ordered by age: the rest are younger still
        if end_session(s, sid, unanswered_only=True) is not None:
            ended.append(sid)
            held -= n
    return ended


def _aware(t: dt.datetime) -> dt.datetime:
    """SQLite hands back naive UTC datetimes."""
    return t if t.tzinfo is not None else t.replace(tzinfo=dt.UTC)


@dataclass
class Released:
    sessions: int
    trials: int
    responses: int


def release_idle(s: Session, study_id: int, idle: dt.timedelta, now: dt.datetime) -> Released:
    """Time out the study's ``started`` sessions with no stored response for ``idle`` (an
    unanswered one: since it started); their unanswered cells return, their stored
    responses stay and keep counting."""
    lock_study(s, study_id)
    last = (select(func.max(Response.received_at)).where(Response.session_id == StudySession.id)
            .correlate(StudySession).scalar_subquery())
    ids = s.scalars(select(StudySession.id).where(
        StudySession.study_id == study_id, StudySession.state == SessionState.STARTED,
        func.coalesce(last, StudySession.created_at) <= now - idle)).all()
    ended = {sid: end_session(s, sid) for sid in ids}
    ended = {sid: n for sid, n in ended.items() if n is not None}
    kept = s.scalar(select(func.count()).select_from(Response)
                    .where(Response.session_id.in_(ended))) if ended else 0
    return Released(len(ended), sum(ended.values()), kept)


def release_study(slug: str, idle: dt.timedelta, engine: Engine | None = None) -> Released:
    """``release_idle`` for study ``slug`` in its own transaction (the command line and the
    admin page's button)."""
    with session_scope(engine or get_engine(), write=True) as s:
        return release_idle(s, study_or_fail(s, slug).id, idle, utcnow())
