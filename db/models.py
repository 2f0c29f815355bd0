"""SQLAlchemy 2.0 models: assets, methods, generations, studies, sessions, trials, responses."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from stylestudy.db.states import GenerationState, SessionState

ASSET_ROLES = ("content", "style", "output", "guide", "catch", "example")
GENERATION_STATES = tuple(s.value for s in GenerationState)
STUDY_STATES = ("draft", "open", "paused", "closed")
SESSION_STATES = tuple(s.value for s in SessionState)
OUTCOMES = ("completed", "screened_out", "technical_error")
CELL_KINDS = ("real", "catch")
TRIAL_KINDS = ("real", "catch", "repeat", "practice")
REVIEW_DECISIONS = ("approved", "screened_out", "rejected")
#: a bonus: in the ledger, set up on the platform, payment asked for (outcome unknown until
#: it answers), paid
BONUS_STATES = ("planned", "set_up", "paying", "paid")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class Asset(Base):
    """An image stored once by SHA-256; ``token`` is its only participant-facing name."""

    __tablename__ = "asset"

    id: Mapped[int] = mapped_column(primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    token: Mapped[str] = mapped_column(String(43), unique=True)
    media_type: Mapped[str] = mapped_column(String(32))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    path: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    source_name: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Method(Base):
    """A method at one version with one parameter set: a condition of a study."""

    __tablename__ = "method"
    __table_args__ = (UniqueConstraint("name", "version", "params_hash"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    version: Mapped[str] = mapped_column(String(32))
    label: Mapped[str] = mapped_column(String(128), unique=True)
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    params_hash: Mapped[str] = mapped_column(String(64))
    weights: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Generation(Base):
    """One requested output: unique on (method, inputs, seed); the runner's unit of work."""

    __tablename__ = "generation"
    __table_args__ = (
        UniqueConstraint("method_id", "inputs_key", "seed"),
        CheckConstraint(f"status IN {GENERATION_STATES}", name="generation_status"),
        Index("ix_generation_status", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    method_id: Mapped[int] = mapped_column(ForeignKey("method.id"))
    content_asset_id: Mapped[int] = mapped_column(ForeignKey("asset.id"))
    style_asset_id: Mapped[int] = mapped_column(ForeignKey("asset.id"))
    inputs_key: Mapped[str] = mapped_column(String(64))
    inputs: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    size: Mapped[int | None] = mapped_column(Integer)
    seed: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16), default=GenerationState.PENDING.value)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    claimed_until: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    error: Mapped[str | None] = mapped_column(Text)
    output_asset_id: Mapped[int | None] = mapped_column(ForeignKey("asset.id"))
    device: Mapped[str | None] = mapped_column(String(64))
    wall_time_s: Mapped[float | None] = mapped_column(Float)
    peak_memory_bytes: Mapped[int | None] = mapped_column(BigInteger)
    provenance: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))

    method: Mapped[Method] = relationship()
    content: Mapped[Asset] = relationship(foreign_keys=[content_asset_id])
    style: Mapped[Asset] = relationship(foreign_keys=[style_asset_id])
    output: Mapped[Asset | None] = relationship(foreign_keys=[output_asset_id])


class ComparisonSet(Base):
    """A named set of generations over the same inputs, defined by a manifest."""

    __tablename__ = "comparison_set"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    manifest: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ComparisonSetMember(Base):
    __tablename__ = "comparison_set_member"

    set_id: Mapped[int] = mapped_column(ForeignKey("comparison_set.id"), primary_key=True)
    generation_id: Mapped[int] = mapped_column(ForeignKey("generation.id"), primary_key=True)


