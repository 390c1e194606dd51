"""Generate adapter/fhirpath/trees.json: fhirpathpy's parse trees of the FHIRPath the package ships.

The expressions (see adapter/fhirpath/trees.py for the file's form and its use):

- every ``constraint.expression`` of the R4 core definitions the base validation reads
  (``adapter/fhir/models/r4/base.json``, its ``constraints`` table);
- every ``constraint.expression`` in the resources under ``profiles/`` (snapshots and
  differentials), with the constraint's location expression (the ``constraint-location``
  extension, which adapter.validation.profiles evaluates too);
- every FHIRPath ``Expression`` in those resources (``language`` ``text/fhirpath``: the SDC
  enableWhenExpression, calculatedExpression, answerExpression, … of a Questionnaire) and the
  ``expression`` of a ``questionnaire-constraint`` extension.

adapter/validation compiles no FHIRPath of its own (every expression it evaluates comes from
these definitions), and the outbound mapping compiles its selectors with fhirpathpy directly,
not through adapter.fhirpath, so neither adds an entry. An expression fhirpathpy's parser refuses is
left out: it is parsed (and refused, as before) when it is met.

Run: python tools/gen_fhirpath_trees.py          (writes the file)
     python tools/gen_fhirpath_trees.py --check  (exit 1 when the file is not what fhirpathpy gives now)
tests/unit/fhirpath/test_trees.py compares every entry with a fresh parse.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from adapter.fhirpath import trees  # noqa: E402 - after the path set-up, so the tool runs from a checkout
from adapter.fhirpath.upstream import VERSION, fhirpathpy_parse  # noqa: E402

BASE = ROOT / "adapter" / "fhir" / "models" / "r4" / "base.json"
PROFILES = ROOT / "profiles"
LOCATION_EXT = "https://lisn.se/fhir/StructureDefinition/constraint-location"
QUESTIONNAIRE_CONSTRAINT = "http://hl7.org/fhir/StructureDefinition/questionnaire-constraint"


def expressions() -> list[str]:
    """Every FHIRPath expression the package ships, sorted."""
    found: set[str] = set()
    for row in json.loads(BASE.read_text(encoding="utf-8"))["constraints"]:
        found.add(str(row[3]))  # key, severity, human, expression, best practice
    for path in sorted(PROFILES.glob("*.json")):
        _walk(json.loads(path.read_text(encoding="utf-8")), found)
    return sorted(found)


def _walk(value: Any, found: set[str]) -> None:
    if isinstance(value, list):
        for item in value:
            _walk(item, found)
        return
    if not isinstance(value, dict):
        return
    for c in value.get("constraint") or []:
        if isinstance(c, dict) and isinstance(c.get("expression"), str):
            found.add(c["expression"])
            for ext in c.get("extension") or []:
                if isinstance(ext, dict) and ext.get("url") == LOCATION_EXT and isinstance(ext.get("valueString"), str):
                    found.add(ext["valueString"])
    if value.get("language") == "text/fhirpath" and isinstance(value.get("expression"), str):
        found.add(value["expression"])
    if value.get("url") == QUESTIONNAIRE_CONSTRAINT:
        for part in value.get("extension") or []:
            if isinstance(part, dict) and part.get("url") == "expression" and isinstance(part.get("valueString"), str):
                found.add(part["valueString"])
    for item in value.values():
        _walk(item, found)


def render() -> str:
    """The file: a header, then one line per expression (diffable); JSON as a whole."""
    types: dict[str, int] = {}
    lines = []
    for text in expressions():
        try:
            tree = fhirpathpy_parse(text)
        except Exception:  # noqa: BLE001, S112 - left out: parsed (and refused) by fhirpathpy when met, as before
            continue
        lines.append(f"{json.dumps(text)}:{json.dumps(trees.encode(tree, types), separators=(',', ':'))}")
    header = {"format": trees.FORMAT, "fhirpathpy": VERSION, "generator": "tools/gen_fhirpath_trees.py",
              "count": len(lines), "types": list(types)}
    head = json.dumps(header, separators=(",", ":"))[:-1]
    return head + ',"trees":{\n' + ",\n".join(lines) + "\n}}\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when the file is not up to date")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = trees.FILE.read_text(encoding="utf-8") if trees.FILE.exists() else ""
        if current != text:
            print(f"{trees.FILE.relative_to(ROOT)} is out of date: run python tools/gen_fhirpath_trees.py",
                  file=sys.stderr)
            return 1
        return 0
    trees.FILE.write_text(text, encoding="utf-8")
    print(f"wrote {trees.FILE.relative_to(ROOT)} ({text.count(chr(10)) - 2} expressions, fhirpathpy {VERSION})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
