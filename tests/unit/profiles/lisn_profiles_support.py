"""Helpers for the profile tests: reading profiles/ and its examples, JSON-Pointer edits, FHIRPath.

(Not a conftest: the test folders have no __init__.py, so a uniquely named module is safer.)
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fhirpathpy
from fhirpathpy.models import models

ROOT = Path(__file__).resolve().parents[3]
PROFILES = ROOT / "profiles"
EXAMPLES = PROFILES / "examples"
HERE = Path(__file__).resolve().parent
BASE = "https://lisn.se/fhir"
R4 = models["r4"]


def read(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def data(name: str) -> Any:
    """A data file of this test folder."""
    return read(HERE / name)


def resource_files() -> list[Path]:
    """Every resource file of the package: profiles/*.json and profiles/examples/*.json."""
    return sorted(p for p in [*PROFILES.glob("*.json"), *EXAMPLES.glob("*.json")] if p.name != "package.json")


def definitions(resource_type: str | None = None) -> list[dict[str, Any]]:
    found = [read(p) for p in sorted(PROFILES.glob("*.json")) if p.name != "package.json"]
    return [r for r in found if resource_type is None or r["resourceType"] == resource_type]


def example_instances() -> Iterator[tuple[str, dict[str, Any]]]:
    """(label, resource) for every example and every resource inside an example Bundle."""
    for path in sorted(EXAMPLES.glob("*.json")):
        res = read(path)
        yield path.name, res
        for i, entry in enumerate(res.get("entry") or []):
            yield f"{path.name}#entry[{i}]", entry["resource"]


def walk(node: Any) -> Iterator[Any]:
    yield node
    if isinstance(node, dict):
        for v in node.values():
            yield from walk(v)
    elif isinstance(node, list):
        for v in node:
            yield from walk(v)


# -- JSON Pointer (RFC 6901) edits, enough for the mutation manifest --------------------------
def _parent(doc: Any, pointer: str) -> tuple[Any, str]:
    parts = [p.replace("~1", "/").replace("~0", "~") for p in pointer.split("/")[1:]]
    node = doc
    for p in parts[:-1]:
        node = node[int(p)] if isinstance(node, list) else node[p]
    return node, parts[-1]


def _get(doc: Any, pointer: str) -> Any:
    parent, key = _parent(doc, pointer)
    return parent[int(key)] if isinstance(parent, list) else parent[key]


def _remove(doc: Any, pointer: str) -> Any:
    parent, key = _parent(doc, pointer)
    return parent.pop(int(key) if isinstance(parent, list) else key)


def _add(doc: Any, pointer: str, value: Any) -> None:
    parent, key = _parent(doc, pointer)
    if isinstance(parent, list):
        parent.insert(len(parent) if key == "-" else int(key), value)
    else:
        parent[key] = value


def apply_ops(doc: Any, ops: list[dict[str, Any]]) -> Any:
    out = copy.deepcopy(doc)
    for op in ops:
        if op["op"] == "remove":
            _remove(out, op["path"])
        elif op["op"] == "replace":
            _get(out, op["path"])  # must exist, as RFC 6902 says
            parent, key = _parent(out, op["path"])
            parent[int(key) if isinstance(parent, list) else key] = op["value"]
        elif op["op"] == "add":
            _add(out, op["path"], op["value"])
        elif op["op"] == "move":
            _add(out, op["path"], _remove(out, op["from"]))
        else:
            raise ValueError(f"unknown op {op['op']}")
    return out


# -- FHIRPath ------------------------------------------------------------------------------------
def holds(resource: dict[str, Any], expression: str, path: str | None = None) -> bool:
    """An invariant holds when it evaluates to exactly ``[True]`` on every node at ``path`` (the element it sits on)."""
    env = {"resource": resource, "rootResource": resource}
    rtype = resource.get("resourceType", "")
    if not path or path == rtype:
        return bool(fhirpathpy.evaluate(resource, expression, env, R4) == [True])
    nodes = fhirpathpy.evaluate(resource, path[len(rtype) + 1:], env, R4)
    return all(fhirpathpy.evaluate(node, expression, env, R4) == [True] for node in nodes)


def constraints() -> Iterator[tuple[dict[str, Any], dict[str, Any], dict[str, Any]]]:
    """(StructureDefinition, element, constraint) for every constraint of every profile."""
    for sd in definitions("StructureDefinition"):
        for element in sd["differential"]["element"]:
            for con in element.get("constraint") or []:
                yield sd, element, con
