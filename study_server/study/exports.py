"""Exports of a study's judgments (docs/study-protocol.md, Admin).

- ``long``: one row per response, the table of docs/analysis.md, "Input: the long table"
  (a superset of pwcmp's long format ``observer, session, scene, condition_A,
  condition_B, is_A_selected``).
- ``pwcmp``: ``Observer, Session, Scene, Condition_1, Condition_2, Selection`` in pwcmp's
  column order (mantiuk/pwcmp README), real trials of usable sessions, one question.
- ``json``: jsPsych-like per-trial records (``rt``, ``response``, ``trial_index``,
  ``time_elapsed``) with stimulus tokens, never paths.
- ``events``: the client and server session events (image failures, focus, blur,
  reloads …), one row each, in the order they were stored.

Choices are method identities ("not sure" answers have none and are flagged
``not_sure``); observers are keyed hashes of platform IDs.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from stylestudy.db.judgments import judgment_rows as judgments
from stylestudy.db.models import Participant, SessionEvent, StudySession
from stylestudy.errors import UserError
from stylestudy.study_server.study.lookup import study_or_fail

__all__ = ["EVENT_COLUMNS", "LONG_COLUMNS", "PWCMP_COLUMNS", "csv_text", "event_rows",
           "judgments", "neutralise", "render"]

PWCMP_COLUMNS = ["Observer", "Session", "Scene", "Condition_1", "Condition_2", "Selection"]
LONG_COLUMNS = [
    "worker_id", "session_id", "trial_id", "item_id", "content_id", "style_id", "question",
    "method_A", "method_B", "left_method", "chose_A", "chosen_method", "not_sure", "rt_ms",
    "is_catch", "is_repeat", "is_practice", "trial_kind", "expected", "repeat_of", "position",
    "timestamp", "session_state", "outcome", "cohort", "observer", "session", "scene",
    "condition_A", "condition_B", "is_A_selected",
]
EVENT_COLUMNS = ["observer", "session_id", "kind", "payload", "client_time", "received_at"]
UNUSABLE = ("screened_out", "technical_error")


#: a cell starting with one of these is a formula to a spreadsheet (OWASP, CSV injection)
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: Any) -> Any:
    """Text that a spreadsheet would run as a formula, with a leading apostrophe (OWASP's
    rule); other values unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def csv_text(rows: list[dict], columns: list[str]) -> str:
    """``rows`` as CSV text with a header line, formulas neutralised; keys outside
    ``columns`` are ignored."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    w.writerows({k: neutralise(v) for k, v in row.items()} for row in rows)
    return buf.getvalue()


def pwcmp_rows(rows: list[dict], question: str) -> list[dict]:
    """Real, non-repeat judgments of usable sessions for one question, pwcmp columns;
    "not sure" answers are left out (pwcmp's format has no ties)."""
    return [{"Observer": r["observer"], "Session": r["session"], "Scene": r["scene"],
             "Condition_1": r["method_A"], "Condition_2": r["method_B"],
             "Selection": 1 if r["chose_A"] else 2}
            for r in rows if r["question"] == question and r["trial_kind"] == "real"
            and r["outcome"] not in UNUSABLE and not r["not_sure"]]


def json_records(rows: list[dict]) -> list[dict]:
    """jsPsych-like records: ``response`` 0 = left, 1 = right, null = "not sure";
    ``rt`` in ms."""
    out = []
    index: dict[int, int] = {}
    for r in rows:
        i = index.get(r["session_id"], 0)
        index[r["session_id"]] = i + 1
        elapsed = (r["_received"] - r["_created"]).total_seconds() * 1000 \
            if (r["_received"].tzinfo is None) == (r["_created"].tzinfo is None) else None
        out.append({"observer": r["observer"], "session": r["session_id"], "trial_index": i,
                    "trial_id": r["trial_id"], "kind": r["trial_kind"],
                    "question": r["question"],
                    "stimulus": list(r["_tokens"]), "response": None if r["not_sure"]
                    else 0 if r["_left_chosen"] else 1,
                    "rt": r["rt_ms"], "time_elapsed": round(elapsed) if elapsed is not None
                    else None, "chosen_method": r["chosen_method"],
                    "method_A": r["method_A"], "method_B": r["method_B"],
                    "chose_A": None if r["not_sure"] else bool(r["chose_A"]),
                    "not_sure": bool(r["not_sure"]), "cohort": r["cohort"] or None})
    return out


def event_rows(s: Session, slug: str) -> list[dict]:
    """Every session event of study ``slug``; ``payload`` as JSON text."""
    study_id = study_or_fail(s, slug).id
    rows = s.execute(
        select(Participant.pid_hash, SessionEvent)
        .join(StudySession, StudySession.id == SessionEvent.session_id)
        .join(Participant, Participant.id == StudySession.participant_id)
        .where(StudySession.study_id == study_id).order_by(SessionEvent.id)).all()
    return [{"observer": pid[:16], "session_id": e.session_id, "kind": e.kind,
             "payload": json.dumps(e.payload, sort_keys=True),
             "client_time": e.client_time or "", "received_at": e.created_at.isoformat()}
            for pid, e in rows]


def render(s: Session, slug: str, fmt: str, question: str | None = None) -> str:
    """The export as text: ``long`` / ``pwcmp`` (needs ``question``) / ``json`` /
    ``events``."""
    if fmt == "events":
        return csv_text(event_rows(s, slug), EVENT_COLUMNS)
    rows = judgments(s, slug)
    if fmt == "long":
        return csv_text(rows, LONG_COLUMNS)
    if fmt == "pwcmp":
        asked = study_or_fail(s, slug).spec["questions"]
        if question not in asked:
            raise UserError(f"pwcmp export needs --question {' or '.join(asked)} (one file "
                            "per question)")
        return csv_text(pwcmp_rows(rows, question), PWCMP_COLUMNS)
    if fmt == "json":
        return json.dumps(json_records(rows), indent=1) + "\n"
    raise UserError(f"unknown export format {fmt!r}")
