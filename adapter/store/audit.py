"""The audit log: one append-only row per read or write of patient data, MAC-chained and checkpointed.

Each row holds the MAC of the previous row and an HMAC-SHA256 under the audit key over its own
fields and that MAC, so an edited row breaks its own MAC, a removed row breaks the sequence or
the link, and without the key (which never sits in the database) no row can be forged or the
chain re-computed. The chain's end is kept in the single ``audit_head`` row; appending locks it
(``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite transactions already hold the one write lock),
so two workers can never fork the chain. :func:`record` runs in the caller's session, i.e. in
the same transaction as the action it records.

After every commit that appended rows, the new head (seq, MAC) is written as a *checkpoint*,
itself MAC'd under the key, to a file outside the database (:class:`AuditSeal`). :func:`verify`
checks every checkpoint against the rows: rows cut off the end (truncation), the whole log
emptied, or a chain re-computed by someone holding the key are all found as long as the
checkpoint file was out of their reach. What each attacker can and cannot do: docs/service.md.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from sqlalchemy import String, Table, bindparam, event, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session, sessionmaker

from adapter.clock import stamp
from adapter.flows.ports import AuditEvent
from adapter.store.models import AuditHeadRow, AuditRow

log = logging.getLogger(__name__)

GENESIS = "0" * 64
MIN_KEY_BYTES = 32
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")
HEAD_ID = 1
_FIELDS = ("seq", "at", "actor", "end_user", "action", "patient", "certificate", "outcome", "purpose",
           "prev_hash")
_HEAD = cast(Table, AuditHeadRow.__table__)
_LOG = cast(Table, AuditRow.__table__)
_LOCK_HEAD = select(_HEAD.c.seq, _HEAD.c.hash).where(_HEAD.c.id == HEAD_ID).with_for_update()
_INSERT_LOG = insert(_LOG)
HEAD, LOG = _HEAD, _LOG
_SET_HEAD = update(_HEAD).where(_HEAD.c.id == HEAD_ID).values(seq=bindparam("new_seq"), hash=bindparam("new_hash"))


@dataclass(frozen=True)
class AuditSeal:
    """What makes the log tamper-evident, both kept outside the database: the MAC key and the
    file the signed checkpoints of the chain's head are appended to."""

    key: bytes
    checkpoints: Path

    def __post_init__(self) -> None:
        if len(self.key) < MIN_KEY_BYTES:
            raise ValueError(f"the audit key must hold at least {MIN_KEY_BYTES} bytes")

    def __repr__(self) -> str:  # never the key
        return f"AuditSeal(checkpoints={str(self.checkpoints)!r})"


def load_key(path: Path) -> bytes:
    """The audit key from its file (at least 32 bytes, surrounding whitespace ignored)."""
    key = Path(path).read_bytes().strip()
    if len(key) < MIN_KEY_BYTES:
        raise ValueError(f"the audit key in {path} is shorter than {MIN_KEY_BYTES} bytes")
    return key


def _body(entry: AuditRow) -> bytes:
    return json.dumps([getattr(entry, f) for f in _FIELDS], ensure_ascii=False, separators=(",", ":")).encode()


def row_hash(entry: AuditRow, key: bytes) -> str:
    """The row's MAC: HMAC-SHA256 under the audit key over its fields and the previous row's MAC."""
    return hmac.new(key, b"lisn-audit-row\0" + _body(entry), hashlib.sha256).hexdigest()


def legacy_hash(entry: AuditRow) -> str:
    """The unkeyed SHA-256 of logs written before the keyed MAC (read only by :func:`rekey`)."""
    return hashlib.sha256(_body(entry)).hexdigest()


