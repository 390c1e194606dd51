"""Make a Consent self-contained, so that the decision needs nothing but the resource.

A Consent inside a submission Bundle points at the Patient and the socialnämnd by
``fullUrl``; a Consent registered on its own carries identifiers (``Reference.identifier``)
or contained resources. :func:`inline_references` copies the identifier of each
referenced resource into the Reference, keeping the original ``reference``.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from adapter.fhir import identifiers as ids

Resource = dict[str, Any]
Resolver = Callable[[Any], "Resource | None"]

_PERSON_SYSTEMS = (ids.PERSONNUMMER, ids.SAMORDNINGSNUMMER)


def first_identifier(resource: Resource | None, *systems: str) -> dict[str, str] | None:
    """The first identifier of ``resource`` in one of ``systems`` (system normalised)."""
    for ident in (resource or {}).get("identifier") or []:
        if isinstance(ident, dict) and isinstance(ident.get("value"), str):
            system = ids.normalise_system(ident.get("system"))
            if system in systems:
                return {"system": system, "value": ident["value"]}
    return None


def _contained(consent: Resource, ref: Any) -> Resource | None:
    target = ref.get("reference") if isinstance(ref, dict) else None
    if not (isinstance(target, str) and target.startswith("#")):
        return None
    for res in consent.get("contained") or []:
        if isinstance(res, dict) and res.get("id") == target[1:]:
            return res
    return None


def reference_identifier(consent: Resource, ref: Any, *systems: str) -> dict[str, str] | None:
    """The identifier a Reference names: its own ``identifier`` or that of a contained resource."""
    if not isinstance(ref, dict):
        return None
    own = ref.get("identifier")
    if isinstance(own, dict) and isinstance(own.get("value"), str):
        system = ids.normalise_system(own.get("system"))
        if system in systems:
            return {"system": system, "value": own["value"]}
    return first_identifier(_contained(consent, ref), *systems)


def patient_identifier(consent: Resource) -> dict[str, str] | None:
    """The personnummer or samordningsnummer of the Consent's patient, if it can be told."""
    return reference_identifier(consent, consent.get("patient"), *_PERSON_SYSTEMS)


def _inline(ref: Any, resolve: Resolver, systems: tuple[str, ...]) -> None:
    if not isinstance(ref, dict) or "identifier" in ref:
        return
    found = first_identifier(resolve(ref), *systems)
    if found:
        ref["identifier"] = found


def _provisions(provision: Any) -> list[Resource]:
    out: list[Resource] = []
    stack = [provision]
    while stack:
        p = stack.pop()
        if isinstance(p, dict):
            out.append(p)
            stack.extend(p.get("provision") or [])
    return out


def json_copy(value: Any) -> Any:
    """A deep copy of parsed JSON (objects, arrays and immutable scalars), as ``copy.deepcopy``
    makes it at a fraction of its cost (no memo: parsed JSON shares no object between two places);
    any other value is copied by ``copy.deepcopy``."""
    kind = type(value)
    if kind is dict:
        return {k: json_copy(v) for k, v in value.items()}
    if kind is list:
        return [json_copy(v) for v in value]
    if kind in _SCALARS:
        return value
    return copy.deepcopy(value)


_SCALARS = frozenset({str, int, float, bool, type(None), Decimal})


def inline_references(consent: Resource, resolve: Resolver) -> Resource:
    """A copy of ``consent`` whose patient, organization, actor and data references carry identifiers."""
    out: Resource = json_copy(consent)
    _inline(out.get("patient"), resolve, _PERSON_SYSTEMS)
    for org in out.get("organization") or []:
        _inline(org, resolve, (ids.HSA_ID,))  # the care unit: who may later revoke it
    for provision in _provisions(out.get("provision")):
        for actor in provision.get("actor") or []:
            if isinstance(actor, dict):
                _inline(actor.get("reference"), resolve, (ids.KOMMUNKOD,))
        for data in provision.get("data") or []:
            ref = data.get("reference") if isinstance(data, dict) else None
            target = resolve(ref) if isinstance(ref, dict) and "identifier" not in ref else None
            if isinstance(ref, dict) and target and isinstance(target.get("identifier"), dict):
                ref["identifier"] = dict(target["identifier"])  # QR.identifier is a single Identifier
    return out
