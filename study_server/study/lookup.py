"""A study by its slug: ``study_or_fail`` for commands (a ``UserError``), ``study_or_404`` for
requests (an ``ApiError`` 404, JSON under ``/api/``)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from stylestudy.db.models import Study
from stylestudy.errors import UserError
from stylestudy.study_server.errors import ApiError

__all__ = ["find_study", "study_or_404", "study_or_fail"]


def find_study(s: Session, slug: str, *, lock: bool = False) -> Study | None:
    """The study ``slug`` or None; ``lock`` holds its row until the transaction ends."""
    q = select(Study).where(Study.slug == slug)
    return s.scalar(q.with_for_update() if lock else q)


def study_or_fail(s: Session, slug: str, *, lock: bool = False) -> Study:
    """The study ``slug``, or a UserError naming it."""
    study = find_study(s, slug, lock=lock)
    if study is None:
        raise UserError(f"no study {slug!r}")
    return study


def study_or_404(s: Session, slug: str) -> Study:
    """The study ``slug``, or a 404 ``no_study``."""
    study = find_study(s, slug)
    if study is None:
        raise ApiError(404, "no_study", "no such study")
    return study
