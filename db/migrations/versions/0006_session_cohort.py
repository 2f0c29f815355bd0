"""session.cohort: the recruitment group a session came in through (caps by criteria)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 08:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('session', schema=None) as batch_op:
        batch_op.add_column(sa.Column('cohort', sa.String(length=64), nullable=True))


def downgrade() -> None:
    # participant data is never dropped: refuse while any session carries a cohort
    n = op.get_bind().execute(
        sa.text("SELECT count(*) FROM session WHERE cohort IS NOT NULL")).scalar()
    if n:
        raise RuntimeError(f"{n} session(s) carry a cohort, which revision 0005 cannot "
                           "store; export them before downgrading")
    # ALTER TABLE … DROP COLUMN (SQLite ≥ 3.35): recreating the table, as batch mode
    # would, breaks the foreign keys of the tables that point at session
    with op.batch_alter_table('session', schema=None, recreate='never') as batch_op:
        batch_op.drop_column('cohort')
