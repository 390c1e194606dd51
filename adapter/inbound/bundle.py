"""The submission message Bundle (docs/architecture.md, "The submission Bundle"), built from mapped values.

Ids are never random and never the current time: every ``fullUrl`` and ``id`` is a UUIDv5 of
the certificate id under one fixed namespace, and ``Bundle.timestamp`` comes from the source's
own timestamps. The same export therefore always gives the same Bundle, byte for byte, and a
re-import is recognisably the same certificate.
"""

from __future__ import annotations

import uuid
from typing import Any, cast

from adapter.fhir import identifiers as ids
from adapter.fhir.registry import Registry
from adapter.fhir.submission import EVENT_SYSTEM, REPLACES_URL, SE_SECURITY_LABELS, lisn_qr_profile
from adapter.inbound.codes import display_for

# uuid5(NAMESPACE_URL, "https://lisn.se/fhir/inbound"): fixed forever, or re-imports change ids.
NAMESPACE = uuid.UUID("97740387-ab66-5b67-a87c-3267f85a9171")
PROFILE = f"{ids.CANONICAL_BASE}/StructureDefinition/"
SIGNATURE_TYPE = {"system": "urn:iso-astm:E1762-95:2013", "code": "1.2.840.10065.1.12.1.1",
                  "display": "Author's Signature"}

# Header fields a mapping can target, with the conversion each one takes.
HEADER_FIELDS: dict[str, str] = {
    "certificate.id": "string", "questionnaire": "string", "status": "string", "authored": "dateTime",
    "timestamp": "dateTime", "event": "string", "replaces": "string",
    "patient.identifier": "identifier", "patient.name": "string", "patient.family": "string",
    "patient.given": "string", "patient.security": "string", "patient.securityLabel": "string",
    "practitioner.identifier": "identifier", "practitioner.name": "string",
    "practitioner.qualification": "coding", "practitioner.role": "coding",
    "practitioner.family": "string", "practitioner.given": "string",
    "careUnit.identifier": "identifier", "careUnit.name": "string", "careUnit.line": "string",
    "careUnit.postalCode": "string", "careUnit.city": "string", "careUnit.phone": "string",
    "careProvider.identifier": "identifier", "careProvider.name": "string",
    "recipient.kommunkod": "string", "recipient.name": "string", "recipient.orgnr": "string",
    "source.name": "string", "source.software": "string", "source.version": "string",
    "source.endpoint": "string", "consent": "resource",
}
# Without these there is no submission (the profiles require them: lisn-practitioner's name,
# lisn-vardenhet's name, address and phone, lisn-vardgivare's and lisn-socialnamnd's name);
# a mapping file must have a rule for each, and may not make them optional.
REQUIRED_HEADER = frozenset({"certificate.id", "authored", "patient.identifier", "practitioner.identifier",
                             "careUnit.identifier", "careUnit.name", "careUnit.phone",
                             "careProvider.identifier", "careProvider.name",
                             "recipient.kommunkod", "recipient.name", "source.endpoint"})
# Of each of these, at least one (a HumanName or an Address needs one part).
REQUIRED_HEADER_ONE_OF = (("practitioner.name", "practitioner.family", "practitioner.given"),
                          ("careUnit.line", "careUnit.postalCode", "careUnit.city"))
# Where each header field lands in the Bundle (entries are always in this order).
HEADER_PATHS = {
    "timestamp": "Bundle.timestamp", "event": "Bundle.entry[0].resource.eventCoding",
    "source": "Bundle.entry[0].resource.source", "certificate.id": "Bundle.entry[1].resource.identifier",
    "questionnaire": "Bundle.entry[1].resource.questionnaire", "status": "Bundle.entry[1].resource.status",
    "authored": "Bundle.entry[1].resource.authored",
    "replaces": "Bundle.entry[1].resource.extension[0]", "patient.identifier": "Bundle.entry[2].resource.identifier[0]",
    "patient": "Bundle.entry[2].resource.name[0]", "practitioner.identifier": "Bundle.entry[3].resource.identifier[0]",
    "practitioner.qualification": "Bundle.entry[3].resource.qualification[0]",
    "practitioner.role": "Bundle.entry[4].resource.code[0]",
    "practitioner": "Bundle.entry[3].resource.name[0]", "careUnit.identifier": "Bundle.entry[5].resource.identifier[0]",
    "careUnit.name": "Bundle.entry[5].resource.name", "careUnit.phone": "Bundle.entry[5].resource.telecom[0]",
    "careUnit": "Bundle.entry[5].resource.address[0]", "careProvider.identifier": "Bundle.entry[6].resource.identifier[0]",
    "careProvider": "Bundle.entry[6].resource.name", "recipient.kommunkod": "Bundle.entry[7].resource.identifier[0]",
    "recipient.orgnr": "Bundle.entry[7].resource.identifier[1]", "recipient": "Bundle.entry[7].resource.name",
}


def header_path(target: str) -> str | None:
    """The Bundle path a header field fills (most specific first)."""
    return HEADER_PATHS.get(target) or HEADER_PATHS.get(target.split(".")[0])


