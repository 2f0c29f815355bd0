"""Creating studies from a spec, and study state changes (open, pause, close)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session

from stylestudy.db.engine import get_engine, session_scope
from stylestudy.db.models import ComparisonSet, DesignCell, Study
from stylestudy.errors import UserError
from stylestudy.study_server.study.design import load_outputs, plan_cells
from stylestudy.study_server.study.lookup import study_or_fail
from stylestudy.study_server.study.scheduling import plan_counts
from stylestudy.study_server.study.spec import validate_spec

__all__ = ["create_study", "design_summary", "session_length", "set_max_participants",
           "set_study_state"]

#: allowed admin transitions of a study's state
STUDY_TRANSITIONS = {
    "open": ("draft", "paused"),
    "paused": ("open",),
    "closed": ("draft", "open", "paused"),
}


def create_study(spec: dict[str, Any], engine: Engine | None = None) -> Study:
    """Validate ``spec``, build the design cells and store the study (one transaction)."""
    spec = validate_spec(spec, source=spec.get("slug", "<spec>") if isinstance(spec, dict)
                         else "<spec>")
    engine = engine or get_engine()
    with session_scope(engine, write=True) as s:
        if s.scalar(select(Study.id).where(Study.slug == spec["slug"])) is not None:
            raise UserError(f"a study with slug {spec['slug']!r} already exists")
        outputs = load_outputs(s, spec["comparison_set"], spec["seed"])
        cells = plan_cells(s, spec, outputs)
        cset_id = s.scalar(select(ComparisonSet.id)
                           .where(ComparisonSet.name == spec["comparison_set"]))
        study = Study(slug=spec["slug"], title=spec["title"], comparison_set_id=cset_id,
                      platform=spec["platform"], state=spec["state"], spec=spec)
        s.add(study)
        s.flush()
        target = spec["judgments_per_cell"]
        s.add_all(DesignCell(
            study_id=study.id, question=c.question, kind=c.kind, content_asset_id=c.item[0],
            style_asset_id=c.item[1], reference_asset_id=c.reference.id, a_asset_id=c.a.id,
            b_asset_id=c.b.id, method_a_id=c.method_a.id if c.method_a else None,
            method_b_id=c.method_b.id if c.method_b else None, expected=c.expected,
            target=target if c.kind == "real" else 0, assigned=0, served=0, left_a=0)
            for c in cells)
    return study


def design_summary(study_id: int, engine: Engine | None = None) -> dict[str, int]:
    """Number of cells per (question, kind), e.g. ``{"content/real": 30, ...}``."""
    with session_scope(engine) as s:
        rows = s.execute(select(DesignCell.question, DesignCell.kind, func.count())
                         .where(DesignCell.study_id == study_id)
                         .group_by(DesignCell.question, DesignCell.kind)).all()
    return {f"{q}/{k}": n for q, k, n in sorted(rows)}


def session_length(s: Session, study: Study) -> tuple[int, int]:
    """(comparisons, practice trials) of a full session, as ``scheduling.allocate`` deals
    them: one real trial per item up to ``trials_per_session``, catch trials and practice
    trials up to the catch cells there are, repeats up to the real trials."""
    spec = study.spec
    n_catch = s.scalar(select(func.count()).select_from(DesignCell).where(
        DesignCell.study_id == study.id, DesignCell.kind == "catch"))
    items = s.scalar(select(func.count()).select_from(
        select(DesignCell.question, DesignCell.content_asset_id, DesignCell.style_asset_id)
        .where(DesignCell.study_id == study.id, DesignCell.kind == "real").distinct()
        .subquery()))
    plan = plan_counts(spec, bool(n_catch))
    real = min(plan.real, items)
    repeat = min(round(spec["repeat_rate"] * spec["trials_per_session"]), real)
    return real + min(plan.catch, n_catch) + repeat, min(plan.practice, n_catch)


def set_study_state(slug: str, state: str, engine: Engine | None = None) -> None:
    """Move a study to ``state`` by compare-and-set; ``UserError`` when not allowed."""
    if state not in STUDY_TRANSITIONS:
        raise UserError(f"unknown study state {state!r}")
    with session_scope(engine or get_engine(), write=True) as s:
        current = study_or_fail(s, slug).state
        if current not in STUDY_TRANSITIONS[state]:
            raise UserError(f"study {slug!r} is {current}; cannot move to {state}")
        done = s.execute(update(Study).where(Study.slug == slug, Study.state == current)
                         .values(state=state)).rowcount
        if done != 1:
            raise UserError(f"study {slug!r} changed state concurrently; try again")


def set_max_participants(slug: str, cap: int | None, engine: Engine | None = None,
                         cohort: str | None = None) -> None:
    """Set or lift (``None``) a study's ``max_participants``, or the cap of one of its
    ``cohort``s; the design is unchanged, so a running study may be given more places (say,
    after exclusions) or fewer."""
    if cap is not None and (isinstance(cap, bool) or not isinstance(cap, int) or cap < 1):
        raise UserError(f"max_participants must be a positive integer, got {cap!r}")
    with session_scope(engine or get_engine(), write=True) as s:
        study = study_or_fail(s, slug, lock=True)
        if cohort is None:
            study.spec = {**study.spec, "max_participants": cap}
            return
        cohorts = study.spec.get("cohorts")
        if not cohorts or cohort not in cohorts["caps"]:
            known = ", ".join(cohorts["caps"]) if cohorts else "none"
            raise UserError(f"study {slug!r} has no cohort {cohort!r} (cohorts: {known})")
        study.spec = {**study.spec, "cohorts": {
            **cohorts, "caps": {**cohorts["caps"], cohort: cap}}}
