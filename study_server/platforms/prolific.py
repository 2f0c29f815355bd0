"""Prolific's researcher API: submission states into session states, and approvals.

``submitted`` comes from the platform, never from a client flag (docs/study-protocol.md,
State machine).

Endpoints, from docs.prolific.com (API reference, Submissions; read 2026-12-02): list
``GET /api/v1/submissions/?study=<STUDY_ID>``, approve ``POST
/api/v1/submissions/<SESSION_ID>/transition/`` with ``{"action": "APPROVE"}`` (idempotent),
authentication ``Authorization: Token <token>``; bonuses (API reference, Bonuses; read
2026-12-03): set up ``POST /api/v1/submissions/bonus-payments/`` with ``study_id`` and
``csv_bonuses`` (``<submission_id>,<amount>`` lines, amounts in the study's currency),
answered with the bulk bonus ``id``; pay ``POST /api/v1/bulk-bonus-payments/<id>/pay/``,
which is not idempotent (``stylestudy.study_server.platforms.bonuses`` keeps the ledger). Following
``_links.next.href`` to the next page of a list is an assumption not checked against a
live response.

Rejections (API reference, Submissions, "Approve or reject a submission"; read 2026-12-03):
the same transition with ``{"action": "REJECT", "message": …, "rejection_category": …}``;
the message must be at least 100 characters, the category is one of Prolific's (its list
is not checked here: Prolific refuses an unknown one). Only sessions an admin reviewed
``rejected`` are rejected, and the admin page allows that only after two failed attention
(catch) checks, Prolific's rule. Sessions reviewed ``screened_out`` are left for the
researcher to settle on Prolific (its SCREENED OUT transition needs screen-out codes set
up on Prolific).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from stylestudy.db.models import PaymentIdentity, Review, Study, StudySession
from stylestudy.db.states import SessionState
from stylestudy.errors import UserError
from stylestudy.study_server.study import scheduling

__all__ = ["API_URL", "FINISHED", "MIN_REJECT_MESSAGE", "PayStep", "ProlificClient",
           "ProlificRefused", "Rejection", "client_from_env", "pay", "payment_plan",
           "reconcile", "require_prolific", "session_identities"]

API_URL = "https://api.prolific.com"
#: the shortest rejection message Prolific accepts (API reference, transition-submission)
MIN_REJECT_MESSAGE = 100
#: statuses of a submission the participant finished (Prolific's submission object)
FINISHED = ("AWAITING REVIEW", "APPROVED", "REJECTED", "PARTIALLY APPROVED", "SCREENED OUT")


class ProlificRefused(UserError):
    """Prolific answered 4xx: the request was refused and changed nothing."""


@dataclass(frozen=True)
class Rejection:
    """What Prolific needs to reject a submission: the participant's message (at least
    ``MIN_REJECT_MESSAGE`` characters) and a category name such as Prolific lists."""

    message: str
    category: str

    def __post_init__(self) -> None:
        if len(self.message.strip()) < MIN_REJECT_MESSAGE:
            raise UserError(f"a rejection message must be at least {MIN_REJECT_MESSAGE} "
                            f"characters (Prolific's rule); this one has "
                            f"{len(self.message.strip())}")
        if not re.fullmatch(r"[A-Z][A-Z_]{1,63}", self.category):
            raise UserError(f"rejection category {self.category!r} must be one of "
                            "Prolific's category names, in capitals (e.g. FAILED_CHECK)")


class ProlificClient:
    """The few calls stylestudy makes; every failure is one ``UserError`` line."""

    def __init__(self, token: str, base_url: str = API_URL, timeout: float = 30.0) -> None:
        import requests

        self.base = base_url.rstrip("/")
        self.timeout = timeout
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Token {token}"

    def _call(self, method: str, url: str, **kwargs: Any) -> Any:
        import requests

        try:
            r = self.http.request(method, url, timeout=self.timeout, **kwargs)
        except requests.RequestException as exc:
            raise UserError(f"Prolific API unreachable ({method} {url}): {exc}") from None
        if r.status_code >= 400:
            error = ProlificRefused if r.status_code < 500 else UserError
            raise error(f"Prolific API refused {method} {url}: HTTP {r.status_code} "
                        f"{r.text[:200]}")
        try:
            return r.json() if r.content else {}
        except ValueError:
            raise UserError(f"Prolific API answered {method} {url} with non-JSON") from None

    def submissions(self, study_id: str) -> Iterator[dict[str, Any]]:
        """Every submission of one Prolific study, all pages."""
        url: str | None = f"{self.base}/api/v1/submissions/"
        params: dict[str, str] | None = {"study": study_id}
        while url:
            page = self._call("GET", url, params=params)
            yield from page.get("results") or []
            url = ((page.get("_links") or {}).get("next") or {}).get("href")
            params = None  # the next link carries the query

    def approve(self, submission_id: str) -> None:
        self._call("POST", f"{self.base}/api/v1/submissions/{submission_id}/transition/",
                   json={"action": "APPROVE"})

    def reject(self, submission_id: str, rejection: Rejection) -> None:
        self._call("POST", f"{self.base}/api/v1/submissions/{submission_id}/transition/",
                   json={"action": "REJECT", "message": rejection.message,
                         "rejection_category": rejection.category})

    def set_up_bonuses(self, study_id: str, csv_bonuses: str) -> str:
        """Set up (not pay) a bulk bonus for submissions of one Prolific study; its id."""
        out = self._call("POST", f"{self.base}/api/v1/submissions/bonus-payments/",
                         json={"study_id": study_id, "csv_bonuses": csv_bonuses})
        bulk = out.get("id") if isinstance(out, dict) else None
        if not isinstance(bulk, str) or not bulk:
            raise UserError("Prolific API set up a bonus payment without answering its id")
        return bulk

    def pay_bonuses(self, bulk_id: str) -> None:
        """Pay a set-up bulk bonus; Prolific pays again on every call with the same id."""
        self._call("POST", f"{self.base}/api/v1/bulk-bonus-payments/{bulk_id}/pay/")


def client_from_env() -> ProlificClient:
    """A client for ``STYLESTUDY_PROLIFIC_TOKEN`` (and ``STYLESTUDY_PROLIFIC_API_URL``)."""
    token = os.environ.get("STYLESTUDY_PROLIFIC_TOKEN")
    if not token:
        raise UserError("set STYLESTUDY_PROLIFIC_TOKEN to a Prolific API token "
                        "(created in Prolific's workspace settings)")
    return ProlificClient(token, os.environ.get("STYLESTUDY_PROLIFIC_API_URL", API_URL))


def require_prolific(study: Study) -> None:
    """One clear error unless ``study`` recruits on Prolific."""
    if study.spec["platform"] != "prolific":
        raise UserError(f"study {study.slug!r} is a {study.spec['platform']} study, "
                        "not prolific")


def session_identities(s: Session, study: Study) -> dict[int, dict[str, Any]]:
    """Session id → the raw Prolific IDs it entered with, for the sessions of ``study``."""
    return {sid: raw or {} for sid, raw in s.execute(
        select(StudySession.id, PaymentIdentity.raw)
        .join(PaymentIdentity, PaymentIdentity.participant_id == StudySession.participant_id)
        .where(StudySession.study_id == study.id))}


def _matched(client: ProlificClient, s: Session, study: Study, study_ids: tuple[str, ...]
             ) -> Iterator[tuple[dict[str, Any], int | None]]:
    """Each submission of the Prolific studies with the id of the session that entered with
    its SESSION_ID and PROLIFIC_PID (None when no session of the study did)."""
    require_prolific(study)
    idents = session_identities(s, study)
    by_submission = {raw.get("SESSION_ID"): (sid, raw.get("PROLIFIC_PID"))
                     for sid, raw in idents.items()}
    ids = study_ids or tuple(sorted({raw["STUDY_ID"] for raw in idents.values()
                                     if raw.get("STUDY_ID")}))
    if not ids:
        raise UserError(f"no Prolific STUDY_ID is known for study {study.slug!r}: "
                        "pass --prolific-study ID")
    for prolific_study in ids:
        for sub in client.submissions(prolific_study):
            sid, pid = by_submission.get(sub.get("id"), (None, None))
            participant = sub.get("participant", sub.get("participant_id"))
            yield sub, sid if sid is not None and participant == pid else None


def reconcile(client: ProlificClient, s: Session, study: Study,
              study_ids: tuple[str, ...] = ()) -> dict[str, int]:
    """Finished submissions move ``completed`` → ``submitted``; returned ones move
    ``started`` → ``returned`` and give their unanswered cells back. Counts per new state."""
    moved = {"submitted": 0, "returned": 0}
    for sub, sid in _matched(client, s, study, study_ids):
        if sid is None:
            continue
        status = sub.get("status")
        if status in FINISHED:
            moved["submitted"] += s.execute(
                update(StudySession).where(StudySession.id == sid,
                                           StudySession.state == SessionState.COMPLETED)
                .values(state=SessionState.SUBMITTED)).rowcount
        elif status == "RETURNED" and s.execute(
                update(StudySession).where(StudySession.id == sid,
                                           StudySession.state == SessionState.STARTED)
                .values(state=SessionState.RETURNED)).rowcount:
            scheduling.release_trials(s, sid)
            moved["returned"] += 1
    return moved


@dataclass(frozen=True)
class PayStep:
    """One submission and what ``pay`` does with it."""

    submission_id: str
    session_id: int | None  # None: no session of the study entered with it
    status: str  # Prolific's submission status
    decision: str | None  # the admin's review

    @property
    def action(self) -> str:
        """``approve`` or ``reject`` (awaiting review), ``done`` (not awaiting review),
        ``settle on Prolific`` (reviewed ``screened_out``), ``unreviewed`` or
        ``unmatched``."""
        if self.session_id is None:
            return "unmatched"
        if self.decision is None:
            return "unreviewed"
        if self.decision == "screened_out":
            return "settle on Prolific"
        if self.status != "AWAITING REVIEW":
            return "done"
        return "approve" if self.decision == "approved" else "reject"


def payment_plan(client: ProlificClient, s: Session, study: Study,
                 study_ids: tuple[str, ...] = ()) -> list[PayStep]:
    """Every submission with its session's review; Prolific's status makes a re-run after
    a crash safe (only submissions awaiting review are approved)."""
    reviews = dict(s.execute(select(Review.session_id, Review.decision)
                             .join(StudySession, StudySession.id == Review.session_id)
                             .where(StudySession.study_id == study.id)).all())
    return [PayStep(str(sub.get("id")), sid, str(sub.get("status")), reviews.get(sid))
            for sub, sid in _matched(client, s, study, study_ids)]


def pay(client: ProlificClient, steps: list[PayStep],
        rejection: Rejection | None = None) -> tuple[int, int]:
    """Approve every ``approve`` step and reject every ``reject`` step with ``rejection``
    (needed when there is one, checked before any call); (approved, rejected)."""
    n_reject = sum(step.action == "reject" for step in steps)
    if n_reject and rejection is None:
        raise UserError(f"{n_reject} session(s) were reviewed 'rejected': give "
                        "--reject-message (at least 100 characters, shown to the "
                        "participant) and --reject-category")
    done = {"approve": 0, "reject": 0}
    for step in steps:
        if step.action not in done:
            continue
        try:
            if step.action == "approve":
                client.approve(step.submission_id)
            else:
                client.reject(step.submission_id, rejection)
        except UserError as exc:
            raise UserError(f"{exc.message} (session {step.session_id}; {done['approve']} "
                            f"approved and {done['reject']} rejected before it; running the "
                            "command again is safe)") from None
        done[step.action] += 1
    return done["approve"], done["reject"]