ROLES = ("message", "messageheader", "questionnaireresponse", "patient", "practitioner",
         "practitionerrole", "vardenhet", "vardgivare", "socialnamnd", "consent", "provenance")
ROLE_PREFIX = "lisn-role:"  # see adapter.inbound.fhirinput: references of a carried-over resource


def certificate_uuid(raw: str) -> str:
    """The certificate id as a UUID: kept when it is one, else derived (UUIDv5) from it."""
    text = raw.strip()
    try:
        return str(uuid.UUID(text.removeprefix("urn:uuid:")))
    except ValueError:
        return str(uuid.uuid5(NAMESPACE, text))


def ids_for(certificate: str) -> dict[str, str]:
    """One stable id per Bundle part, derived from the certificate UUID."""
    return {role: str(uuid.uuid5(NAMESPACE, f"{certificate}/{role}")) for role in ROLES}


def build_bundle(h: dict[str, Any], items: list[dict[str, Any]], *, questionnaire: str,
                 registry: Registry, signature: str | None = None) -> dict[str, Any]:
    """The submission Bundle for header values ``h`` and QuestionnaireResponse items."""
    # A partial Bundle (the mapping had errors) is built too, only to be validated: every problem at once.
    cert = certificate_uuid(str(h.get("certificate.id") or ""))
    rid = ids_for(cert)
    parts = [
        ("messageheader", _message_header(h, rid, registry)),
        ("questionnaireresponse", _response(h, rid, cert, items, questionnaire)),
        ("patient", _patient(h, rid)),
        ("practitioner", _practitioner(h, rid)),
        ("practitionerrole", _resource("PractitionerRole", "lisn-practitionerrole", rid["practitionerrole"],
                                       practitioner=_ref(rid, "practitioner"), organization=_ref(rid, "vardenhet"),
                                       code=_codeable(h.get("practitioner.role")))),
        ("vardenhet", _care_unit(h, rid)),
        ("vardgivare", _resource("Organization", "lisn-vardgivare", rid["vardgivare"],
                                 identifier=[h.get("careProvider.identifier")], name=h.get("careProvider.name"))),
        ("socialnamnd", _recipient(h, rid)),
    ]
    if h.get("consent"):
        parts.append(("consent", _consent(h["consent"], rid)))
    if signature:
        parts.append(("provenance", _provenance(h, rid, signature)))
    bundle = {
        "resourceType": "Bundle", "id": rid["message"], "meta": {"profile": [PROFILE + "lisn-submission"]},
        "identifier": {"system": ids.CERTIFICATE_ID, "value": f"urn:uuid:{rid['message']}"},
        "type": "message", "timestamp": h.get("timestamp") or h.get("authored"),
        "entry": [{"fullUrl": f"urn:uuid:{rid[role]}", "resource": res} for role, res in parts],
    }
    return cast(dict[str, Any], prune(bundle))


def _ref(rid: dict[str, str], role: str) -> dict[str, str]:
    return {"reference": f"urn:uuid:{rid[role]}"}


def _resource(rtype: str, profile: str | None, rid: str, **content: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"resourceType": rtype, "id": rid}
    if profile:
        out["meta"] = {"profile": [PROFILE + profile]}
    out.update(content)
    return out


def _message_header(h: dict[str, Any], rid: dict[str, str], registry: Registry) -> dict[str, Any]:
    event = h.get("event") or ("certificate-replacement" if h.get("replaces") else "certificate")
    kommun = h.get("recipient.kommunkod")
    return _resource(
        "MessageHeader", "lisn-messageheader", rid["messageheader"],
        eventCoding={"system": EVENT_SYSTEM, "code": event, "display": display_for(registry, EVENT_SYSTEM, event)},
        destination=[{"name": h.get("recipient.name"), "endpoint": f"urn:lisn:kommunkod:{kommun}" if kommun else None,
                      "receiver": _ref(rid, "socialnamnd")}],
        sender=_ref(rid, "vardenhet"),
        source={"name": h.get("source.name"), "software": h.get("source.software"),
                "version": h.get("source.version"), "endpoint": h.get("source.endpoint")},
        focus=[_ref(rid, "questionnaireresponse")],
    )


def _response(h: dict[str, Any], rid: dict[str, str], cert: str, items: list[dict[str, Any]],
              questionnaire: str) -> dict[str, Any]:
    extension = None
    if h.get("replaces"):
        extension = [{"url": REPLACES_URL, "valueIdentifier": {
            "system": ids.CERTIFICATE_ID, "value": f"urn:uuid:{certificate_uuid(str(h['replaces']))}"}}]
    # The QR profile of the template's version (each has its own URL); none for a template without one.
    profile = lisn_qr_profile(questionnaire)
    return _resource(
        "QuestionnaireResponse", profile.partition("|")[0].removeprefix(PROFILE) if profile else None,
        rid["questionnaireresponse"],
        extension=extension,
        identifier={"system": ids.CERTIFICATE_ID, "value": f"urn:uuid:{cert}"},
        questionnaire=questionnaire, status=h.get("status") or "completed", subject=_ref(rid, "patient"),
        authored=h.get("authored"), author=_ref(rid, "practitionerrole"), source=_ref(rid, "patient"),
        item=items,
    )


