"""Database: SQLAlchemy 2.0 models, engine and sessions, Alembic migrations, asset store."""

from stylestudy.db.engine import get_engine, make_engine, session_scope
from stylestudy.db.models import Base

__all__ = ["Base", "get_engine", "make_engine", "session_scope"]
