"""design_cell.question takes any question a study spec declares (key of at most 16
lowercase letters, digits or '_'), not only content and style: the check is dropped

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 18:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('design_cell', schema=None) as batch_op:
        batch_op.drop_constraint('cell_question', type_='check')


def downgrade() -> None:
    # design cells hold study data: refuse while any asks a question 0008 cannot store
    n = op.get_bind().execute(sa.text(
        "SELECT count(*) FROM design_cell WHERE question NOT IN ('content', 'style')")).scalar()
    if n:
        raise RuntimeError(f"{n} design cell(s) ask a question other than content and style, "
                           "which revision 0008 cannot store; export those studies before "
                           "downgrading")
    with op.batch_alter_table('design_cell', schema=None) as batch_op:
        batch_op.create_check_constraint('cell_question', "question IN ('content', 'style')")
