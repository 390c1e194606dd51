"""Read and search the conformance resources of ``profiles/`` (from the registry), public.

``GET /fhir/<Type>/<id>`` and ``GET /fhir/<Type>?url=...&version=...`` for the types the
registry holds (Questionnaire, StructureDefinition, CodeSystem, ValueSet, NamingSystem, ...).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, request

from adapter import errors, messages
from adapter.api.http import fhir_response
from adapter.api.service import service
from adapter.fhir.registry import CONFORMANCE_TYPES, version_key

bp = Blueprint("conformance", __name__, url_prefix="/fhir")
_TYPES = "any(" + ", ".join(sorted(CONFORMANCE_TYPES)) + "):rtype"

CAPABILITY = {"<conformance>": {"interaction": ["read", "search-type"],
                                "searchParam": [("url", "uri"), ("version", "token")]}}
_PARAMS = {"url", "version", "_format"}


def _known_type(rtype: str) -> None:
    if not any(True for _ in service().registry.all(rtype)):
        raise errors.NotFound(messages.bilingual("LISN_ROUTE_NOT_FOUND"), message_id="LISN_ROUTE_NOT_FOUND")


@bp.get(f"/<{_TYPES}>/<rid>")
def read(rtype: str, rid: str) -> Any:
    _known_type(rtype)
    found = service().registry.by_id(rtype, rid)
    if found is None:
        mid = "LISN_CONFORMANCE_NOT_FOUND"
        raise errors.NotFound(messages.bilingual(mid, type=rtype, id=rid), message_id=mid)
    return fhir_response(found)


@bp.get(f"/<{_TYPES}>")
def search(rtype: str) -> Any:
    _known_type(rtype)
    unknown = sorted(set(request.args) - _PARAMS)
    if unknown:
        mid = "LISN_SEARCH_PARAM_UNKNOWN"
        raise errors.InputRejected(messages.bilingual(mid, param=unknown[0]), message_id=mid)
    url, version = request.args.get("url"), request.args.get("version")
    found = [r for r in service().registry.all(rtype)
             if (url is None or r.get("url") == url) and (version is None or r.get("version") == version)]
    found.sort(key=lambda r: (r.get("url") or "", version_key(r.get("version"))))
    base = service().base_url
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset", "total": len(found)}
    if found:  # no empty arrays in FHIR JSON
        bundle["entry"] = [{"fullUrl": f"{base}/{rtype}/{r.get('id')}", "resource": r,
                            "search": {"mode": "match"}} for r in found]
    return fhir_response(bundle)
