"""Platform adapters: entry parameters and completion actions (docs/study-protocol.md,
Platforms).

An adapter parses a participant's entry query parameters into an ``Entry`` and turns a
finished session into the platform's completion action. Raw IDs go only into
``Entry.payment`` (the restricted ``payment_identity`` table).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from stylestudy.study_server.tokens import sign

__all__ = ["MTURK_PREVIEW", "RETURN_MESSAGES", "Entry", "completion_action", "completion_code",
           "parse_entry"]

MTURK_PREVIEW = "ASSIGNMENT_ID_NOT_AVAILABLE"
PROLIFIC_COMPLETE = "https://app.prolific.com/submissions/complete"
MTURK_HOSTS = {False: "https://www.mturk.com", True: "https://workersandbox.mturk.com"}


class EntryError(ValueError):
    """Missing or malformed entry parameters."""


@dataclass
class Entry:
    platform: str
    raw_id: str | None  # the stable participant ID (hashed for storage)
    preview: bool = False
    payment: dict[str, str] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    cohort: str | None = None  # the spec's ``cohorts`` group this link recruits for


def _param(params: dict, name: str) -> str | None:
    v = params.get(name)
    if v is None or v == "":
        return None
    v = str(v)
    if len(v) > 128 or not v.isprintable():
        raise EntryError(f"parameter {name} is malformed")
    return v


def parse_entry(spec: dict, params: dict[str, Any]) -> Entry:
    """Read the platform's entry parameters, and the cohort where the study has cohorts;
    ``EntryError`` when required ones are missing."""
    entry = _platform_entry(spec, params)
    cohorts = spec.get("cohorts")
    if cohorts:
        value = _param(params, cohorts["param"])
        if value not in cohorts["caps"]:
            raise EntryError("this study link is incomplete: open the link exactly as you "
                             f"were given it (its {cohorts['param']} is missing or unknown)")
        entry.cohort = value
    return entry


def _platform_entry(spec: dict, params: dict[str, Any]) -> Entry:
    platform = spec["platform"]
    if platform == "prolific":
        pid, sid, stid = (_param(params, k) for k in ("PROLIFIC_PID", "SESSION_ID", "STUDY_ID"))
        if pid is None or sid is None:
            raise EntryError("open this study from Prolific (PROLIFIC_PID and SESSION_ID "
                             "are missing)")
        return Entry("prolific", pid, payment={"PROLIFIC_PID": pid, "SESSION_ID": sid,
                                               "STUDY_ID": stid or ""},
                     data={"study_id": stid})
    if platform == "mturk":
        aid = _param(params, "assignmentId")
        if aid is None or aid == MTURK_PREVIEW:
            return Entry("mturk", None, preview=True)
        wid, hid = _param(params, "workerId"), _param(params, "hitId")
        if wid is None:
            raise EntryError("workerId is missing: accept the HIT on MTurk first")
        submit = _param(params, "turkSubmitTo")
        return Entry("mturk", wid, payment={"workerId": wid, "assignmentId": aid,
                                            "hitId": hid or ""},
                     data={"turk_submit_to": submit, "assignment_id": aid})
    ext = _param(params, spec["participant_param"]) if spec["participant_param"] else None
    return Entry("link", ext, payment={"participant": ext} if ext else {})


#: the platform's no-code path: what a participant is asked to do for an outcome that
#: has no code of its own (Prolific accepts only its own codes; an MTurk submit is paid)
RETURN_MESSAGES = {
    "prolific": "Please return your submission on Prolific (open Prolific and choose "
                "'Return submission'); do not enter a completion code.",
    "mturk": "Please return this HIT on MTurk; do not submit it.",
}


def completion_code(secret: bytes, spec: dict, session_id: int, outcome: str) -> str | None:
    """The code for ``outcome``: the configured one; else, on a link study, a per-session
    code the admin can verify (its first letter names the outcome); else None: Prolific and
    MTurk take the platform's no-code path, so no outcome is paid with another's code."""
    codes = spec["completion_codes"]
    if outcome in codes:
        return codes[outcome]
    if spec["platform"] == "prolific" or (spec["platform"] == "mturk"
                                          and outcome != "completed"):
        return None
    mac = hmac.new(secret, f"code:{session_id}:{outcome}".encode(), hashlib.sha256)
    return f"{outcome[0].upper()}{mac.hexdigest()[:9].upper()}"


def _submit_host(spec: dict, turk_submit_to: str | None) -> str:
    """``turkSubmitTo`` normalised; missing or unexpected → the mode's host."""
    allowed = set(MTURK_HOSTS.values()) | {"https://worker.mturk.com"}
    if turk_submit_to:
        host = turk_submit_to.rstrip("/")
        if host in allowed:
            return host
    return MTURK_HOSTS[bool(spec["mturk"]["sandbox"])]


def completion_action(secret: bytes, spec: dict, session_id: int, outcome: str,
                      data: dict[str, Any]) -> dict[str, Any]:
    """What the participant's page does once the session has ended: a code, a redirect
    or a submit form for an outcome that has its own code, else ``{"kind": "return"}``."""
    code = completion_code(secret, spec, session_id, outcome)
    platform = spec["platform"]
    if code is None:
        return {"kind": "return", "outcome": outcome, "message": RETURN_MESSAGES[platform]}
    if platform == "prolific":
        return {"kind": "redirect", "outcome": outcome, "code": code,
                "url": f"{PROLIFIC_COMPLETE}?{urlencode({'cc': code})}"}
    if platform == "mturk":
        host = _submit_host(spec, data.get("turk_submit_to"))
        return {"kind": "mturk", "outcome": outcome, "code": code,
                "url": f"{host}/mturk/externalSubmit",
                "fields": {"assignmentId": data.get("assignment_id", ""),
                           "completion_token": sign(secret, f"{session_id}:{outcome}")}}
    action: dict[str, Any] = {"kind": "code", "outcome": outcome, "code": code}
    if spec["completion_url"]:
        sep = "&" if "?" in spec["completion_url"] else "?"
        action["url"] = f"{spec['completion_url']}{sep}{urlencode({'code': code})}"
    return action
