"""In-memory fakes for tests and tools (STYLE §10): ``MemoryStore``, ``FixedClock``, ``MockTransport``.

:class:`MemoryStore` implements the use cases' :class:`~adapter.flows.ports.Store` with plain
Python objects, as the SQL store does on a database: one transaction at a time (a lock), rolled
back as a whole when it raises, the same unique keys (a second accepted submission of the same
certificate and event is a :class:`~adapter.flows.ports.WriteConflict`), and the same outbox
claiming rules (leases, fencing tokens, per-certificate order). The flow tests run on it and on
both databases.
"""

from __future__ import annotations

import copy
import hmac
import threading
import uuid
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from adapter.delivery.mock import MockTransport, accept_all
from adapter.flows.ports import (
    PENDING,
    STATISTICS_DIMENSIONS,
    Attempt,
    AuditEvent,
    Claim,
    ClientInfo,
    ConsentRecord,
    DecisionRecord,
    Match,
    MessageChanges,
    OutboxMessage,
    RecipientRecord,
    Resource,
    StatisticsChanges,
    StatisticsRecord,
    StatusStep,
    SubmissionRecord,
    WriteConflict,
)

__all__ = ["FixedClock", "MemoryStore", "MockTransport", "accept_all"]


@dataclass
class FixedClock:
    """A clock that stands still until told to move."""

    current: datetime = field(default_factory=lambda: datetime(2026, 11, 23, 12, 0, tzinfo=UTC))

    def now(self) -> datetime:
        return self.current

    def advance(self, **delta: float) -> datetime:
        self.current += timedelta(**delta)
        return self.current


@dataclass
class _Held:
    """An outbox message with the fields only the store sees (the claim)."""

    message: OutboxMessage
    token: str | None = None
    lease_until: datetime | None = None


@dataclass
class _State:
    submissions: dict[str, SubmissionRecord] = field(default_factory=dict)
    steps: dict[str, list[StatusStep]] = field(default_factory=dict)
    decisions: dict[str, list[DecisionRecord]] = field(default_factory=dict)
    consents: dict[str, ConsentRecord] = field(default_factory=dict)
    recipients: dict[str, RecipientRecord] = field(default_factory=dict)
    clients: dict[str, ClientInfo] = field(default_factory=dict)
    """By token (a fake keeps it plain; the SQL store keeps only an HMAC)."""
    audit: list[AuditEvent] = field(default_factory=list)
    outbox: list[_Held] = field(default_factory=list)
    attempts: dict[int, list[Attempt]] = field(default_factory=dict)
    statistics: dict[str, StatisticsRecord] = field(default_factory=dict)


class MemoryStore:
    """:class:`adapter.flows.ports.Store` in memory."""

    def __init__(self) -> None:
        self.state = _State()
        self._lock = threading.RLock()

    @contextmanager
    def transaction(self) -> Iterator[MemoryTx]:
        with self._lock:
            before = copy.deepcopy(self.state)
            try:
                yield MemoryTx(self.state)
            except BaseException:
                self.state.__dict__.update(before.__dict__)  # roll back: nothing of it stays
                raise

    # -- set-up, as the administration commands do on the database --------------------------------
    def add_recipient(self, recipient: RecipientRecord) -> None:
        with self._lock:
            self.state.recipients[recipient.kommunkod] = recipient

    def add_client(self, name: str, role: str, *, care_units: tuple[str, ...] = (),
                   kommunkod: str | None = None) -> tuple[ClientInfo, str]:
        """Register a client; returns it and its token."""
        client = ClientInfo(str(uuid.uuid4()), name, role, care_units, kommunkod)
        token = f"memory_{uuid.uuid4().hex}"
        with self._lock:
            self.state.clients[token] = client
        return client, token

    @property
    def audit_log(self) -> list[AuditEvent]:
        with self._lock:
            return list(self.state.audit)


