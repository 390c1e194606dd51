"""Operating the outbox (``adapter queue ...``, ``adapter reprocess``): look, retry, stop, derive again.

The operator is an administrator; these answers carry no patient data (ids, states, counts,
errors). Reprocessing derives a submission's document again from its raw input through the same
steps as :func:`adapter.flows.submit.submit` (after a mapping or template fix) and re-queues its
dead letters with it.
"""

from __future__ import annotations

from typing import Any

from adapter import errors, messages
from adapter.clock import fhir_instant
from adapter.flows import permit
from adapter.flows.context import Context, Resource, Result, audit, refuse, step
from adapter.flows.ports import DEAD, LIVE, PENDING, Match, OutboxMessage
from adapter.flows.release import KIND_BY_EVENT, document
from adapter.flows.submit import parse_bundle


def queue_list(ctx: Context, *, state: str | None = None, kommunkod: str | None = None,
               limit: int = 100) -> Resource:
    """Counts by state and recipient, then the messages."""
    found = ctx.tx.messages(Match(kommunkod=kommunkod, states=(state,) if state else None), limit=limit)
    return {"counts": [{"state": s, "kommunkod": k, "count": n} for s, k, n in ctx.tx.counts()],
            "messages": [summary(m) for m in found]}


def queue_show(key: str, ctx: Context) -> list[dict[str, Any]]:
    """One message's attempts and receipts."""
    return [{"attempt": a.attempt, "at": fhir_instant(a.at, "milliseconds"), "outcome": a.outcome,
             "httpStatus": a.http_status, "reason": a.reason} for a in ctx.tx.attempts(key)]


def retry(key: str, ctx: Context) -> str | None | errors.AdapterError:
    """Put a dead-lettered (or pending) message back to pending with a fresh attempt budget.
    Returns its state, None when there is no such message; a message that may not leave now
    (:func:`adapter.flows.permit.may_leave`: consent revoked, certificate withdrawn) is refused
    (409, audited) and stays as it is."""
    now = ctx.clock.now()
    if (refused := _refused(key, "queue-retry", ctx)) is not None:
        return refused
    ctx.tx.update_messages(Match(key=key, states=(DEAD, PENDING)),
                           {"state": PENDING, "attempts": 0, "next_attempt_at": now, "lease_owner": None}, at=now)
    return _state(key, ctx)


def dead_letter(key: str, reason: str, ctx: Context) -> str | None:
    """Stop trying a message that can still go (an operator's decision, with its reason)."""
    found = ctx.tx.messages(Match(key=key, states=LIVE))
    if found:
        now, error = ctx.clock.now(), f"operator: {reason}"
        ctx.tx.update_messages(Match(key=key, states=LIVE), {"state": DEAD, "last_error": error}, at=now)
        step(ctx, found[0].submission_id, "dead-lettered", error)
    return _state(key, ctx)


def reprocess(submission_id: str, ctx: Context, *, dry_run: bool = False) -> Result:
    """Derive the submission's document again from its raw input and re-queue its dead letters with it."""
    row = ctx.tx.submission(submission_id)
    if row is None or not row.raw:
        mid = "LISN_DELIVERY_REPROCESS_NO_RAW"
        return errors.NotFound(messages.bilingual(mid, id=submission_id), message_id=mid)
    # Step: parse and validate the raw input again, as it was received
    bundle = parse_bundle(row.raw, row.source_format, ctx)
    oo = ctx.stages.validate(bundle, ctx.registry)
    if errors.has_errors(oo):
        return errors.ValidationFailed(outcome=oo)
    # Step: render and sign again
    event = row.event if row.event in KIND_BY_EVENT else "certificate"
    doc = document(bundle, event, row.replaces, ctx)
    # Step: only dead letters get it (a pending one may be in flight; a delivered one is the recipient's),
    # and only those that may leave now (consent, withdrawal: flows.permit)
    dead = ctx.tx.messages(Match(submission_id=submission_id, states=(DEAD,), kinds=(KIND_BY_EVENT[event],)))
    refused = [m.key for m in dead if not permit.may_leave(m, ctx.tx, ctx.clock.now()).allowed]
    keys = [] if dry_run else _requeue(submission_id, [m.key for m in dead if m.key not in refused], doc, ctx)
    if keys:
        audit(ctx, action="reprocess", outcome="requeued", patient=row.patient_value, certificate=row.certificate_id)
    if refused:
        audit(ctx, action="reprocess", outcome="refused", patient=row.patient_value, certificate=row.certificate_id)
    return {"submission": submission_id, "valid": True, "requeued": keys, "refused": refused, "dryRun": dry_run}


def _refused(key: str, action: str, ctx: Context) -> errors.AdapterError | None:
    """The refusal when message ``key`` may not leave now (audited), None when it may or does not exist."""
    found = ctx.tx.messages(Match(key=key))
    if not found:
        return None
    verdict = permit.may_leave(found[0], ctx.tx, ctx.clock.now())
    if verdict.allowed:
        return None
    row = ctx.tx.submission(found[0].submission_id)
    mid = "LISN_DELIVERY_REFUSED"
    error = errors.Conflict(messages.bilingual(mid, id=key, reason=messages.text(verdict.reason_id, "en")),
                            message_id=mid)
    return refuse(ctx, error, action=action, patient=row.patient_value if row else None,
                  certificate=found[0].certificate_id, outcome="refused")


def _requeue(submission_id: str, keys: list[str], doc: bytes, ctx: Context) -> list[str]:
    """The dead letters ``keys`` get the new document and a new budget; the key stays (the
    recipient never stored a rejected document)."""
    now = ctx.clock.now()
    for key in keys:
        ctx.tx.update_messages(Match(key=key, states=(DEAD,)),
                               {"state": PENDING, "document": doc, "attempts": 0, "next_attempt_at": now,
                                "last_error": "reprocessed", "lease_owner": None}, at=now)
    if keys:
        step(ctx, submission_id, "reprocessed", f"{len(keys)} delivery(ies) re-queued")
    return keys


def _state(key: str, ctx: Context) -> str | None:
    found = ctx.tx.messages(Match(key=key))
    return found[0].state if found else None


def summary(message: OutboxMessage) -> dict[str, Any]:
    """Per message: recipient, kind, state, attempts, last error and times (no patient data)."""
    return {"id": message.key, "kommunkod": message.kommunkod, "kind": message.kind, "state": message.state,
            "attempts": message.attempts, "lastError": message.last_error, "certificateId": message.certificate_id,
            "submissionId": message.submission_id, "createdAt": fhir_instant(message.created_at, "milliseconds"),
            "deliveredAt": _time(message.delivered_at), "acknowledgedAt": _time(message.acknowledged_at),
            "nextAttemptAt": _time(message.next_attempt_at) if message.state == PENDING else None}


def _time(moment: Any) -> str | None:
    return fhir_instant(moment, "milliseconds") if moment is not None else None
