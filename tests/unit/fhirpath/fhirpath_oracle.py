"""fhirpathpy as the oracle: both engines on one expression and one input, described comparably.

A result is described item by item: a node by its type path and its data (objects by identity:
both engines see the same instance), a system value by its type and text. An error by its type
and message (memory addresses left out). Two engines agree when the descriptions are equal.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import fhirpathpy
from fhirpathpy.engine.nodes import FP_Type, ResourceNode

from adapter import fhirpath
from adapter.fhirpath import fhirpathpy_options
from adapter.fhirpath.env import MODEL
from adapter.fhirpath.fhir import scope

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


@cache
def ours(expression: str, raw: bool) -> Any:
    return fhirpath.compile(expression, raw=raw)


@cache
def theirs(expression: str, raw: bool) -> Any:
    return fhirpathpy.compile(expression, MODEL, fhirpathpy_options(raw))


def describe(value: Any) -> Any:
    if isinstance(value, list):
        return [describe(v) for v in value]
    if isinstance(value, ResourceNode):
        data = value.data
        return ("node", value.path, ("obj", id(data)) if isinstance(data, (dict, list)) else describe(data))
    if isinstance(value, FP_Type):
        return (type(value).__name__, str(value))
    if isinstance(value, dict):
        return json.dumps(value, default=repr, sort_keys=True)
    return (type(value).__name__, repr(value))


def outcome(fn: Any, node: Any, variables: dict[str, Any]) -> Any:
    try:
        return ("ok", describe(fn(node, variables)))
    except Exception as exc:  # noqa: BLE001 - an error is an outcome both engines must share
        return ("error", type(exc).__name__, _ADDRESS.sub("", str(exc)))


def disagreement(expression: str, node: Any, variables: dict[str, Any], raw: bool) -> str | None:
    """``None`` when both engines give the same; otherwise a line saying what differs."""
    compiled = ours(expression, raw)
    if compiled.compiled is None:
        return None  # evaluated by fhirpathpy itself: nothing to compare
    mine = outcome(compiled, node, variables)
    with scope(variables.get("resource"), variables.get("rootResource")):  # what resolve() looks in
        reference = outcome(theirs(expression, raw), node, variables)
    if mine != reference:
        return f"{expression!r} raw={raw}: compiled {str(mine)[:300]} != fhirpathpy {str(reference)[:300]}"
    return direct_disagreement(expression, node, variables)


def direct_disagreement(expression: str, node: Any, variables: dict[str, Any]) -> str | None:
    """For an expression with a direct form: the direct form, the node form and fhirpathpy (plain
    results) give the same on ``node``; ``None`` when they do (or there is no direct form)."""
    compiled = ours(expression, False)
    if compiled.direct is None:
        return None
    mine = outcome(compiled.direct_form, node, variables)
    nodes = outcome(compiled.node_form, node, variables)
    with scope(variables.get("resource"), variables.get("rootResource")):
        reference = outcome(theirs(expression, False), node, variables)
    # As adapter.validation.invariants evaluates an element: its JSON and its type path, no node.
    typed = mine if not isinstance(node, ResourceNode) else \
        outcome(lambda n, v: compiled.on_data(n.data, n.path, v), node, variables)
    if mine == nodes == reference == typed:
        return None
    return (f"{expression!r} direct form {str(mine)[:300]} / on JSON {str(typed)[:300]} / node form {str(nodes)[:300]}"
            f" / fhirpathpy {str(reference)[:300]}")


# -- inputs ------------------------------------------------------------------------------------

def input_files(conformance: Path | None) -> list[Path]:
    files = sorted((ROOT / "profiles" / "examples").glob("*.json"))
    files += sorted((ROOT / "tests" / "cases" / "validation").rglob("*.json"))
    files += sorted((ROOT / "tests" / "unit" / "validation_profiles" / "cases").glob("*.json"))
    if conformance is not None:
        files += sorted((conformance / "hl7-questionnaire" / "cases").glob("*.json"))
        files += sorted((conformance / "hl7-base" / "cases").glob("*.json"))
    return files


def load(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError):
        return None  # a corpus case that is not well-formed JSON on purpose


def resources(root: Any) -> Iterator[tuple[Any, dict[str, Any]]]:
    """Each resource in ``root`` (itself, Bundle entries, contained) with its ``%`` variables."""
    stack = [(root, root)]
    while stack:
        resource, container = stack.pop()
        if not isinstance(resource, dict):
            continue
        yield resource, {"resource": resource, "rootResource": container}
        for entry in resource.get("entry", []) if isinstance(resource.get("entry"), list) else []:
            if isinstance(entry, dict):
                stack.append((entry.get("resource"), root))
        for contained in resource.get("contained", []) if isinstance(resource.get("contained"), list) else []:
            stack.append((contained, container))


def typed_nodes(resource: Any) -> list[Any]:
    """The resource's objects as fhirpathpy types them (its own ``descendants()``), root first."""
    try:
        found = fhirpathpy.compile("descendants()", MODEL, {"returnRawData": True})(resource, {})
    except Exception:  # noqa: BLE001 - data fhirpathpy cannot walk: only the root then
        found = []
    return [ResourceNode.create_node(resource, None)] + [n for n in found if isinstance(n.data, dict)]


def direct_problems(resource_list: list[Any], expressions: list[str], on_typed: list[str], *,
                    typed: int = 12, first: bool = False) -> list[str]:
    """:func:`direct_disagreement` of every expression on every resource of ``resource_list`` (pairs
    of resource and variables), and of ``on_typed`` on the first ``typed`` typed nodes of each; with
    ``first``, only up to the first disagreement (what a negative control needs)."""
    problems = []
    for resource, variables in resource_list:
        for expression in expressions:
            found = direct_disagreement(expression, resource, variables)
            if found:
                problems.append(found)
                if first:
                    return problems
        for node in typed_nodes(resource)[:typed]:
            for expression in on_typed:
                found = direct_disagreement(expression, node, variables)
                if found:
                    problems.append(found)
                    if first:
                        return problems
    return problems
