"""Snapshots of the StructureDefinitions (tools/gen_snapshots.py) and distinct resource names.

The fast tests check, without the base definitions, that every checked-in snapshot carries its
differential (so a differential edited without regenerating fails here) and is well formed, and
run the tool's rules on a small hand-made base. The slow test regenerates every snapshot from the
R4 base definitions (npm) and fails if a checked-in one differs.
"""

from __future__ import annotations

import copy
import importlib.util
import os
import re
import shutil
import subprocess
from collections import defaultdict
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from lisn_profiles_support import PROFILES, ROOT, read


def _tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_snapshots", ROOT / "tools" / "gen_snapshots.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SDS = sorted(PROFILES.glob("StructureDefinition-*.json"))


def _path_of(eid: str) -> str:
    return re.sub(r":[^.]+", "", eid)


def _max(value: str) -> float:
    return float("inf") if value == "*" else int(value)


@pytest.mark.parametrize("path", SDS, ids=lambda p: p.stem)
def test_every_structure_definition_has_a_well_formed_snapshot(path: Path) -> None:
    sd = read(path)
    elements = sd["snapshot"]["element"]
    ids = [el["id"] for el in elements]
    assert ids[0] == sd["type"] and len(ids) == len(set(ids))
    for el in elements:
        assert el["path"] == _path_of(el["id"]), el["id"]
        assert el["path"].split(".")[0] == sd["type"]
        assert int(el["min"]) <= _max(el["max"]), el["id"]
        assert el["base"]["path"] and el.get("type") or el["id"] == sd["type"] or "contentReference" in el, el["id"]
        if "sliceName" in el:
            assert el["id"].endswith(":" + el["sliceName"])
            sliced = el["id"].rsplit(":", 1)[0]
            assert "slicing" in elements[ids.index(sliced)], f"{el['id']}: {sliced} is not sliced"
            assert ids.index(sliced) < ids.index(el["id"])
    # every element's parent comes before it
    for eid in ids[1:]:
        parent = eid.rsplit(".", 1)[0]
        assert parent in ids[: ids.index(eid)], eid
    # the mapping identities the elements use are declared
    declared = {m["identity"] for m in sd.get("mapping", [])}
    assert {m["identity"] for el in elements for m in el.get("mapping", [])} <= declared


def _stale(sd: dict[str, Any]) -> list[str]:
    """Differential values the snapshot does not carry (each as ``id.key``)."""
    snap = {el["id"]: el for el in sd["snapshot"]["element"]}
    out = []
    for diff in sd["differential"]["element"]:
        el = snap.get(diff["id"])
        if el is None:
            out.append(diff["id"])
            continue
        for key, value in diff.items():
            if key == "constraint":
                keyed = {c["key"]: c for c in el.get("constraint", [])}
                out += [f"{diff['id']}.constraint.{c['key']}" for c in value
                        if {**c, "source": c.get("source", sd["url"])} != keyed.get(c["key"])]
            elif el.get(key) != value:
                out.append(f"{diff['id']}.{key}")
    return out


@pytest.mark.parametrize("path", SDS, ids=lambda p: p.stem)
def test_the_snapshot_carries_every_differential_element(path: Path) -> None:
    assert _stale(read(path)) == [], "snapshot stale: run python tools/gen_snapshots.py"


def test_a_differential_edited_without_regenerating_is_found() -> None:
    sd = read(PROFILES / "StructureDefinition-lisn-patient.json")
    sd["differential"]["element"][2]["min"] = 2
    sd["differential"]["element"][0]["constraint"][0]["expression"] = "true"
    sd["differential"]["element"].append({"id": "Patient.birthDate", "path": "Patient.birthDate", "min": 1})
    assert _stale(sd) == ["Patient.constraint.lisn-pat-1", "Patient.identifier.min", "Patient.birthDate.min"]


