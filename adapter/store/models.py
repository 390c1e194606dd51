"""Every table of the adapter, on one metadata (``Base.metadata``): importing this module is enough.

Service times are stored as :func:`adapter.clock.stamp` text (``2026-11-23T12:00:00.000000Z``):
the same representation on SQLite and PostgreSQL, sortable as text, and stable for the audit
hash. The outbox keeps POSIX seconds (UTC) as floats, which its claim query compares in SQL.
ORM classes end in ``Row``; the use cases see the records of ``adapter.flows.ports`` instead.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Index, Integer, LargeBinary, MetaData, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Stable constraint names, so that Alembic migrations are the same on SQLite and PostgreSQL.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
TIME = String(32)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class ClientRow(Base):
    """A system that calls the API: an EHR (sender), a municipality, or an administrator."""

    __tablename__ = "clients"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    role: Mapped[str] = mapped_column(String(20))
    care_units: Mapped[list[str]] = mapped_column(JSON, default=list)
    """HSA-ids of the care units a sender may submit for."""
    kommunkod: Mapped[str | None] = mapped_column(String(4), nullable=True)
    """The municipality a municipality client acts for."""
    token_prefix: Mapped[str | None] = mapped_column(String(16), unique=True, nullable=True)
    token_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    cert_sha256: Mapped[str | None] = mapped_column(String(64), unique=True, nullable=True)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[str] = mapped_column(TIME)


class RecipientRow(Base):
    """A socialnämnd that can receive certificates (the recipient registry)."""

    __tablename__ = "recipients"

    kommunkod: Mapped[str] = mapped_column(String(4), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    organisationsnummer: Mapped[str | None] = mapped_column(String(10), nullable=True)
    delivery_mode: Mapped[str] = mapped_column(String(10), default="pull")
    endpoint_url: Mapped[str | None] = mapped_column(String(500), nullable=True)
    mtls_cert_path: Mapped[str | None] = mapped_column(String(500), nullable=True)
    mtls_key_path: Mapped[str | None] = mapped_column(String(500), nullable=True)
    ca_bundle_path: Mapped[str | None] = mapped_column(String(500), nullable=True)
    """Trust anchors (PEM) for the recipient's server certificate; None means the system store."""
    max_attempts: Mapped[int | None] = mapped_column(Integer, nullable=True)
    active: Mapped[bool] = mapped_column(default=True)


class SubmissionRow(Base):
    """One received certificate message, as received and as parsed."""

    __tablename__ = "submissions"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    certificate_id: Mapped[str | None] = mapped_column(String(200), index=True, nullable=True)
    accepted_key: Mapped[str | None] = mapped_column(String(200), unique=True, nullable=True)
    """``event|care unit|sha256(certificate id)`` once accepted (``adapter.flows.submit.accepted_key``):
    at most one accepted submission per event of a certificate, a certificate being known by its
    issuing care unit and its id together."""
    content_hash: Mapped[str] = mapped_column(String(64))
    event: Mapped[str | None] = mapped_column(String(40), nullable=True)
    replaces: Mapped[str | None] = mapped_column(String(200), nullable=True)
    kommunkod: Mapped[str | None] = mapped_column(String(4), index=True, nullable=True)
    care_unit_hsa: Mapped[str | None] = mapped_column(String(64), nullable=True)
    patient_system: Mapped[str | None] = mapped_column(String(100), nullable=True)
    patient_value: Mapped[str | None] = mapped_column(String(20), index=True, nullable=True)
    source_format: Mapped[str] = mapped_column(String(40))
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    bundle: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    status: Mapped[str] = mapped_column(String(30))
    response_status: Mapped[int] = mapped_column(Integer, default=0)
    response: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    """The first answer, replayed for an identical resubmission."""
    client_id: Mapped[str | None] = mapped_column(ForeignKey("clients.id"), nullable=True)
    received_at: Mapped[str] = mapped_column(TIME)


class StatusRow(Base):
    """One step in a submission's history (shown as the Task's output)."""

    __tablename__ = "submission_status"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    submission_id: Mapped[str] = mapped_column(ForeignKey("submissions.id"), index=True)
    status: Mapped[str] = mapped_column(String(30))
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    reason_id: Mapped[str | None] = mapped_column(String(80), nullable=True)
    at: Mapped[str] = mapped_column(TIME)


class ConsentRow(Base):
    """A patient's Consent resource as registered (inside a submission or on its own)."""

    __tablename__ = "consents"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    patient_system: Mapped[str] = mapped_column(String(100))
    patient_value: Mapped[str] = mapped_column(String(20), index=True)
    status: Mapped[str] = mapped_column(String(20))
    content_hash: Mapped[str] = mapped_column(String(64), index=True)
    resource: Mapped[dict[str, Any]] = mapped_column(JSON)
    client_id: Mapped[str | None] = mapped_column(ForeignKey("clients.id"), nullable=True)
    submission_id: Mapped[str | None] = mapped_column(ForeignKey("submissions.id"), nullable=True)
    created_at: Mapped[str] = mapped_column(TIME)
    updated_at: Mapped[str] = mapped_column(TIME)


