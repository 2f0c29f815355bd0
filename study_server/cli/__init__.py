"""The study server's ``stylestudy`` commands, one module per command group."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from stylestudy.db.models import Study

__all__ = ["get_study"]


def get_study(slug: str) -> Study:
    """The study ``slug`` (detached), or a UserError naming it."""
    from stylestudy.db.engine import session_scope
    from stylestudy.study_server.study.lookup import study_or_fail

    with session_scope() as s:
        return study_or_fail(s, slug)