def record(session: Session, seal: AuditSeal | None, *, actor: str, action: str, outcome: str,
           end_user: str | None = None, patient: str | None = None, certificate: str | None = None,
           purpose: str | None = None, at: datetime | None = None) -> AuditRow:
    """Append one audit row in ``session``'s transaction and return it; once the transaction
    commits, the new head is checkpointed to ``seal.checkpoints``.

    Three Core statements on the session's connection (the head read with its lock, the row, the
    new head); the returned row is not attached to the session. (A use case's transaction appends
    its rows at commit instead, in its batch: :meth:`adapter.store.sql.SqlTx.audit`.)"""
    seal = _sealed(seal)
    conn = session.connection()
    seq, prev = lock_head(conn)
    [entry] = chain(seal, seq, prev, [AuditEvent(at=at or datetime.now(UTC), actor=actor, action=action,
                                                 outcome=outcome, end_user=end_user, patient=patient,
                                                 certificate=certificate, purpose=purpose)])
    conn.execute(_INSERT_LOG, row_values(entry))
    conn.execute(_SET_HEAD, {"new_seq": entry.seq, "new_hash": entry.hash})
    checkpoint_on_commit(session, seal, entry.seq, entry.hash)
    return entry


def _sealed(seal: AuditSeal | None) -> AuditSeal:
    if seal is None:
        raise RuntimeError("no audit key: this store was opened without an AuditSeal (adapter.wiring.open_store)")
    return seal


def lock_head(conn: Connection) -> tuple[int, str]:
    """The chain's head (seq, MAC), locked until the transaction ends (``SELECT ... FOR UPDATE``)."""
    seq, prev = conn.execute(_LOCK_HEAD).one()
    return int(seq), str(prev)


def chain(seal: AuditSeal | None, seq: int, prev: str, events: list[AuditEvent]) -> list[AuditRow]:
    """The rows that append ``events`` to a chain whose head is ``(seq, prev)``, in order, each
    MAC'd; not written."""
    seal = _sealed(seal)
    out = []
    for e in events:
        entry = AuditRow(seq=seq + 1, at=stamp(e.at), actor=_fit("actor", e.actor),
                         end_user=_fit("end_user", e.end_user), action=e.action, patient=_fit("patient", e.patient),
                         certificate=_fit("certificate", e.certificate), outcome=e.outcome, purpose=e.purpose,
                         prev_hash=prev)
        entry.hash = row_hash(entry, seal.key)
        out.append(entry)
        seq, prev = entry.seq, entry.hash
    return out


def row_values(entry: AuditRow) -> dict[str, Any]:
    """The columns of one audit row, for an INSERT."""
    return {f: getattr(entry, f) for f in (*_FIELDS, "hash")}


# -- checkpoints ---------------------------------------------------------------------------------

def _checkpoint_mac(key: bytes, seq: int, head: str, at: str) -> str:
    return hmac.new(key, f"lisn-audit-checkpoint\0{seq}\0{head}\0{at}".encode(), hashlib.sha256).hexdigest()


def write_checkpoint(seal: AuditSeal, seq: int, head: str, at: datetime | None = None) -> None:
    """Append one signed checkpoint line ``{"seq", "hash", "at", "mac"}`` (a single ``O_APPEND``
    write, so concurrent workers never interleave; the file is created 0600)."""
    when = stamp(at or datetime.now(UTC))
    line = json.dumps({"seq": seq, "hash": head, "at": when, "mac": _checkpoint_mac(seal.key, seq, head, when)},
                      separators=(",", ":")) + "\n"
    seal.checkpoints.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(seal.checkpoints, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line.encode("ascii"))
        os.fsync(fd)
    finally:
        os.close(fd)


def checkpoint_on_commit(session: Session, seal: AuditSeal, seq: int, head: str) -> None:
    """Write the checkpoint ``(seq, head)`` once ``session``'s transaction commits (forgotten on a
    rollback). A session of a factory :func:`listen_for_checkpoints` prepared is listened to already."""
    session.info["audit_checkpoint"] = (seal, seq, head)
    if session.info.get("audit_listening"):
        return
    session.info["audit_listening"] = True
    event.listen(session, "after_commit", _committed)
    event.listen(session, "after_soft_rollback", _rolled_back)


