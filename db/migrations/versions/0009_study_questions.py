"""design_cell.question takes any question a study spec declares (key of at most 16
lowercase letters, digits or '_'), not only content and style: the check is dropped

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 18:00:00
"""

import re

import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

CHECK = "CONSTRAINT cell_question CHECK (question IN ('content', 'style'))"


def _sqlite_table_sql(change) -> None:
    """Edit design_cell's CREATE TABLE text in place: SQLite's documented procedure for
    removing a CHECK constraint (sqlite.org/lang_altertable.html, "other kinds of table
    schema changes"). A rebuild (copy, drop, rename) cannot run here: trial rows point at
    the cells and foreign keys cannot be switched off inside the migration's transaction."""
    bind = op.get_bind()
    where = "type = 'table' AND name = 'design_cell'"
    sql = bind.exec_driver_sql(f"SELECT sql FROM sqlite_master WHERE {where}").scalar()
    new = change(sql)
    if new == sql:
        raise RuntimeError("design_cell's schema is not the one this revision expects")
    version = bind.exec_driver_sql("PRAGMA schema_version").scalar_one()
    bind.exec_driver_sql("PRAGMA writable_schema = ON")
    bind.exec_driver_sql(f"UPDATE sqlite_master SET sql = ? WHERE {where}", (new,))
    bind.exec_driver_sql(f"PRAGMA schema_version = {int(version) + 1}")
    bind.exec_driver_sql("PRAGMA writable_schema = OFF")


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _sqlite_table_sql(lambda sql: re.sub(r",\s*" + re.escape(CHECK), "", sql))
    else:
        op.drop_constraint('cell_question', 'design_cell', type_='check')


def downgrade() -> None:
    # design cells hold study data: refuse while any asks a question 0008 cannot store
    n = op.get_bind().execute(sa.text(
        "SELECT count(*) FROM design_cell WHERE question NOT IN ('content', 'style')")).scalar()
    if n:
        raise RuntimeError(f"{n} design cell(s) ask a question other than content and style, "
                           "which revision 0008 cannot store; export those studies before "
                           "downgrading")
    if op.get_bind().dialect.name == "sqlite":
        # every row satisfies the check (counted above), so adding it back is safe too
        _sqlite_table_sql(lambda sql: sql.replace("PRIMARY KEY (id), ",
                                                  f"PRIMARY KEY (id), \n\t{CHECK}, ", 1))
    else:
        op.create_check_constraint('cell_question', 'design_cell',
                                   "question IN ('content', 'style')")
