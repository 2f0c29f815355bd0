"""The payments export: restricted, raw platform IDs (docs/study-protocol.md, Payments).

One row per reviewed session with what its platform needs to pay it: Prolific
``PROLIFIC_PID`` and ``SESSION_ID``; MTurk ``workerId`` and ``assignmentId``; link the
external participant ID (when configured) and the completion code. Raw IDs appear in no
other export; the admin download needs a login and is sent with ``Cache-Control: no-store``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from stylestudy.db.models import PaymentIdentity, Review, Study, StudySession
from stylestudy.errors import UserError
from stylestudy.study_server.study.entry import completion_code
from stylestudy.study_server.study.exports import csv_text

__all__ = ["ID_COLUMNS", "columns", "payment_rows", "prolific_ids", "render"]

ID_COLUMNS = {"prolific": ["PROLIFIC_PID", "SESSION_ID"],
              "mturk": ["workerId", "assignmentId"],
              "link": ["participant", "completion_code"]}


def columns(platform: str) -> list[str]:
    """The CSV columns for a study on ``platform``."""
    return ["session_id", "platform", *ID_COLUMNS[platform], "decision", "outcome", "decided_at"]


def _iso(t: dt.datetime) -> str:
    """UTC ISO 8601 (SQLite hands back naive UTC datetimes)."""
    return (t if t.tzinfo else t.replace(tzinfo=dt.UTC)).isoformat(timespec="seconds")


def payment_rows(s: Session, study: Study, secret: bytes) -> list[dict[str, Any]]:
    """Every reviewed session of ``study`` with its raw payment IDs, in session order."""
    platform = study.spec["platform"]
    found = s.execute(select(StudySession.id, StudySession.outcome, Review.decision,
                             Review.decided_at, PaymentIdentity.raw)
                      .join(Review, Review.session_id == StudySession.id)
                      .outerjoin(PaymentIdentity, PaymentIdentity.participant_id
                                 == StudySession.participant_id)
                      .where(StudySession.study_id == study.id)
                      .order_by(StudySession.id)).all()
    rows = []
    for sid, outcome, decision, decided_at, raw in found:
        ids = {k: (raw or {}).get(k, "") for k in ID_COLUMNS[platform]}
        if platform == "link":
            ids["completion_code"] = completion_code(secret, study.spec, sid, outcome)
        rows.append({"session_id": sid, "platform": platform, **ids, "decision": decision,
                     "outcome": outcome or "", "decided_at": _iso(decided_at)})
    return rows


def render(study: Study, rows: list[dict[str, Any]]) -> str:
    """The payments CSV."""
    return csv_text(rows, columns(study.spec["platform"]))


def prolific_ids(study: Study, rows: list[dict[str, Any]], decision: str) -> str:
    """One ``PROLIFIC_PID`` a line for ``decision``: the paste for Prolific's bulk dialogs."""
    if study.spec["platform"] != "prolific":
        raise UserError(f"--ids-only lists Prolific IDs; study {study.slug!r} is a "
                        f"{study.spec['platform']} study (use the CSV)")
    return "".join(f"{r['PROLIFIC_PID']}\n" for r in rows if r["decision"] == decision)
