"""Consent decides, then the outbox: release, withhold, withdraw.

Every consent decision about a stored submission is made by :func:`decide`, and every document
enters the outbox through :func:`enqueue` (a withheld message comes back only through it). A
revoked consent withholds what has not gone yet (:func:`withhold`); a withdrawal follows the
certificate wherever it went (:func:`withdraw`). A message held ``uncertain`` (the recipient may
hold it) is followed by a signed consent-withdrawn notice to that recipient (:func:`notify`).
"""

from __future__ import annotations

from adapter import errors, messages
from adapter.consent import Decision
from adapter.delivery.idempotency import idempotency_key
from adapter.fhir.submission import XML_STATUS_BY_EVENT, Submission
from adapter.flows import permit, stats
from adapter.flows.context import Context, Resource, refuse, step
from adapter.flows.ports import (
    AVAILABLE,
    HELD,
    LIVE,
    PENDING,
    RECEIVED,
    UNCERTAIN,
    WITHDRAWN,
    WITHHELD,
    DecisionRecord,
    Match,
    MessageChanges,
    OutboxMessage,
    SubmissionRecord,
)
from adapter.outbound.notice import render_consent_withdrawn

# What a submission's event puts in the outbox (``adapter.delivery.Kind``).
KIND_BY_EVENT = {"certificate": "certificate", "certificate-replacement": "replacement",
                 "certificate-withdrawal": "withdrawal"}
WAITING_STATUSES = ("awaiting-consent", "consent-ok", "released", "withheld", "delivery-uncertain")


# -- the consent decision ------------------------------------------------------------------------

def decide(row: SubmissionRecord, ctx: Context, *, previous: str | None = None) -> Decision:
    """Decide on the patient's stored consents in the submission's scope (``permit.in_scope``) for its
    own recipient; store the decision, and a step when it changed."""
    decision = permit.consent_decision(row, row.kommunkod or "", ctx.tx, ctx.clock.now())
    reason = messages.bilingual(decision.reason_id)
    ctx.tx.add_decision(row.id, DecisionRecord(decision.decision, decision.reason_id, reason, decision.consent_id,
                                               ctx.clock.now()))
    stats.note_decision(row, decision.permitted, ctx)
    if decision.decision == previous:
        return decision
    step(ctx, row.id, "consent-ok" if decision.permitted else "awaiting-consent", reason,
         reason_id=decision.reason_id)
    return decision


def redecide_patient(patient: tuple[str, str], ctx: Context) -> None:
    """Decide again for each waiting or undelivered submission of the patient; then every message of
    it that is live or held is checked again (:func:`reconcile`): released or withheld per recipient."""
    ctx.tx.lock_patient(patient[1])
    for row in ctx.tx.waiting(patient, WAITING_STATUSES):
        if row.event == "certificate-withdrawal":
            continue
        before = ctx.tx.latest_decision(row.id)
        decision = decide(row, ctx, previous=before.decision if before else None)
        if decision.permitted and not ctx.tx.messages(Match(submission_id=row.id)):
            release(row, ctx)
        else:
            reconcile(row, ctx)


# -- the outbox ----------------------------------------------------------------------------------

def document(bundle: Resource, event: str, replaces: str | None, ctx: Context) -> bytes:
    """The signed municipal XML of a submission."""
    xml = ctx.stages.render(bundle, registry=ctx.registry, status=XML_STATUS_BY_EVENT[event], replaces=replaces)
    return ctx.stages.sign(xml)


