"""Prolific bonuses through a ledger that never pays one twice.

Prolific's pay call is not idempotent ("Sending multiple requests with the same bulk bonus
payment ID will result in participants being paid multiple times": docs.prolific.com, API
reference, Bonuses, Pay bonuses; read 2026-12-03). Each bonus is therefore a ``bonus`` row,
one per session and reason, and every step is committed before the call that follows it:

``planned`` → ``set_up`` (Prolific's bulk id stored) → ``paying`` (committed before the pay
call) → ``paid``.

A pay call that ends without an answer or with a 5xx leaves its rows ``paying``: Prolific
may have paid, so they are never paid again by themselves, and :func:`resolve` records what
the researcher finds on Prolific. A set-up whose id was lost is harmless (setting up pays
nothing): its rows are still ``planned`` and are set up again.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from sqlalchemy import Engine, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from stylestudy.db.engine import session_scope
from stylestudy.db.models import Bonus, Review, Study, StudySession, utcnow
from stylestudy.errors import UserError
from stylestudy.study_server.platforms.prolific import (
    ProlificClient,
    ProlificRefused,
    require_prolific,
    session_identities,
)

__all__ = ["BULK_SIZE", "NewBonus", "Plan", "Settled", "approved_amounts", "ledger", "money",
           "parse_amount", "plan", "read_amounts", "record", "resolve", "settle"]

#: bonuses per set-up call (a cautious size: the API reference states no limit)
BULK_SIZE = 200


def money(cents: int) -> str:
    """50 → ``"0.50"``, as Prolific's ``csv_bonuses`` takes it."""
    return f"{cents // 100}.{cents % 100:02d}"


def parse_amount(text: str, max_cents: int) -> int:
    """``"0.50"`` → 50 (cents of the Prolific study's currency); one clear error otherwise."""
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise UserError(f"bonus amount {text!r} is not a number such as 0.50") from None
    if not value.is_finite() or value <= 0 or value.as_tuple().exponent < -2:
        raise UserError(f"bonus amount {text!r} must be positive with at most two decimals")
    cents = int(value * 100)
    if cents > max_cents:
        raise UserError(f"bonus amount {text} is above the maximum {money(max_cents)} "
                        "(--max-amount raises it; Prolific reads 30 as 30.00)")
    return cents


def read_amounts(path: str, max_cents: int) -> dict[int, int]:
    """The ``session_id,amount`` rows of a CSV file (with that header), in cents."""
    try:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            if not {"session_id", "amount"} <= set(reader.fieldnames or ()):
                raise UserError(f"bonus CSV {path} needs a header with the columns "
                                "session_id and amount")
            rows = list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise UserError(f"cannot read bonus CSV {path}: {exc}") from None
    amounts: dict[int, int] = {}
    for line, row in enumerate(rows, start=2):
        try:
            sid = int(row["session_id"] or "")
        except ValueError:
            raise UserError(f"{path} line {line}: session_id {row['session_id']!r} is not "
                            "a session number") from None
        if sid in amounts:
            raise UserError(f"{path} line {line}: session {sid} appears twice")
        try:
            amounts[sid] = parse_amount(row["amount"] or "", max_cents)
        except UserError as exc:
            raise UserError(f"{path} line {line}: {exc.message}") from None
    if not amounts:
        raise UserError(f"bonus CSV {path} lists no bonus")
    return amounts


def _in_study(study: Study):
    return Bonus.session_id.in_(select(StudySession.id).where(StudySession.study_id == study.id))


def _of_study(study: Study, reason: str):
    return _in_study(study), Bonus.reason == reason


def _identities(s: Session, study: Study, fallback_study: str | None
                ) -> dict[int, tuple[str, str]]:
    """Session id → (``SESSION_ID``, ``STUDY_ID``, else ``fallback_study``) for sessions
    that arrived with a ``SESSION_ID``."""
    ids = {sid: (raw.get("SESSION_ID"), raw.get("STUDY_ID") or fallback_study)
           for sid, raw in session_identities(s, study).items()}
    return {sid: (sub, st) for sid, (sub, st) in ids.items() if sub and st}


