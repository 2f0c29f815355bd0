"""Database: SQLAlchemy 2.0 models, engine and sessions, Alembic migrations, asset store."""

from db.engine import get_engine, make_engine, session_scope
from db.models import Base

__all__ = ["Base", "get_engine", "make_engine", "session_scope"]
