"""Generate adapter/fhir/models/r4/terminology.json: the few R4 core terminology resources the
validator needs when the registry does not carry them.

Sources: the ISO 3166-1 alpha-2 codes and English names from tzdata's ``iso3166.tab``
(public domain; /usr/share/zoneinfo/iso3166.tab), and, typed from the FHIR R4 specification
(https://hl7.org/fhir/R4/codesystem-item-type.html, https://hl7.org/fhir/R4/valueset-jurisdiction.html),
the item-type CodeSystem/ValueSet and the jurisdiction ValueSet's compose.

Run: python tools/gen_r4_terminology.py [/usr/share/zoneinfo/iso3166.tab]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "adapter" / "fhir" / "models" / "r4" / "terminology.json"

ITEM_TYPES = [("group", "Group"), ("display", "Display"), ("question", "Question"), ("boolean", "Boolean"),
              ("decimal", "Decimal"), ("integer", "Integer"), ("date", "Date"), ("dateTime", "Date Time"),
              ("time", "Time"), ("string", "String"), ("text", "Text"), ("url", "Url"), ("choice", "Choice"),
              ("open-choice", "Open Choice"), ("attachment", "Attachment"), ("reference", "Reference"),
              ("quantity", "Quantity")]
M49 = [("001", "World"), ("002", "Africa"), ("019", "Americas"), ("142", "Asia"), ("150", "Europe"),
       ("053", "Australia and New Zealand"), ("005", "South America"), ("021", "Northern America"),
       ("029", "Caribbean"), ("013", "Central America"), ("419", "Latin America and the Caribbean"),
       ("009", "Oceania"), ("030", "Eastern Asia")]


def iso3166(path: Path) -> list[dict[str, str]]:
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            code, name = line.split("\t", 1)
            out.append({"code": code, "display": name.strip()})
    return out


def main(tab: str = "/usr/share/zoneinfo/iso3166.tab") -> None:
    resources = [
        {"resourceType": "CodeSystem", "id": "item-type", "url": "http://hl7.org/fhir/item-type",
         "version": "4.0.1", "status": "active", "content": "complete",
         "concept": [{"code": c, "display": d} for c, d in ITEM_TYPES]},
        {"resourceType": "ValueSet", "id": "item-type", "url": "http://hl7.org/fhir/ValueSet/item-type",
         "version": "4.0.1", "status": "active",
         "compose": {"include": [{"system": "http://hl7.org/fhir/item-type"}]}},
        {"resourceType": "CodeSystem", "id": "iso3166", "url": "urn:iso:std:iso:3166", "status": "active",
         "content": "complete", "concept": iso3166(Path(tab))},
        {"resourceType": "ValueSet", "id": "jurisdiction", "url": "http://hl7.org/fhir/ValueSet/jurisdiction",
         "version": "4.0.1", "status": "active",
         "compose": {"include": [
             {"system": "urn:iso:std:iso:3166"},
             {"system": "http://unstats.un.org/unsd/methods/m49/m49.htm",
              "concept": [{"code": c, "display": d} for c, d in M49]}]}},
    ]
    OUT.write_text(json.dumps(resources, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main(*sys.argv[1:])
