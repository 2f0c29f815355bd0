"""relaxed forced choice: a response may be "not sure" (chose_a NULL)

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 23:20:00
"""

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('response', schema=None) as batch_op:
        batch_op.alter_column('chose_a', existing_type=sa.Boolean(), nullable=True)


def downgrade() -> None:
    # participant data is never dropped: refuse while "not sure" responses exist
    n = op.get_bind().execute(sa.text("SELECT count(*) FROM response WHERE chose_a IS NULL")
                              ).scalar()
    if n:
        raise RuntimeError(f"{n} 'not sure' response(s) cannot be stored before revision "
                           "0003; export them before downgrading")
    with op.batch_alter_table('response', schema=None) as batch_op:
        batch_op.alter_column('chose_a', existing_type=sa.Boolean(), nullable=False)
