"""Identifier and code systems: the canonical forms we emit and the aliases we accept (DESIGN §3).

Internally and in everything we emit, the HL7 Sweden base-profile forms are used;
the national OIDs of the national certificate services are accepted on the way in.
The NamingSystems in ``profiles/`` list the same aliases for standard tools.
"""

from __future__ import annotations

CANONICAL_BASE = "https://lisn.se/fhir"

PERSONNUMMER = "http://electronichealth.se/identifier/personnummer"
SAMORDNINGSNUMMER = "http://electronichealth.se/identifier/samordningsnummer"
HSA_ID = "urn:oid:1.2.752.29.4.19"
ORGANISATIONSNUMMER = "urn:oid:2.5.4.97"
KOMMUNKOD = f"{CANONICAL_BASE}/sid/kommunkod"
ICD10_SE = "urn:oid:1.2.752.116.1.1.1"
CERTIFICATE_ID = "urn:ietf:rfc:3986"

_ALIASES: dict[str, str] = {
    # national certificate services (OIDs, with or without the urn:oid: prefix)
    "1.2.752.129.2.1.3.1": PERSONNUMMER,
    "1.2.752.129.2.1.3.3": SAMORDNINGSNUMMER,
    "1.2.752.129.2.1.4.1": HSA_ID,
    "1.2.752.29.4.19": HSA_ID,
    "2.5.4.97": ORGANISATIONSNUMMER,
    # ICD-10-SE and its older identifiers
    "1.2.752.116.1.1.1": ICD10_SE,
    "1.2.752.116.1.1.1.1.3": ICD10_SE,
    "1.2.752.116.1.1.1.1.8": ICD10_SE,
}


def normalise_system(system: str | None) -> str | None:
    """The canonical form of an identifier or code system URI; unknown systems are returned unchanged."""
    if not system:
        return system
    key = system[len("urn:oid:"):] if system.startswith("urn:oid:") else system
    return _ALIASES.get(key, system)

