"""The delivery's tables: the transactional outbox and one receipt row per attempt.

Revision ID: 0002_outbox
Revises: 0001_initial
Create Date: 2026-11-23
"""
import sqlalchemy as sa
from alembic import op

revision = '0002_outbox'
down_revision = '0001_initial'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('outbox',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('idempotency_key', sa.String(length=64), nullable=False),
    sa.Column('submission_id', sa.String(length=80), nullable=False),
    sa.Column('certificate_id', sa.String(length=80), nullable=False),
    sa.Column('replaces', sa.String(length=80), nullable=True),
    sa.Column('kommunkod', sa.String(length=8), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('document', sa.LargeBinary(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.Float(), nullable=False),
    sa.Column('lease_owner', sa.String(length=128), nullable=True),
    sa.Column('lease_until', sa.Float(), nullable=True),
    sa.Column('claim_token', sa.String(length=36), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('created_at', sa.Float(), nullable=False),
    sa.Column('updated_at', sa.Float(), nullable=False),
    sa.Column('delivered_at', sa.Float(), nullable=True),
    sa.Column('acknowledged_at', sa.Float(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outbox')),
    sa.UniqueConstraint('idempotency_key', name=op.f('uq_outbox_idempotency_key'))
    )
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.create_index('ix_outbox_claim', ['state', 'next_attempt_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_outbox_certificate_id'), ['certificate_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_outbox_kommunkod'), ['kommunkod'], unique=False)
        batch_op.create_index(batch_op.f('ix_outbox_submission_id'), ['submission_id'], unique=False)

    op.create_table('delivery_receipt',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('outbox_id', sa.Integer(), nullable=False),
    sa.Column('attempt', sa.Integer(), nullable=False),
    sa.Column('at', sa.Float(), nullable=False),
    sa.Column('outcome', sa.String(length=16), nullable=False),
    sa.Column('http_status', sa.Integer(), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('body', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['outbox_id'], ['outbox.id'], name=op.f('fk_delivery_receipt_outbox_id_outbox')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_delivery_receipt'))
    )
    with op.batch_alter_table('delivery_receipt', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_delivery_receipt_outbox_id'), ['outbox_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('delivery_receipt', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_delivery_receipt_outbox_id'))
    op.drop_table('delivery_receipt')
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_outbox_submission_id'))
        batch_op.drop_index(batch_op.f('ix_outbox_kommunkod'))
        batch_op.drop_index(batch_op.f('ix_outbox_certificate_id'))
        batch_op.drop_index('ix_outbox_claim')
    op.drop_table('outbox')
