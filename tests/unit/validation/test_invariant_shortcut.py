"""Invariants that read only members a node lacks: the result worked out once is the evaluated one.

``adapter.validation.invariants.focus_names`` finds the members an expression can read from its
focus (``contained.meta.versionId.empty()``: ``contained``); on an object with none of them the
result is taken from one evaluation on an empty object. Here every constraint of the R4 core
definitions and of the LISN profiles is evaluated on objects lacking its members, with the
shortcut and without it, and the results must be equal; expressions that reach their focus other
than by member steps must get no shortcut.
"""

from __future__ import annotations

from typing import Any

import pytest

from adapter.fhir import definitions as defs
from adapter.fhir.registry import default_registry
from adapter.validation import invariants

PROBES: list[dict[str, Any]] = [
    {"id": "a1"},
    {"extension": [{"url": "http://example.org/x", "valueString": "y"}]},
    {"zzz": [1, {"b": 2}], "_zzz": [None, {"id": "q"}]},
    {"id": "a1", "modifierExtension": [{"url": "http://example.org/m", "valueBoolean": True}]},
]


def _core() -> list[tuple[str, str | None, bool]]:
    """(expression, type path, whether the focus is a resource) of every core constraint."""
    out = set()
    for name in defs._data()["types"]:
        tdef = defs.type_def(name)
        assert tdef is not None
        for c in tdef.constraints:
            out.add((c.expression, None if tdef.kind == "resource" else name, tdef.kind == "resource"))
    for owner in defs._data()["owners"]:
        for el in defs.children(owner).values():
            for c in el.constraints:
                for t in el.types or ("Element",):
                    out.add((c.expression, el.owner or t, False))
    return sorted(out, key=lambda x: (x[0], x[1] or "", x[2]))


def _lisn() -> list[str]:
    registry = default_registry()
    found = set()
    for sd in registry.all("StructureDefinition"):
        for ed in (sd.get("differential") or {}).get("element") or []:
            for c in ed.get("constraint") or []:
                if isinstance(c.get("expression"), str):
                    found.add(c["expression"])
    return sorted(found)


def _plain(expression: str, node: Any, resource: Any, type_path: str | None, monkeypatch: pytest.MonkeyPatch) -> Any:
    with monkeypatch.context() as m:  # (no quick plan either: it holds the shortcut's look-ups itself)
        m.setattr(invariants, "_lacks", lambda node, names: False)
        m.setattr(invariants, "_QUICK", {})
        return invariants.evaluate(expression, node, resource=resource, type_path=type_path)


CORE = _core()
LISN = _lisn()


def test_most_core_constraints_get_the_shortcut() -> None:
    expressions = {e for e, _, _ in CORE}
    with_names = {e for e in expressions if invariants.focus_names(e) is not None}
    assert len(with_names) > len(expressions) * 3 / 4


@pytest.mark.parametrize("case", CORE, ids=[f"{t or 'resource'}:{e[:40]}" for e, t, _ in CORE])
def test_core_constraint_same_result_on_objects_without_its_members(
        case: tuple[str, str | None, bool], monkeypatch: pytest.MonkeyPatch) -> None:
    expression, type_path, is_resource = case
    names = invariants.focus_names(expression)
    if names is None:
        return
    resource = {"resourceType": "Basic", "id": "r", "contained": [{"resourceType": "Basic", "id": "c"}]}
    for probe in PROBES:
        node = dict(probe, resourceType="Basic") if is_resource else probe
        if not invariants._lacks(node, names):
            continue
        fast = invariants.evaluate(expression, node, resource=node if is_resource else resource, type_path=type_path)
        plain = _plain(expression, node, node if is_resource else resource, type_path, monkeypatch)
        assert fast == plain, (expression, node)


@pytest.mark.parametrize("expression", LISN, ids=[e[:50] for e in LISN])
def test_lisn_constraint_same_result_on_objects_without_its_members(expression: str,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    names = invariants.focus_names(expression)
    if names is None:
        return
    for probe in PROBES:
        for node in (probe, dict(probe, resourceType="QuestionnaireResponse")):
            if invariants._lacks(node, names):
                fast = invariants.evaluate(expression, node, resource=node)
                assert fast == _plain(expression, node, node, None, monkeypatch), (expression, node)


@pytest.mark.parametrize("expression", [
    "where(use = 'home').empty()",  # a function on the focus itself
    "hasValue() or (children().count() > id.count())",
    "$this.value.exists()",
    "%resource.entry.exists()", "%context.id.exists()", "%rootResource.contained.id.exists()",
    "Patient.name.exists()",  # a type name: filters the focus by resourceType
    "a.where(b).exists() and today() > a",  # the clock
    "a.contains($this)",  # $this outside a criterion: the focus
    "a.union(b).exists()",  # a parameter fhirpathpy evaluates at the root
    "a.aggregate($this, 0) > 1", "iif(a.exists(), true, false)",
    "reference.resolve().exists()",
    "$$",  # does not parse
])
def test_expressions_that_reach_the_focus_otherwise_get_no_shortcut(expression: str) -> None:
    assert invariants.focus_names(expression) is None


@pytest.mark.parametrize(("expression", "names"), [
    ("contained.meta.versionId.empty() and contained.meta.lastUpdated.empty()", ("contained",)),
    ("(answer.exists() and item.exists()).not()", ("answer", "item")),
    ("a.where($this.x.startsWith(y)).exists()", ("a",)),  # inside a criterion: the item's members
    ("a.where(b).contains(c)", ("a", "c")),  # a parameter outside a criterion: read at the focus
    ("value.matches('^x$')", ("value",)),
])
def test_the_members_an_expression_reads_at_its_focus(expression: str, names: tuple[str, ...]) -> None:
    assert invariants.focus_names(expression) == names


def test_a_member_by_another_json_name_counts_as_present() -> None:
    assert not invariants._lacks({"valueString": "x"}, ("value",))  # a choice type
    assert not invariants._lacks({"_status": {"id": "s"}}, ("status",))  # a primitive's extension
    assert invariants._lacks({"id": "x", "text": {}}, ("value", "status"))


def test_the_shortcut_gives_a_failing_result_too() -> None:
    # ext-1 fails on an extension with neither a value nor extensions: the shortcut keeps that
    expression = "extension.exists() != value.exists()"
    assert invariants.evaluate(expression, {"url": "http://x"}, resource={}, type_path="Extension") == [False]
