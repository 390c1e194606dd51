"""GET /fhir/metadata: the CapabilityStatement, built from what the API modules declare.

Each API module that serves FHIR interactions declares them in ``CAPABILITY``:
``{"ResourceType": {"interaction": [...], "searchParam": [...], "operation": [...]}}`` and,
for system-level operations, ``"*": {"operation": [...]}``. A test checks that every route
is declared and every declaration has a route, so the statement lists exactly what is supported.
"""

from __future__ import annotations

import importlib
import pkgutil
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


def _resource(rtype: str, parts: dict[str, list[Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {"type": rtype}
    if parts.get("profile"):
        out["profile"] = parts["profile"][0]
    out["interaction"] = [{"code": c} for c in parts.get("interaction", [])]
    if parts.get("searchParam"):
        out["searchParam"] = [{"name": n, "type": t} for n, t in parts["searchParam"]]
    if parts.get("operation"):
        out["operation"] = [{"name": n, "definition": d} for n, d in parts["operation"]]
    return out


def capability_statement() -> dict[str, Any]:
    decl = declarations()
    system = decl.pop("*", {})
    present = {r.get("resourceType") for r in service().registry.all()}
    conformance = decl.pop("<conformance>", {})
    for rtype in sorted(t for t in present if t):
        decl.setdefault(rtype, {}).update({k: list(v) for k, v in conformance.items()})
    rest: dict[str, Any] = {
        "mode": "server",
        "security": {"cors": False, "description": "API tokens (Authorization: Bearer) or client "
                     "certificates through a trusted reverse proxy; roles sender, municipality, admin."},
        "resource": [_resource(t, decl[t]) for t in sorted(decl)],
    }
    if system.get("operation"):
        rest["operation"] = [{"name": n, "definition": d} for n, d in system["operation"]]
    return {
        "resourceType": "CapabilityStatement", "status": "active", "date": "2026-11-23", "kind": "instance",
        "software": {"name": "LISN adapter"}, "implementation": {"description": "LISN adapter",
                                                                  "url": service().base_url},
        "fhirVersion": "4.0.1", "format": ["application/fhir+json"], "rest": [rest],
    }


@bp.get("/metadata")
def metadata() -> Any:
    return fhir_response(capability_statement())
