"""`stylestudy db`: schema migrations and database information."""

from __future__ import annotations

import click

from stylestudy.db.engine import make_engine
from stylestudy.db.migrate import current_revision, head_revision, upgrade


@click.group("db")
def db_group() -> None:
    """Database schema and connection."""


@db_group.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def upgrade_cmd(revision: str) -> None:
    """Apply migrations (also done automatically on first use)."""
    engine = make_engine()
    upgrade(engine, revision)
    click.echo(f"database at revision {current_revision(engine)}")


@db_group.command("info")
def info_cmd() -> None:
    """Show the database URL (password hidden) and schema revision."""
    engine = make_engine()
    click.echo(f"url:      {engine.url.render_as_string(hide_password=True)}")
    click.echo(f"revision: {current_revision(engine) or 'empty'} (head {head_revision(engine)})")


commands = [db_group]
