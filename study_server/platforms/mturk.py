"""MTurk ExternalQuestion adapter (legacy; docs/study-protocol.md, Platforms): HIT creation through
boto3, reconciliation of submitted assignments, and paying them after the admin's review.

MTurk closes on 2026-09-30 (AWS MTurk API docs banner); new studies use Prolific or a link.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from stylestudy.db.models import Participant, PaymentIdentity, Review, Study, StudySession
from stylestudy.db.states import SessionState
from stylestudy.errors import UserError
from stylestudy.study_server.study.spec import stored_spec
from stylestudy.study_server.tokens import sign

__all__ = ["ENDPOINTS", "PayStep", "api_errors", "create_hits", "external_question", "make_client",
           "pay", "payment_plan", "qualification_requirements", "reconcile"]

ENDPOINTS = {True: "https://mturk-requester-sandbox.us-east-1.amazonaws.com",
             False: "https://mturk-requester.us-east-1.amazonaws.com"}
QUESTION_NS = ("http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/"
               "2006-07-14/ExternalQuestion.xsd")
#: system qualification type IDs (AWS MTurk docs): approval rate, approved HITs
PERCENT_APPROVED = "000000000000000000L0"
NUMBER_APPROVED = "00000000000000000040"
LOCALE = "00000000000000000071"


def external_question(url: str, frame_height: int = 0) -> str:
    """The ExternalQuestion XML; ``FrameHeight`` 0 lets MTurk size the frame to the window."""
    if not url.startswith("https://"):
        raise UserError("the MTurk ExternalURL must be https:// (MTurk requires HTTPS)")
    return (f'<ExternalQuestion xmlns="{QUESTION_NS}">'
            f"<ExternalURL>{escape(url)}</ExternalURL>"
            f"<FrameHeight>{int(frame_height)}</FrameHeight></ExternalQuestion>")


def qualification_requirements(cfg: dict[str, Any]) -> list[dict[str, Any]]:
    """psiTurk's defaults: approval ≥ 95 % paired with ≥ 100 approved HITs, US locale;
    plus ``DoesNotExist`` on a custom qualification granted to past workers."""
    reqs = [
        {"QualificationTypeId": PERCENT_APPROVED, "Comparator": "GreaterThanOrEqualTo",
         "IntegerValues": [int(cfg["min_approval_percent"])], "ActionsGuarded": "Accept"},
        {"QualificationTypeId": NUMBER_APPROVED, "Comparator": "GreaterThanOrEqualTo",
         "IntegerValues": [int(cfg["min_approved_hits"])], "ActionsGuarded": "Accept"},
    ]
    if cfg["countries"]:
        reqs.append({"QualificationTypeId": LOCALE, "Comparator": "In",
                     "LocaleValues": [{"Country": c} for c in cfg["countries"]],
                     "ActionsGuarded": "Accept"})
    if cfg["exclude_qualification_id"]:
        reqs.append({"QualificationTypeId": cfg["exclude_qualification_id"],
                     "Comparator": "DoesNotExist", "ActionsGuarded": "DiscoverPreviewAndAccept"})
    return reqs


def make_client(sandbox: bool):
    try:
        import boto3
    except ImportError:
        raise UserError("MTurk needs boto3: pip install 'stylestudy[mturk]'") from None
    return boto3.client("mturk", region_name="us-east-1", endpoint_url=ENDPOINTS[sandbox])


def create_hits(client, study: Study) -> list[str]:
    """One HIT type, then ``hits`` HITs of ≤ ``max_assignments`` each, each with a
    ``UniqueRequestToken`` (slug, design version, index) so a retried call creates nothing
    twice. Returns the HIT ids (already-created ones reported by MTurk are skipped)."""
    from botocore.exceptions import ClientError

    _require_mturk(study)
    spec, cfg = study.spec, study.spec["mturk"]
    if not cfg["external_url"]:
        raise UserError("set mturk.external_url (https://…/study/SLUG) in the study spec")
    type_id = client.create_hit_type(
        AutoApprovalDelayInSeconds=int(cfg["auto_approval_delay_seconds"]),
        AssignmentDurationInSeconds=int(cfg["assignment_duration_seconds"]),
        Reward=str(cfg["reward"]), Title=study.title, Keywords=cfg["keywords"],
        Description=spec["description"],
        QualificationRequirements=qualification_requirements(cfg))["HITTypeId"]
    question = external_question(cfg["external_url"])
    ids = []
    for i in range(int(cfg["hits"])):
        token = f"{study.slug}-v{study.design_version}-{i}"[:64]
        try:
            hit = client.create_hit_with_hit_type(
                HITTypeId=type_id, MaxAssignments=int(cfg["max_assignments"]),
                LifetimeInSeconds=int(cfg["lifetime_seconds"]), Question=question,
                RequesterAnnotation=study.slug, UniqueRequestToken=token)
        except ClientError as exc:
            if "already exists" in str(exc):  # a retry: MTurk kept the first one
                continue
            raise UserError(f"MTurk refused CreateHIT: {exc}") from None
        ids.append(hit["HIT"]["HITId"])
    return ids


_TOKEN_RE = re.compile(r"<QuestionIdentifier>completion_token</QuestionIdentifier>\s*"
                       r"<FreeText>([^<]*)</FreeText>")
ALL_STATUSES = ["Submitted", "Approved", "Rejected"]


@dataclass(frozen=True)
class PayStep:
    """One assignment of the study's HITs and what ``pay`` does with it."""

    assignment_id: str
    session_id: int | None  # None: no session of the study carries its completion token
    status: str  # MTurk's AssignmentStatus
    decision: str | None  # the admin's review

    @property
    def action(self) -> str:
        """``approve`` / ``reject`` (still Submitted), ``done``, ``unreviewed``, ``unmatched``."""
        if self.session_id is None:
            return "unmatched"
        if self.decision is None:
            return "unreviewed"
        if self.status != "Submitted":
            return "done"
        return "approve" if self.decision == "approved" else "reject"


