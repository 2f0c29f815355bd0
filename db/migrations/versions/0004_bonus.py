"""bonus ledger: one row per session and reason, written before any payment call

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03 04:55:00
"""

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'bonus',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('session_id', sa.Integer(), nullable=False),
        sa.Column('reason', sa.String(length=64), nullable=False),
        sa.Column('amount_cents', sa.Integer(), nullable=False),
        sa.Column('submission', sa.String(length=64), nullable=False),
        sa.Column('platform_study', sa.String(length=64), nullable=False),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.Column('bulk_id', sa.String(length=64), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('paid_at', sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("state IN ('planned', 'set_up', 'paying', 'paid')",
                           name='bonus_state'),
        sa.CheckConstraint('amount_cents > 0', name='bonus_positive'),
        sa.ForeignKeyConstraint(['session_id'], ['session.id'], ),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('session_id', 'reason', name='uq_bonus_session_reason'))
    with op.batch_alter_table('bonus', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_bonus_bulk_id'), ['bulk_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_bonus_session_id'), ['session_id'], unique=False)


def downgrade() -> None:
    # payment records are never dropped: refuse while the ledger holds any
    n = op.get_bind().execute(sa.text("SELECT count(*) FROM bonus")).scalar()
    if n:
        raise RuntimeError(f"the bonus ledger holds {n} row(s), which revision 0003 cannot "
                           "store; export them before downgrading")
    with op.batch_alter_table('bonus', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_bonus_session_id'))
        batch_op.drop_index(batch_op.f('ix_bonus_bulk_id'))
    op.drop_table('bonus')
