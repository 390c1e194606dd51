"""Generate profiles/CodeSystem-kommunkod.json and ValueSet-kommunkod.json: Sweden's municipalities.

Source: SCB's municipality codes (kommunkoder) with names, as carried by the public repository
sjbrg/swedish-geodata (CC0 1.0; ``data/municipalities.csv``: ``municipality_code``,
``municipality_name``, ``municipality_name_short``, ``county_code``; taken from SCB via
Dataman), read at commit 03b0a24 of 2026-02-11: 290 municipalities. Retired codes come from
``tools/kommunkod_retired.json`` (with their SCB source); they are concepts with status
``retired`` and the property ``replacedBy`` naming the current code, so the validator can say
which code to use instead.

Run: python tools/gen_kommunkod.py path/to/municipalities.csv [--source "sjbrg/swedish-geodata@03b0a24 (2026-02-11)"]
The CSV is read, never fetched: a checkout of the source repository is the input.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PROFILES = ROOT / "profiles"
RETIRED = Path(__file__).resolve().parent / "kommunkod_retired.json"
BASE = "https://lisn.se/fhir"
PROP = "http://hl7.org/fhir/concept-properties#"
DEFAULT_SOURCE = "SCB:s kommunkoder via sjbrg/swedish-geodata, data/municipalities.csv, commit 03b0a24 (2026-02-11)"
EXPECTED = 290  # Sweden has had 290 municipalities since 2003 (Knivsta)


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    bad = [r for r in rows if not re.fullmatch(r"[0-9]{4}", r.get("municipality_code") or "")
           or not (r.get("municipality_name_short") or "").strip()
           or (r.get("county_code") or "") != r["municipality_code"][:2]]
    if bad:
        raise ValueError(f"{path}: {len(bad)} rows without a four-digit code, a name or a matching county, e.g. {bad[0]}")
    codes = [r["municipality_code"] for r in rows]
    if len(set(codes)) != len(codes):
        raise ValueError(f"{path}: a municipality code occurs twice")
    return rows


def code_system(rows: list[dict[str, str]], retired: list[dict[str, str]], source: str, date: str) -> dict[str, Any]:
    current = {r["municipality_code"] for r in rows}
    for r in retired:
        if r["code"] in current or r["replacedBy"] not in current:
            raise ValueError(f"retired code {r['code']}: must not be current, and {r['replacedBy']} must be")
    concepts: list[dict[str, Any]] = [
        {"code": r["municipality_code"], "display": r["municipality_name_short"].strip(),
         "definition": f"{r['municipality_name'].strip()}, län {r['county_code']}.",
         "designation": [{"language": "sv", "value": r["municipality_name"].strip()}],
         "property": [{"code": "status", "valueCode": "active"}]}
        for r in sorted(rows, key=lambda r: r["municipality_code"])]
    concepts += [
        {"code": r["code"], "display": f"{r['name']} (upphörd kod, nu {r['replacedBy']})",
         "definition": f"{r['name']} hade koden {r['code']} till {r['retired']}; i dag {r['replacedBy']}.",
         "property": [{"code": "status", "valueCode": "retired"}, {"code": "replacedBy", "valueCode": r["replacedBy"]},
                      {"code": "retirementDate", "valueDateTime": r["retired"]}]}
        for r in sorted(retired, key=lambda r: r["code"])]
    return {
        "resourceType": "CodeSystem", "id": "kommunkod", "language": "sv", "url": f"{BASE}/CodeSystem/kommunkod",
        "version": date.replace("-", ""), "name": "KommunkodCS", "title": "Sveriges kommuner (kommunkoder enligt SCB)",
        "status": "active", "experimental": False, "date": date, "publisher": "LISN-projektet",
        "description": (f"Sveriges {len(rows)} kommuner med SCB:s fyrsiffriga kommunkoder och namn, samt upphörda koder "
                        "(status retired) med den kod som gäller i stället (replacedBy). Värdena för identifierarsystemet "
                        f"{BASE}/sid/kommunkod. Källa: {source}. Genererad av tools/gen_kommunkod.py."),
        "jurisdiction": [{"coding": [{"system": "urn:iso:std:iso:3166", "code": "SE", "display": "Sweden"}]}],
        "copyright": "Kommunkoderna är Statistiska centralbyråns (SCB). Källfilen är utgiven under CC0 1.0.",
        "caseSensitive": True, "valueSet": f"{BASE}/ValueSet/kommunkod", "content": "complete", "count": len(concepts),
        "property": [
            {"code": "status", "uri": f"{PROP}status", "description": "active eller retired", "type": "code"},
            {"code": "replacedBy", "uri": f"{BASE}/CodeSystem/kommunkod#replacedBy",
             "description": "Den kommunkod som gäller i stället för en upphörd kod", "type": "code"},
            {"code": "retirementDate", "uri": f"{PROP}retirementDate", "description": "Då koden upphörde", "type": "dateTime"},
        ],
        "concept": concepts,
    }


def value_set(date: str) -> dict[str, Any]:
    return {
        "resourceType": "ValueSet", "id": "kommunkod", "language": "sv", "url": f"{BASE}/ValueSet/kommunkod",
        "version": date.replace("-", ""), "name": "KommunkodVS", "title": "Gällande kommunkoder", "status": "active",
        "experimental": False, "date": date, "publisher": "LISN-projektet",
        "description": "De kommunkoder som gäller i dag (status active) i CodeSystem kommunkod.",
        "jurisdiction": [{"coding": [{"system": "urn:iso:std:iso:3166", "code": "SE", "display": "Sweden"}]}],
        "compose": {"include": [{"system": f"{BASE}/CodeSystem/kommunkod",
                                 "filter": [{"property": "status", "op": "=", "value": "active"}]}]},
    }


def _write(path: Path, resource: dict[str, Any]) -> None:
    path.write_text(json.dumps(resource, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("csv", type=Path)
    parser.add_argument("--source", default=DEFAULT_SOURCE)
    parser.add_argument("--date", default="2026-12-03", help="the CodeSystem's date (and version, without hyphens)")
    parser.add_argument("--out", type=Path, default=PROFILES)
    args = parser.parse_args(argv)
    try:
        rows = read_csv(args.csv)
    except (OSError, ValueError, KeyError) as exc:
        print(f"gen_kommunkod: {exc}", file=sys.stderr)
        return 1
    if len(rows) != EXPECTED:
        print(f"gen_kommunkod: {args.csv} has {len(rows)} municipalities, expected {EXPECTED}", file=sys.stderr)
        return 1
    retired = json.loads(RETIRED.read_text(encoding="utf-8"))["retired"]
    _write(args.out / "CodeSystem-kommunkod.json", code_system(rows, retired, args.source, args.date))
    _write(args.out / "ValueSet-kommunkod.json", value_set(args.date))
    print(f"wrote {len(rows)} municipalities and {len(retired)} retired codes to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