def listen_for_checkpoints(factory: sessionmaker[Session]) -> None:
    """Listen to every session of ``factory`` once, instead of to each session that appends a row
    (registering listeners costs more than the rest of a checkpoint's bookkeeping)."""
    event.listen(factory, "after_commit", _committed)
    event.listen(factory, "after_soft_rollback", _rolled_back)
    factory.configure(info={**factory.kw.get("info", {}), "audit_listening": True})


def _committed(sess: Session) -> None:
    pending = sess.info.pop("audit_checkpoint", None)
    if pending is None:
        return
    try:
        write_checkpoint(*pending)
    except OSError as exc:
        # The action is committed; the missing checkpoint only narrows what verify can prove,
        # and an unwritable file already stops the start-up (wiring.audit_seal).
        log.error("could not write the audit checkpoint: %s", type(exc).__name__)


def _rolled_back(sess: Session, _previous: Any) -> None:
    sess.info.pop("audit_checkpoint", None)


def read_checkpoints(seal: AuditSeal) -> tuple[list[tuple[int, str]], str | None]:
    """The genuine checkpoints (seq, head MAC) in the file, or the first line that is not genuine."""
    try:
        lines = seal.checkpoints.read_text(encoding="ascii").splitlines()
    except FileNotFoundError:
        return [], None
    except (OSError, UnicodeDecodeError) as exc:
        return [], f"the checkpoint file {seal.checkpoints} cannot be read ({type(exc).__name__})"
    out: list[tuple[int, str]] = []
    for number, line in enumerate(lines, 1):
        try:
            item: Any = json.loads(line)
            seq, head, at, mac = int(item["seq"]), str(item["hash"]), str(item["at"]), str(item["mac"])
        except (ValueError, TypeError, KeyError):
            return out, f"checkpoint line {number} is malformed"
        if not hmac.compare_digest(mac, _checkpoint_mac(seal.key, seq, head, at)):
            return out, f"checkpoint line {number} is not signed with the audit key"
        out.append((seq, head))
    return out, None


def _fit(column: str, value: str | None) -> str | None:
    """A refused request may carry an over-long value; the row is still written, the value clipped
    (a "…" marks it) rather than the database refusing it (PostgreSQL enforces lengths)."""
    if value is None:
        return None
    # Neither PostgreSQL text nor UTF-8 holds NUL or a lone surrogate: replaced, never refused.
    value = _CONTROL.sub("\ufffd", value.encode("utf-8", "replace").decode("utf-8"))
    limit = cast(String, AuditRow.__table__.c[column].type).length  # every clipped column is a String
    return value if limit is None or len(value) <= limit else value[:limit - 1] + "…"


@dataclass(frozen=True)
class ChainProblem:
    """Where the chain breaks: the row (sequence number) and what is wrong with it."""

    seq: int
    problem: str


def verify(session: Session, seal: AuditSeal) -> tuple[int, ChainProblem | None]:
    """Check the whole chain and every checkpoint; returns (rows checked, the first problem or None)."""
    checkpoints, bad = read_checkpoints(seal)
    if bad is not None:
        return 0, ChainProblem(0, bad)
    # Streamed in batches (a server-side cursor on PostgreSQL), closed even when a problem ends the walk.
    result = session.execute(select(AuditRow).order_by(AuditRow.seq).execution_options(yield_per=1000))
    try:
        count, problem, seen = _walk(session, result.scalars(), seal.key, {seq for seq, _ in checkpoints},
                                     legacy_possible=not checkpoints)
    finally:
        result.close()
    if problem is not None:
        return count, problem
    return count, _against_checkpoints(checkpoints, seen, count, seal)


