"""FHIR views of stored state: the submission's Task and the receipt of ``$process-message``.

The Task (https://hl7.org/fhir/R4/task.html) shows one submission:
``businessStatus`` is the current step (system ``https://lisn.se/fhir/CodeSystem/lisn-submission-status``),
``focus`` names the certificate by identifier, and ``output`` lists the history, one entry per step,
oldest first: ``type`` is the step's code with the reason as text, ``valueDateTime`` its time.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from adapter.clock import fhir_instant
from adapter.fhir import identifiers as ids
from adapter.fhir.submission import EVENT_SYSTEM
from adapter.flows.ports import DecisionRecord, StatusStep, SubmissionRecord

STATUS_SYSTEM = f"{ids.CANONICAL_BASE}/CodeSystem/lisn-submission-status"
SUBMISSION_SYSTEM = f"{ids.CANONICAL_BASE}/sid/submission"
INPUT_SYSTEM = f"{ids.CANONICAL_BASE}/CodeSystem/lisn-task-input"

# Task.status (FHIR's workflow state) for each business step.
_TASK_STATUS = {
    "received": "received", "validated": "accepted", "awaiting-consent": "on-hold",
    "consent-ok": "in-progress", "released": "in-progress", "rejected": "rejected",
    "delivered": "in-progress", "acknowledged": "completed", "withheld": "on-hold",
    "withdrawn": "cancelled", "dead-lettered": "failed", "delivery-uncertain": "on-hold",
}


def fhir_time(moment: datetime) -> str:
    """A step's time as a FHIR dateTime (milliseconds tell apart steps of one request)."""
    return fhir_instant(moment, "milliseconds")


def _step(event: StatusStep) -> dict[str, Any]:
    kind: dict[str, Any] = {"coding": [{"system": STATUS_SYSTEM, "code": event.status}]}
    if event.reason:
        kind["text"] = event.reason
    return {"type": kind, "valueDateTime": fhir_time(event.at)}


def build_task(sub: SubmissionRecord, steps: Sequence[StatusStep], *,
               decision: DecisionRecord | None = None) -> dict[str, Any]:
    """The Task resource of a submission from its stored status history. ``decision``: the latest
    consent decision; the Task then names the Consent it rests on and the consent scope (the care
    unit that discloses: only Consents naming it in ``Consent.organization`` count)."""
    last = steps[-1] if steps else None
    task: dict[str, Any] = {
        "resourceType": "Task", "id": sub.id,
        "meta": {"lastUpdated": fhir_time(last.at if last else sub.received_at)},
        "identifier": [{"system": SUBMISSION_SYSTEM, "value": sub.id}],
        "status": _TASK_STATUS.get(sub.status, "in-progress"), "intent": "order",
        "businessStatus": {"coding": [{"system": STATUS_SYSTEM, "code": sub.status}]},
        "authoredOn": fhir_time(sub.received_at),
    }
    if last and last.reason:
        task["businessStatus"]["text"] = last.reason
    if sub.event:
        task["code"] = {"coding": [{"system": EVENT_SYSTEM, "code": sub.event}]}
    if sub.certificate_id:
        task["focus"] = {"type": "QuestionnaireResponse",
                         "identifier": {"system": ids.CERTIFICATE_ID, "value": sub.certificate_id}}
    if sub.patient_value:
        task["for"] = {"identifier": {"system": sub.patient_system, "value": sub.patient_value}}
    if last:
        task["lastModified"] = fhir_time(last.at)
    if sub.care_unit_hsa:
        task["requester"] = {"identifier": {"system": ids.HSA_ID, "value": sub.care_unit_hsa}}
    if sub.kommunkod:
        task["owner"] = {"identifier": {"system": ids.KOMMUNKOD, "value": sub.kommunkod}}
    if sub.status == "rejected" and last and last.reason:
        task["statusReason"] = {"text": last.reason}
    if sub.care_unit_hsa and sub.event != "certificate-withdrawal":
        task["input"] = [{"type": {"coding": [{"system": INPUT_SYSTEM, "code": "consent-scope"}],
                                   "text": "Consents that count: those naming this care unit in Consent.organization"},
                          "valueIdentifier": {"system": ids.HSA_ID, "value": sub.care_unit_hsa}}]
        if decision is not None and decision.consent_id:
            task["input"].append({"type": {"coding": [{"system": INPUT_SYSTEM, "code": "consent"}],
                                           "text": f"consent decision: {decision.decision}"},
                                  "valueReference": {"reference": f"Consent/{decision.consent_id}"}})
    task["output"] = [_step(s) for s in steps]
    return task


def receipt_bundle(*, request_header: dict[str, Any] | None, task: dict[str, Any],
                   outcome: dict[str, Any], base_url: str, now: datetime, message_id: str) -> dict[str, Any]:
    """The synchronous answer to ``$process-message``: a response message with the Task and the outcome."""
    header: dict[str, Any] = {
        "resourceType": "MessageHeader", "id": message_id,
        "eventCoding": (request_header or {}).get("eventCoding") or {"system": EVENT_SYSTEM, "code": "certificate"},
        "source": {"name": "LISN adapter", "endpoint": base_url},
        "response": {"identifier": str((request_header or {}).get("id") or "unknown"), "code": "ok"},
        "focus": [{"reference": f"Task/{task['id']}"}],
    }
    return {
        "resourceType": "Bundle", "id": message_id, "type": "message",
        "timestamp": fhir_instant(now),
        "entry": [
            {"fullUrl": f"{base_url}/MessageHeader/{message_id}", "resource": header},
            {"fullUrl": f"{base_url}/Task/{task['id']}", "resource": task},
            {"fullUrl": f"urn:uuid:{uuid.uuid4()}", "resource": outcome},
        ],
    }
