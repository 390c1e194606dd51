"""Consent: create, read, search by patient, and revoke (``POST /fhir/Consent/<id>/$revoke``)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, request

from adapter import errors, messages
from adapter.api import http
from adapter.api.auth import require_role
from adapter.api.service import run, service
from adapter.flows import consents, reads

bp = Blueprint("consents", __name__, url_prefix="/fhir")

CAPABILITY = {"Consent": {
    "profile": ["https://lisn.se/fhir/StructureDefinition/lisn-consent"],
    "interaction": ["create", "read", "search-type"],
    "searchParam": [("patient", "reference")],
    "operation": [("revoke", "https://lisn.se/fhir/OperationDefinition/Consent-revoke")],
}}


@bp.post("/Consent")
@require_role("sender", "admin")
def create() -> Any:
    http.require_content_type(http.JSON_TYPES)
    raw = http.read_body(service().settings.limits.max_body_bytes,
                          service().settings.limits.body_read_seconds)
    result = run(lambda ctx: consents.register_consent(raw, ctx))
    headers = {}
    if not isinstance(result, errors.AdapterError):
        # No vread here (only the current version is kept), so Location names the resource itself.
        headers["Location"] = f"{service().base_url}/Consent/{result['id']}"
        headers["ETag"] = f'W/"{result["meta"]["versionId"]}"'
    return http.answer(result, status=201, headers=headers)


@bp.get("/Consent/<consent_id>")
@require_role("sender", "municipality", "admin")
def read(consent_id: str) -> Any:
    http.checked(consent_id, what="id")
    return http.answer(run(lambda ctx: reads.read_consent(consent_id, ctx)))


@bp.get("/Consent")
@require_role("sender", "municipality", "admin")
def search() -> Any:
    names = [n for n in request.args if n != "_format"]
    if names not in (["patient"], ["patient:identifier"]):
        mid = "LISN_SEARCH_PARAM_REQUIRED" if not names else "LISN_SEARCH_PARAM_UNKNOWN"
        bad = next((n for n in names if n not in ("patient", "patient:identifier")), "patient")
        raise errors.InputRejected(messages.bilingual(mid, param=bad), message_id=mid)
    patient = request.args.get(names[0], "").strip()
    if not patient:
        raise errors.InputRejected(messages.bilingual("LISN_SEARCH_PARAM_REQUIRED", param="patient"),
                                   message_id="LISN_SEARCH_PARAM_REQUIRED")
    http.checked(patient, what="patient", search=True)
    return http.answer(run(lambda ctx: reads.search_consents(patient, ctx)))


@bp.post("/Consent/<consent_id>/$revoke")
@require_role("sender", "admin")
def revoke(consent_id: str) -> Any:
    http.checked(consent_id, what="id")
    return http.answer(run(lambda ctx: consents.revoke_consent(consent_id, ctx)))
