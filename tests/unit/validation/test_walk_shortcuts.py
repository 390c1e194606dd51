"""The structure walk's shortcuts, each against the long way it replaces.

- Required bindings to core ValueSets: the expansion and the set of every code in it are made once
  per ValueSet (:func:`adapter.validation.core_rules._expansion`); a code (a plain string) is a
  member when any system of the expansion has it, as before.
- Plain primitives (:attr:`adapter.validation.structure._Plan.plain`): a value whose check is its
  type's quick test alone, with no ``_key`` part and no profile walk at it, is not visited. The
  outcomes (issues and their positions) of every example and base case, and of each with its
  values changed to wrong ones, are those of the walk with the shortcut off.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from adapter.fhir import definitions as defs
from adapter.fhir.registry import default_registry
from adapter.issues import Issues
from adapter.validation import core_rules, structure, validate_bytes

ROOT = Path(__file__).resolve().parents[3]
INPUTS = sorted((ROOT / "profiles" / "examples").glob("*.json")) + sorted(
    (ROOT / "tests" / "cases" / "validation" / "inputs").glob("**/*.json"))

VALUE_SETS = sorted(defs._data()["expansions"])


def _long_way(value_set: str, value: Any) -> bool:
    """Membership as check_binding decided it before the cache: the expansion made anew."""
    expansion = defs.expansion(value_set)
    assert expansion is not None
    if isinstance(value, str):
        return any(value in codes for codes in expansion.values())
    system, code = value.get("system"), value.get("code")
    return isinstance(system, str) and isinstance(code, str) and code in expansion.get(system, frozenset())


def _flagged(value_set: str, value: Any) -> bool:
    issues = Issues()
    core_rules.check_binding(value_set, value, "X.y", issues)
    return len(issues) > 0


@pytest.mark.parametrize("value_set", VALUE_SETS)
def test_a_binding_from_the_cache_decides_as_the_expansion_made_anew(value_set: str) -> None:
    expansion = defs.expansion(value_set)
    assert expansion is not None
    systems = sorted(expansion)
    codes = sorted(set().union(*expansion.values()))
    others = [s for s in VALUE_SETS if s != value_set]
    foreign = sorted(set().union(*defs.expansion(others[0]).values()))[:5] if others else []  # type: ignore[union-attr]
    for code in codes[:50] + codes[-50:] + foreign + ["", "no-such-code", codes[0].upper() + "x"]:
        for _ in range(2):  # the second call is answered from the cache
            assert _flagged(value_set, code) == (not _long_way(value_set, code)), code
        for system in systems + ["http://example.org/other"]:
            coding = {"system": system, "code": code}
            assert _flagged(value_set, coding) == (not _long_way(value_set, coding)), coding


def _leaves(node: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(node, dict):
        for key, child in node.items():
            if key != "resourceType":
                yield from _leaves(child, (*path, key))
    elif isinstance(node, list):
        for i, child in enumerate(node):
            yield from _leaves(child, (*path, i))
    else:
        yield path


def _set(doc: Any, path: tuple[Any, ...], value: Any) -> Any:
    out = copy.deepcopy(doc)
    node = out
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = value
    return out


def _with_meta(doc: Any, path: tuple[Any, ...]) -> Any:
    """The leaf given a ``_key`` part (an id): a primitive that is then not plain."""
    out = copy.deepcopy(doc)
    node = out
    for step in path[:-1]:
        node = node[step]
    key = path[-1]
    if isinstance(key, str) and not key.startswith("_"):
        node["_" + key] = {"id": "m1"}
    return out


def _bodies() -> Iterator[bytes]:
    for source in INPUTS:
        raw = source.read_bytes()
        yield raw
        try:
            doc = json.loads(raw)
        except ValueError:
            continue
        leaves = list(_leaves(doc))
        for n, path in enumerate(leaves[:: max(1, len(leaves) // 12)]):
            wrong = ["", " x ", "xyz", 12, 1.5, True, "2020-13-45", "#nowhere", "urn:oid:1"][n % 9]
            yield json.dumps(_set(doc, path, wrong), indent=1).encode()
        yield json.dumps(_with_meta(doc, leaves[len(leaves) // 2]), indent=1).encode() if leaves else raw


def _outcomes() -> list[Any]:
    registry = default_registry()
    return [validate_bytes(body, registry) for body in _bodies()]


def test_plain_primitives_skipped_give_the_outcomes_of_the_full_visit(monkeypatch: pytest.MonkeyPatch) -> None:
    shortcut = _outcomes()
    assert any(plan.plain is not None for table in structure._TABLES.values() for plan in table.plans.values())
    init = structure._Plan.__init__

    def without_shortcut(self: structure._Plan, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        self.plain = None

    monkeypatch.setattr(structure._Plan, "__init__", without_shortcut)
    monkeypatch.setattr(structure, "_TABLES", {})
    monkeypatch.setattr(structure, "_ROOTS", {})
    monkeypatch.setattr(structure, "_ELEMENT", [])
    full = _outcomes()
    assert len(full) == len(shortcut) > 300
    for one, other in zip(shortcut, full):
        assert one == other


def _issue(**changes: Any) -> dict[str, Any]:
    issue: dict[str, Any] = {"severity": "error", "code": "value", "details": {"text": "T"},
                             "expression": ["Patient.birthDate"], "diagnostics": "D"}
    issue.update(changes)
    return issue


@pytest.mark.parametrize(("items", "kept"), [
    ([_issue(), _issue()], [0]),
    ([_issue(), _issue(severity="warning")], [0, 1]),  # same text and place: the whole issue decides
    ([_issue(), _issue(code="structure")], [0, 1]),
    ([_issue(), _issue(extension=[{"url": "x"}]), _issue()], [0, 1]),
    ([_issue(), _issue(expression=["Patient.gender"]), _issue()], [0, 1]),
    ([_issue(expression=["A", "B"]), _issue(expression=["A"]), _issue(expression=["A", "B"])], [0, 1]),
    ([_issue(details={"text": ["not hashable"]}), _issue(details={"text": ["not hashable"]})], [0]),
    ([_issue(details="odd"), _issue(details="odd"), _issue()], [0, 2]),
    ([_issue(diagnostics={"x": 1}), _issue(diagnostics={"x": 2})], [0, 1]),
    ([], []),
])
def test_repeated_issues_are_dropped_by_the_whole_issue(items: list[dict[str, Any]], kept: list[int]) -> None:
    """entry._drop_repeats looks at each issue's text, diagnostics and places first (a quick key):
    only when two agree there are whole issues compared; what is kept is decided by the whole issue."""
    from adapter.validation.entry import _drop_repeats

    issues = Issues()
    issues.items.extend(copy.deepcopy(items))
    _drop_repeats(issues)
    assert issues.items == [items[i] for i in kept]
