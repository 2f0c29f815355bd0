"""client event ids: a retried event is stored once

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 22:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('session_event', schema=None) as batch_op:
        batch_op.add_column(sa.Column('event_id', sa.String(length=36), nullable=True))
        batch_op.add_column(sa.Column('client_time', sa.String(length=40), nullable=True))
        batch_op.create_unique_constraint('uq_session_event_id', ['session_id', 'event_id'])


def downgrade() -> None:
    with op.batch_alter_table('session_event', schema=None) as batch_op:
        batch_op.drop_constraint('uq_session_event_id', type_='unique')
        batch_op.drop_column('client_time')
        batch_op.drop_column('event_id')
