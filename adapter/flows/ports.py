"""What the use cases need from storage: the :class:`Store` port and the records that cross it.

The use-case layer is the consumer, so it defines the port (STYLE §10); ``adapter.store.sql``
implements it on SQLAlchemy, ``adapter.testing.MemoryStore`` in memory. Both are run by the same
flow tests. The port is narrow on purpose: reads by key, appends, and one conditional update of
outbox messages; every decision (who may see what, when a message may go) is made by the use
cases, never by a store. This module imports nothing of the adapter, so a store that implements
it depends on no stage.

Every method of :class:`Tx` runs inside one transaction: all of it commits together, or
nothing does. Records are copies: changing one changes nothing stored.
"""

from __future__ import annotations

from collections.abc import Collection
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, TypedDict

Resource = dict[str, Any]

# Outbox states (``adapter.delivery.State`` names the same values for the relay).
PENDING, AVAILABLE, DELIVERED, ACKNOWLEDGED = "pending", "available", "delivered", "acknowledged"
WITHHELD, DEAD, WITHDRAWN = "withheld", "dead", "withdrawn"
UNCERTAIN = "uncertain"
"""Stopped by a revoked consent after it may already have reached its recipient (sent without a
receipt, or fetched without an acknowledgement): the recipient may hold it."""
HELD = (WITHHELD, UNCERTAIN)
"""Stopped by the consent; a consent that permits again releases them."""
LIVE = (PENDING, AVAILABLE)
"""States from which a message can still reach its recipient."""
RECEIVED = (DELIVERED, ACKNOWLEDGED)


class WriteConflict(Exception):
    """A concurrent transaction won a race (the same certificate at once, a lock timeout).

    Nothing of this transaction was stored; the use case may simply run again
    (:func:`adapter.flows.context.run` does, a few times). ``transient`` is False for a
    constraint that another attempt would break again."""

    def __init__(self, *, transient: bool = True) -> None:
        super().__init__("concurrent write")
        self.transient = transient


@dataclass(frozen=True)
class ClientInfo:
    """The authenticated caller, as the use cases see it."""

    id: str
    name: str
    role: str
    care_units: tuple[str, ...] = ()
    kommunkod: str | None = None


@dataclass(frozen=True)
class SubmissionRecord:
    """One received certificate message, as received and as parsed."""

    id: str
    certificate_id: str | None
    event: str | None
    kommunkod: str | None
    care_unit_hsa: str | None
    patient_system: str | None
    patient_value: str | None
    status: str
    received_at: datetime
    replaces: str | None = None
    content_hash: str = ""
    source_format: str = "fhir-json"
    raw: bytes = b""
    bundle: Resource | None = None
    client_id: str | None = None
    accepted_key: str | None = None
    """``event|certificate id`` once accepted: at most one accepted submission per key."""
    response: Resource | None = None
    """The first answer, replayed for an identical resubmission."""


@dataclass(frozen=True)
class StatusStep:
    """One step in a submission's history (shown as the Task's output)."""

    status: str
    at: datetime
    reason: str | None = None
    reason_id: str | None = None


@dataclass(frozen=True)
class DecisionRecord:
    """A consent decision with its reason and the consent it rests on."""

    decision: str
    reason_id: str
    reason: str
    consent_id: str | None
    decided_at: datetime


@dataclass(frozen=True)
class ConsentRecord:
    """A patient's Consent resource as registered (inside a submission or on its own)."""

    id: str
    patient_system: str
    patient_value: str
    status: str
    content_hash: str
    resource: Resource
    created_at: datetime
    updated_at: datetime
    client_id: str | None = None
    submission_id: str | None = None


@dataclass(frozen=True)
class RecipientRecord:
    """A socialnämnd in the recipient registry, with its delivery settings."""

    kommunkod: str
    name: str
    mode: str = "pull"
    endpoint: str | None = None
    client_cert: str | None = None
    client_key: str | None = None
    ca_bundle: str | None = None
    max_attempts: int | None = None
    active: bool = True


@dataclass(frozen=True)
class AuditEvent:
    """One read or write of patient data (the store chains and hashes it)."""

    at: datetime
    actor: str
    action: str
    outcome: str
    end_user: str | None = None
    patient: str | None = None
    certificate: str | None = None
    purpose: str | None = None


