"""Recipients: trust anchors for the recipient's server certificate (push over HTTPS to a private CA).

Revision ID: 0003_recipient_ca_bundle
Revises: 0002_outbox
Create Date: 2026-11-23
"""
import sqlalchemy as sa
from alembic import op

revision = '0003_recipient_ca_bundle'
down_revision = '0002_outbox'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('recipients') as batch:
        batch.add_column(sa.Column('ca_bundle_path', sa.String(length=500), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('recipients') as batch:
        batch.drop_column('ca_bundle_path')
