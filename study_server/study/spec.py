"""The study spec (YAML): parsing, defaults and validation into a plain dict.

The format is documented in ``docs/study-spec.md``. Every error is a ``UserError``
naming the field, so ``stylestudy study create`` ends in one clear message.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from stylestudy.errors import UserError

__all__ = ["DEFAULT_PROMPTS", "PLATFORMS", "load_spec", "stored_spec", "validate_spec"]

PLATFORMS = ("link", "prolific", "mturk")
OUTCOME_CODES = ("completed", "screened_out", "technical_error")

#: STROTSS-compatible wording (crowd-protocol.md §2.3; not verified against STROTSS §5)
DEFAULT_PROMPTS = {
    "content": "Which image better preserves the content of the reference?",
    "style": "Which image better matches the style of the reference?",
}

#: defaults from crowd-protocol.md §3.1 (QC table), §2.3 (view time) and §3.3 (lease);
#: ``first_lease_minutes`` is stylestudy's (docs/study-protocol.md, Hoarding limits)
DEFAULTS: dict[str, Any] = {
    "title": None,
    "description": "Compare pairs of images and pick the one that answers the question better.",
    "consent": "Taking part is voluntary; you may stop at any time. We record your choices "
               "and response times, and no personal information beyond your platform ID, "
               "which is stored only as a keyed hash.",
    "platform": "link",
    "state": "open",
    "questions": ["content", "style"],
    "methods": None,
    "pairs": "all",
    "seed": None,
    "judgments_per_cell": 5,
    "trials_per_session": 20,
    "min_trials_per_session": None,
    "max_participants": None,
    "cohorts": None,
    "catch_rate": 0.1,
    "min_catch_trials": 4,
    "repeat_rate": 0.1,
    "practice_trials": 2,
    "screen_out_after_practice_errors": 0,
    "min_view_ms": 800,
    "stimulus_duration_ms": None,
    "allow_not_sure": False,
    "lease_minutes": 30,
    "first_lease_minutes": 10,
    "allow_repeats": False,
    "exclude_mobile": True,
    "warn_before_leave": True,
    "max_reloads": None,
    "min_viewport": None,
    "prompts": {},
    "completion_codes": {},
    "completion_url": None,
    "participant_param": None,
    "feedback_question": "Did you have any problems with this study? (optional)",
    "estimated_minutes": 10,
    "reward": None,
    "mturk": {},
    # pre-registered analysis rules (exclusions, families, bootstrap), checked at creation
    # by analysis.settings; see docs/analysis.md
    "qc": {},
    "analysis": {},
}

MTURK_DEFAULTS: dict[str, Any] = {
    "sandbox": True,
    "external_url": None,
    "reward": "1.00",
    "max_assignments": 9,
    "hits": 1,
    "lifetime_seconds": 7 * 24 * 3600,
    "assignment_duration_seconds": 3600,
    "auto_approval_delay_seconds": 3 * 24 * 3600,
    "keywords": "image, comparison, survey",
    "min_approval_percent": 95,
    "min_approved_hits": 100,
    "countries": ["US"],
    "exclude_qualification_id": None,
    "reject_feedback": "Your submission was screened out by the study's quality checks "
                       "(for example failed attention checks), so it could not be approved.",
}

#: MTurk's limit on RequesterFeedback (RejectAssignment)
MAX_FEEDBACK = 1024

SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
CODE_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def stored_spec(spec: dict[str, Any]) -> dict[str, Any]:
    """A study's stored spec with the defaults of keys added after it was stored (studies
    created by an earlier stylestudy); read new keys through this."""
    return {**DEFAULTS, **spec, "mturk": {**MTURK_DEFAULTS, **(spec.get("mturk") or {})}}


def load_spec(path: str | Path) -> dict[str, Any]:
    """Read and validate a study spec file."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise UserError(f"study spec not found: {path}") from None
    except yaml.YAMLError as exc:
        raise UserError(f"study spec {path} is not valid YAML: {exc}") from None
    return validate_spec(raw, source=str(path))


def _fail(source: str, msg: str) -> UserError:
    return UserError(f"study spec {source}: {msg}")


#: entry parameters the platforms and the resume link use themselves
PLATFORM_PARAMS = frozenset({"PROLIFIC_PID", "STUDY_ID", "SESSION_ID", "assignmentId",
                             "workerId", "hitId", "turkSubmitTo", "token"})
