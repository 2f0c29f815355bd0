"""Alembic environment: runs on the connection handed over by db.migrate."""

from alembic import context
from sqlalchemy import create_engine

from stylestudy.db.models import Base

config = context.config
target_metadata = Base.metadata


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is None:  # the alembic CLI, e.g. for `alembic revision --autogenerate`
        url = config.get_main_option("sqlalchemy.url")
        if url is None:
            raise SystemExit("alembic: set sqlalchemy.url in the ini file")
        engine = create_engine(url)
        with engine.begin() as conn:
            _migrate(conn)
        return
    _migrate(connection)


def _migrate(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


run()