class MemoryTx:
    """:class:`adapter.flows.ports.Tx` on the in-memory state (records are copies, as rows are)."""

    def __init__(self, state: _State) -> None:
        self.s = state

    # -- submissions ---------------------------------------------------------------------------
    def submission(self, submission_id: str) -> SubmissionRecord | None:
        return copy.deepcopy(self.s.submissions.get(submission_id))

    def submissions_of(self, certificate_id: str, care_unit: str | None = None) -> list[SubmissionRecord]:
        found = [r for r in self.s.submissions.values() if r.certificate_id == certificate_id
                 and (care_unit is None or r.care_unit_hsa == care_unit)]
        return copy.deepcopy(sorted(found, key=lambda r: r.received_at))

    def waiting(self, patient: tuple[str, str], statuses: tuple[str, ...]) -> list[SubmissionRecord]:
        found = [r for r in self.s.submissions.values()
                 if (r.patient_system, r.patient_value) == patient and r.accepted_key and r.status in statuses]
        return copy.deepcopy(sorted(found, key=lambda r: r.received_at))

    def add_submission(self, record: SubmissionRecord, *, lock_patient: bool = False) -> None:
        if lock_patient and record.patient_value:
            self.lock_patient(record.patient_value)
        if record.id in self.s.submissions:
            raise WriteConflict(transient=False)
        self.s.submissions[record.id] = copy.deepcopy(record)
        self.s.steps[record.id] = []

    def accept(self, submission_id: str, *, accepted_key: str, response: Resource) -> None:
        if any(r.accepted_key == accepted_key for r in self.s.submissions.values()):
            raise WriteConflict(transient=False)
        row = self._row(submission_id)
        self.s.submissions[submission_id] = replace(row, accepted_key=accepted_key, response=copy.deepcopy(response))

    def add_step(self, submission_id: str, step: StatusStep) -> None:
        row = self._row(submission_id)
        self.s.steps[submission_id].append(step)
        self.s.submissions[submission_id] = replace(row, status=step.status)

    def history(self, submission_id: str) -> list[StatusStep]:
        return list(self.s.steps.get(submission_id, []))

    def add_decision(self, submission_id: str, decision: DecisionRecord) -> None:
        self._row(submission_id)
        self.s.decisions.setdefault(submission_id, []).append(decision)

    def latest_decision(self, submission_id: str) -> DecisionRecord | None:
        found = self.s.decisions.get(submission_id)
        return found[-1] if found else None

    def ever_permitted(self, submission_id: str) -> bool:
        return any(d.decision == "permit" for d in self.s.decisions.get(submission_id, []))

    def lock_patient(self, patient_value: str) -> None:
        """Nothing to do: a memory transaction already runs alone."""

    def _row(self, submission_id: str) -> SubmissionRecord:
        row = self.s.submissions.get(submission_id)
        if row is None:
            raise LookupError(f"no submission {submission_id}")
        return row

    # -- consents ------------------------------------------------------------------------------
    def consent(self, consent_id: str) -> ConsentRecord | None:
        return copy.deepcopy(self.s.consents.get(consent_id))

    def consents_of(self, patient: tuple[str, str]) -> list[ConsentRecord]:
        found = [c for c in self.s.consents.values() if (c.patient_system, c.patient_value) == patient]
        return copy.deepcopy(sorted(found, key=lambda c: c.created_at))

    def consent_with_hash(self, patient_value: str, content_hash: str) -> ConsentRecord | None:
        return copy.deepcopy(next((c for c in self.s.consents.values()
                                   if c.patient_value == patient_value and c.content_hash == content_hash), None))

    def add_consent(self, record: ConsentRecord) -> None:
        self.s.consents[record.id] = copy.deepcopy(record)

    def update_consent(self, record: ConsentRecord) -> None:
        if record.id not in self.s.consents:
            raise LookupError(f"no consent {record.id}")
        self.s.consents[record.id] = copy.deepcopy(record)

    # -- registry, clients, audit ----------------------------------------------------------------
    def recipient(self, kommunkod: str) -> RecipientRecord | None:
        return self.s.recipients.get(kommunkod)

    def client_by_token(self, token: str, pepper: bytes) -> ClientInfo | None:
        return next((c for t, c in self.s.clients.items() if hmac.compare_digest(t, token)), None)

    def client_by_certificate(self, fingerprint: str) -> ClientInfo | None:
        return None

    def audit(self, event: AuditEvent) -> None:
        self.s.audit.append(event)

    # -- the outbox ------------------------------------------------------------------------------
    def enqueue(self, *, key: str, submission_id: str, certificate_id: str, kommunkod: str, kind: str,
                document: bytes, replaces: str | None, at: datetime, care_unit: str | None = None) -> None:
        if any(h.message.key == key for h in self.s.outbox):
            raise WriteConflict(transient=False)
        number = max((h.message.id for h in self.s.outbox), default=0) + 1
        self.s.outbox.append(_Held(OutboxMessage(
            id=number, key=key, submission_id=submission_id, certificate_id=certificate_id, kommunkod=kommunkod,
            kind=kind, state=PENDING, attempts=0, document=document, created_at=at, next_attempt_at=at,
            replaces=replaces, care_unit=care_unit)))

    def messages(self, match: Match, *, limit: int | None = None) -> list[OutboxMessage]:
        found = [h.message for h in self.s.outbox if _matches(h, match)]
        return found[:limit] if limit is not None else found

    def update_messages(self, match: Match, changes: MessageChanges, *, at: datetime) -> int:
        hits = [h for h in self.s.outbox if _matches(h, match)]
        for held in hits:
            held.message = replace(held.message, **changes)
            held.token, held.lease_until = None, None
        return len(hits)

    def claim(self, *, owner: str, now: datetime, lease_seconds: float, limit: int,
              exclude: Collection[str] = (), per_recipient: int | None = None) -> list[Claim]:
        due = [h for h in self.s.outbox if h.message.state == PENDING and h.message.next_attempt_at <= now
               and (h.lease_until is None or h.lease_until <= now) and not self._blocked(h)
               and h.message.kommunkod not in exclude]
        due.sort(key=lambda h: (h.message.next_attempt_at, h.message.id))
        taken: dict[str, int] = {}
        chosen: list[_Held] = []
        for held in due:
            k = held.message.kommunkod
            if len(chosen) < limit and (per_recipient is None or taken.get(k, 0) < per_recipient):
                taken[k] = taken.get(k, 0) + 1
                chosen.append(held)
        return [self._take(h, owner, now + timedelta(seconds=lease_seconds)) for h in chosen]

    def _blocked(self, held: _Held) -> bool:
        """A follow-up waits for an earlier pending message of its certificate: of the same certificate,
        of the one it replaces, or a replacement of it (a withdrawal of the original never overtakes
        the replacement queued before it)."""
        m = held.message
        return any(e.message.kommunkod == m.kommunkod and e.message.id < m.id and e.message.state == PENDING
                   and e.message.care_unit == m.care_unit
                   and (e.message.certificate_id == m.certificate_id
                        or (m.replaces is not None and e.message.certificate_id == m.replaces)
                        or e.message.replaces == m.certificate_id)
                   for e in self.s.outbox)

    @staticmethod
    def _take(held: _Held, owner: str, until: datetime) -> Claim:
        held.token, held.lease_until = str(uuid.uuid4()), until
        held.message = m = replace(held.message, attempts=held.message.attempts + 1, lease_owner=owner)
        return Claim(id=m.id, token=held.token, attempts=m.attempts, key=m.key, submission_id=m.submission_id,
                     certificate_id=m.certificate_id, kommunkod=m.kommunkod, kind=m.kind, document=m.document)

    def add_attempt(self, message_id: int, attempt: Attempt) -> None:
        self.s.attempts.setdefault(message_id, []).append(attempt)

    def attempts(self, key: str) -> list[Attempt]:
        ids = [h.message.id for h in self.s.outbox if h.message.key == key]
        return [a for i in ids for a in self.s.attempts.get(i, [])]

    def counts(self) -> list[tuple[str, str, int]]:
        tally: dict[tuple[str, str], int] = {}
        for held in self.s.outbox:
            pair = (held.message.state, held.message.kommunkod)
            tally[pair] = tally.get(pair, 0) + 1
        return [(s, k, n) for (s, k), n in sorted(tally.items())]

    # -- statistics --------------------------------------------------------------------------------
    def add_statistics(self, record: StatisticsRecord) -> None:
        if record.submission_id in self.s.statistics:
            raise WriteConflict(transient=False)
        self.s.statistics[record.submission_id] = copy.deepcopy(record)

    def update_statistics(self, submission_id: str, changes: StatisticsChanges) -> int:
        row = self.s.statistics.get(submission_id)
        if row is None or not changes or ("delivery_days" in changes and row.delivery_days is not None):
            return 0
        self.s.statistics[submission_id] = replace(row, **changes)
        return 1

    def tally_statistics(self, dimensions: tuple[str, ...], *, months: tuple[str | None, str | None] = (None, None)
                         ) -> list[tuple[tuple[str, ...], int]]:
        readers = [_statistics_reader(name) for name in dimensions]
        tally: dict[tuple[str, ...], int] = {}
        for row in self.s.statistics.values():
            if (months[0] and row.month < months[0]) or (months[1] and row.month > months[1]):
                continue
            cell = tuple(read(row) for read in readers)
            tally[cell] = tally.get(cell, 0) + 1
        return sorted(tally.items())


