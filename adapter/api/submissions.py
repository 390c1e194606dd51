"""Submissions: ``$process-message``, ``$validate``, and the submission status as a ``Task``."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, request

from adapter import errors, messages
from adapter.api import http
from adapter.api.auth import current_client, require_role
from adapter.api.service import run, service
from adapter.fhir.parse import parse_json
from adapter.flows import reads
from adapter.flows.submit import submit

bp = Blueprint("submissions", __name__, url_prefix="/fhir")

_OP = "https://lisn.se/fhir/OperationDefinition"
CAPABILITY = {
    "*": {"operation": [("process-message", "http://hl7.org/fhir/OperationDefinition/MessageHeader-process-message")]},
    "Bundle": {"operation": [("validate", "http://hl7.org/fhir/OperationDefinition/Resource-validate")]},
    "QuestionnaireResponse": {"operation": [("validate", "http://hl7.org/fhir/OperationDefinition/Resource-validate")]},
    "Task": {"interaction": ["read", "search-type"], "searchParam": [("focus", "reference")]},
}


@bp.post("/$process-message")
@require_role("sender")
def process_message() -> Any:
    fmt = request.args.get("format", "fhir-json")
    http.require_content_type(http.JSON_TYPES if fmt == "fhir-json" else http.JSON_TYPES + http.XML_TYPES)
    raw = http.read_body(service().settings.limits.max_body_bytes,
                          service().settings.limits.body_read_seconds)
    inputs = _inputs()
    result = run(lambda ctx: submit(raw, ctx, fmt=fmt, inputs=inputs))
    headers = {}
    if not isinstance(result, errors.AdapterError):
        headers["Location"] = f"{service().base_url}/{_task_ref(result)}"
    return http.answer(result, headers=headers)


def _inputs() -> dict[str, str]:
    """Side inputs of an export's mapping: ``set=NAME=VALUE`` query parameters, as ``adapter convert --set``."""
    from adapter.inbound.inputs import parse_assignments

    return parse_assignments(request.args.getlist("set"))


def _task_ref(receipt: dict[str, Any]) -> str:
    return str(receipt["entry"][0]["resource"]["focus"][0]["reference"])


def _validate(expected: str) -> Any:
    current_client()
    http.require_content_type(http.JSON_TYPES)
    raw = http.read_body(service().settings.limits.max_body_bytes,
                          service().settings.limits.body_read_seconds)
    resource = parse_json(raw, service().settings.limits)
    if isinstance(resource, dict) and resource.get("resourceType") == "Parameters":
        resource = next((p.get("resource") for p in resource.get("parameter") or []
                         if isinstance(p, dict) and p.get("name") == "resource"), None)
    got = resource.get("resourceType") if isinstance(resource, dict) else type(resource).__name__
    if got != expected:
        mid = "LISN_VALIDATE_WRONG_TYPE"
        raise errors.InputRejected(messages.bilingual(mid, expected=expected, got=str(got)[:50]),
                                   message_id=mid, expression="resourceType")
    # $validate reports the issues; the operation itself succeeded (FHIR R4 Resource-validate).
    return http.fhir_response(service().stages.validate(resource, service().registry), 200)


@bp.post("/Bundle/$validate")
def validate_bundle() -> Any:
    return _validate("Bundle")


@bp.post("/QuestionnaireResponse/$validate")
def validate_response() -> Any:
    return _validate("QuestionnaireResponse")


@bp.get("/Task/<task_id>")
@require_role("sender", "municipality", "admin")
def read_task(task_id: str) -> Any:
    http.checked(task_id, what="id")
    return http.answer(run(lambda ctx: reads.read_task(task_id, ctx)))


@bp.get("/Task")
@require_role("sender", "municipality", "admin")
def search_tasks() -> Any:
    focus = http.checked(_one_param("focus"), what="focus", search=True)
    return http.answer(run(lambda ctx: reads.search_tasks(focus, ctx)))


def _one_param(name: str, allowed: tuple[str, ...] = ("_format",)) -> str:
    unknown = sorted(set(request.args) - {name, *allowed})
    if unknown:
        mid = "LISN_SEARCH_PARAM_UNKNOWN"
        raise errors.InputRejected(messages.bilingual(mid, param=unknown[0]), message_id=mid)
    value = request.args.get(name, "").strip()
    if not value:
        mid = "LISN_SEARCH_PARAM_REQUIRED"
        raise errors.InputRejected(messages.bilingual(mid, param=name), message_id=mid)
    return value