@contextmanager
def api_errors(what: str) -> Iterator[None]:
    """botocore failures (credentials, network, a refused call) as one-line ``UserError``."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except (BotoCoreError, ClientError) as exc:
        raise UserError(f"MTurk {what} failed: {exc}") from None


def reconcile(client, s: Session, study: Study, secret: bytes) -> int:
    """``completed`` → ``submitted`` for sessions whose assignment MTurk lists with a valid
    completion token (never from a client flag). Returns the number of sessions moved."""
    moved = 0
    for _, sid in _matched_assignments(client, s, study, secret):
        if sid is not None:
            moved += s.execute(update(StudySession)
                               .where(StudySession.id == sid,
                                      StudySession.state == SessionState.COMPLETED)
                               .values(state=SessionState.SUBMITTED)).rowcount
    return moved


def payment_plan(client, s: Session, study: Study, secret: bytes) -> list[PayStep]:
    """Every assignment of the study's HITs with its session's review; MTurk's own status
    makes a re-run after a crash safe (only ``Submitted`` ones are acted on)."""
    _require_mturk(study)
    reviews = dict(s.execute(select(Review.session_id, Review.decision)
                             .join(StudySession, StudySession.id == Review.session_id)
                             .where(StudySession.study_id == study.id)).all())
    return [PayStep(a["AssignmentId"], sid, a["AssignmentStatus"], reviews.get(sid))
            for a, sid in _matched_assignments(client, s, study, secret)]


def pay(client, study: Study, steps: list[PayStep]) -> None:
    """Approve (``approved``) or reject with ``mturk.reject_feedback`` (``screened_out``)
    every step whose assignment is still ``Submitted``."""
    from botocore.exceptions import ClientError

    feedback = stored_spec(study.spec)["mturk"]["reject_feedback"]
    for step in steps:
        try:
            if step.action == "approve":
                client.approve_assignment(AssignmentId=step.assignment_id)
            elif step.action == "reject":
                client.reject_assignment(AssignmentId=step.assignment_id,
                                         RequesterFeedback=feedback)
        except ClientError as exc:
            raise UserError(f"MTurk refused to {step.action} assignment {step.assignment_id} "
                            f"(session {step.session_id}): {exc}; running the command again "
                            "is safe") from None


def _require_mturk(study: Study) -> None:
    if study.spec["platform"] != "mturk":
        raise UserError(f"study {study.slug!r} is a {study.spec['platform']} study, not mturk")


def _matched_assignments(client, s: Session, study: Study,
                         secret: bytes) -> Iterator[tuple[dict[str, Any], int | None]]:
    """Each assignment of the study's HITs with the id of the session whose signed
    completion token it carries (None when no session of the study matches)."""
    idents = s.execute(select(PaymentIdentity.raw, StudySession.id, StudySession.outcome)
                       .join(Participant, Participant.id == PaymentIdentity.participant_id)
                       .join(StudySession, StudySession.participant_id == Participant.id)
                       .where(StudySession.study_id == study.id)).all()
    by_assignment = {raw.get("assignmentId"): (sid, outcome) for raw, sid, outcome in idents}
    for a in _assignments(client, study.slug):
        sid, outcome = by_assignment.get(a["AssignmentId"], (None, None))
        m = _TOKEN_RE.search(a.get("Answer", ""))
        ok = sid is not None and m is not None and hmac.compare_digest(
            m.group(1), sign(secret, f"{sid}:{outcome}"))
        yield a, sid if ok else None


def _assignments(client, slug: str) -> Iterator[dict[str, Any]]:
    """Every assignment (any status) of the HITs annotated with ``slug``, all pages."""
    for hit_id in _study_hits(client, slug):
        kwargs: dict[str, Any] = {"HITId": hit_id, "AssignmentStatuses": ALL_STATUSES}
        while True:
            page = client.list_assignments_for_hit(**kwargs)
            yield from page["Assignments"]
            if not page.get("NextToken"):
                break
            kwargs["NextToken"] = page["NextToken"]


def _study_hits(client, slug: str) -> list[str]:
    ids, kwargs = [], {}
    while True:
        page = client.list_hits(**kwargs)
        ids += [h["HITId"] for h in page["HITs"] if h.get("RequesterAnnotation") == slug]
        if not page.get("NextToken"):
            return ids
        kwargs["NextToken"] = page["NextToken"]