def approved_amounts(s: Session, study: Study, cents: int) -> dict[int, int]:
    """``cents`` for every session of ``study`` reviewed ``approved``."""
    sids = s.scalars(select(Review.session_id)
                     .join(StudySession, StudySession.id == Review.session_id)
                     .where(StudySession.study_id == study.id, Review.decision == "approved"))
    return dict.fromkeys(sids, cents)


@dataclass(frozen=True)
class NewBonus:
    """A bonus ``record`` writes: its session, amount and Prolific IDs."""

    session_id: int
    cents: int
    submission: str
    platform_study: str


@dataclass(frozen=True)
class Plan:
    """The bonuses ``record`` adds, and how many the ledger already holds."""

    new: list[NewBonus]
    already: int

    @property
    def cents(self) -> int:
        return sum(b.cents for b in self.new)


def _check_reason(reason: str) -> None:
    if not reason.strip() or len(reason) > 64:
        raise UserError("a bonus reason is 1 to 64 characters, e.g. 'accuracy'")


def plan(s: Session, study: Study, reason: str, amounts: dict[int, int],
         fallback_study: str | None = None) -> Plan:
    """New ledger rows for ``amounts`` (cents per session); a session already holding a
    bonus for ``reason`` is skipped if the amount agrees and refused if it does not.
    ``fallback_study`` is the Prolific study of sessions that arrived without a
    ``STUDY_ID``."""
    require_prolific(study)
    _check_reason(reason)
    ids = _identities(s, study, fallback_study)
    missing = sorted(set(amounts) - set(ids))
    if missing:
        shown = ", ".join(map(str, missing[:10])) + (" …" if len(missing) > 10 else "")
        raise UserError(f"{len(missing)} session(s) are not sessions of study {study.slug!r} "
                        f"with a Prolific SESSION_ID and STUDY_ID (--prolific-study names "
                        f"the study of those that arrived without one): {shown}")
    held = dict(s.execute(select(Bonus.session_id, Bonus.amount_cents)
                          .where(*_of_study(study, reason))).all())
    for sid, cents in held.items():
        if sid in amounts and amounts[sid] != cents:
            raise UserError(f"session {sid} already has a {reason!r} bonus of {money(cents)}, "
                            f"not {money(amounts[sid])}: a reason pays a session once")
    new = [NewBonus(sid, amounts[sid], *ids[sid]) for sid in sorted(amounts) if sid not in held]
    return Plan(new, sum(sid in held for sid in amounts))


def record(s: Session, reason: str, p: Plan) -> None:
    """Write ``p``'s bonuses into the ledger as ``planned``."""
    s.add_all(Bonus(session_id=b.session_id, reason=reason, amount_cents=b.cents,
                    submission=b.submission, platform_study=b.platform_study) for b in p.new)
    try:
        s.flush()
    except IntegrityError:
        raise UserError("another run added bonuses for this reason at the same time; "
                        "run the command again") from None


@dataclass
class Settled:
    """What :func:`settle` did: bonuses paid, and bulks whose payment is unknown."""

    paid: int = 0
    paid_cents: int = 0
    bulks: int = 0
    uncertain: list[tuple[str, int, int]] = field(default_factory=list)  # bulk, n, cents


def _bulks(engine: Engine, study: Study, reason: str, state: str
           ) -> list[tuple[str, int, int]]:
    """(bulk id, bonuses, cents) of the bulks whose bonuses for ``reason`` are in ``state``."""
    with session_scope(engine) as s:
        return [tuple(r) for r in s.execute(
            select(Bonus.bulk_id, func.count(), func.sum(Bonus.amount_cents))
            .where(*_of_study(study, reason), Bonus.state == state)
            .group_by(Bonus.bulk_id).order_by(func.min(Bonus.id)))]