class Study(Base):
    """A 2AFC study over a comparison set; ``spec`` is the validated study YAML."""

    __tablename__ = "study"
    __table_args__ = (CheckConstraint(f"state IN {STUDY_STATES}", name="study_state"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[str] = mapped_column(String(255))
    comparison_set_id: Mapped[int] = mapped_column(ForeignKey("comparison_set.id"))
    platform: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16), default="draft")
    spec: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    design_version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class DesignCell(Base):
    """(study, question, item, option A, option B) with a target judgment count.

    ``question`` is a key of the study's questions (content, style or one its spec
    declares). Options are assets; for real cells they are outputs of ``method_a`` and
    ``method_b``.
    Catch cells carry the expected answer (``expected`` = "a" or "b").
    ``assigned`` counts trials handed out and not released (answered or leased).
    """

    __tablename__ = "design_cell"
    __table_args__ = (
        UniqueConstraint("study_id", "question", "kind", "reference_asset_id",
                         "a_asset_id", "b_asset_id"),
        CheckConstraint(f"kind IN {CELL_KINDS}", name="cell_kind"),
        Index("ix_cell_alloc", "study_id", "kind", "assigned"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("study.id"))
    question: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(16), default="real")
    content_asset_id: Mapped[int] = mapped_column(ForeignKey("asset.id"))
    style_asset_id: Mapped[int] = mapped_column(ForeignKey("asset.id"))
    reference_asset_id: Mapped[int] = mapped_column(ForeignKey("asset.id"))
    a_asset_id: Mapped[int] = mapped_column(ForeignKey("asset.id"))
    b_asset_id: Mapped[int] = mapped_column(ForeignKey("asset.id"))
    method_a_id: Mapped[int | None] = mapped_column(ForeignKey("method.id"))
    method_b_id: Mapped[int | None] = mapped_column(ForeignKey("method.id"))
    expected: Mapped[str | None] = mapped_column(String(1))
    target: Mapped[int] = mapped_column(Integer)
    assigned: Mapped[int] = mapped_column(Integer, default=0)
    served: Mapped[int] = mapped_column(Integer, default=0)
    left_a: Mapped[int] = mapped_column(Integer, default=0)

    method_a: Mapped[Method | None] = relationship(foreign_keys=[method_a_id])
    method_b: Mapped[Method | None] = relationship(foreign_keys=[method_b_id])


