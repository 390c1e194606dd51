"""The relay's port (:class:`adapter.delivery.Store`) on the use-case layer's :class:`~adapter.flows.ports.Store`.

The relay (``adapter.delivery.relay``) decides how to push; this adapter records what came of it:
the new state, the receipt, and the step on the submission's Task history, in one transaction.
Every write after a claim is fenced by the claim token, so a worker whose lease expired (and
whose message another worker took over, or a revoked consent withheld) changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from datetime import datetime

from adapter.clock import Clock, SystemClock
from adapter.delivery.model import Claimed, Receipt, Recipient
from adapter.fhir.registry import Registry
from adapter.flows import permit, release, stats
from adapter.flows.context import Context, Service, Stages, step
from adapter.flows.ports import (
    AVAILABLE,
    DEAD,
    DELIVERED,
    PENDING,
    UNCERTAIN,
    WITHHELD,
    Attempt,
    Claim,
    ClientInfo,
    Match,
    MessageChanges,
    StatusStep,
    Store,
)
from adapter.settings import Settings

RecipientLookup = Callable[[str], Recipient | None]
RELAY_CLIENT = ClientInfo(id="relay", name="relay", role="relay")


def _no_stage(*args: object, **kwargs: object) -> bytes:
    raise AssertionError("the relay's bookkeeping renders and validates nothing")


_NO_STAGES = Stages(validate=_no_stage, map_export=_no_stage, render=_no_stage, sign=_no_stage)  # type: ignore[arg-type]


class RelayStore:
    """:class:`adapter.delivery.model.Store` over a use-case store; recipients from its registry
    unless a fixed lookup is given (``adapter worker --recipients FILE``)."""

    def __init__(self, store: Store, *, recipients: RecipientLookup | None = None, clock: Clock | None = None) -> None:
        self.store = store
        self.lookup = recipients
        self.clock = clock or SystemClock()
        # The hold's bookkeeping (a step on the Task) runs as a use case needs only store and clock.
        self.service = Service(settings=Settings(), store=store, registry=Registry(), stages=_NO_STAGES,
                               clock=self.clock)

    def recipient(self, kommunkod: str) -> Recipient | None:
        if self.lookup is not None:
            return self.lookup(kommunkod)
        with self.store.transaction() as tx:
            row = tx.recipient(kommunkod)
        if row is None or not row.active:
            return None
        return Recipient(kommunkod=row.kommunkod, mode=row.mode, endpoint=row.endpoint, client_cert=row.client_cert,
                         client_key=row.client_key, ca_bundle=row.ca_bundle, max_attempts=row.max_attempts)

    def claim(self, *, owner: str, now: datetime, lease_seconds: float, limit: int,
              exclude: Collection[str] = (), per_recipient: int | None = None) -> list[Claimed]:
        with self.store.transaction() as tx:
            return [_claimed(c) for c in tx.claim(owner=owner, now=now, lease_seconds=lease_seconds, limit=limit,
                                                  exclude=exclude, per_recipient=per_recipient)]

    def history(self, msg: Claimed) -> tuple[datetime | None, int]:
        with self.store.transaction() as tx:
            attempts = list(tx.attempts(msg.idempotency_key))
        # An operator's retry (or a reprocess) starts the attempt numbers again at 1: the current
        # run of failures begins after the last place where the numbering went down.
        start = 0
        for i in range(1, len(attempts)):
            if attempts[i].attempt <= attempts[i - 1].attempt:
                start = i
        run = attempts[start:]
        if run and msg.attempts <= run[-1].attempt:
            return None, 0  # this claim is the first of a new run (nothing of it recorded yet)
        return (run[0].at if run else None), len(run)

    def postpone(self, kommunkod: str, *, until: datetime, reason: str, now: datetime) -> int:
        with self.store.transaction() as tx:
            return tx.update_messages(Match(kommunkod=kommunkod, states=(PENDING,), unleased_at=now, due_before=until),
                                      {"next_attempt_at": until, "last_error": reason}, at=now)

    def still_claimed(self, msg: Claimed) -> bool:
        """Just before the push: is the message still ours, and may it leave now (``flows.permit``)?
        A message that may not leave is held in the same transaction (withheld, uncertain or
        withdrawn, with a step on its Task), so no worker claims it again."""
        with self.store.transaction() as tx:
            row = tx.submission(msg.submission_id)
            if row is not None and row.patient_value:
                tx.lock_patient(row.patient_value)  # serialised with a revocation of the same patient
            found = tx.messages(_fence(msg))
            ctx = Context(self.service, tx, RELAY_CLIENT)
            if not found:
                _never_sent(msg, ctx)
                return False
            verdict = permit.may_leave(msg, tx, self.clock.now())
            if verdict.allowed:
                return True
            release.hold(found[0], verdict, ctx, claim=(msg.id, msg.token), sent_before=msg.attempts - 1)
            return False

    def mark_delivered(self, msg: Claimed, receipt: Receipt, *, now: datetime) -> bool:
        return self._finish(msg, receipt, now, "delivered", {"state": DELIVERED, "delivered_at": now, "last_error": None})

    def mark_available(self, msg: Claimed, *, now: datetime) -> bool:
        return self._finish(msg, None, now, None, {"state": AVAILABLE})

    def mark_retry(self, msg: Claimed, receipt: Receipt, *, now: datetime, next_at: datetime,
                   last_error: str | None = None) -> bool:
        return self._finish(msg, receipt, now, None, {"next_attempt_at": next_at,
                                                      "last_error": last_error or receipt.reason})

    def mark_dead(self, msg: Claimed, receipt: Receipt, *, now: datetime) -> bool:
        return self._finish(msg, receipt, now, "dead-lettered", {"state": DEAD, "last_error": receipt.reason})

    def _finish(self, msg: Claimed, receipt: Receipt | None, now: datetime, status: str | None,
                changes: MessageChanges) -> bool:
        with self.store.transaction() as tx:
            written = tx.update_messages(_fence(msg), changes, at=now) == 1
            if receipt is not None:
                tx.add_attempt(msg.id, Attempt(attempt=msg.attempts, at=now, outcome=receipt.outcome.value,
                                               http_status=receipt.status, reason=receipt.reason or None,
                                               body=receipt.body or None))
            # A queue filled by hand (or by a test) has no submission to tell.
            if written and status and tx.submission(msg.submission_id) is not None:
                if msg.kind == permit.NOTICE_KIND and status == "delivered":
                    status = "delivery-uncertain"  # told: the certificate it names is still not lawfully held
                detail = f"{msg.kind} to {msg.kommunkod}, attempt {msg.attempts}" + (
                    f": {receipt.reason}" if receipt is not None and receipt.reason else "")
                tx.add_step(msg.submission_id, StatusStep(status, now, reason=detail))
            if written and status == "delivered":
                stats.note_delivered(msg.submission_id, now, tx)
        return written


def _never_sent(msg: Claimed, ctx: Context) -> None:
    """A revocation held our claimed message as ``uncertain`` (it could not know that we had not
    pushed it yet). We know: this is its first claim and it never left, so it is ``withheld``."""
    found = ctx.tx.messages(Match(key=msg.idempotency_key, states=(UNCERTAIN,)))
    if (msg.attempts != 1 or not found or found[0].attempts != msg.attempts
            or found[0].delivered_at is not None):  # a later claim since, or fetched by pull
        return
    if ctx.tx.update_messages(Match(key=msg.idempotency_key, states=(UNCERTAIN,)),
                              {"state": WITHHELD, "attempts": 0}, at=ctx.clock.now()):
        release.recall_notice(found[0], ctx)  # it never left: there is nothing to tell
        step(ctx, msg.submission_id, "withheld", "never sent: held before its first push")


def _fence(msg: Claimed) -> Match:
    return Match(claim=(msg.id, msg.token), states=(PENDING,))


def _claimed(c: Claim) -> Claimed:
    return Claimed(id=c.id, token=c.token, attempts=c.attempts, idempotency_key=c.key, submission_id=c.submission_id,
                   certificate_id=c.certificate_id, kommunkod=c.kommunkod, kind=c.kind, document=c.document)


def static_recipients(recipients: Iterable[Recipient]) -> RecipientLookup:
    """A recipient lookup from a fixed list (``adapter worker --recipients FILE``, tests)."""
    table = {r.kommunkod: r for r in recipients}
    return table.get

