"""Consent decides, then the outbox: release, withhold, withdraw.

Every consent decision about a stored submission is made by :func:`decide`, and every document
enters the outbox through :func:`enqueue` (a withheld message comes back only through it). A
revoked consent withholds what has not gone yet (:func:`withhold`); a withdrawal follows the
certificate wherever it went (:func:`withdraw`).
"""

from __future__ import annotations

from adapter import errors, messages
from adapter.consent import CertificateFacts, Decision, decide_consent
from adapter.delivery.idempotency import idempotency_key
from adapter.fhir.submission import XML_STATUS_BY_EVENT, Submission
from adapter.flows import stats
from adapter.flows.context import Context, Resource, refuse, step
from adapter.flows.ports import LIVE, PENDING, RECEIVED, WITHDRAWN, WITHHELD, DecisionRecord, Match, SubmissionRecord

# What a submission's event puts in the outbox (``adapter.delivery.Kind``).
KIND_BY_EVENT = {"certificate": "certificate", "certificate-replacement": "replacement",
                 "certificate-withdrawal": "withdrawal"}
WAITING_STATUSES = ("awaiting-consent", "consent-ok", "released", "withheld")


# -- the consent decision ------------------------------------------------------------------------

def decide(row: SubmissionRecord, ctx: Context, *, previous: str | None = None) -> Decision:
    """Decide on the patient's stored consents; store the decision, and a step when it changed."""
    facts = CertificateFacts(certificate_id=row.certificate_id or "", patient_system=row.patient_system or "",
                             patient_value=row.patient_value or "", kommunkod=row.kommunkod or "")
    stored = ctx.tx.consents_of((facts.patient_system, facts.patient_value))
    decision = decide_consent(facts, [c.resource for c in stored], ctx.clock.now())
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
    """Decide again for each waiting or undelivered submission of the patient; release or withhold."""
    ctx.tx.lock_patient(patient[1])
    for row in ctx.tx.waiting(patient, WAITING_STATUSES):
        if row.event == "certificate-withdrawal":
            continue
        before = ctx.tx.latest_decision(row.id)
        was_permitted = before is not None and before.decision == "permit"
        decision = decide(row, ctx, previous=before.decision if before else None)
        if decision.permitted and not was_permitted:
            release(row, ctx)
        elif was_permitted and not decision.permitted:
            withhold(row.id, ctx)


# -- the outbox ----------------------------------------------------------------------------------

def document(bundle: Resource, event: str, replaces: str | None, ctx: Context) -> bytes:
    """The signed municipal XML of a submission."""
    xml = ctx.stages.render(bundle, registry=ctx.registry, status=XML_STATUS_BY_EVENT[event], replaces=replaces)
    return ctx.stages.sign(xml)


def enqueue(row: SubmissionRecord, kommunkod: str, doc: bytes, ctx: Context, *, replaces: str | None = None) -> None:
    """Queue ``doc`` for ``kommunkod``. The same key twice is a no-op, except that a message
    withheld by a revoked consent is released again (a new consent permits it)."""
    kind = KIND_BY_EVENT[row.event or "certificate"]
    key = idempotency_key(row.certificate_id or "", kommunkod, kind)
    if ctx.tx.messages(Match(key=key)):
        ctx.tx.update_messages(Match(key=key, states=(WITHHELD,)),
                               {"state": PENDING, "next_attempt_at": ctx.clock.now()}, at=ctx.clock.now())
        return
    ctx.tx.enqueue(key=key, submission_id=row.id, certificate_id=row.certificate_id or "", kommunkod=kommunkod,
                   kind=kind, document=doc, replaces=replaces, at=ctx.clock.now())


def release(row: SubmissionRecord, ctx: Context) -> int:
    """Render, sign and queue the certificate (a replacement also to every receiver of the original)."""
    targets = {row.kommunkod or ""}
    if row.event == "certificate-replacement" and row.replaces:
        targets.update(recipients_of(row.replaces, ctx))
    doc = document(row.bundle or {}, row.event or "certificate", row.replaces, ctx)
    for kommunkod in sorted(targets):
        enqueue(row, kommunkod, doc, ctx, replaces=row.replaces)
    return len(targets)


def withhold(submission_id: str, ctx: Context) -> int:
    """Consent revoked: everything of the submission not yet delivered is withheld. Returns the count.

    A message a worker is pushing right now may still arrive; its receipt is then refused by
    the fence (the state is no longer pending) and it stays withheld (see docs/delivery.md)."""
    count = ctx.tx.update_messages(Match(submission_id=submission_id, states=LIVE),
                                   {"state": WITHHELD, "last_error": "consent revoked"}, at=ctx.clock.now())
    if count:
        step(ctx, submission_id, "withheld", f"{count} delivery(ies) withheld")
    return count


def recipients_of(certificate_id: str, ctx: Context) -> list[str]:
    """Kommunkoder that received, or are about to receive, ``certificate_id`` (withdrawals aside)."""
    found = ctx.tx.messages(Match(certificate_id=certificate_id, kinds=("certificate", "replacement"),
                                  states=LIVE + RECEIVED))
    return sorted({m.kommunkod for m in found})


# -- withdrawal ----------------------------------------------------------------------------------

def original(certificate_id: str | None, ctx: Context) -> SubmissionRecord | None:
    for row in ctx.tx.submissions_of(certificate_id or ""):
        if row.accepted_key and row.event in ("certificate", "certificate-replacement"):
            return row
    return None


def withdrawal_precondition(sub: Submission, ctx: Context) -> errors.AdapterError | None:
    """A withdrawal comes from the care unit that issued the certificate, after the certificate."""
    if sub.event != "certificate-withdrawal":
        return None
    first = original(sub.certificate_id, ctx)
    if first is not None and first.care_unit_hsa != sub.care_unit_hsa:
        mid = "LISN_WITHDRAWAL_OTHER_CARE_UNIT"  # only the issuing care unit withdraws its certificate
        return refuse(ctx, errors.Forbidden(messages.bilingual(mid), message_id=mid), action="withdraw",
                      patient=first.patient_value, certificate=sub.certificate_id)
    if first is not None:
        return None
    mid = "LISN_WITHDRAWAL_BEFORE_CERTIFICATE"
    error = errors.RetryLater(messages.bilingual(mid), message_id=mid,
                              expression="Bundle.entry.resource.ofType(QuestionnaireResponse).identifier")
    found = sub.patient_identifier
    return refuse(ctx, error, action="withdraw", patient=found[1] if found else None,
                  certificate=sub.certificate_id, outcome="retry-later")


def withdraw(row: SubmissionRecord, ctx: Context) -> None:
    """Cancel what never left; send a signed withdrawal wherever the certificate went or is going."""
    first = original(row.certificate_id, ctx)
    cert = row.certificate_id or ""
    doc: bytes | None = None
    for kommunkod in recipients_of(cert, ctx):
        never_sent = Match(certificate_id=cert, kommunkod=kommunkod, kinds=("certificate", "replacement"),
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
