"""Read access to a submission message Bundle (DESIGN §4), on plain parsed JSON.

A submission is a ``Bundle`` of type ``message``: ``MessageHeader`` first, then the
``QuestionnaireResponse``, ``Patient``, ``Practitioner``/``PractitionerRole``,
``Organization``s (care unit, care provider, socialnämnd) and optionally the
patient's ``Consent``. References are resolved by ``fullUrl`` (or ``Type/id``).
This module only reads; it never raises on a malformed Bundle (the validator
reports those problems), it returns ``None`` instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from adapter.fhir import identifiers as ids
from adapter.fhir.items import walk

Resource = dict[str, Any]

EVENT_SYSTEM = f"{ids.CANONICAL_BASE}/CodeSystem/lisn-message-event"
REPLACES_URL = f"{ids.CANONICAL_BASE}/StructureDefinition/replaces"
PROTECTED_CODES = frozenset({"R", "V"})  # v3-Confidentiality restricted / very restricted (any system: fail safe)
SE_SECURITY_LABELS = "http://hl7.se/fhir/ig/base/CodeSystem/SecurityLabel"
"""HL7 Sweden's base profiles (SEBasePatient, ``meta.security`` bound to SecurityLabelVS): the labels
``sekretessmarkering`` and ``skyddadFolkbokforing``, the two protections the national population
register (SPAR) and Inera's person service carry. Any code of this system counts as protected, so a
misspelt label still protects; the validator refuses codes it does not know (profile lisn-pat-4)."""
SE_PROTECTED_CODES = frozenset({"sekretessmarkering", "skyddadFolkbokforing"})
DEMOGRAPHICS_SENSITIVE = ("http://terminology.hl7.org/CodeSystem/v3-ActCode", "DEMO")
"""v3-ActCode DEMO ("all demographic information sensitivity"): in HL7 Sweden's SecurityLabelVS and sent
beside the Swedish label in its examples; on its own it also means the demographics are protected."""
LISN_QUESTIONNAIRE = f"{ids.CANONICAL_BASE}/Questionnaire/lisn"
LISN_QR_PROFILE = f"{ids.CANONICAL_BASE}/StructureDefinition/lisn-questionnaireresponse"
LISN_QR_PROFILE_1_1 = f"{ids.CANONICAL_BASE}/StructureDefinition/lisn-questionnaireresponse-1.1"
LISN_QR_PROFILES = {"1.0": f"{LISN_QR_PROFILE}|1.0.0", "1.1": f"{LISN_QR_PROFILE_1_1}|1.1.0"}
"""The QuestionnaireResponse profile of each LISN template version (``major.minor``): one canonical
URL per template, since standard tools (SUSHI, package loaders) take one resource per URL."""
# The message events (CodeSystem lisn-message-event) and the status each gives the municipal XML.
XML_STATUS_BY_EVENT = {"certificate": "original", "certificate-replacement": "replacing",
                       "certificate-withdrawal": "withdrawn"}


@dataclass(frozen=True)
class Submission:
    """A parsed submission Bundle with reference resolution.

    The entries and the reference index are built on first use and kept (a submission asks for its
    parts some eighty times). The Bundle must not change while the object is in use; as a guard,
    the kept index is dropped when ``Bundle.entry`` is another list or of another length. A Bundle
    whose ``fullUrl`` is not a string is scanned on every call, as before (the scan's own answers
    and errors stand)."""

    bundle: Resource

    # -- resolution --------------------------------------------------------
    def entries(self) -> list[Resource]:
        return list(self._kept().entries)

    def resources(self, resource_type: str | None = None) -> list[Resource]:
        kept = self._kept().resources
        if resource_type is None:
            return [r for _, r in kept]
        return [r for t, r in kept if t == resource_type]

    def resolve(self, reference: Any) -> Resource | None:
        """The resource a ``Reference`` (or a reference string) points to, inside this Bundle."""
        ref = reference.get("reference") if isinstance(reference, dict) else reference
        if not isinstance(ref, str):
            return None
        index = self._kept().index
        if index is None:
            return _scan(self.bundle, ref)
        return index.get(ref)

    def _kept(self) -> _Kept:
        entry = self.bundle.get("entry")
        kept: _Kept | None = self.__dict__.get("_kept_parts")
        if kept is None or kept.entry is not entry or kept.length != _length(entry):
            kept = _Kept.of(self.bundle)
            object.__setattr__(self, "_kept_parts", kept)
        return kept

    # -- the parts -----------------------------------------------------------
    @property
    def header(self) -> Resource | None:
        first = self._kept().resources[:1]
        return first[0][1] if first and first[0][0] == "MessageHeader" else None

    @property
    def event(self) -> str | None:
        coding = (self.header or {}).get("eventCoding") or {}
        return coding.get("code")

    @property
    def response(self) -> Resource | None:
        for ref in (self.header or {}).get("focus") or []:
            r = self.resolve(ref)
            if r and r.get("resourceType") == "QuestionnaireResponse":
                return r
        found = self.resources("QuestionnaireResponse")
        return found[0] if found else None

    @property
    def patient(self) -> Resource | None:
        qr = self.response or {}
        return self.resolve(qr.get("subject")) or next(iter(self.resources("Patient")), None)

    @property
    def practitioner_role(self) -> Resource | None:
        author = self.resolve((self.response or {}).get("author"))
        if author and author.get("resourceType") == "PractitionerRole":
            return author
        return next(iter(self.resources("PractitionerRole")), None)

    @property
    def practitioner(self) -> Resource | None:
        role = self.practitioner_role or {}
        return self.resolve(role.get("practitioner")) or next(iter(self.resources("Practitioner")), None)

    @property
    def care_unit(self) -> Resource | None:
        return self.resolve((self.practitioner_role or {}).get("organization"))

    @property
    def care_provider(self) -> Resource | None:
        return self.resolve((self.care_unit or {}).get("partOf"))

    @property
    def recipient(self) -> Resource | None:
        for dest in (self.header or {}).get("destination") or []:
            r = self.resolve(dest.get("receiver"))
            if r:
                return r
        return None

    @property
    def consents(self) -> list[Resource]:
        return self.resources("Consent")

    # -- facts ---------------------------------------------------------------
    @property
    def certificate_id(self) -> str | None:
        ident = (self.response or {}).get("identifier") or {}
        return ident.get("value") if isinstance(ident, dict) else None

    @property
    def questionnaire(self) -> str | None:
        return (self.response or {}).get("questionnaire")

    @property
    def authored(self) -> str | None:
        return (self.response or {}).get("authored")

    @property
    def patient_identifier(self) -> tuple[str, str] | None:
        """(system, value) of the personnummer or samordningsnummer, system normalised."""
        return _identifier(self.patient, ids.PERSONNUMMER, ids.SAMORDNINGSNUMMER)

    @property
    def protected_identity(self) -> bool:
        """True when the patient carries a protected-identity label in ``meta.security`` (see
        :func:`is_protection_label`); then name, address and location data are never passed on."""
        meta = (self.patient or {}).get("meta")
        labels = meta.get("security") if isinstance(meta, dict) else None
        return any(is_protection_label(sec) for sec in labels or [] if isinstance(sec, dict))

    @property
    def kommunkod(self) -> str | None:
        found = _identifier(self.recipient, ids.KOMMUNKOD)
        return found[1] if found else None

    @property
    def care_unit_hsa(self) -> str | None:
        found = _identifier(self.care_unit, ids.HSA_ID)
        return found[1] if found else None

    @property
    def replaces(self) -> str | None:
        """The certificate id this one replaces (a correction), if any."""
        for ext in (self.response or {}).get("extension") or []:
            if isinstance(ext, dict) and ext.get("url") == REPLACES_URL:
                value = ext.get("valueIdentifier") or {}
                return value.get("value")
        return None


@dataclass(frozen=True)
class _Kept:
    """What a :class:`Submission` keeps of its Bundle: the entries, their resources and the index."""

    entry: Any
    """``Bundle.entry`` as it was (the guard: another list means another Bundle)."""
    length: int
    entries: tuple[Resource, ...]
    resources: tuple[tuple[Any, Resource], ...]
    """(resourceType, resource) of every entry with a resource, in order."""
    index: dict[str, Resource] | None
    """Every reference string that :func:`_scan` resolves, to the resource it resolves to (the
    first entry that answers it); None when some ``fullUrl`` is not a string (then :func:`_scan`)."""

    @classmethod
    def of(cls, bundle: Resource) -> _Kept:
        entry = bundle.get("entry")
        entries = tuple(e for e in entry or [] if isinstance(e, dict))
        resources = tuple((r.get("resourceType"), r) for e in entries
                          if isinstance(r := e.get("resource"), dict))
        found: dict[str, Resource] = {}
        index: dict[str, Resource] | None = found
        for e in entries:
            r = e.get("resource")
            if not isinstance(r, dict):
                continue
            full_url = e.get("fullUrl")
            if full_url is not None and not isinstance(full_url, str):
                index = None
                break
            # The keys _scan matches: the fullUrl, Type/id, and every tail of the fullUrl after a "/".
            found.setdefault(f"{r.get('resourceType')}/{r.get('id')}", r)
            if full_url is not None:
                found.setdefault(full_url, r)
                at = full_url.find("/")
                while at != -1:
                    found.setdefault(full_url[at + 1:], r)
                    at = full_url.find("/", at + 1)
        return cls(entry=entry, length=_length(entry), entries=entries, resources=resources, index=index)


def _length(entry: Any) -> int:
    try:
        return len(entry)
    except TypeError:
        return -1


def _scan(bundle: Resource, ref: str) -> Resource | None:
    """:meth:`Submission.resolve` by a scan of the entries (the general form, kept for Bundles the
    index does not cover and as the reference the index is tested against)."""
    for e in [e for e in bundle.get("entry") or [] if isinstance(e, dict)]:
        r = e.get("resource")
        if not isinstance(r, dict):
            continue
        if e.get("fullUrl") == ref or f"{r.get('resourceType')}/{r.get('id')}" == ref \
                or (e.get("fullUrl") or "").endswith("/" + ref):
            return r
    return None


def is_protection_label(coding: dict[str, Any]) -> bool:
    """A ``meta.security`` Coding that marks a protected identity (docs/outbound.md, "Protected identity"):
    v3-Confidentiality R or V, any HL7 Sweden SecurityLabel code, or v3-ActCode DEMO."""
    system, code = coding.get("system"), coding.get("code")
    return (code in PROTECTED_CODES or system == SE_SECURITY_LABELS
            or (system, code) == DEMOGRAPHICS_SENSITIVE)


def _identifier(resource: Resource | None, *systems: str) -> tuple[str, str] | None:
    for ident in (resource or {}).get("identifier") or []:
        if not isinstance(ident, dict):
            continue
        system = ids.normalise_system(ident.get("system"))
        if system in systems and isinstance(ident.get("value"), str):
            return system, ident["value"]
    return None


def answers(qr: Resource, link_id: str) -> list[Any]:
    """Every answer value (``valueX``) of every item with ``link_id``, anywhere in the tree, in order."""
    return [v for visit in walk(qr) if visit.item.get("linkId") == link_id for v in visit.values()]


def lisn_qr_profile(questionnaire: str) -> str | None:
    """The canonical (``url|version``) of the QR profile for a response to ``questionnaire``.

    ``None`` when ``questionnaire`` is not the LISN template or names a version without a profile
    (the Questionnaire checks report an unknown template). An unversioned template reference gets
    the newest template's profile, as the registry resolves the unversioned template to the newest.
    """
    url, _, version = questionnaire.partition("|")
    if url != LISN_QUESTIONNAIRE:
        return None
    if not version:
        return LISN_QR_PROFILES[max(LISN_QR_PROFILES, key=lambda v: tuple(int(p) for p in v.split(".")))]
    return LISN_QR_PROFILES.get(".".join(version.split(".")[:2]))
