"""A certificate is known by its issuing care unit and its id together (issue 13): the accepted key
carries the care unit, and every outbox message records the care unit of its certificate.

Revision ID: 0005_issuer_scope
Revises: 0004_stats
Create Date: 2026-12-03
"""
import hashlib

import sqlalchemy as sa
from alembic import op

revision = '0005_issuer_scope'
down_revision = '0004_stats'
branch_labels = None
depends_on = None


def _key(event: str, care_unit: str | None, certificate_id: str) -> str:
    # adapter.flows.submit.accepted_key, written out: a migration does not change with the code.
    return f"{event}|{care_unit or ''}|{hashlib.sha256(certificate_id.encode()).hexdigest()}"


def upgrade() -> None:
    with op.batch_alter_table('outbox') as batch:
        batch.add_column(sa.Column('care_unit_hsa', sa.String(length=64), nullable=True))
    conn = op.get_bind()
    rows = conn.execute(sa.text("SELECT id, event, care_unit_hsa, certificate_id FROM submissions "
                                "WHERE accepted_key IS NOT NULL")).all()
    for row_id, event, care_unit, certificate_id in rows:
        conn.execute(sa.text("UPDATE submissions SET accepted_key = :k WHERE id = :i"),
                     {"k": _key(event, care_unit, certificate_id or ""), "i": row_id})
    op.execute("UPDATE outbox SET care_unit_hsa = (SELECT s.care_unit_hsa FROM submissions s "
               "WHERE s.id = outbox.submission_id)")


def downgrade() -> None:
    op.execute("UPDATE submissions SET accepted_key = event || '|' || certificate_id WHERE accepted_key IS NOT NULL")
    with op.batch_alter_table('outbox') as batch:
        batch.drop_column('care_unit_hsa')