def enqueue(row: SubmissionRecord, kommunkod: str, doc: bytes, ctx: Context, *, replaces: str | None = None) -> None:
    """Queue ``doc`` for ``kommunkod``. The same key twice is a no-op, except that a held message
    (withheld by a revoked consent) is released again when :func:`permit.may_leave` now allows it.
    A new message that may not leave for ``kommunkod`` is queued withheld."""
    kind = KIND_BY_EVENT[row.event or "certificate"]
    key = idempotency_key(row.certificate_id or "", kommunkod, kind, care_unit=row.care_unit_hsa or "")
    # Looked up by what the key stands for: one accepted submission per event of a certificate, so
    # (submission, recipient, kind) names the same message as the key, and also finds one queued
    # before the key took the care unit in (reprocessing it after the upgrade queues nothing twice).
    found = ctx.tx.messages(Match(submission_id=row.id, kommunkod=kommunkod, kinds=(kind,)))
    if found:
        if found[0].state in HELD and _verdict(found[0], ctx).allowed:
            ctx.tx.update_messages(Match(key=found[0].key, states=HELD),
                                   {"state": PENDING, "next_attempt_at": ctx.clock.now(), "last_error": None},
                                   at=ctx.clock.now())
            recall_notice(found[0], ctx)
        return
    ctx.tx.enqueue(key=key, submission_id=row.id, certificate_id=row.certificate_id or "", kommunkod=kommunkod,
                   kind=kind, document=doc, replaces=replaces, at=ctx.clock.now(), care_unit=row.care_unit_hsa)
    [queued] = ctx.tx.messages(Match(key=key))
    verdict = _verdict(queued, ctx)
    if not verdict.allowed:
        hold(queued, verdict, ctx)


def release(row: SubmissionRecord, ctx: Context) -> int:
    """Render, sign and queue the certificate (a replacement also to every receiver of the original);
    the decision is made for each recipient (:func:`enqueue`)."""
    targets = {row.kommunkod or ""}
    if row.event == "certificate-replacement" and row.replaces:
        targets.update(recipients_of(row.replaces, row.care_unit_hsa, ctx))
    doc = document(row.bundle or {}, row.event or "certificate", row.replaces, ctx)
    for kommunkod in sorted(targets):
        enqueue(row, kommunkod, doc, ctx, replaces=row.replaces)
    return len(targets)


def reconcile(row: SubmissionRecord, ctx: Context) -> None:
    """Check every live or held message of ``row`` again: hold what may no longer leave, release
    what may leave again. One step on the Task says what changed."""
    held: list[str] = []
    for message in ctx.tx.messages(Match(submission_id=row.id, states=LIVE + HELD)):
        verdict = _verdict(message, ctx)
        if message.state in LIVE and not verdict.allowed:
            held.append(hold(message, verdict, ctx, step_too=False))
        elif message.state in HELD and verdict.allowed:
            ctx.tx.update_messages(Match(key=message.key, states=HELD),
                                   {"state": PENDING, "next_attempt_at": ctx.clock.now(), "last_error": None},
                                   at=ctx.clock.now())
            recall_notice(message, ctx)
    _held_step(row.id, held, ctx)


def withhold(submission_id: str, ctx: Context) -> int:
    """Consent revoked: everything of the submission not yet delivered is held. Returns the count.

    A message that never left is ``withheld``; one that may have arrived (sent without a receipt,
    or fetched without an acknowledgement) is ``uncertain``, and the Task says ``delivery-uncertain``.
    A message a worker is pushing right now may still arrive; its receipt is then refused by the
    fence (the state is no longer pending) and it stays ``uncertain`` (see docs/delivery.md)."""
    held = [hold(m, permit.Verdict(False, "LISN_CONSENT_INACTIVE", WITHHELD), ctx, step_too=False)
            for m in ctx.tx.messages(Match(submission_id=submission_id, states=LIVE))]
    _held_step(submission_id, held, ctx)
    return len(held)


