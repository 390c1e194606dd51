"""Pull delivery: a municipality lists, fetches and acknowledges what is addressed to it.

Only messages to the caller's kommunkod are visible, and an unknown id is answered the same as
another municipality's (no probing). Unacknowledged messages stay listed, so a municipality
that crashes after fetching simply fetches again. Every list, fetch and acknowledgement writes
one audit row in the same transaction, refusals too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from adapter import errors, messages
from adapter.clock import fhir_instant
from adapter.flows import permit, release, stats
from adapter.flows.context import Context, Resource, audit, step
from adapter.flows.ports import ACKNOWLEDGED, DELIVERED, LIVE, RECEIVED, Match, OutboxMessage

LIST_LIMIT = 100
_KEY = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
"""The shape of a message id (a UUID, ``adapter.delivery.idempotency``)."""


@dataclass(frozen=True)
class Pulled:
    """A fetched document: the signed municipal XML, its key and its kind."""

    key: str
    kind: str
    document: bytes


def list_available(ctx: Context) -> Resource:
    """What is addressed to the caller, not yet acknowledged (nor withheld, withdrawn or dead), and
    may leave now (:func:`adapter.flows.permit.may_leave`)."""
    kommunkod = _kommunkod(ctx)
    found = [m for m in ctx.tx.messages(Match(kommunkod=kommunkod, states=LIVE), limit=LIST_LIMIT)
             if permit.may_leave(m, ctx.tx, ctx.clock.now(), to=kommunkod).allowed]
    audit(ctx, action="delivery-list", outcome="ok")
    return {"kommunkod": kommunkod, "certificates": [_public(m) for m in found]}


def fetch(key: str, ctx: Context) -> Pulled | errors.AdapterError:
    """The document ``key`` if it is addressed to the caller, still live, and may leave now.

    A refused fetch (withheld, uncertain, withdrawn, dead, or no consent that permits it now) answers
    exactly like an unknown id (404) and is audited as ``refused``. A served fetch stamps the
    message's ``delivered_at`` (first fetch): the municipality may hold it from then on."""
    message = _addressed(key, ctx)
    if message is None:
        audit(ctx, action="delivery-fetch", outcome="not-found")
        return _not_addressed(key)
    message = _lock(message, ctx)
    now = ctx.clock.now()
    verdict = permit.may_leave(message, ctx.tx, now, to=_kommunkod(ctx))
    served = message.state in LIVE + RECEIVED and verdict.allowed
    if served and message.state in LIVE:
        # The fence: a concurrent revocation that held the message first leaves nothing to serve.
        served = ctx.tx.update_messages(Match(key=key, states=(message.state,)),
                                        {"delivered_at": message.delivered_at or now}, at=now) == 1
    if not served:
        audit(ctx, action="delivery-fetch", outcome="refused", patient=_patient(message, ctx),
              certificate=message.certificate_id)
        return _not_addressed(key)
    audit(ctx, action="delivery-fetch", outcome="ok", patient=_patient(message, ctx),
          certificate=message.certificate_id)
    return Pulled(message.key, message.kind, message.document)


def acknowledge(key: str, ctx: Context) -> Resource | errors.AdapterError:
    """Done: the message leaves the list. Acknowledging twice answers ``acknowledged`` again;
    a withheld, withdrawn or dead message cannot be acknowledged (409)."""
    message = _addressed(key, ctx)
    if message is None:
        audit(ctx, action="delivery-acknowledge", outcome="not-found")
        return _not_addressed(key)
    message = _lock(message, ctx)
    state = message.state
    if state in LIVE and not (verdict := permit.may_leave(message, ctx.tx, ctx.clock.now())).allowed:
        state = release.hold(message, verdict, ctx)  # it may not leave: it is held, and cannot be acknowledged
    elif state in LIVE:
        now = ctx.clock.now()
        ctx.tx.update_messages(Match(key=key, states=LIVE), {"state": ACKNOWLEDGED, "acknowledged_at": now}, at=now)
        if message.kind == permit.NOTICE_KIND:  # told; the certificate it names is still not lawfully held
            step(ctx, message.submission_id, "delivery-uncertain",
                 f"consent-withdrawn notice acknowledged by {message.kommunkod}")
        else:
            step(ctx, message.submission_id, "acknowledged", f"acknowledged by {message.kommunkod}")
            stats.note_delivered(message.submission_id, now, ctx.tx)
        state = ACKNOWLEDGED
    audit(ctx, action="delivery-acknowledge", outcome=state, patient=_patient(message, ctx),
          certificate=message.certificate_id)
    if state not in (ACKNOWLEDGED, DELIVERED):
        mid = "LISN_DELIVERY_NOT_AVAILABLE"
        return errors.Conflict(messages.bilingual(mid, id=key, state=state), message_id=mid)
    return {"id": key, "state": state}


def _kommunkod(ctx: Context) -> str:
    if not ctx.client.kommunkod:
        mid = "LISN_DELIVERY_NO_KOMMUNKOD"
        raise errors.Forbidden(messages.bilingual(mid), message_id=mid)
    return ctx.client.kommunkod


def _addressed(key: str, ctx: Context) -> OutboxMessage | None:
    if not _KEY.fullmatch(key):
        return None  # no message has such an id; a NUL would make PostgreSQL refuse the query itself
    found = ctx.tx.messages(Match(key=key, kommunkod=_kommunkod(ctx)))
    return found[0] if found else None


def _lock(message: OutboxMessage, ctx: Context) -> OutboxMessage:
    """Serialise with a revocation of the same patient (``release.redecide_patient`` takes the same
    lock), then read the message again: what a revocation committed meanwhile is seen."""
    if patient := _patient(message, ctx):
        ctx.tx.lock_patient(patient)
    return _addressed(message.key, ctx) or message


def _patient(message: OutboxMessage, ctx: Context) -> str | None:
    sub = ctx.tx.submission(message.submission_id)
    return sub.patient_value if sub else None


def _not_addressed(key: str) -> errors.NotFound:
    # The same answer whether it does not exist or belongs to another municipality: no probing.
    mid = "LISN_DELIVERY_NOT_ADDRESSED"
    return errors.NotFound(messages.bilingual(mid, id=key[:80]), message_id=mid)


def _public(message: OutboxMessage) -> Resource:
    return {"id": message.key, "certificateId": message.certificate_id, "kind": message.kind,
            "state": message.state, "queuedAt": fhir_instant(message.created_at),
            "links": {"document": f"certificates/{message.key}",
                      "acknowledge": f"certificates/{message.key}/$acknowledge"}}