def _statistics_reader(name: str) -> Callable[[StatisticsRecord], str]:
    """How one dimension reads a row (as the SQL store's tally does)."""
    kind, _, code = name.partition(":")
    if name == "replacement":
        return lambda row: "ja" if row.replacement else "nej"
    if name == "consent":
        return lambda row: row.consent or "okand"
    if name in STATISTICS_DIMENSIONS:
        return lambda row: str(getattr(row, name))
    if kind == "activity" and code:
        return lambda row: row.activities.get(code, "ej-bedomd")
    if kind == "measure" and code:
        return lambda row: "ja" if code in row.measures else "nej"
    raise ValueError(f"unknown statistics dimension {name!r}")


def _matches(held: _Held, match: Match) -> bool:
    m = held.message
    pairs = ((match.key, m.key), (match.submission_id, m.submission_id),
             (match.certificate_id, m.certificate_id), (match.care_unit, m.care_unit),
             (match.kommunkod, m.kommunkod))
    return (all(want is None or want == have for want, have in pairs)
            and (match.states is None or m.state in match.states)
            and (match.kinds is None or m.kind in match.kinds)
            and (not match.never_sent or m.attempts == 0)
            and (match.claim is None or (m.id == match.claim[0] and held.token == match.claim[1]))
            and (match.unleased_at is None or held.lease_until is None or held.lease_until <= match.unleased_at)
            and (match.due_before is None or m.next_attempt_at < match.due_before))