class Participant(Base):
    """A platform identity in one study, stored only as a keyed hash."""

    __tablename__ = "participant"
    __table_args__ = (UniqueConstraint("study_id", "pid_hash", "attempt"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("study.id"))
    platform: Mapped[str] = mapped_column(String(16))
    pid_hash: Mapped[str] = mapped_column(String(64))
    attempt: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class PaymentIdentity(Base):
    """Restricted table: raw platform IDs, kept only where payment needs them."""

    __tablename__ = "payment_identity"

    participant_id: Mapped[int] = mapped_column(ForeignKey("participant.id"), primary_key=True)
    raw: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class StudySession(Base):
    """One attempt at a study; ``state`` changes only by compare-and-set."""

    __tablename__ = "session"
    __table_args__ = (
        CheckConstraint(f"state IN {SESSION_STATES}", name="session_state"),
        Index("ix_session_lease", "study_id", "state", "lease_expires_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("study.id"))
    participant_id: Mapped[int] = mapped_column(ForeignKey("participant.id"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    state: Mapped[str] = mapped_column(String(16), default=SessionState.STARTED.value)
    outcome: Mapped[str | None] = mapped_column(String(16))
    seed: Mapped[int] = mapped_column(BigInteger)
    lease_expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    user_agent: Mapped[str | None] = mapped_column(String(512))
    viewport: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    platform_data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    cohort: Mapped[str | None] = mapped_column(String(64))  # the spec's ``cohorts`` group
    #: keyed hash of the client address that started it (open sessions per address)
    client_hash: Mapped[str | None] = mapped_column(String(32))
    feedback: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    completed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class Trial(Base):
    """A design cell shown at one position of one session, with its left option recorded."""

    __tablename__ = "trial"
    __table_args__ = (
        UniqueConstraint("session_id", "position"),
        Index("ix_trial_cell", "cell_id"),
        CheckConstraint(f"kind IN {TRIAL_KINDS}", name="trial_kind"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("session.id"))
    cell_id: Mapped[int] = mapped_column(ForeignKey("design_cell.id"))
    position: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16), default="real")
    left_is_a: Mapped[bool] = mapped_column(Boolean)
    repeat_of_id: Mapped[int | None] = mapped_column(ForeignKey("trial.id"))
    shown_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))

    cell: Mapped[DesignCell] = relationship()


class Response(Base):
    """One judgment; append-only, idempotent by the client's UUID."""

    __tablename__ = "response"

    id: Mapped[int] = mapped_column(primary_key=True)
    trial_id: Mapped[int] = mapped_column(ForeignKey("trial.id"), unique=True)
    response_id: Mapped[str] = mapped_column(String(36), unique=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("session.id"), index=True)
    chose_a: Mapped[bool | None] = mapped_column(Boolean)  # None: "not sure"
    chosen_method_id: Mapped[int | None] = mapped_column(ForeignKey("method.id"))
    rt_ms: Mapped[float | None] = mapped_column(Float)
    client_time: Mapped[str | None] = mapped_column(String(40))
    received_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, server_default=func.now()
    )


class SessionEvent(Base):
    """Client events worth keeping: preload failures, focus/blur, resizes.

    A client event carries its own UUID (``event_id``), so a retried delivery is stored
    once; server-side events (reloads) have none.
    """

    __tablename__ = "session_event"
    __table_args__ = (UniqueConstraint("session_id", "event_id", name="uq_session_event_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("session.id"), index=True)
    event_id: Mapped[str | None] = mapped_column(String(36))
    kind: Mapped[str] = mapped_column(String(32))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    client_time: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class AdminUser(Base):
    """An admin login; only a salted password hash is stored."""

    __tablename__ = "admin_user"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class AdminLogin(Base):
    """One admin login, held on the server: its cookie carries a random token, whose hash
    is the key; logout (or a new password) deletes the row, so no copy of the cookie opens
    the admin after it."""

    __tablename__ = "admin_login"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    admin_user_id: Mapped[int] = mapped_column(ForeignKey("admin_user.id"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class BlockedIdentity(Base):
    """A keyed hash of a platform ID barred from every study (cross-study blocklist)."""

    __tablename__ = "blocked_identity"

    pid_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    reason: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Review(Base):
    """Admin payment bookkeeping for one session (approved / screened out); not a state."""

    __tablename__ = "review"
    __table_args__ = (CheckConstraint(f"decision IN {REVIEW_DECISIONS}", name="review_decision"),)

    session_id: Mapped[int] = mapped_column(ForeignKey("session.id"), primary_key=True)
    decision: Mapped[str] = mapped_column(String(16))
    admin: Mapped[str] = mapped_column(String(64))
    decided_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Bonus(Base):
    """One bonus for one session and reason: a ledger row written before any payment call,
    so that no bonus is paid twice (Prolific's pay call is not idempotent)."""

    __tablename__ = "bonus"
    __table_args__ = (UniqueConstraint("session_id", "reason", name="uq_bonus_session_reason"),
                      CheckConstraint(f"state IN {BONUS_STATES}", name="bonus_state"),
                      CheckConstraint("amount_cents > 0", name="bonus_positive"))

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("session.id"), index=True)
    reason: Mapped[str] = mapped_column(String(64))
    amount_cents: Mapped[int] = mapped_column(Integer)  # in the platform study's currency
    submission: Mapped[str] = mapped_column(String(64))  # the platform's submission ID
    platform_study: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16), default="planned")
    bulk_id: Mapped[str | None] = mapped_column(String(64), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    paid_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class DesignRound(Base):
    """One round of active sampling (ASAP): the targets it raised and how it chose them."""

    __tablename__ = "design_round"
    __table_args__ = (UniqueConstraint("study_id", "number", name="uq_design_round_number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("study.id"))
    number: Mapped[int] = mapped_column(Integer)  # 1, 2, … per study
    settings: Mapped[dict[str, Any]] = mapped_column(JSON)  # algorithm, seed, per-pair step
    judgments: Mapped[int] = mapped_column(Integer)  # judgments the choice was based on
    cells: Mapped[list[int]] = mapped_column(JSON)  # design cells whose target rose
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
