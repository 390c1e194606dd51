"""The ``fhir`` syntax: a QuestionnaireResponse with its resources, or a Bundle, as one JSON document.

FHIR input arrives in several shapes (a bare QuestionnaireResponse with ``contained``
resources, a ``transaction``/``collection``/``message`` Bundle with references by ``fullUrl`` or
``Type/id``). Resolving references is syntax, so it is code; what to take from the resolved
resources is format, so it is the mapping file. The mapping sees one document with fixed
top-level names: ``QuestionnaireResponse``, ``Patient``, ``Practitioner``, ``PractitionerRole``,
``CareUnit``, ``CareProvider``, ``Recipient``, ``MessageHeader``, ``Bundle``, ``Consent``.
(References: https://hl7.org/fhir/R4/references.html, https://hl7.org/fhir/R4/bundle.html#references)
"""

from __future__ import annotations

from typing import Any

from adapter.fhir import identifiers as ids
from adapter.issues import Issues

Resource = dict[str, Any]
_ACCEPTED = ("QuestionnaireResponse", "Bundle")


class _Index:
    """Resources of the input by every name a reference may use."""

    def __init__(self, data: Resource) -> None:
        self.by_ref: dict[str, Resource] = {}
        self.all: list[Resource] = []
        if data.get("resourceType") == "Bundle":
            for entry in data.get("entry") or []:
                res = entry.get("resource") if isinstance(entry, dict) else None
                if isinstance(res, dict):
                    self._add(res, entry.get("fullUrl"))
        else:
            self._add(data, None)
        for res in list(self.all):
            for inner in res.get("contained") or []:
                if isinstance(inner, dict) and inner.get("id"):
                    self.by_ref[f"#{inner['id']}"] = inner
                    self.all.append(inner)

    def _add(self, res: Resource, full_url: Any) -> None:
        self.all.append(res)
        if isinstance(full_url, str):
            self.by_ref[full_url] = res
        if res.get("id"):
            self.by_ref[f"{res.get('resourceType')}/{res['id']}"] = res

    def resolve(self, ref: Any, issues: Issues, where: str) -> Resource | None:
        target = ref.get("reference") if isinstance(ref, dict) else None
        if not isinstance(target, str):
            return None
        found = self.by_ref.get(target)
        if found is None and "/" in target:
            # An absolute URL of a resource that is also in the Bundle as Type/id.
            found = self.by_ref.get("/".join(target.rstrip("/").split("/")[-2:]))
        issues.check(found is not None, "LISN_MAP_REFERENCE_UNRESOLVED", expression=where, reference=target)
        return found

    def first(self, rtype: str) -> Resource | None:
        return next((r for r in self.all if r.get("resourceType") == rtype), None)


def normalise(data: Any, issues: Issues) -> dict[str, Any] | None:
    """The mapping document for FHIR input, or None (with issues) when it holds no certificate."""
    rtype = data.get("resourceType") if isinstance(data, dict) else None
    if rtype not in _ACCEPTED:
        issues.add("LISN_MAP_FHIR_RESOURCE_TYPE", expression="resourceType", resourceType=str(rtype))
        return None
    index = _Index(data)
    header = index.first("MessageHeader")
    qr = _focus(index, header, issues) or index.first("QuestionnaireResponse")
    if qr is None:
        issues.add("LISN_MAP_FHIR_NO_RESPONSE", expression="Bundle.entry")
        return None
    doc: dict[str, Any] = {"QuestionnaireResponse": {k: v for k, v in qr.items() if k != "contained"}}
    doc["Patient"] = index.resolve(qr.get("subject"), issues, "QuestionnaireResponse.subject")
    author = index.resolve(qr.get("author"), issues, "QuestionnaireResponse.author")
    role, practitioner = _role(index, author, issues)
    doc["PractitionerRole"], doc["Practitioner"] = role, practitioner
    doc["CareUnit"] = index.resolve((role or {}).get("organization"), issues, "PractitionerRole.organization")
    doc["CareProvider"] = index.resolve((doc["CareUnit"] or {}).get("partOf"), issues, "Organization.partOf")
    doc["Recipient"] = _recipient(index, header, issues)
    doc["MessageHeader"] = header
    if data.get("resourceType") == "Bundle":
        doc["Bundle"] = {k: data[k] for k in ("timestamp",) if k in data}
    roles = {id(doc[k]): ROLE_OF[k] for k in ROLE_OF if doc.get(k)}
    doc["Consent"] = [_with_roles(r, index, roles) for r in index.all if r.get("resourceType") == "Consent"]
    return {k: v for k, v in doc.items() if v}


# References inside a carried-over resource (a Consent) point at the input's ids; they are
# rewritten to the part they resolve to, and the Bundle builder points them at its own fullUrls.
ROLE_PREFIX = "lisn-role:"
ROLE_OF = {"QuestionnaireResponse": "questionnaireresponse", "Patient": "patient", "Practitioner": "practitioner",
           "PractitionerRole": "practitionerrole", "CareUnit": "vardenhet", "CareProvider": "vardgivare",
           "Recipient": "socialnamnd"}


def _with_roles(value: Any, index: _Index, roles: dict[int, str]) -> Any:
    if isinstance(value, list):
        return [_with_roles(v, index, roles) for v in value]
    if not isinstance(value, dict):
        return value
    out = {k: _with_roles(v, index, roles) for k, v in value.items() if k != "id"}
    ref = value.get("reference")
    if isinstance(ref, str):
        target = index.by_ref.get(ref)
        out["reference"] = ROLE_PREFIX + roles[id(target)] if target is not None and id(target) in roles else None
    return out


def _focus(index: _Index, header: Resource | None, issues: Issues) -> Resource | None:
    for ref in (header or {}).get("focus") or []:
        found = index.resolve(ref, issues, "MessageHeader.focus")
        if found and found.get("resourceType") == "QuestionnaireResponse":
            return found
    return None


def _role(index: _Index, author: Resource | None, issues: Issues) -> tuple[Resource | None, Resource | None]:
    if author is None:
        return None, None
    if author.get("resourceType") == "PractitionerRole":
        return author, index.resolve(author.get("practitioner"), issues, "PractitionerRole.practitioner")
    # The author is the Practitioner: their role at the care unit is a PractitionerRole beside it.
    for res in index.all:
        if res.get("resourceType") == "PractitionerRole" and index.by_ref.get(
                str((res.get("practitioner") or {}).get("reference"))) is author:
            return res, author
    return None, author


def _recipient(index: _Index, header: Resource | None, issues: Issues) -> Resource | None:
    for dest in (header or {}).get("destination") or []:
        found = index.resolve(dest.get("receiver"), issues, "MessageHeader.destination.receiver")
        if found:
            return found
    for res in index.all:
        if res.get("resourceType") == "Organization" and any(
                ids.normalise_system(i.get("system")) == ids.KOMMUNKOD
                for i in res.get("identifier") or [] if isinstance(i, dict)):
            return res
    return None