def _walk(session: Session, rows: Iterable[AuditRow], key: bytes, wanted: set[int], *,
          legacy_possible: bool) -> tuple[int, ChainProblem | None, dict[int, str]]:
    expected_seq, prev, count = 1, GENESIS, 0
    seen: dict[int, str] = {}
    for entry in rows:
        count += 1
        if entry.seq != expected_seq:
            return count, ChainProblem(expected_seq, f"row {expected_seq} is missing (next is {entry.seq})"), seen
        if entry.prev_hash != prev:
            return count, ChainProblem(entry.seq, "prev_hash does not match the previous row"), seen
        if not hmac.compare_digest(row_hash(entry, key), entry.hash):
            # Only a log never checkpointed can predate the key; otherwise it is an unkeyed forgery.
            if legacy_possible and legacy_hash(entry) == entry.hash:
                return count, ChainProblem(entry.seq, "row carries an unkeyed hash from before the keyed MAC "
                                                      "(run `adapter audit rekey` once after upgrading)"), seen
            return count, ChainProblem(entry.seq, "row was changed (MAC mismatch)"), seen
        if entry.seq in wanted:
            seen[entry.seq] = entry.hash
        expected_seq, prev = entry.seq + 1, entry.hash
    head = session.get(AuditHeadRow, HEAD_ID, populate_existing=True)  # record() writes it with Core
    if head is None or head.seq != expected_seq - 1 or head.hash != prev:
        return count, ChainProblem(expected_seq, "the chain's end does not match its head (rows removed at the end)"), seen
    return count, None, seen


def _against_checkpoints(checkpoints: list[tuple[int, str]], seen: dict[int, str], count: int,
                         seal: AuditSeal) -> ChainProblem | None:
    if count and not checkpoints:
        return ChainProblem(count, f"no checkpoint in {seal.checkpoints}: the log's end cannot be confirmed")
    reached = max((seq for seq, _ in checkpoints), default=0)
    if reached > count:
        return ChainProblem(count + 1, f"rows {count + 1}..{reached} are gone: a checkpoint says the log "
                                       f"reached row {reached} (truncated)")
    for seq, head in sorted(checkpoints):
        if seq > 0 and not hmac.compare_digest(seen[seq], head):
            return ChainProblem(seq, "row differs from its checkpoint (the chain was re-computed)")
    return None


def rekey(session: Session, seal: AuditSeal) -> int:
    """Upgrade a log written with the unkeyed SHA-256 chain: check that chain, re-compute every row's
    MAC under the key and write a checkpoint. Refuses (ValueError) a chain that is not intact, and
    a log that has checkpoints (it was keyed already: an unkeyed chain there is a forgery)."""
    if read_checkpoints(seal) != ([], None):
        raise ValueError(f"{seal.checkpoints} holds checkpoints: this log was keyed already")
    expected_seq, prev, old_prev = 1, GENESIS, GENESIS
    for entry in session.execute(select(AuditRow).order_by(AuditRow.seq)).scalars():
        if entry.seq != expected_seq or entry.prev_hash != old_prev or legacy_hash(entry) != entry.hash:
            raise ValueError(f"the unkeyed chain is not intact at row {expected_seq}: not re-keyed")
        old_prev = entry.hash
        entry.prev_hash = prev
        entry.hash = prev = row_hash(entry, seal.key)
        expected_seq += 1
    head = session.get(AuditHeadRow, HEAD_ID, populate_existing=True)  # record() writes it with Core
    if head is None or head.seq != expected_seq - 1 or head.hash != old_prev:
        raise ValueError("the unkeyed chain's end does not match its head: not re-keyed")
    head.hash = prev
    session.flush()
    checkpoint_on_commit(session, seal, head.seq, head.hash)
    return expected_seq - 1


def extract(session: Session, *, patient: str) -> list[AuditRow]:
    """Every audit row about one patient (personnummer or samordningsnummer), oldest first."""
    return list(session.execute(
        select(AuditRow).where(AuditRow.patient == patient).order_by(AuditRow.seq)).scalars())


def as_dict(entry: AuditRow) -> dict[str, object]:
    return {f: getattr(entry, f) for f in (*_FIELDS, "hash")}