class DecisionRow(Base):
    """Each consent decision with its reason and the consent it rests on."""

    __tablename__ = "consent_decisions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    submission_id: Mapped[str] = mapped_column(ForeignKey("submissions.id"), index=True)
    decision: Mapped[str] = mapped_column(String(20))
    reason_id: Mapped[str] = mapped_column(String(80))
    reason: Mapped[str] = mapped_column(Text)
    consent_id: Mapped[str | None] = mapped_column(ForeignKey("consents.id"), nullable=True)
    decided_at: Mapped[str] = mapped_column(TIME)


class AuditRow(Base):
    """One append-only audit row; ``hash`` covers every field and ``prev_hash``."""

    __tablename__ = "audit_log"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[str] = mapped_column(TIME)
    actor: Mapped[str] = mapped_column(String(200))
    end_user: Mapped[str | None] = mapped_column(String(200), nullable=True)
    action: Mapped[str] = mapped_column(String(60))
    patient: Mapped[str | None] = mapped_column(String(20), index=True, nullable=True)
    certificate: Mapped[str | None] = mapped_column(String(200), nullable=True)
    outcome: Mapped[str] = mapped_column(String(40))
    purpose: Mapped[str | None] = mapped_column(String(60), nullable=True)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHeadRow(Base):
    """The single row that holds the chain's end; locking it orders concurrent appends."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))



class OutboxRow(Base):
    """One signed document for one recipient. Times are POSIX seconds (UTC), comparable in SQL."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_claim", "state", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)
    submission_id: Mapped[str] = mapped_column(String(80), index=True)
    certificate_id: Mapped[str] = mapped_column(String(80), index=True)
    care_unit_hsa: Mapped[str | None] = mapped_column(String(64), nullable=True)
    """The issuing care unit: with ``certificate_id`` what identifies the certificate."""
    replaces: Mapped[str | None] = mapped_column(String(80))
    kommunkod: Mapped[str] = mapped_column(String(8), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    document: Mapped[bytes] = mapped_column(LargeBinary)
    state: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[float] = mapped_column(Float)
    lease_owner: Mapped[str | None] = mapped_column(String(128))
    lease_until: Mapped[float | None] = mapped_column(Float)
    claim_token: Mapped[str | None] = mapped_column(String(36))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)
    delivered_at: Mapped[float | None] = mapped_column(Float)
    acknowledged_at: Mapped[float | None] = mapped_column(Float)


class ReceiptRow(Base):
    """One row per push attempt: what the recipient answered (or why there was no answer)."""

    __tablename__ = "delivery_receipt"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    outbox_id: Mapped[int] = mapped_column(ForeignKey("outbox.id"), index=True)
    attempt: Mapped[int] = mapped_column(Integer)
    at: Mapped[float] = mapped_column(Float)
    outcome: Mapped[str] = mapped_column(String(16))
    http_status: Mapped[int | None] = mapped_column(Integer)
    reason: Mapped[str | None] = mapped_column(Text)
    body: Mapped[str | None] = mapped_column(Text)


class CertificateStatsRow(Base):
    """One accepted certificate, de-identified (docs/statistics.md). No foreign key to the submission:
    the statistics outlive a submission purged under its retention time."""

    __tablename__ = "certificate_statistics"
    __table_args__ = (Index("ix_certificate_statistics_month", "month"),)

    submission_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    sex: Mapped[str] = mapped_column(String(8))
    age_band: Mapped[str] = mapped_column(String(8))
    kommunkod: Mapped[str] = mapped_column(String(8))
    region: Mapped[str] = mapped_column(String(8))
    care_provider: Mapped[str] = mapped_column(String(64))
    month: Mapped[str] = mapped_column(String(7))
    template_version: Mapped[str] = mapped_column(String(10))
    diagnosis_chapter: Mapped[str] = mapped_column(String(8))
    work_capacity: Mapped[str] = mapped_column(String(20))
    activity_band: Mapped[str] = mapped_column(String(8))
    prognosis: Mapped[str] = mapped_column(String(20))
    debut_days: Mapped[int | None] = mapped_column(Integer, nullable=True)
    debut_band: Mapped[str] = mapped_column(String(8))
    delivery_days: Mapped[int | None] = mapped_column(Integer, nullable=True)
    delivery_band: Mapped[str] = mapped_column(String(8))
    consent: Mapped[str | None] = mapped_column(String(10), nullable=True)
    status: Mapped[str] = mapped_column(String(10))
    replacement: Mapped[bool] = mapped_column(default=False)


class CertificateStatsItemRow(Base):
    """A multi-valued fact of a statistics row: an activity type assessed (with its level) or a measure."""

    __tablename__ = "certificate_statistics_item"
    __table_args__ = (Index("ix_certificate_statistics_item_code", "kind", "code", "submission_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    submission_id: Mapped[str] = mapped_column(ForeignKey("certificate_statistics.submission_id"), index=True)
    kind: Mapped[str] = mapped_column(String(10))
    """``activity`` or ``measure``."""
    code: Mapped[str] = mapped_column(String(40))
    level: Mapped[str | None] = mapped_column(String(20), nullable=True)
