"""MTurk ExternalQuestion adapter (legacy; crowd-protocol.md §1.3): HIT creation through
boto3 and reconciliation of submitted assignments.

MTurk closes on 2026-09-30 (AWS MTurk API docs banner); new studies use Prolific or a link.
"""

from __future__ import annotations

import hmac
import re
from typing import Any
from xml.sax.saxutils import escape

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from db.models import Participant, PaymentIdentity, Study, StudySession
from study_server.security import sign
from stylestudy.errors import UserError

__all__ = ["ENDPOINTS", "create_hits", "external_question", "qualification_requirements",
           "reconcile"]

ENDPOINTS = {True: "https://mturk-requester-sandbox.us-east-1.amazonaws.com",
             False: "https://mturk-requester.us-east-1.amazonaws.com"}
QUESTION_NS = ("http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/"
               "2006-07-14/ExternalQuestion.xsd")
#: system qualification type IDs (AWS MTurk docs; crowd-protocol.md §1.3)
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

    spec, cfg = study.spec, study.spec["mturk"]
    if spec["platform"] != "mturk":
        raise UserError(f"study {study.slug!r} is a {spec['platform']} study, not mturk")
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


def reconcile(client, s: Session, study: Study, secret: bytes) -> int:
    """``completed`` → ``submitted`` for sessions whose assignment MTurk lists with a valid
    completion token (never from a client flag). Returns the number of sessions moved."""
    idents = s.execute(select(PaymentIdentity.raw, StudySession.id, StudySession.outcome)
                       .join(Participant, Participant.id == PaymentIdentity.participant_id)
                       .join(StudySession, StudySession.participant_id == Participant.id)
                       .where(StudySession.study_id == study.id)).all()
    by_assignment = {raw.get("assignmentId"): (sid, outcome) for raw, sid, outcome in idents}
    moved = 0
    for hit_id in _study_hits(client, study.slug):
        kwargs: dict[str, Any] = {"HITId": hit_id,
                                  "AssignmentStatuses": ["Submitted", "Approved", "Rejected"]}
        while True:
            page = client.list_assignments_for_hit(**kwargs)
            for a in page["Assignments"]:
                found = by_assignment.get(a["AssignmentId"])
                m = _TOKEN_RE.search(a.get("Answer", ""))
                if found is None or m is None:
                    continue
                sid, outcome = found
                if not hmac.compare_digest(m.group(1), sign(secret, f"{sid}:{outcome}")):
                    continue
                moved += s.execute(update(StudySession)
                                   .where(StudySession.id == sid,
                                          StudySession.state == "completed")
                                   .values(state="submitted")).rowcount
            if not page.get("NextToken"):
                break
            kwargs["NextToken"] = page["NextToken"]
    return moved


def _study_hits(client, slug: str) -> list[str]:
    ids, kwargs = [], {}
    while True:
        page = client.list_hits(**kwargs)
        ids += [h["HITId"] for h in page["HITs"] if h.get("RequesterAnnotation") == slug]
        if not page.get("NextToken"):
            return ids
        kwargs["NextToken"] = page["NextToken"]