@dataclass(frozen=True)
class OutboxMessage:
    """One signed document for one recipient, and where it is in its life."""

    id: int
    key: str
    """The idempotency key: the same on every attempt (``adapter.delivery.idempotency``)."""
    submission_id: str
    certificate_id: str
    kommunkod: str
    kind: str
    state: str
    attempts: int
    document: bytes
    created_at: datetime
    next_attempt_at: datetime
    replaces: str | None = None
    last_error: str | None = None
    delivered_at: datetime | None = None
    acknowledged_at: datetime | None = None
    lease_owner: str | None = None
    care_unit: str | None = None
    """The issuing care unit (HSA-id): a certificate is known by care unit and id together."""


@dataclass(frozen=True)
class Claim:
    """An outbox message claimed by one worker; ``token`` fences every later write."""

    id: int
    token: str
    attempts: int
    """Attempts including the one now starting."""
    key: str
    submission_id: str
    certificate_id: str
    kommunkod: str
    kind: str
    document: bytes


@dataclass(frozen=True)
class Attempt:
    """One push attempt: what the recipient answered (or why there was no answer)."""

    attempt: int
    at: datetime
    outcome: str
    http_status: int | None = None
    reason: str | None = None
    body: str | None = None


@dataclass(frozen=True)
class Match:
    """Which outbox messages an operation concerns: every field given must match."""

    key: str | None = None
    submission_id: str | None = None
    certificate_id: str | None = None
    care_unit: str | None = None
    """With ``certificate_id``: the issuing care unit's messages only (ids are scoped per care unit)."""
    kommunkod: str | None = None
    states: tuple[str, ...] | None = None
    kinds: tuple[str, ...] | None = None
    never_sent: bool = False
    """Only messages no worker ever claimed (``attempts == 0``): the recipient never saw them."""
    claim: tuple[int, str] | None = None
    """Only the message with this id while it still holds this claim token (the fence)."""
    unleased_at: datetime | None = None
    """Only messages no worker holds a lease on at this time (not in flight)."""
    due_before: datetime | None = None
    """Only messages whose next attempt is due before this time."""


class MessageChanges(TypedDict, total=False):
    """What :meth:`Tx.update_messages` may change (besides releasing the claim)."""

    state: str
    attempts: int
    document: bytes
    next_attempt_at: datetime
    last_error: str | None
    delivered_at: datetime
    acknowledged_at: datetime
    lease_owner: None


@dataclass(frozen=True)
class StatisticsRecord:
    """One accepted certificate, de-identified (``adapter.stats.row``; docs/statistics.md).

    Keyed by the submission's internal id (a random UUID, never shown), so that delivery and
    consent decisions can update it; nothing in it names the person."""

    submission_id: str
    sex: str
    age_band: str
    kommunkod: str
    region: str
    care_provider: str
    month: str
    template_version: str
    diagnosis_chapter: str
    work_capacity: str
    activity_band: str
    prognosis: str
    debut_days: int | None
    debut_band: str
    replacement: bool
    activities: dict[str, str] = field(default_factory=dict)
    measures: tuple[str, ...] = ()
    consent: str | None = None
    status: str = "current"
    delivery_days: int | None = None
    delivery_band: str = "okand"


class StatisticsChanges(TypedDict, total=False):
    """What :meth:`Tx.update_statistics` may change after receipt."""

    consent: str
    status: str
    delivery_days: int
    delivery_band: str


STATISTICS_DIMENSIONS = ("sex", "age_band", "kommunkod", "region", "care_provider", "month", "template_version",
                         "diagnosis_chapter", "work_capacity", "activity_band", "prognosis", "debut_band",
                         "delivery_band", "consent", "status", "replacement")
"""The single-valued fields a tally may group by; besides them ``activity:<type>`` (its level, or
``ej-bedomd``) and ``measure:<code>`` (``ja``/``nej``)."""