PARAM_RE = re.compile(r"^[A-Za-z0-9_]{1,64}$")
COHORT_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def _cohorts(raw: Any, source: str) -> dict[str, Any]:
    """``{param: NAME, caps: {cohort: places or null}}``, checked."""
    if not isinstance(raw, dict) or set(raw) != {"param", "caps"}:
        raise _fail(source, "cohorts must be a mapping with exactly the keys param and caps")
    param, caps = raw["param"], raw["caps"]
    if not isinstance(param, str) or not PARAM_RE.match(param):
        raise _fail(source, "cohorts.param must be a query parameter name")
    if param in PLATFORM_PARAMS:
        raise _fail(source, f"cohorts.param {param!r} is a platform's own parameter")
    if not isinstance(caps, dict) or not caps:
        raise _fail(source, "cohorts.caps must map each cohort to its places (or null)")
    for name, cap in caps.items():
        if not isinstance(name, str) or not COHORT_RE.match(name):
            raise _fail(source, f"cohort name {name!r} must be 1-64 letters, digits, '_', "
                                "'.' or '-'")
        if cap is not None and (isinstance(cap, bool) or not isinstance(cap, int) or cap < 1):
            raise _fail(source, f"cohorts.caps.{name} must be a positive integer or null, "
                                f"got {cap!r}")
    return {"param": param, "caps": dict(caps)}


def _int(spec: dict, key: str, source: str, lo: int, hi: int | None = None) -> int:
    v = spec[key]
    if isinstance(v, bool) or not isinstance(v, int) or v < lo or (hi is not None and v > hi):
        rng = f">= {lo}" if hi is None else f"in [{lo}, {hi}]"
        raise _fail(source, f"{key} must be an integer {rng}, got {v!r}")
    return v


def _rate(spec: dict, key: str, source: str) -> float:
    v = spec[key]
    if isinstance(v, bool) or not isinstance(v, int | float) or not 0 <= v <= 0.5:
        raise _fail(source, f"{key} must be a number in [0, 0.5], got {v!r}")
    return float(v)


