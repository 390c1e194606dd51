"""The service's tables: clients, recipients, submissions and their status, consents,
consent decisions and the hash-chained audit log (with its head row).

Revision ID: 0001_initial
Revises:
Create Date: 2026-11-23
"""
import sqlalchemy as sa
from alembic import op

revision = '0001_initial'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('audit_head',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_head'))
    )
    op.create_table('audit_log',
    sa.Column('seq', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('at', sa.String(length=32), nullable=False),
    sa.Column('actor', sa.String(length=200), nullable=False),
    sa.Column('end_user', sa.String(length=200), nullable=True),
    sa.Column('action', sa.String(length=60), nullable=False),
    sa.Column('patient', sa.String(length=20), nullable=True),
    sa.Column('certificate', sa.String(length=200), nullable=True),
    sa.Column('outcome', sa.String(length=40), nullable=False),
    sa.Column('purpose', sa.String(length=60), nullable=True),
    sa.Column('prev_hash', sa.String(length=64), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_audit_log'))
    )
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_log_patient'), ['patient'], unique=False)

    op.create_table('clients',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('role', sa.String(length=20), nullable=False),
    sa.Column('care_units', sa.JSON(), nullable=False),
    sa.Column('kommunkod', sa.String(length=4), nullable=True),
    sa.Column('token_prefix', sa.String(length=16), nullable=True),
    sa.Column('token_hash', sa.String(length=64), nullable=True),
    sa.Column('cert_sha256', sa.String(length=64), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.String(length=32), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_clients')),
    sa.UniqueConstraint('cert_sha256', name=op.f('uq_clients_cert_sha256')),
    sa.UniqueConstraint('name', name=op.f('uq_clients_name')),
    sa.UniqueConstraint('token_prefix', name=op.f('uq_clients_token_prefix'))
    )
    op.create_table('recipients',
    sa.Column('kommunkod', sa.String(length=4), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('organisationsnummer', sa.String(length=10), nullable=True),
    sa.Column('delivery_mode', sa.String(length=10), nullable=False),
    sa.Column('endpoint_url', sa.String(length=500), nullable=True),
    sa.Column('mtls_cert_path', sa.String(length=500), nullable=True),
    sa.Column('mtls_key_path', sa.String(length=500), nullable=True),
    sa.Column('max_attempts', sa.Integer(), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('kommunkod', name=op.f('pk_recipients'))
    )
    op.create_table('submissions',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('certificate_id', sa.String(length=200), nullable=True),
    sa.Column('accepted_key', sa.String(length=200), nullable=True),
    sa.Column('content_hash', sa.String(length=64), nullable=False),
    sa.Column('event', sa.String(length=40), nullable=True),
    sa.Column('replaces', sa.String(length=200), nullable=True),
    sa.Column('kommunkod', sa.String(length=4), nullable=True),
    sa.Column('care_unit_hsa', sa.String(length=64), nullable=True),
    sa.Column('patient_system', sa.String(length=100), nullable=True),
    sa.Column('patient_value', sa.String(length=20), nullable=True),
    sa.Column('source_format', sa.String(length=40), nullable=False),
    sa.Column('raw', sa.LargeBinary(), nullable=False),
    sa.Column('bundle', sa.JSON(), nullable=True),
    sa.Column('status', sa.String(length=30), nullable=False),
    sa.Column('response_status', sa.Integer(), nullable=False),
    sa.Column('response', sa.JSON(), nullable=True),
    sa.Column('client_id', sa.String(length=36), nullable=True),
    sa.Column('received_at', sa.String(length=32), nullable=False),
    sa.ForeignKeyConstraint(['client_id'], ['clients.id'], name=op.f('fk_submissions_client_id_clients')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_submissions')),
    sa.UniqueConstraint('accepted_key', name=op.f('uq_submissions_accepted_key'))
    )
    with op.batch_alter_table('submissions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_submissions_certificate_id'), ['certificate_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_submissions_kommunkod'), ['kommunkod'], unique=False)
        batch_op.create_index(batch_op.f('ix_submissions_patient_value'), ['patient_value'], unique=False)

    op.create_table('consents',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('patient_system', sa.String(length=100), nullable=False),
    sa.Column('patient_value', sa.String(length=20), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('content_hash', sa.String(length=64), nullable=False),
    sa.Column('resource', sa.JSON(), nullable=False),
    sa.Column('client_id', sa.String(length=36), nullable=True),
    sa.Column('submission_id', sa.String(length=36), nullable=True),
    sa.Column('created_at', sa.String(length=32), nullable=False),
    sa.Column('updated_at', sa.String(length=32), nullable=False),
    sa.ForeignKeyConstraint(['client_id'], ['clients.id'], name=op.f('fk_consents_client_id_clients')),
    sa.ForeignKeyConstraint(['submission_id'], ['submissions.id'], name=op.f('fk_consents_submission_id_submissions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_consents'))
    )
    with op.batch_alter_table('consents', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_consents_content_hash'), ['content_hash'], unique=False)
        batch_op.create_index(batch_op.f('ix_consents_patient_value'), ['patient_value'], unique=False)

    op.create_table('submission_status',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('submission_id', sa.String(length=36), nullable=False),
    sa.Column('status', sa.String(length=30), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('reason_id', sa.String(length=80), nullable=True),
    sa.Column('at', sa.String(length=32), nullable=False),
    sa.ForeignKeyConstraint(['submission_id'], ['submissions.id'], name=op.f('fk_submission_status_submission_id_submissions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_submission_status'))
    )
    with op.batch_alter_table('submission_status', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_submission_status_submission_id'), ['submission_id'], unique=False)

    op.create_table('consent_decisions',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('submission_id', sa.String(length=36), nullable=False),
    sa.Column('decision', sa.String(length=20), nullable=False),
    sa.Column('reason_id', sa.String(length=80), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('consent_id', sa.String(length=64), nullable=True),
    sa.Column('decided_at', sa.String(length=32), nullable=False),
    sa.ForeignKeyConstraint(['consent_id'], ['consents.id'], name=op.f('fk_consent_decisions_consent_id_consents')),
    sa.ForeignKeyConstraint(['submission_id'], ['submissions.id'], name=op.f('fk_consent_decisions_submission_id_submissions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_consent_decisions'))
    )
    with op.batch_alter_table('consent_decisions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_consent_decisions_submission_id'), ['submission_id'], unique=False)

    # The chain's head exists from the start, so appends only ever lock and update it.
    head = sa.table("audit_head", sa.column("id", sa.Integer), sa.column("seq", sa.Integer),
                    sa.column("hash", sa.String))
    op.bulk_insert(head, [{"id": 1, "seq": 0, "hash": "0" * 64}])


def downgrade() -> None:
    with op.batch_alter_table('consent_decisions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_consent_decisions_submission_id'))

    op.drop_table('consent_decisions')
    with op.batch_alter_table('submission_status', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_submission_status_submission_id'))

    op.drop_table('submission_status')
    with op.batch_alter_table('consents', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_consents_patient_value'))
        batch_op.drop_index(batch_op.f('ix_consents_content_hash'))

    op.drop_table('consents')
    with op.batch_alter_table('submissions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_submissions_patient_value'))
        batch_op.drop_index(batch_op.f('ix_submissions_kommunkod'))
        batch_op.drop_index(batch_op.f('ix_submissions_certificate_id'))

    op.drop_table('submissions')
    op.drop_table('recipients')
    op.drop_table('clients')
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_log_patient'))

    op.drop_table('audit_log')
    op.drop_table('audit_head')