class Tx(Protocol):
    """One transaction on the store."""

    # -- submissions and their history -------------------------------------------------------
    def submission(self, submission_id: str) -> SubmissionRecord | None: ...

    def submissions_of(self, certificate_id: str, care_unit: str | None = None) -> list[SubmissionRecord]:
        """Every submission of a certificate, oldest first; with ``care_unit``, only those that care
        unit issued (a certificate is known by its issuing care unit and its id together)."""
        ...

    def waiting(self, patient: tuple[str, str], statuses: tuple[str, ...]) -> list[SubmissionRecord]:
        """Accepted submissions of a patient whose current status is one of ``statuses``, oldest first."""
        ...

    def add_submission(self, record: SubmissionRecord, *, lock_patient: bool = False) -> None:
        """Store a new submission; with ``lock_patient``, first take its patient's lock
        (:meth:`lock_patient`; one statement for both where the store can)."""
        ...

    def accept(self, submission_id: str, *, accepted_key: str, response: Resource) -> None:
        """Mark accepted, with its answer; :class:`WriteConflict` when the key is taken."""
        ...

    def add_step(self, submission_id: str, step: StatusStep) -> None:
        """Append a step to the history and make it the current status."""
        ...

    def history(self, submission_id: str) -> list[StatusStep]: ...

    def add_decision(self, submission_id: str, decision: DecisionRecord) -> None: ...

    def latest_decision(self, submission_id: str) -> DecisionRecord | None: ...

    def ever_permitted(self, submission_id: str) -> bool: ...

    def lock_patient(self, patient_value: str) -> None:
        """Serialise the consent work of one patient until this transaction ends."""
        ...

    # -- consents --------------------------------------------------------------------------
    def consent(self, consent_id: str) -> ConsentRecord | None: ...

    def consents_of(self, patient: tuple[str, str]) -> list[ConsentRecord]:
        """The patient's consents, oldest first."""
        ...

    def consent_with_hash(self, patient_value: str, content_hash: str) -> ConsentRecord | None: ...

    def add_consent(self, record: ConsentRecord) -> None: ...

    def update_consent(self, record: ConsentRecord) -> None: ...

    # -- registry, clients, audit ---------------------------------------------------------------
    def recipient(self, kommunkod: str) -> RecipientRecord | None: ...

    def client_by_token(self, token: str, pepper: bytes) -> ClientInfo | None: ...

    def client_by_certificate(self, fingerprint: str) -> ClientInfo | None: ...

    def audit(self, event: AuditEvent) -> None:
        """Append one row to the audit log, in this transaction."""
        ...

    # -- the outbox --------------------------------------------------------------------------
    def enqueue(self, *, key: str, submission_id: str, certificate_id: str, kommunkod: str, kind: str,
                document: bytes, replaces: str | None, at: datetime, care_unit: str | None = None) -> None: ...

    def messages(self, match: Match, *, limit: int | None = None) -> list[OutboxMessage]:
        """Matching messages in the order they were queued."""
        ...

    def update_messages(self, match: Match, changes: MessageChanges, *, at: datetime) -> int:
        """Change every matching message at once (one atomic statement) and release its claim;
        returns how many changed."""
        ...

    def claim(self, *, owner: str, now: datetime, lease_seconds: float, limit: int,
              exclude: Collection[str] = (), per_recipient: int | None = None) -> list[Claim]:
        """Take up to ``limit`` due pending messages whose lease is free; none is claimed twice.

        A withdrawal or replacement waits for an earlier pending message of its certificate to
        the same recipient. Messages to the kommunkoder in ``exclude`` are not taken, and at most
        ``per_recipient`` to any one recipient."""
        ...

    def add_attempt(self, message_id: int, attempt: Attempt) -> None: ...

    def attempts(self, key: str) -> list[Attempt]: ...

    def counts(self) -> list[tuple[str, str, int]]:
        """(state, kommunkod, count) over the whole outbox."""
        ...

    # -- statistics (de-identified) -------------------------------------------------------------
    def add_statistics(self, record: StatisticsRecord) -> None: ...

    def update_statistics(self, submission_id: str, changes: StatisticsChanges) -> int:
        """Change the row of a submission; returns 1, or 0 when it has none (not a certificate).
        The delivery fields are written once: a change with ``delivery_days`` when the row already
        has them changes nothing (the first delivery counts)."""
        ...

    def tally_statistics(self, dimensions: tuple[str, ...], *, months: tuple[str | None, str | None] = (None, None)
                         ) -> list[tuple[tuple[str, ...], int]]:
        """Counts of rows by the values of ``dimensions`` (names of :data:`STATISTICS_DIMENSIONS`,
        ``activity:<type>``, ``measure:<code>``), for the months ``YYYY-MM`` between the two bounds
        (inclusive; None is open). Only combinations that occur."""
        ...


class Store(Protocol):
    """Where state is kept: a transaction at a time."""

    def transaction(self) -> AbstractContextManager[Tx]:
        """One unit of work: commit when the block ends, roll back when it raises.

        Raises :class:`WriteConflict` when a concurrent transaction won a race and
        ``adapter.errors.StoreUnavailable`` when the storage cannot be reached."""
        ...