def validate_spec(raw: Any, source: str = "<spec>") -> dict[str, Any]:
    """Return the spec with defaults filled in; raise ``UserError`` on any problem."""
    if not isinstance(raw, dict):
        raise _fail(source, "must be a mapping of fields")
    unknown = sorted(set(raw) - set(DEFAULTS) - {"slug", "comparison_set"})
    if unknown:
        raise _fail(source, f"unknown field(s) {', '.join(map(str, unknown))}")
    for key in ("slug", "comparison_set"):
        if not isinstance(raw.get(key), str) or not raw[key]:
            raise _fail(source, f"{key} is required (a string)")
    spec = {**DEFAULTS, **raw}
    if not SLUG_RE.match(spec["slug"]):
        raise _fail(source, "slug must be lowercase letters, digits and '-' (max 63)")
    spec["title"] = spec["title"] or spec["slug"]
    for key in ("title", "description", "consent", "feedback_question"):
        if not isinstance(spec[key], str):
            raise _fail(source, f"{key} must be a string")
    if spec["platform"] not in PLATFORMS:
        raise _fail(source, f"platform must be one of {', '.join(PLATFORMS)}")
    if spec["state"] not in ("draft", "open"):
        raise _fail(source, "state must be draft or open")
    for key in ("qc", "analysis"):
        if not isinstance(spec[key], dict):
            raise _fail(source, f"{key} must be a mapping (see docs/analysis.md)")
    from stylestudy.analysis.settings import Settings

    try:
        Settings.from_spec({"qc": spec["qc"], "analysis": spec["analysis"]}, strict=True)
    except UserError as exc:
        raise _fail(source, exc.message) from None
    qs = spec["questions"]
    if (not isinstance(qs, list) or not qs or len(set(qs)) != len(qs)
            or any(q not in DEFAULT_PROMPTS for q in qs)):
        raise _fail(source, "questions must be a non-empty list of content and/or style")
    if spec["methods"] is not None and (
            not isinstance(spec["methods"], list) or len(spec["methods"]) < 2
            or not all(isinstance(m, str) for m in spec["methods"])):
        raise _fail(source, "methods must be a list of at least two method labels")
    pairs = spec["pairs"]
    if pairs != "all" and (not isinstance(pairs, list) or not pairs or not all(
            isinstance(p, list) and len(p) == 2 and all(isinstance(x, str) for x in p)
            and p[0] != p[1] for p in pairs)):
        raise _fail(source, "pairs must be 'all' or a list of [label, label] with two "
                            "different labels")
    if spec["seed"] is not None:
        _int(spec, "seed", source, 0)
    _int(spec, "judgments_per_cell", source, 1)
    _int(spec, "trials_per_session", source, 1, 1000)
    if spec["min_trials_per_session"] is not None:
        _int(spec, "min_trials_per_session", source, 1, spec["trials_per_session"])
    _int(spec, "min_catch_trials", source, 0, 100)
    _int(spec, "practice_trials", source, 0, 20)
    _int(spec, "screen_out_after_practice_errors", source, 0, 20)
    _int(spec, "min_view_ms", source, 0, 60_000)
    if spec["stimulus_duration_ms"] is not None:
        _int(spec, "stimulus_duration_ms", source, 50, 60_000)
    _int(spec, "lease_minutes", source, 1, 24 * 60)
    _int(spec, "first_lease_minutes", source, 1, 24 * 60)
    _int(spec, "estimated_minutes", source, 1)
    if spec["max_reloads"] is not None:
        _int(spec, "max_reloads", source, 0, 100)
    if spec["max_participants"] is not None:
        _int(spec, "max_participants", source, 1)
    if spec["cohorts"] is not None:
        spec["cohorts"] = _cohorts(spec["cohorts"], source)
    spec["catch_rate"] = _rate(spec, "catch_rate", source)
    spec["repeat_rate"] = _rate(spec, "repeat_rate", source)
    for key in ("allow_repeats", "exclude_mobile", "warn_before_leave", "allow_not_sure"):
        if not isinstance(spec[key], bool):
            raise _fail(source, f"{key} must be true or false")
    mv = spec["min_viewport"]
    if mv is not None and not (isinstance(mv, list) and len(mv) == 2
                               and all(isinstance(x, int) and x >= 0 for x in mv)):
        raise _fail(source, "min_viewport must be [width, height] in CSS pixels")
    prompts = spec["prompts"]
    if not isinstance(prompts, dict) or any(
            k not in DEFAULT_PROMPTS or not isinstance(v, str) for k, v in prompts.items()):
        raise _fail(source, "prompts must map content/style to a question text")
    spec["prompts"] = {**DEFAULT_PROMPTS, **prompts}
    codes = spec["completion_codes"]
    if not isinstance(codes, dict) or any(
            k not in OUTCOME_CODES or not isinstance(v, str) or not CODE_RE.match(v)
            for k, v in codes.items()):
        raise _fail(source, "completion_codes must map completed/screened_out/technical_error "
                            "to codes of letters, digits, '_' or '-'")
    for i, outcome in enumerate(OUTCOME_CODES):
        shared = [o for o in OUTCOME_CODES[:i] if o in codes and codes[o] == codes.get(outcome)]
        if shared:
            raise _fail(source, f"completion_codes.{outcome} is the code of {shared[0]}: a "
                                f"participant who ends {outcome} would be paid as {shared[0]}; "
                                "give each outcome its own code, or none (Prolific and MTurk "
                                "then ask the participant to return the study)")
    spec["completion_codes"] = dict(codes)
    if spec["platform"] == "prolific" and "completed" not in codes:
        raise _fail(source, "a prolific study needs completion_codes.completed (from Prolific)")
    url = spec["completion_url"]
    if url is not None and (not isinstance(url, str) or not url.startswith(("https://",
                                                                             "http://"))):
        raise _fail(source, "completion_url must be an http(s) URL")
    pp = spec["participant_param"]
    if pp is not None and (not isinstance(pp, str) or not PARAM_RE.match(pp)):
        raise _fail(source, "participant_param must be a query parameter name")
    if pp is not None and spec["cohorts"] is not None and pp == spec["cohorts"]["param"]:
        raise _fail(source, "cohorts.param and participant_param must differ")
    if spec["reward"] is not None and not isinstance(spec["reward"], str):
        raise _fail(source, "reward must be a string such as '£2.00'")
    mturk = spec["mturk"]
    if not isinstance(mturk, dict) or set(mturk) - set(MTURK_DEFAULTS):
        extra = sorted(set(mturk) - set(MTURK_DEFAULTS)) if isinstance(mturk, dict) else []
        raise _fail(source, f"mturk must be a mapping of known fields (unknown: {extra})")
    spec["mturk"] = {**MTURK_DEFAULTS, **mturk}
    ext = spec["mturk"]["external_url"]
    if ext is not None and (not isinstance(ext, str) or not ext.startswith("https://")):
        raise _fail(source, "mturk.external_url must be an https:// URL (MTurk requires HTTPS)")
    fb = spec["mturk"]["reject_feedback"]
    if not isinstance(fb, str) or not fb.strip() or len(fb) > MAX_FEEDBACK:
        raise _fail(source, f"mturk.reject_feedback must be a non-empty text of at most "
                            f"{MAX_FEEDBACK} characters (shown to rejected workers)")
    return spec
