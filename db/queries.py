"""Read queries over comparison sets and their generations, and a study's design rounds,
shared by the generator, the analysis and the study server."""

from __future__ import annotations

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from stylestudy.db.engine import get_engine, session_scope
from stylestudy.db.models import ComparisonSet, ComparisonSetMember, DesignRound, Generation
from stylestudy.db.states import GenerationState
from stylestudy.errors import UserError

__all__ = ["comparison_set", "design_rounds", "failures", "set_generations", "status_of"]


def comparison_set(session: Session, set_name: str) -> ComparisonSet:
    """The comparison set named ``set_name``; a user error when there is none."""
    cset = session.scalar(select(ComparisonSet).where(ComparisonSet.name == set_name))
    if cset is None:
        raise UserError(f"no comparison set named {set_name!r}")
    return cset


def set_generations(set_name: str, session: Session) -> list[Generation]:
    """The generations of comparison set ``set_name``, by id."""
    cset = comparison_set(session, set_name)
    return list(session.scalars(
        select(Generation)
        .join(ComparisonSetMember, ComparisonSetMember.generation_id == Generation.id)
        .where(ComparisonSetMember.set_id == cset.id).order_by(Generation.id)))


def status_of(ids: list[int], engine: Engine | None = None) -> dict[str, int]:
    """How many of these generations are in each status now."""
    engine = engine or get_engine()
    counts = {s.value: 0 for s in GenerationState}
    with session_scope(engine) as session:
        for status in session.scalars(select(Generation.status)
                                      .where(Generation.id.in_(ids))):
            counts[status] += 1
    return counts


def failures(set_name: str, engine: Engine | None = None) -> list[tuple[str, str, str, str]]:
    """(method label, content, style, error) for every failed generation of a set."""
    engine = engine or get_engine()
    with session_scope(engine) as session:
        return [(g.method.label, g.content.source_name or g.content.sha256[:12],
                 g.style.source_name or g.style.sha256[:12], g.error or "")
                for g in set_generations(set_name, session)
                if g.status == GenerationState.FAILED]


def design_rounds(session: Session, study_id: int) -> list[DesignRound]:
    """A study's rounds of active sampling, first first."""
    return list(session.scalars(select(DesignRound).where(DesignRound.study_id == study_id)
                                .order_by(DesignRound.number)))
