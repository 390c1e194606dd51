"""The reconciliation every fault run ends with.

From the adapter's database: every accepted submission (``submissions.accepted_key`` set)
and the outbox rows of its certificates; from the receiver's database: what it stored,
once per idempotency key. The run passes when

- accepted = delivered + withheld + dead-lettered (nothing still pending: nothing lost),
- every delivered message is in the receiver's store, and the receiver holds nothing that
  the adapter did not mark delivered (no phantom deliveries beyond those in flight at the end),
- no certificate is stored twice by the receiver under different keys (delivered twice in effect),
- every duplicate submission produced no second outbox row.

A submission accepted while no consent permitted disclosure has no outbox row yet; it counts
as withheld.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa

DELIVERED = ("delivered", "acknowledged")
WITHHELD = ("withheld",)
UNCERTAIN = ("uncertain",)
DEAD = ("dead",)
WITHDRAWN = ("withdrawn",)


@dataclass
class Reconciliation:
    accepted: int = 0
    delivered: int = 0
    withheld: int = 0
    uncertain: int = 0
    """Held by a revoked consent after a send whose receipt never came: the receiver may hold it."""
    dead_lettered: int = 0
    withdrawn: int = 0
    waiting_for_slow_recipient: int = 0
    """Still pending to the slow municipality (the tarpit), retried until the retry period ends:
    expected, and counted apart from ``unfinished``."""
    unfinished: int = 0
    receiver_documents: int = 0
    receiver_requests: int = 0
    missing_at_receiver: list[str] = field(default_factory=list)
    unexpected_at_receiver: list[str] = field(default_factory=list)
    withheld_after_unconfirmed_send: list[str] = field(default_factory=list)
    """Informational: sent, stored by the receiver before the revocation, but the receipt was lost
    (a 503 after commit or a stall) and the consent was revoked before the retry, yet the adapter
    says ``withheld``. Since issue 12 it says ``uncertain`` there, so this stays empty."""
    sent_after_revocation: list[str] = field(default_factory=list)
    """Withheld certificates whose first push left the adapter *after* the consent was revoked
    (a worker still holding a claim): a disclosure the patient had stopped. Fails the run."""
    stored_twice: list[str] = field(default_factory=list)
    outbox_rows_per_certificate_over_one: list[str] = field(default_factory=list)

    @property
    def balanced(self) -> bool:
        return self.accepted == (self.delivered + self.withheld + self.uncertain + self.dead_lettered
                                 + self.withdrawn + self.waiting_for_slow_recipient)

    @property
    def ok(self) -> bool:
        return (self.balanced and self.unfinished == 0 and not self.missing_at_receiver
                and not self.sent_after_revocation
                and not self.unexpected_at_receiver and not self.stored_twice
                and not self.outbox_rows_per_certificate_over_one)

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "balanced": self.balanced, "ok": self.ok}


def _adapter_rows(database_url: str) -> tuple[list[tuple[str, str]], list[tuple[str, str, str, str, str]]]:
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            subs = conn.execute(sa.text(
                "SELECT id, certificate_id FROM submissions WHERE accepted_key IS NOT NULL")).all()
            rows = conn.execute(sa.text(
                "SELECT submission_id, certificate_id, idempotency_key, state, kommunkod FROM outbox "
                "WHERE kind = 'certificate'")).all()
    finally:
        engine.dispose()
    return [tuple(r) for r in subs], [tuple(r) for r in rows]  # type: ignore[misc]


def _receiver_rows(receiver_db: Path) -> tuple[list[tuple[str, str, str]], int]:
    with sqlite3.connect(receiver_db) as conn:
        docs = conn.execute("SELECT idempotency_key, certificate_id, received_at FROM documents "
                            "WHERE kind = 'certificate'").fetchall()
        requests = conn.execute("SELECT count(*) FROM requests").fetchone()[0]
    return docs, int(requests)



def reconcile(database_url: str, receiver_db: Path, *, revoked_at: float | None = None,
              first_sent: dict[str, float] | None = None, waiting_kommunkod: str | None = None) -> Reconciliation:
    subs, outbox = _adapter_rows(database_url)
    docs, requests = _receiver_rows(receiver_db)
    rec = Reconciliation(accepted=len(subs), receiver_documents=len(docs), receiver_requests=requests)
    by_submission: dict[str, list[tuple[str, str, str, str, str]]] = {}
    for row in outbox:
        by_submission.setdefault(row[0], []).append(row)
    per_cert = Counter(row[1] for row in outbox)
    rec.outbox_rows_per_certificate_over_one = sorted(c for c, n in per_cert.items() if n > 1)
    for sub_id, _cert in subs:
        mine = by_submission.get(sub_id, [])
        states = [r[3] for r in mine]
        state = states[0] if states else "withheld"  # accepted, but no consent permitted delivery yet
        if state == "pending" and waiting_kommunkod is not None and mine[0][4] == waiting_kommunkod:
            rec.waiting_for_slow_recipient += 1
            continue
        if state in DELIVERED:
            rec.delivered += 1
        elif state in WITHHELD:
            rec.withheld += 1
        elif state in UNCERTAIN:
            rec.uncertain += 1
        elif state in DEAD:
            rec.dead_lettered += 1
        elif state in WITHDRAWN:
            rec.withdrawn += 1
        else:
            rec.unfinished += 1
    delivered_keys = {r[2] for r in outbox if r[3] in DELIVERED}
    received_keys = {k for k, _, _ in docs}
    rec.missing_at_receiver = sorted(delivered_keys - received_keys)
    # The receiver may hold a message whose receipt the sender never saw (a stall, a 503 after
    # commit); once retried it is delivered. Only a withdrawn one at the receiver is a problem.
    rec.unexpected_at_receiver = sorted(received_keys & {r[2] for r in outbox if r[3] in WITHDRAWN})
    withheld_keys = {r[2] for r in outbox if r[3] in WITHHELD}
    late = {k for k, at in (first_sent or {}).items() if revoked_at is not None and at > revoked_at}
    held_keys = withheld_keys | {r[2] for r in outbox if r[3] in UNCERTAIN}
    rec.sent_after_revocation = sorted(held_keys & received_keys & late)
    rec.withheld_after_unconfirmed_send = sorted((received_keys & withheld_keys) - late)
    certs = Counter(c for _, c, _ in docs)
    rec.stored_twice = sorted(c for c, n in certs.items() if n > 1)
    return rec
