"""The study spec (YAML): a typed model (pydantic) with defaults, stored as a plain dict.

The format is documented in ``docs/study-spec.md``. Every error is a ``UserError`` of one
line naming the field, so ``stylestudy study create`` ends in one clear message.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

import yaml
from annotated_types import Ge, Le
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from stylestudy.analysis.data import QUESTION_KEY
from stylestudy.errors import UserError

__all__ = ["DEFAULTS", "DEFAULT_PROMPTS", "MTURK_DEFAULTS", "PLATFORMS", "PRESET_QUESTIONS",
           "Question", "StudySpec", "load_spec", "question_rules", "stored_spec",
           "validate_spec"]

PLATFORMS = ("link", "prolific", "mturk")
OUTCOME_CODES = ("completed", "screened_out", "technical_error")
#: what a question shows as its reference, and what its catch cells measure against
REFERENCES = ("content", "style", "none")

#: the project's wording for the two preset questions (docs/study-protocol.md; not
#: verified against the STROTSS paper, docs/study-presets.md)
DEFAULT_PROMPTS = {
    "content": "Which image better preserves the content of the reference?",
    "style": "Which image better matches the style of the reference?",
}
#: the preset questions: reference shown, and the catch rule of docs/study-spec.md
PRESET_QUESTIONS: dict[str, dict[str, str]] = {
    "content": {"reference": "content", "catch": "content"},
    "style": {"reference": "style", "catch": "style"},
}

#: MTurk's limit on RequesterFeedback (RejectAssignment)
MAX_FEEDBACK = 1024

SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
CODE_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
#: entry parameters the platforms and the resume link use themselves
PLATFORM_PARAMS = frozenset({"PROLIFIC_PID", "STUDY_ID", "SESSION_ID", "assignmentId",
                             "workerId", "hitId", "turkSubmitTo", "token"})
PARAM_RE = re.compile(r"^[A-Za-z0-9_]{1,64}$")
COHORT_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def _err(msg: str) -> PydanticCustomError:
    """A validation error whose text is the whole message (it names the field)."""
    return PydanticCustomError("spec", "{msg}", {"msg": msg})


def _int(lo: int, hi: int | None = None) -> Any:
    return Annotated[int, Ge(lo)] if hi is None else Annotated[int, Ge(lo), Le(hi)]


Rate = Annotated[float, Ge(0), Le(0.5)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class Question(_Model):
    """One 2AFC question: its key, the participants' wording, the image shown as the
    reference, and what its catch cells measure against (``none``: no catch cells)."""

    key: str
    prompt: str | None = None
    reference: Literal["content", "style", "none"] | None = None
    catch: Literal["content", "style", "none"] | None = None


class MTurk(_Model):
    """``mturk``: what ``stylestudy mturk create-hits`` and ``mturk pay`` use."""

    sandbox: bool = True
    external_url: str | None = None
    reward: str = "1.00"
    max_assignments: _int(1) = 9
    hits: _int(1) = 1
    lifetime_seconds: _int(60) = 7 * 24 * 3600
    assignment_duration_seconds: _int(30) = 3600
    auto_approval_delay_seconds: _int(0) = 3 * 24 * 3600
    keywords: str = "image, comparison, survey"
    min_approval_percent: _int(0, 100) = 95
    min_approved_hits: _int(0) = 100
    countries: list[str] = Field(default_factory=lambda: ["US"])
    exclude_qualification_id: str | None = None
    reject_feedback: str = ("Your submission was screened out by the study's quality checks "
                             "(for example failed attention checks), so it could not be "
                             "approved.")

    @field_validator("external_url")
    @classmethod
    def _https(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith("https://"):
            raise _err("mturk.external_url must be an https:// URL (MTurk requires HTTPS)")
        return v

    @field_validator("reject_feedback")
    @classmethod
    def _feedback(cls, v: str) -> str:
        if not v.strip() or len(v) > MAX_FEEDBACK:
            raise _err(f"mturk.reject_feedback must be a non-empty text of at most "
                       f"{MAX_FEEDBACK} characters (shown to rejected workers)")
        return v


class Cohorts(_Model):
    """``{param: NAME, caps: {cohort: places or null}}``."""

    param: str
    caps: dict[str, Any]

    @field_validator("param")
    @classmethod
    def _param(cls, v: str) -> str:
        if not PARAM_RE.match(v):
            raise _err("cohorts.param must be a query parameter name")
        if v in PLATFORM_PARAMS:
            raise _err(f"cohorts.param {v!r} is a platform's own parameter")
        return v

    @field_validator("caps")
    @classmethod
    def _caps(cls, caps: dict[str, Any]) -> dict[str, Any]:
        if not caps:
            raise _err("cohorts.caps must map each cohort to its places (or null)")
        for name, cap in caps.items():
            if not COHORT_RE.match(name):
                raise _err(f"cohort name {name!r} must be 1-64 letters, digits, '_', '.' or "
                           "'-'")
            if cap is not None and (isinstance(cap, bool) or not isinstance(cap, int)
                                    or cap < 1):
                raise _err(f"cohorts.caps.{name} must be a positive integer or null, got "
                           f"{cap!r}")
        return caps


class StudySpec(_Model):
    """A study spec as written; :meth:`to_spec` gives the stored dict."""

    slug: str
    comparison_set: str
    title: str | None = None
    description: str = "Compare pairs of images and pick the one that answers the question " \
                        "better."
    consent: str = ("Taking part is voluntary; you may stop at any time. We record your "
                     "choices and response times, and no personal information beyond your "
                     "platform ID, which is stored only as a keyed hash.")
    platform: Literal["link", "prolific", "mturk"] = "link"
    state: Literal["draft", "open"] = "open"
    questions: list[Question] = Field(
        default_factory=lambda: [Question(key=k) for k in PRESET_QUESTIONS])
    methods: list[str] | None = None
    pairs: Literal["all"] | list[list[str]] = "all"
    seed: _int(0) | None = None
    # defaults: docs/study-protocol.md (QC, view time, lease, hoarding limits)
    judgments_per_cell: _int(1) = 5
    trials_per_session: _int(1, 1000) = 20
    min_trials_per_session: _int(1) | None = None
    max_participants: _int(1) | None = None
    cohorts: Cohorts | None = None
    catch_rate: Rate = 0.1
    min_catch_trials: _int(0, 100) = 4
    repeat_rate: Rate = 0.1
    practice_trials: _int(0, 20) = 2
    screen_out_after_practice_errors: _int(0, 20) = 0
    min_view_ms: _int(0, 60_000) = 800
    stimulus_duration_ms: _int(50, 60_000) | None = None
    allow_not_sure: bool = False
    lease_minutes: _int(1, 24 * 60) = 30
    first_lease_minutes: _int(1, 24 * 60) = 10
    allow_repeats: bool = False
    exclude_mobile: bool = True
    warn_before_leave: bool = True
    max_reloads: _int(0, 100) | None = None
    min_viewport: list[int] | None = None
    prompts: dict[str, str] = Field(default_factory=dict)
    completion_codes: dict[str, str] = Field(default_factory=dict)
    completion_url: str | None = None
    participant_param: str | None = None
    feedback_question: str = "Did you have any problems with this study? (optional)"
    estimated_minutes: _int(1) = 10
    reward: str | None = None
    mturk: MTurk = Field(default_factory=MTurk)
    # pre-registered analysis rules (exclusions, families, bootstrap), checked by
    # stylestudy.analysis.settings; see docs/analysis.md
    qc: dict[str, Any] = Field(default_factory=dict)
    analysis: dict[str, Any] = Field(default_factory=dict)

    @field_validator("slug")
    @classmethod
    def _slug(cls, v: str) -> str:
        if not SLUG_RE.match(v):
            raise _err("slug must be lowercase letters, digits and '-' (max 63)")
        return v

    @field_validator("comparison_set")
    @classmethod
    def _set(cls, v: str) -> str:
        if not v:
            raise _err("comparison_set is required (a string)")
        return v

    @model_validator(mode="before")
    @classmethod
    def _stored_form(cls, raw: Any) -> Any:
        """A stored spec (:meth:`to_spec`) validates again: its ``question_rules`` declare
        the questions it lists by key."""
        if not isinstance(raw, dict) or "question_rules" not in raw:
            return raw
        raw = dict(raw)
        rules = raw.pop("question_rules")
        if not isinstance(rules, dict) or not all(isinstance(v, dict) for v in rules.values()):
            raise _err("question_rules must map question keys to {reference, catch}")
        if isinstance(raw.get("questions"), list):
            raw["questions"] = [{"key": q, **rules[q]} if isinstance(q, str) and q in rules
                                else q for q in raw["questions"]]
        return raw

    @field_validator("questions", mode="before")
    @classmethod
    def _question_entries(cls, v: Any) -> Any:
        """A preset's key stands for the preset; a mapping declares (or adjusts) one."""
        if not isinstance(v, list) or not v:
            raise _err("questions must be a non-empty list of question keys (content, "
                       "style) or mappings {key, prompt, reference, catch}")
        out = []
        for i, q in enumerate(v):
            if isinstance(q, str):
                if q not in PRESET_QUESTIONS:
                    raise _err(f"questions[{i}]: {q!r} is not a preset question (content, "
                               "style); declare it as a mapping {key, prompt, reference}")
                q = {"key": q}
            out.append(q)
        return out

    @field_validator("questions")
    @classmethod
    def _questions(cls, qs: list[Question]) -> list[Question]:
        seen: set[str] = set()
        for i, q in enumerate(qs):
            if not QUESTION_KEY.match(q.key):
                raise _err(f"questions[{i}].key {q.key!r} must be a lowercase letter, then up "
                           "to 15 lowercase letters, digits or '_'")
            if q.key in seen:
                raise _err(f"questions[{i}].key {q.key!r} is asked twice")
            seen.add(q.key)
            if q.key not in PRESET_QUESTIONS:
                if q.reference is None:
                    raise _err(f"questions[{i}] ({q.key}) needs a reference")
                if q.prompt is not None and not q.prompt.strip():
                    raise _err(f"questions[{i}].prompt must not be empty")
        return qs

    @field_validator("methods")
    @classmethod
    def _methods(cls, v: list[str] | None) -> list[str] | None:
        if v is not None and len(v) < 2:
            raise _err("methods must be a list of at least two method labels")
        return v

    @field_validator("pairs")
    @classmethod
    def _pairs(cls, v: Any) -> Any:
        if v != "all" and (not v or not all(len(p) == 2 and p[0] != p[1] for p in v)):
            raise _err("pairs must be 'all' or a list of [label, label] with two different "
                       "labels")
        return v

    @field_validator("min_viewport")
    @classmethod
    def _viewport(cls, v: list[int] | None) -> list[int] | None:
        if v is not None and not (len(v) == 2 and all(x >= 0 for x in v)):
            raise _err("min_viewport must be [width, height] in CSS pixels")
        return v

    @field_validator("completion_codes")
    @classmethod
    def _codes(cls, codes: dict[str, str]) -> dict[str, str]:
        if any(k not in OUTCOME_CODES or not CODE_RE.match(v) for k, v in codes.items()):
            raise _err("completion_codes must map completed/screened_out/technical_error to "
                       "codes of letters, digits, '_' or '-'")
        for i, outcome in enumerate(OUTCOME_CODES):
            shared = [o for o in OUTCOME_CODES[:i]
                      if o in codes and codes[o] == codes.get(outcome)]
            if shared:
                raise _err(f"completion_codes.{outcome} is the code of {shared[0]}: a "
                           f"participant who ends {outcome} would be paid as {shared[0]}; give "
                           "each outcome its own code, or none (Prolific and MTurk then ask "
                           "the participant to return the study)")
        return codes

    @field_validator("completion_url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith(("https://", "http://")):
            raise _err("completion_url must be an http(s) URL")
        return v

    @field_validator("participant_param")
    @classmethod
    def _param(cls, v: str | None) -> str | None:
        if v is not None and not PARAM_RE.match(v):
            raise _err("participant_param must be a query parameter name")
        return v

    @model_validator(mode="after")
    def _across_fields(self) -> StudySpec:
        mt = self.min_trials_per_session
        if mt is not None and mt > self.trials_per_session:
            raise _err(f"min_trials_per_session must be an integer in [1, "
                       f"{self.trials_per_session}], got {mt!r}")
        keys = {q.key for q in self.questions} | set(PRESET_QUESTIONS)
        extra = sorted(set(self.prompts) - keys)
        if extra:
            raise _err(f"prompts must map question keys (content, style or a declared "
                       f"question) to a question text, not {', '.join(extra)}")
        for i, q in enumerate(self.questions):
            if q.key not in PRESET_QUESTIONS and q.prompt is None and q.key not in self.prompts:
                raise _err(f"questions[{i}] ({q.key}) needs a prompt")
        if self.platform == "prolific" and "completed" not in self.completion_codes:
            raise _err("a prolific study needs completion_codes.completed (from Prolific)")
        pp = self.participant_param
        if pp is not None and self.cohorts is not None and pp == self.cohorts.param:
            raise _err("cohorts.param and participant_param must differ")
        from stylestudy.analysis.settings import Settings

        try:
            Settings.from_spec({"qc": self.qc, "analysis": self.analysis}, strict=True)
        except UserError as exc:
            raise _err(exc.message) from None
        return self

    def to_spec(self) -> dict[str, Any]:
        """The stored form: ``questions`` as keys, with each question's wording in
        ``prompts`` and its reference and catch rule in ``question_rules``."""
        spec = self.model_dump(mode="json")
        spec["title"] = self.title or self.slug
        prompts = dict(DEFAULT_PROMPTS)
        rules = {}
        for q in self.questions:
            base = PRESET_QUESTIONS.get(q.key, {})
            reference = q.reference or base["reference"]
            rules[q.key] = {"reference": reference, "catch": q.catch or base.get("catch")
                            or reference}
            if q.prompt is not None:
                prompts[q.key] = q.prompt
        spec["questions"] = [q.key for q in self.questions]
        spec["prompts"] = {**prompts, **self.prompts}
        spec["question_rules"] = rules
        return spec


#: every stored key's default (``title`` is the slug when not given)
DEFAULTS: dict[str, Any] = {
    k: v for k, v in StudySpec.model_construct(slug="", comparison_set="").to_spec().items()
    if k not in ("slug", "comparison_set")} | {"title": None}
MTURK_DEFAULTS: dict[str, Any] = MTurk().model_dump(mode="json")


def question_rules(spec: dict[str, Any]) -> dict[str, dict[str, str]]:
    """Each question's reference and catch rule; a spec stored before studies could
    declare questions asks only presets."""
    rules = spec.get("question_rules") or {}
    return {q: rules.get(q) or dict(PRESET_QUESTIONS[q]) for q in spec["questions"]}


def stored_spec(spec: dict[str, Any]) -> dict[str, Any]:
    """A study's stored spec with the defaults of keys added after it was stored (studies
    created by an earlier stylestudy); read new keys through this."""
    out = {**DEFAULTS, **spec, "mturk": {**MTURK_DEFAULTS, **(spec.get("mturk") or {})}}
    out["question_rules"] = question_rules(out)
    return out


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


def _where(loc: tuple) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else f".{part}" if out else str(part)
    return out


def _bounds(loc: tuple) -> str:
    """'>= lo' or 'in [lo, hi]' for the integer field at ``loc``."""
    model: Any = StudySpec
    field = None
    for part in loc:
        if isinstance(part, str) and hasattr(model, "model_fields") and part in \
                model.model_fields:
            field = model.model_fields[part]
            ann = field.annotation
            model = next((a for a in getattr(ann, "__args__", (ann,))
                          if isinstance(a, type) and issubclass(a, BaseModel)), ann)
    meta = list(getattr(field, "metadata", ()))
    for arg in get_args(getattr(field, "annotation", None)):  # Optional[Annotated[int, …]]
        meta += getattr(arg, "__metadata__", ())
    lo = next((m.ge for m in meta if isinstance(m, Ge)), None)
    hi = next((m.le for m in meta if isinstance(m, Le)), None)
    return f">= {lo}" if hi is None else f"in [{lo}, {hi}]"


def _message(exc: ValidationError) -> str:
    """The first error of ``exc`` as one line naming the field."""
    errors = exc.errors()
    unknown = [e["loc"][0] for e in errors if e["type"] == "extra_forbidden"
               and len(e["loc"]) == 1]
    if unknown:
        return f"unknown field(s) {', '.join(sorted(map(str, unknown)))}"
    nested = [e for e in errors if e["type"] == "extra_forbidden"]
    if nested and nested[0]["loc"][0] == "mturk":
        return (f"mturk must be a mapping of known fields (unknown: "
                f"{sorted(str(e['loc'][-1]) for e in nested if e['loc'][0] == 'mturk')})")
    if nested and nested[0]["loc"][0] == "questions":
        parent = nested[0]["loc"][:-1]
        names = sorted(str(e["loc"][-1]) for e in nested if e["loc"][:-1] == parent)
        return (f"{_where(parent)}: unknown field(s) {', '.join(names)} (a question has key, "
                "prompt, reference and catch)")
    e = next((e for e in errors if e["type"] == "missing"), errors[0])
    loc = tuple(p for p in e["loc"] if not (isinstance(p, str) and "[" in p))
    where, kind, given = _where(loc), e["type"], e.get("input")
    if kind == "spec":
        return e["ctx"]["msg"]
    if loc and loc[0] == "cohorts" and (len(loc) == 1 or kind in ("missing",
                                                                  "extra_forbidden")):
        return "cohorts must be a mapping with exactly the keys param and caps"
    if kind == "missing":
        return f"{where} is required" + (" (a string)" if len(loc) == 1 else "")
    if where in ("slug", "comparison_set"):
        return f"{where} is required (a string)"
    if loc and loc[0] == "cohorts":
        return f"{where} must be a query parameter name" if loc[-1] == "param" else \
            "cohorts.caps must map each cohort to its places (or null)"
    if where in ("qc", "analysis"):
        return f"{where} must be a mapping (see docs/analysis.md)"
    if where in ("catch_rate", "repeat_rate"):
        return f"{where} must be a number in [0, 0.5], got {given!r}"
    if where == "methods" or where.startswith("methods["):
        return "methods must be a list of at least two method labels"
    if where == "pairs" or where.startswith("pairs"):
        return "pairs must be 'all' or a list of [label, label] with two different labels"
    if where.startswith("min_viewport"):
        return "min_viewport must be [width, height] in CSS pixels"
    if where.startswith("completion_codes"):
        return ("completion_codes must map completed/screened_out/technical_error to codes "
                "of letters, digits, '_' or '-'")
    if where.startswith("prompts"):
        return "prompts must map question keys to a question text"
    if where == "mturk":
        return "mturk must be a mapping of known fields"
    if where == "questions" or kind == "model_type" and where.startswith("questions"):
        return ("questions must be a non-empty list of question keys (content, style) or "
                "mappings {key, prompt, reference, catch}")
    if kind.startswith("int") or kind in ("greater_than_equal", "less_than_equal"):
        return f"{where} must be an integer {_bounds(loc)}, got {given!r}"
    if kind.startswith("bool"):
        return f"{where} must be true or false"
    if kind.startswith("string"):
        return f"{where} must be a string"
    if kind == "literal_error":
        options = [o.strip().strip("'") for o in
                   e["ctx"]["expected"].replace(" or ", ", ").split(",")]
        return f"{where} must be one of {', '.join(options)}, got {given!r}"
    return f"{where}: {e['msg']}"


def validate_spec(raw: Any, source: str = "<spec>") -> dict[str, Any]:
    """Return the spec with defaults filled in; raise ``UserError`` on any problem."""
    if not isinstance(raw, dict):
        raise UserError(f"study spec {source}: must be a mapping of fields")
    try:
        model = StudySpec.model_validate(raw)
    except ValidationError as exc:
        raise UserError(f"study spec {source}: {_message(exc)}") from None
    return model.to_spec()
