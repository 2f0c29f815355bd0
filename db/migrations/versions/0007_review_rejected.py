"""review.decision gains 'rejected': an explicit admin rejection (failed attention checks)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 09:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def _decisions(*names: str) -> None:
    with op.batch_alter_table('review', schema=None) as batch_op:
        batch_op.drop_constraint('review_decision', type_='check')
        batch_op.create_check_constraint('review_decision', f"decision IN {names}")


def upgrade() -> None:
    _decisions('approved', 'screened_out', 'rejected')


def downgrade() -> None:
    # review decisions are payment records: refuse while any is a rejection
    n = op.get_bind().execute(
        sa.text("SELECT count(*) FROM review WHERE decision = 'rejected'")).scalar()
    if n:
        raise RuntimeError(f"{n} review(s) are rejections, which revision 0006 cannot "
                           "store; export them before downgrading")
    _decisions('approved', 'screened_out')