def test_the_snapshot_keeps_the_base_constraints_and_bindings() -> None:
    sd = read(PROFILES / "StructureDefinition-lisn-patient.json")
    snap = {el["id"]: el for el in sd["snapshot"]["element"]}
    root_keys = {c["key"] for c in snap["Patient"]["constraint"]}
    assert {"dom-2", "dom-3", "dom-4", "dom-5", "dom-6", "lisn-pat-1", "lisn-pat-2", "lisn-pat-3"} <= root_keys
    assert snap["Patient.gender"]["binding"]["strength"] == "required"
    # Medplum's own Meta elements are not the specification's and stay out
    assert "Patient.meta.project" not in snap and "Patient.meta.security" in snap
    bundle = read(PROFILES / "StructureDefinition-lisn-submission.json")
    ids = [el["id"] for el in bundle["snapshot"]["element"]]
    assert "Bundle.entry:patient.resource" in ids and "Bundle.entry:patient.fullUrl" in ids


# --- the tool's rules on a small base ------------------------------------------------------------

def _el(eid: str, *, min_: int = 0, max_: str = "1", type_: str | None = None, **extra: Any) -> dict[str, Any]:
    el: dict[str, Any] = {"id": eid, "path": _path_of(eid), "min": min_, "max": max_,
                          "base": {"path": _path_of(eid), "min": min_, "max": max_}}
    if type_:
        el["type"] = [{"code": type_}]
    return {**el, **extra}


def _base() -> dict[str, dict[str, Any]]:
    core = "http://hl7.org/fhir/StructureDefinition/"
    thing = {"url": core + "Thing", "type": "Thing", "derivation": "specialization", "kind": "resource",
             "snapshot": {"element": [
                 _el("Thing", max_="*", constraint=[{"key": "t-1", "severity": "error", "human": "h", "expression": "x"}]),
                 _el("Thing.code", type_="Identifier"),
                 _el("Thing.part", max_="*", type_="BackboneElement"),
                 _el("Thing.part.name", type_="string"),
             ]}}
    thing["differential"] = copy.deepcopy(thing["snapshot"])
    ident = {"url": core + "Identifier", "type": "Identifier", "derivation": "specialization", "kind": "complex-type",
             "snapshot": {"element": [_el("Identifier", max_="*"), _el("Identifier.system", type_="uri"),
                                      _el("Identifier.value", type_="string"),
                                      _el("Identifier.vendorOnly", type_="uri")]},
             "differential": {"element": [_el("Identifier"), _el("Identifier.system"), _el("Identifier.value")]}}
    tool = _tool()
    return {sd["url"]: tool.spec_only(sd) for sd in (thing, ident)}


def _profile(diff: list[dict[str, Any]]) -> dict[str, Any]:
    return {"url": "https://example.org/p", "type": "Thing", "kind": "resource",
            "baseDefinition": "http://hl7.org/fhir/StructureDefinition/Thing", "differential": {"element": diff}}


def test_the_tool_applies_cardinality_constraints_types_and_fixed_values() -> None:
    diff = [{"id": "Thing", "path": "Thing", "constraint": [{"key": "p-1", "severity": "error", "human": "p",
                                                            "expression": "y"}]},
            {"id": "Thing.code.system", "path": "Thing.code.system", "min": 1, "fixedUri": "urn:x"}]
    snap, _ = _tool().snapshot(_profile(diff), _base())
    by_id = {el["id"]: el for el in snap["element"]}
    assert [c["key"] for c in by_id["Thing"]["constraint"]] == ["t-1", "p-1"]
    assert by_id["Thing"]["constraint"][1]["source"] == "https://example.org/p"
    # the Identifier type was unrolled below Thing.code, without the vendor's extra element
    assert [el["id"] for el in snap["element"]][1:4] == ["Thing.code", "Thing.code.system", "Thing.code.value"]
    assert "Thing.code.vendorOnly" not in by_id
    assert by_id["Thing.code.system"]["min"] == 1 and by_id["Thing.code.system"]["fixedUri"] == "urn:x"
    assert by_id["Thing.code.system"]["base"]["path"] == "Identifier.system"


