"""Statistics: one de-identified row per accepted certificate (and its activity/measure items),
back-filled for the certificates already stored (docs/statistics.md).

Revision ID: 0004_stats
Revises: 0003_recipient_ca_bundle
Create Date: 2026-12-03
"""
from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

from adapter.stats import codes
from adapter.stats.row import statistics_row

revision = '0004_stats'
down_revision = '0003_recipient_ca_bundle'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('certificate_statistics',
    sa.Column('submission_id', sa.String(length=36), nullable=False),
    sa.Column('sex', sa.String(length=8), nullable=False),
    sa.Column('age_band', sa.String(length=8), nullable=False),
    sa.Column('kommunkod', sa.String(length=8), nullable=False),
    sa.Column('region', sa.String(length=8), nullable=False),
    sa.Column('care_provider', sa.String(length=64), nullable=False),
    sa.Column('month', sa.String(length=7), nullable=False),
    sa.Column('template_version', sa.String(length=10), nullable=False),
    sa.Column('diagnosis_chapter', sa.String(length=8), nullable=False),
    sa.Column('work_capacity', sa.String(length=20), nullable=False),
    sa.Column('activity_band', sa.String(length=8), nullable=False),
    sa.Column('prognosis', sa.String(length=20), nullable=False),
    sa.Column('debut_days', sa.Integer(), nullable=True),
    sa.Column('debut_band', sa.String(length=8), nullable=False),
    sa.Column('delivery_days', sa.Integer(), nullable=True),
    sa.Column('delivery_band', sa.String(length=8), nullable=False),
    sa.Column('consent', sa.String(length=10), nullable=True),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('replacement', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('submission_id', name=op.f('pk_certificate_statistics'))
    )
    op.create_index('ix_certificate_statistics_month', 'certificate_statistics', ['month'], unique=False)
    op.create_table('certificate_statistics_item',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('submission_id', sa.String(length=36), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('code', sa.String(length=40), nullable=False),
    sa.Column('level', sa.String(length=20), nullable=True),
    sa.ForeignKeyConstraint(['submission_id'], ['certificate_statistics.submission_id'],
                            name=op.f('fk_certificate_statistics_item_submission_id_certificate_statistics')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_certificate_statistics_item'))
    )
    op.create_index('ix_certificate_statistics_item_code', 'certificate_statistics_item',
                    ['kind', 'code', 'submission_id'], unique=False)
    op.create_index(op.f('ix_certificate_statistics_item_submission_id'), 'certificate_statistics_item',
                    ['submission_id'], unique=False)
    backfill(op.get_bind())


def downgrade() -> None:
    op.drop_index(op.f('ix_certificate_statistics_item_submission_id'), table_name='certificate_statistics_item')
    op.drop_index('ix_certificate_statistics_item_code', table_name='certificate_statistics_item')
    op.drop_table('certificate_statistics_item')
    op.drop_index('ix_certificate_statistics_month', table_name='certificate_statistics')
    op.drop_table('certificate_statistics')


# -- the back-fill: the same pure function as at receipt, and the outcomes from the stored history --

def backfill(conn: sa.Connection) -> None:
    meta = sa.MetaData()
    subs = sa.Table('submissions', meta, autoload_with=conn)
    decisions = sa.Table('consent_decisions', meta, autoload_with=conn)
    outbox = sa.Table('outbox', meta, autoload_with=conn)
    stats = sa.Table('certificate_statistics', meta, autoload_with=conn)
    items = sa.Table('certificate_statistics_item', meta, autoload_with=conn)
    accepted = conn.execute(sa.select(subs.c.id, subs.c.bundle, subs.c.received_at, subs.c.status,
                                      subs.c.certificate_id).where(
        subs.c.accepted_key.is_not(None),
        subs.c.event.in_(('certificate', 'certificate-replacement')))).all()
    replaced = {r.replaces for r in conn.execute(sa.select(subs.c.replaces).where(
        subs.c.accepted_key.is_not(None), subs.c.event == 'certificate-replacement'))}
    for sub in accepted:
        if not isinstance(sub.bundle, dict):
            continue
        facts = asdict(statistics_row(sub.bundle, _received(sub.received_at)))
        activities, measures = facts.pop('activities'), facts.pop('measures')
        facts.update(submission_id=sub.id, consent=_consent(conn, decisions, sub.id),
                     status='withdrawn' if sub.status == 'withdrawn'
                     else 'replaced' if sub.certificate_id in replaced else 'current')
        facts.update(_delivery(conn, outbox, sub.id, sub.bundle))
        conn.execute(stats.insert().values(**facts))
        rows = [{'submission_id': sub.id, 'kind': 'activity', 'code': c, 'level': lv}
                for c, lv in sorted(activities.items())]
        rows += [{'submission_id': sub.id, 'kind': 'measure', 'code': c, 'level': None} for c in measures]
        if rows:
            conn.execute(items.insert(), rows)


def _received(text: str) -> datetime:
    return datetime.fromisoformat(text.replace('Z', '+00:00')).astimezone(UTC)


def _consent(conn: sa.Connection, decisions: sa.Table, submission_id: str) -> str | None:
    found = [r.decision for r in conn.execute(sa.select(decisions.c.decision).where(
        decisions.c.submission_id == submission_id).order_by(decisions.c.id))]
    if not found:
        return None
    if found[-1] == 'permit':
        return 'released'
    return 'revoked' if 'permit' in found else 'withheld'


def _delivery(conn: sa.Connection, outbox: sa.Table, submission_id: str, bundle: dict[str, Any]) -> dict[str, Any]:
    first = conn.execute(sa.select(sa.func.min(sa.func.coalesce(outbox.c.delivered_at, outbox.c.acknowledged_at)))
                         .where(outbox.c.submission_id == submission_id)).scalar()
    authored = _authored(bundle)
    if first is None or authored is None:
        return {}
    days = (datetime.fromtimestamp(first, UTC).date() - authored).days
    return {'delivery_days': days, 'delivery_band': codes.band(days, codes.DAY_BANDS)}


def _authored(bundle: dict[str, Any]) -> date | None:
    from adapter.fhir.submission import Submission

    text = Submission(bundle).authored
    try:
        return date.fromisoformat(text[:10]) if text else None
    except ValueError:
        return None