def hold(message: OutboxMessage, verdict: permit.Verdict, ctx: Context, *, step_too: bool = True,
         claim: tuple[int, str] | None = None, sent_before: int | None = None) -> str:
    """Stop ``message``: it may not leave (``verdict``). Returns the state it took.

    ``withheld`` when it never reached its recipient, ``uncertain`` when it may have (a push
    claimed before, whose receipt never came, or a fetch not acknowledged), ``withdrawn`` for a
    withdrawn certificate. ``claim`` fences the write for the relay, which holds the message's
    claim right now (its current attempt has not been sent: ``sent_before`` attempts may have)."""
    now = ctx.clock.now()
    state = verdict.hold or WITHHELD
    reason = f"{verdict.reason_id}: {messages.text(verdict.reason_id, 'en')}"
    if claim is not None:
        if state == WITHHELD and (sent_before or message.delivered_at is not None):
            state = UNCERTAIN
        changes: MessageChanges = {"state": state, "last_error": reason, "attempts": sent_before or 0}
        written = ctx.tx.update_messages(Match(claim=claim, states=(PENDING,)), changes, at=now)
        if not written:
            return message.state
    elif state != WITHHELD:
        ctx.tx.update_messages(Match(key=message.key, states=LIVE), {"state": state, "last_error": reason}, at=now)
    elif message.state == PENDING and message.delivered_at is None and ctx.tx.update_messages(
            Match(key=message.key, states=(PENDING,), never_sent=True), {"state": WITHHELD, "last_error": reason},
            at=now):
        pass  # one statement: it re-checks "never sent" after waiting for a worker's concurrent claim
    elif message.state == AVAILABLE and message.delivered_at is None:
        ctx.tx.update_messages(Match(key=message.key, states=(AVAILABLE,)), {"state": WITHHELD, "last_error": reason},
                               at=now)
    else:
        state = UNCERTAIN
        if ctx.tx.update_messages(Match(key=message.key, states=LIVE), {"state": UNCERTAIN, "last_error": reason},
                                  at=now):
            notify(message, ctx)
    if step_too:
        _held_step(message.submission_id, [state], ctx)
    return state


def notice_key(message: OutboxMessage) -> str:
    return idempotency_key(message.certificate_id, message.kommunkod, permit.NOTICE_KIND,
                           care_unit=message.care_unit or "")


def notify(message: OutboxMessage, ctx: Context) -> None:
    """``message`` (a certificate or replacement) was held ``uncertain`` by a revoked consent: its
    recipient may hold it. Queue a signed consent-withdrawn notice to that recipient alone (once:
    the key is derived; a notice recalled before it left is queued again with the new time)."""
    if message.kind not in ("certificate", "replacement"):
        return
    if ctx.tx.submission(message.submission_id) is None:
        return  # a queue filled by hand (tools, the queue's own tests): no certificate of ours to name
    key, now = notice_key(message), ctx.clock.now()
    found = ctx.tx.messages(Match(key=key))
    if found and found[0].state != WITHDRAWN:
        return  # queued, or already told
    doc = ctx.stages.sign(render_consent_withdrawn(message.certificate_id, message.kommunkod, now,
                                                   care_unit=message.care_unit or ""))
    if found:
        ctx.tx.update_messages(Match(key=key, states=(WITHDRAWN,)),
                               {"state": PENDING, "document": doc, "next_attempt_at": now, "last_error": None},
                               at=now)
        return
    ctx.tx.enqueue(key=key, submission_id=message.submission_id, certificate_id=message.certificate_id,
                   kommunkod=message.kommunkod, kind=permit.NOTICE_KIND, document=doc, replaces=None, at=now,
                   care_unit=message.care_unit)


def recall_notice(message: OutboxMessage, ctx: Context) -> None:
    """A consent permits again and ``message`` goes back to pending: a notice that never left is
    cancelled (``withdrawn``), so the recipient is not told a consent is withdrawn that holds again.
    One that left stays told (docs/delivery.md)."""
    ctx.tx.update_messages(Match(key=notice_key(message), states=(PENDING,), never_sent=True),
                           {"state": WITHDRAWN, "last_error": "consent given again before the notice left"},
                           at=ctx.clock.now())


def _held_step(submission_id: str, held: list[str], ctx: Context) -> None:
    if not held:
        return
    uncertain = held.count(UNCERTAIN)
    if uncertain:
        mid = "LISN_DELIVERY_UNCERTAIN"
        step(ctx, submission_id, "delivery-uncertain", messages.bilingual(mid, count=uncertain), reason_id=mid)
    elif any(s == WITHHELD for s in held):
        step(ctx, submission_id, "withheld", f"{held.count(WITHHELD)} delivery(ies) withheld")


def _verdict(message: OutboxMessage, ctx: Context) -> permit.Verdict:
    return permit.may_leave(message, ctx.tx, ctx.clock.now())