def _name(h: dict[str, Any], who: str) -> list[dict[str, Any]]:
    given = str(h.get(f"{who}.given") or "").split()
    return [{"text": h.get(f"{who}.name"), "family": h.get(f"{who}.family"), "given": given}]


V3_CONFIDENTIALITY = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"


def _patient(h: dict[str, Any], rid: dict[str, str]) -> dict[str, Any]:
    labels = [{"system": system, "code": h[key]} for key, system in (
        ("patient.security", V3_CONFIDENTIALITY), ("patient.securityLabel", SE_SECURITY_LABELS)) if h.get(key)]
    if labels:
        # Protected identity (DESIGN §3): the labels are carried over as they came, and the name is
        # never passed on, whatever the source holds.
        return _resource("Patient", "lisn-patient", rid["patient"], identifier=[h.get("patient.identifier")],
                         meta={"profile": [PROFILE + "lisn-patient"], "security": labels})
    return _person("Patient", "lisn-patient", h, "patient", rid)


def _codeable(coding: Any) -> list[dict[str, Any]] | None:
    return [{"coding": [coding]}] if coding else None


def _practitioner(h: dict[str, Any], rid: dict[str, str]) -> dict[str, Any]:
    # The legitimation (LISN 1.1 asks for a legitimerad läkare: lisn-sub-6) is a qualification.
    out = _person("Practitioner", "lisn-practitioner", h, "practitioner", rid)
    qualification = _codeable(h.get("practitioner.qualification"))
    if qualification:
        out["qualification"] = [{"code": c} for c in qualification]
    return out


def _person(rtype: str, profile: str, h: dict[str, Any], who: str, rid: dict[str, str]) -> dict[str, Any]:
    return _resource(rtype, profile, rid[who], identifier=[h.get(f"{who}.identifier")], name=_name(h, who))


def _care_unit(h: dict[str, Any], rid: dict[str, str]) -> dict[str, Any]:
    phone = h.get("careUnit.phone")
    return _resource(
        "Organization", "lisn-vardenhet", rid["vardenhet"], identifier=[h.get("careUnit.identifier")],
        name=h.get("careUnit.name"), telecom=[{"system": "phone", "value": phone}] if phone else None,
        address=[{"line": [h.get("careUnit.line")], "postalCode": h.get("careUnit.postalCode"),
                  "city": h.get("careUnit.city")}],
        partOf=_ref(rid, "vardgivare"),
    )


def _recipient(h: dict[str, Any], rid: dict[str, str]) -> dict[str, Any]:
    identifier = [{"system": ids.KOMMUNKOD, "value": h.get("recipient.kommunkod")}]
    if h.get("recipient.orgnr"):
        identifier.append({"system": ids.ORGANISATIONSNUMMER, "value": h["recipient.orgnr"]})
    return _resource("Organization", "lisn-socialnamnd", rid["socialnamnd"], identifier=identifier,
                     name=h.get("recipient.name"))


def _provenance(h: dict[str, Any], rid: dict[str, str], signature: str) -> dict[str, Any]:
    # The source's own signature, kept untouched so the service can store it and pass it on.
    return _resource(
        "Provenance", None, rid["provenance"], target=[_ref(rid, "questionnaireresponse")],
        recorded=h.get("authored"), agent=[{"who": _ref(rid, "practitioner")}],
        signature=[{"type": [SIGNATURE_TYPE], "when": h.get("authored"), "who": _ref(rid, "practitioner"),
                    "sigFormat": "application/signature+xml", "data": signature}],
    )


def _consent(consent: dict[str, Any], rid: dict[str, str]) -> dict[str, Any]:
    out = _relink(consent, rid)
    out["id"] = rid["consent"]
    return {"resourceType": "Consent", "id": rid["consent"], **{k: v for k, v in out.items()
                                                              if k not in ("resourceType", "id")}}


def _relink(value: Any, rid: dict[str, str]) -> Any:
    if isinstance(value, list):
        return [_relink(v, rid) for v in value]
    if not isinstance(value, dict):
        return value
    out = {k: _relink(v, rid) for k, v in value.items()}
    ref = value.get("reference")
    if isinstance(ref, str) and ref.startswith(ROLE_PREFIX) and ref[len(ROLE_PREFIX):] in rid:
        out["reference"] = f"urn:uuid:{rid[ref[len(ROLE_PREFIX):]]}"
    return out


def prune(value: Any) -> Any:
    """Drop None, empty strings, empty lists and empty objects, recursively (FHIR forbids them)."""
    if isinstance(value, dict):
        out = {k: prune(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v not in (None, "", [], {})}
    if isinstance(value, list):
        items = [prune(v) for v in value]
        return [v for v in items if v not in (None, "", [], {})]
    return value