def _move(engine: Engine | None, where: tuple, current: str, expect: int | None = None,
          **values: object) -> int:
    """Compare-and-set the bonuses matching ``where`` in state ``current``; how many moved. When
    ``expect`` is given and another number would move, nothing moves (an error)."""
    with session_scope(engine, write=True) as s:
        n = s.execute(update(Bonus).where(*where, Bonus.state == current)
                      .values(**values)).rowcount
        if expect is not None and n != expect:  # raised inside the scope: rolled back
            raise UserError("another run is settling these bonuses; left to it")
    return n


def _set_up(client: ProlificClient, engine: Engine, study: Study, reason: str) -> None:
    with session_scope(engine) as s:
        planned = s.execute(select(Bonus.id, Bonus.submission, Bonus.platform_study,
                                   Bonus.amount_cents)
                            .where(*_of_study(study, reason), Bonus.state == "planned")
                            .order_by(Bonus.id)).all()
    by_study: dict[str, list] = defaultdict(list)
    for row in planned:
        by_study[row.platform_study].append(row)
    for platform_study, rows in by_study.items():
        for i in range(0, len(rows), BULK_SIZE):
            chunk = rows[i:i + BULK_SIZE]
            lines = "".join(f"{r.submission},{money(r.amount_cents)}\n" for r in chunk)
            bulk = client.set_up_bonuses(platform_study, lines)
            # on a clash no row names this bulk: it is never paid
            _move(engine, (Bonus.id.in_([r.id for r in chunk]),), "planned",
                  expect=len(chunk), state="set_up", bulk_id=bulk)


def settle(client: ProlificClient, engine: Engine, study: Study, reason: str) -> Settled:
    """Set up the ledger's planned bonuses for ``reason`` and pay each set-up bulk once;
    bulks left ``paying`` (by this run or an earlier one) are reported, never paid."""
    require_prolific(study)
    _set_up(client, engine, study, reason)
    done = Settled()
    for bulk, n, cents in _bulks(engine, study, reason, "set_up"):
        _move(engine, (Bonus.bulk_id == bulk,), "set_up", expect=n, state="paying")
        try:
            client.pay_bonuses(bulk)
        except ProlificRefused as exc:  # refused: nothing was paid
            _move(engine, (Bonus.bulk_id == bulk,), "paying", state="set_up")
            raise UserError(f"{exc.message} (bulk {bulk} not paid; {done.paid} bonus(es) "
                            "paid before it)") from None
        except UserError:  # no answer or a 5xx: Prolific may have paid; stays paying
            break
        _move(engine, (Bonus.bulk_id == bulk,), "paying", state="paid", paid_at=utcnow())
        done.paid += n
        done.paid_cents += cents
        done.bulks += 1
    done.uncertain = _bulks(engine, study, reason, "paying")
    return done


def resolve(engine: Engine | None, study: Study, bulk_id: str, paid: bool) -> int:
    """Record what Prolific shows for a bulk left ``paying``: ``paid``, or back to
    ``set_up`` to be paid by the next run. The number of bonuses changed."""
    values = {"state": "paid", "paid_at": utcnow()} if paid else {"state": "set_up"}
    n = _move(engine, (_in_study(study), Bonus.bulk_id == bulk_id), "paying", **values)
    if not n:
        raise UserError(f"no bonus of study {study.slug!r} awaits an answer under bulk "
                        f"{bulk_id!r}")
    return n


def ledger(s: Session, study: Study) -> list[tuple[str, str, int, int]]:
    """(reason, state, bonuses, cents) for the study's ledger."""
    return [tuple(r) for r in s.execute(
        select(Bonus.reason, Bonus.state, func.count(), func.sum(Bonus.amount_cents))
        .where(_in_study(study))
        .group_by(Bonus.reason, Bonus.state).order_by(Bonus.reason, Bonus.state)).all()]
