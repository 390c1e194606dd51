"""GET /fhir/metadata: the CapabilityStatement, built from what the API modules declare.

Each API module that serves FHIR interactions declares them in ``CAPABILITY``:
``{"ResourceType": {"interaction": [...], "searchParam": [...], "operation": [...]}}`` and,
for system-level operations, ``"*": {"operation": [...]}``. A test checks that every route
is declared and every declaration has a route, so the statement lists exactly what is supported.
"""

from __future__ import annotations

import importlib
import pkgutil
from importlib.metadata import version as dist_version
from typing import Any

from flask import Blueprint

import adapter.api as api_package
from adapter.api.http import fhir_response
from adapter.api.service import service

bp = Blueprint("capability", __name__, url_prefix="/fhir")

CAPABILITY: dict[str, dict[str, list[Any]]] = {}


def declarations() -> dict[str, dict[str, list[Any]]]:
    merged: dict[str, dict[str, list[Any]]] = {}
    for mod in sorted(pkgutil.iter_modules(api_package.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{api_package.__name__}.{mod.name}")
        for rtype, parts in getattr(module, "CAPABILITY", {}).items():
            target = merged.setdefault(rtype, {})
            for key, values in parts.items():
                target.setdefault(key, []).extend(values)
    return merged


def _canonical(res: dict[str, Any]) -> str:
    return f"{res['url']}|{res['version']}" if res.get("version") else str(res["url"])


def _resource(rtype: str, parts: dict[str, list[Any]], profiles: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {"type": rtype}
    if parts.get("profile"):
        out["profile"] = parts["profile"][0]
    if profiles:
        out["supportedProfile"] = profiles
    if parts.get("interaction"):
        out["interaction"] = [{"code": c} for c in parts["interaction"]]
    if parts.get("searchParam"):
        out["searchParam"] = [{"name": n, "type": t} for n, t in parts["searchParam"]]
    if parts.get("operation"):
        out["operation"] = [{"name": n, "definition": d} for n, d in parts["operation"]]
    return out


def _supported_profiles(registry: Any) -> dict[str, list[str]]:
    """Resource type -> the package's profiles of it (``url|version``)."""
    out: dict[str, list[str]] = {}
    for sd in registry.all("StructureDefinition"):
        if sd.get("derivation") == "constraint" and sd.get("kind") == "resource":
            out.setdefault(str(sd["type"]), []).append(_canonical(sd))
    return {t: sorted(p) for t, p in out.items()}


def _messaging(registry: Any) -> list[dict[str, Any]]:
    """The messages ``$process-message`` receives: one MessageDefinition per event (its focus inside)."""
    supported = [{"mode": "receiver", "definition": _canonical(md)}
                 for md in sorted(registry.all("MessageDefinition"), key=lambda r: str(r["url"]))]
    if not supported:
        return []
    return [{"documentation": "POST /fhir/$process-message: a Bundle of type message (profile lisn-submission); "
             "the event is MessageHeader.eventCoding, the focus the certificate (QuestionnaireResponse). "
             "The answer is a response message, synchronously.", "supportedMessage": supported}]


def capability_statement() -> dict[str, Any]:
    decl = declarations()
    system = decl.pop("*", {})
    registry = service().registry
    present = {r.get("resourceType") for r in registry.all()}
    conformance = decl.pop("<conformance>", {})
    for rtype in sorted(t for t in present if t):
        decl.setdefault(rtype, {}).update({k: list(v) for k, v in conformance.items()})
    profiles = _supported_profiles(registry)
    rest: dict[str, Any] = {
        "mode": "server",
        "security": {"cors": False, "description": "API tokens (Authorization: Bearer) or client "
                     "certificates through a trusted reverse proxy; roles sender, municipality, admin."},
        "resource": [_resource(t, decl[t], profiles.get(t, [])) for t in sorted(decl)],
    }
    if system.get("operation"):
        rest["operation"] = [{"name": n, "definition": d} for n, d in system["operation"]]
    statement: dict[str, Any] = {
        "resourceType": "CapabilityStatement", "name": "LisnAdapter", "title": "LISN adapter",
        "status": "active", "date": "2026-11-23", "kind": "instance",
        "software": {"name": "LISN adapter", "version": dist_version("lisn-adapter")},
        "implementation": {"description": "LISN adapter", "url": service().base_url},
        "fhirVersion": "4.0.1", "format": ["application/fhir+json"],
    }
    guides = sorted(_canonical(ig) for ig in registry.all("ImplementationGuide"))
    if guides:
        statement["implementationGuide"] = guides
    statement["rest"] = [rest]
    messaging = _messaging(registry)
    if messaging:
        statement["messaging"] = messaging
    return statement


@bp.get("/metadata")
def metadata() -> Any:
    return fhir_response(capability_statement())
