"""session.client_hash (open sessions per client address) and admin_login (admin logins
held on the server, so that logout ends them)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 14:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('session', schema=None) as batch_op:
        batch_op.add_column(sa.Column('client_hash', sa.String(length=32), nullable=True))
    op.create_table(
        'admin_login',
        sa.Column('token_hash', sa.String(length=64), nullable=False),
        sa.Column('admin_user_id', sa.Integer(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['admin_user_id'], ['admin_user.id'], ),
        sa.PrimaryKeyConstraint('token_hash'))
    op.create_index('ix_admin_login_admin_user_id', 'admin_login', ['admin_user_id'])


def downgrade() -> None:
    # nothing a participant gave is lost: the address hashes only serve the open-session
    # limit (lifted for the sessions still open) and the admin logins are not study data
    # (every admin logs in again)
    op.drop_index('ix_admin_login_admin_user_id', table_name='admin_login')
    op.drop_table('admin_login')
    # ALTER TABLE … DROP COLUMN (SQLite ≥ 3.35), as 0006 does
    with op.batch_alter_table('session', schema=None, recreate='never') as batch_op:
        batch_op.drop_column('client_hash')
