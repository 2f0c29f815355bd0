"""design_round: rounds of active sampling (ASAP) and the targets each raised

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 08:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'design_round',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('study_id', sa.Integer(), nullable=False),
        sa.Column('number', sa.Integer(), nullable=False),
        sa.Column('settings', sa.JSON(), nullable=False),
        sa.Column('judgments', sa.Integer(), nullable=False),
        sa.Column('cells', sa.JSON(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['study_id'], ['study.id'], ),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('study_id', 'number', name='uq_design_round_number'))


def downgrade() -> None:
    # the record of how targets were raised is provenance: refuse while it holds any
    n = op.get_bind().execute(sa.text("SELECT count(*) FROM design_round")).scalar()
    if n:
        raise RuntimeError(f"design_round holds {n} round(s), which revision 0004 cannot "
                           "store; export them before downgrading")
    op.drop_table('design_round')