def recipients_of(certificate_id: str, care_unit: str | None, ctx: Context) -> list[str]:
    """Kommunkoder that received, or are about to receive, ``care_unit``'s certificate ``certificate_id``
    (withdrawals aside)."""
    found = ctx.tx.messages(Match(certificate_id=certificate_id, care_unit=care_unit,
                                  kinds=("certificate", "replacement"),
                                  states=LIVE + RECEIVED + (UNCERTAIN,)))
    return sorted({m.kommunkod for m in found})


# -- withdrawal ----------------------------------------------------------------------------------

def original(certificate_id: str | None, care_unit: str | None, ctx: Context) -> SubmissionRecord | None:
    """The accepted certificate (or replacement) ``certificate_id`` that ``care_unit`` issued. Another
    care unit's certificate under the same id is another certificate: never this one (issue 13)."""
    for row in ctx.tx.submissions_of(certificate_id or "", care_unit or ""):
        if row.accepted_key and row.event in ("certificate", "certificate-replacement"):
            return row
    return None


def withdrawal_precondition(sub: Submission, ctx: Context) -> errors.AdapterError | None:
    """A withdrawal comes from the care unit that issued the certificate, after the certificate."""
    if sub.event != "certificate-withdrawal":
        return None
    # Only the issuing care unit withdraws its certificate: another care unit's withdrawal under the
    # same id names a certificate of its own that does not exist, and is answered exactly so.
    first = original(sub.certificate_id, sub.care_unit_hsa, ctx)
    if first is not None:
        return None
    mid = "LISN_WITHDRAWAL_BEFORE_CERTIFICATE"
    error = errors.RetryLater(messages.bilingual(mid), message_id=mid,
                              expression="Bundle.entry.resource.ofType(QuestionnaireResponse).identifier")
    found = sub.patient_identifier
    return refuse(ctx, error, action="withdraw", patient=found[1] if found else None,
                  certificate=sub.certificate_id, outcome="retry-later")


def replacement_precondition(sub: Submission, ctx: Context) -> errors.AdapterError | None:
    """A replacement comes from the care unit that issued the certificate it replaces, for the same patient."""
    if sub.event != "certificate-replacement" or not sub.replaces:
        return None
    # Only the issuing care unit's own certificates can be replaced: ``replaces`` from another care
    # unit names a certificate of that unit (unknown here: replaced as one not yet received).
    first = original(sub.replaces, sub.care_unit_hsa, ctx)
    if first is None:
        return None
    patient = sub.patient_identifier
    if patient is None or (first.patient_system, first.patient_value) != patient:
        mid = "LISN_REPLACEMENT_OTHER_PATIENT"
        error = errors.ValidationFailed(messages.bilingual(mid), message_id=mid,
                                        expression="Bundle.entry.resource.ofType(Patient).identifier")
        return refuse(ctx, error, action="replace", patient=first.patient_value, certificate=sub.certificate_id,
                      outcome="rejected")
    return None


def withdraw(row: SubmissionRecord, ctx: Context) -> None:
    """Cancel what never left; send a signed withdrawal wherever the certificate went or is going."""
    first = original(row.certificate_id, row.care_unit_hsa, ctx)
    cert = row.certificate_id or ""
    doc: bytes | None = None
    for kommunkod in recipients_of(cert, row.care_unit_hsa, ctx):
        never_sent = Match(certificate_id=cert, care_unit=row.care_unit_hsa, kommunkod=kommunkod,
                           kinds=("certificate", "replacement"),
                           states=(PENDING,), never_sent=True)
        # One statement: it re-checks "never sent" after waiting for a worker's concurrent claim.
        if ctx.tx.update_messages(never_sent, {"state": WITHDRAWN, "last_error": "withdrawn before delivery"},
                                  at=ctx.clock.now()):
            continue
        doc = doc or document(row.bundle or {}, "certificate-withdrawal", None, ctx)
        enqueue(row, kommunkod, doc, ctx)
    if first is not None:
        stats.note_withdrawn(first.id, ctx.tx)
        step(ctx, first.id, "withdrawn", messages.bilingual("LISN_WITHDRAWN"), reason_id="LISN_WITHDRAWN")
    step(ctx, row.id, "released", messages.bilingual("LISN_WITHDRAWAL_QUEUED"), reason_id="LISN_WITHDRAWAL_QUEUED")