def test_the_tool_places_slices_after_the_sliced_group() -> None:
    diff = [{"id": "Thing.part", "path": "Thing.part", "slicing": {"rules": "closed"}},
            {"id": "Thing.part:a", "path": "Thing.part", "sliceName": "a", "min": 1},
            {"id": "Thing.part:a.name", "path": "Thing.part.name", "min": 1},
            {"id": "Thing.part:b", "path": "Thing.part", "sliceName": "b", "max": "1"}]
    snap, _ = _tool().snapshot(_profile(diff), _base())
    ids = [el["id"] for el in snap["element"]]
    assert ids[2:] == ["Thing.part", "Thing.part.name", "Thing.part:a", "Thing.part:a.name", "Thing.part:b",
                       "Thing.part:b.name"]
    by_id = {el["id"]: el for el in snap["element"]}
    assert "slicing" not in by_id["Thing.part:a"] and by_id["Thing.part:a"]["sliceName"] == "a"
    assert by_id["Thing.part:a.name"]["min"] == 1 and by_id["Thing.part:b.name"]["min"] == 0


@pytest.mark.parametrize("bad", [
    {"id": "Thing.nothing", "path": "Thing.nothing"},
    {"id": "Thing.part.name.x", "path": "Thing.part.name.x"},
    {"id": "Thing.part:a", "path": "Thing.part", "sliceName": "a"},  # Thing.part is not sliced
    {"id": "Thing.code", "path": "Thing.other"},
])
def test_the_tool_refuses_what_the_base_does_not_have(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        _tool().snapshot(_profile([bad]), _base())


# --- names -------------------------------------------------------------------------------------

def test_every_canonical_resource_has_its_own_name() -> None:
    """Names are unique, versions of one profile included: SUSHI and GoFSH key definitions by name.

    (Versions of the template, instances in FSH, may share theirs.)
    """
    by_name: dict[str, set[str]] = defaultdict(set)
    for path in PROFILES.glob("*.json"):
        if path.name == "package.json":
            continue
        res = read(path)
        if "name" in res and res["resourceType"] != "Questionnaire":
            by_name[res["name"]].add(path.name)
    shared = {name: files for name, files in by_name.items() if len(files) > 1}
    assert not shared, f"one name for several resources: {shared}"
    cs = read(PROFILES / "CodeSystem-grund-typ.json")
    vs = read(PROFILES / "ValueSet-grund-typ.json")
    assert cs["name"] != vs["name"]


# --- regeneration from the R4 base definitions ----------------------------------------------------

def npm_or_skip() -> str:
    """npm and its registry: skipped where missing, except when ADAPTER_REQUIRE_NPM=1 (CI)."""
    npm = shutil.which("npm")
    reason = "npm is not installed" if npm is None else None
    if npm is not None:
        ping = subprocess.run([npm, "ping"], capture_output=True, text=True, timeout=60)
        if ping.returncode != 0:
            reason = f"the npm registry is unreachable: {ping.stderr.strip()[:200]}"
    if reason:
        if os.environ.get("ADAPTER_REQUIRE_NPM"):
            pytest.fail(f"{reason} (ADAPTER_REQUIRE_NPM=1)")
        pytest.skip(reason)
    assert npm is not None
    return npm


@pytest.mark.slow
def test_the_checked_in_snapshots_are_what_the_tool_generates() -> None:
    npm_or_skip()
    tool = _tool()
    base = tool.load_base(tool.fetch())
    stale = tool.run(PROFILES, base, check=True)
    assert not stale, f"stale snapshots (run python tools/gen_snapshots.py): {[p.name for p in stale]}"


@pytest.mark.parametrize("path", [p for p in sorted(PROFILES.glob("*.json")) if p.name != "package.json"],
                         ids=lambda p: p.stem)
def test_every_definition_is_valid_r4_for_the_adapters_validator(path: Path) -> None:
    """The base R4 rules (structure, cardinality, the sdf-/eld- invariants on snapshots) hold."""
    from adapter.fhir.registry import default_registry
    from adapter.validation import validate

    oo = validate(read(path), default_registry())
    assert [i for i in oo.get("issue", []) if i["severity"] in ("fatal", "error")] == []


def test_the_adapters_validator_refuses_a_snapshot_with_a_repeated_id() -> None:
    from adapter.fhir.registry import default_registry
    from adapter.validation import validate

    sd = read(PROFILES / "StructureDefinition-lisn-vardgivare.json")
    sd["snapshot"]["element"].append(copy.deepcopy(sd["snapshot"]["element"][1]))
    oo = validate(sd, default_registry())
    assert any(i["severity"] == "error" for i in oo["issue"])
