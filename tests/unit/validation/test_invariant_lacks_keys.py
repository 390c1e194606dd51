"""``invariants._lacks`` by key look-ups: a member name that is never an R4 choice element is
looked up as ``x`` and ``_x`` instead of tested as a prefix of every key of the object.

A member step of such a name reads only those two keys (``Member``: ``d.get(key)``, ``"_" + key in
d``); only a choice element (``value`` → ``valueString``) reads keys that start with its name. So an
object with a key like ``statusReason`` (but no ``status``) now gets the shortcut of an expression
that reads only ``status``: its result must still be the evaluated one. Here every core and LISN
constraint with a shortcut is evaluated, with the shortcut and without it, on objects that have
keys starting with (but other than) the names it reads, and on the objects of the examples; a
deliberately wrong table of choice names (``value`` taken as a plain name) must be caught.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_invariant_shortcut import CORE, LISN, _plain

from adapter.validation import invariants

ROOT = Path(__file__).resolve().parents[3]


def _objects(value: Any) -> Iterator[dict[str, Any]]:
    if isinstance(value, dict):
        yield value
        for child in value.values():
            yield from _objects(child)
    elif isinstance(value, list):
        for child in value:
            yield from _objects(child)


EXAMPLE_OBJECTS = [o for path in sorted((ROOT / "profiles" / "examples").glob("*.json"))
                   for o in _objects(json.loads(path.read_text(encoding="utf-8")))]


def _near_misses(names: tuple[str, ...]) -> list[dict[str, Any]]:
    """Objects with keys that start with a read name (or its ``_`` form) and are none of them."""
    out = []
    for name in names:
        out.append({name + "Reason": "x", "id": "a"})
        out.append({"_" + name + "Extra": {"id": "q"}})
        out.append({name + "String": "x", name + "Quantity": {"value": 1}, "url": "http://x"})
        out.append({name + "Boolean": True, "extension": [{"url": "http://x", "valueString": "y"}]})
    return out


def _checked(expression: str, type_path: str | None, is_resource: bool, nodes: list[dict[str, Any]],
             monkeypatch: pytest.MonkeyPatch) -> tuple[int, list[str]]:
    names = invariants.focus_names(expression)
    if names is None:
        return 0, []
    taken, problems = 0, []
    resource = {"resourceType": "Basic", "id": "r"}
    for probe in nodes + _near_misses(names):
        node = dict(probe, resourceType="Basic") if is_resource else probe
        if not invariants._lacks(node, names):
            continue
        taken += 1
        fast = invariants.evaluate(expression, node, resource=node if is_resource else resource, type_path=type_path)
        plain = _plain(expression, node, node if is_resource else resource, type_path, monkeypatch)
        if fast != plain:
            problems.append(f"{expression!r} on {node}: shortcut {fast} != evaluated {plain}")
    return taken, problems


def test_core_constraints_same_result_with_the_key_lookups(monkeypatch: pytest.MonkeyPatch) -> None:
    taken, problems = 0, []
    for expression, type_path, is_resource in CORE:
        n, found = _checked(expression, type_path, is_resource, EXAMPLE_OBJECTS[:40], monkeypatch)
        taken, problems = taken + n, problems + found
    assert taken > 1000
    assert not problems, "\n".join(problems[:5])


def test_lisn_constraints_same_result_with_the_key_lookups(monkeypatch: pytest.MonkeyPatch) -> None:
    taken, problems = 0, []
    for expression in LISN:
        n, found = _checked(expression, None, False, EXAMPLE_OBJECTS, monkeypatch)
        taken, problems = taken + n, problems + found
    assert taken > 100
    assert not problems, "\n".join(problems[:5])


def test_a_plain_name_is_looked_up_and_a_choice_name_is_a_prefix() -> None:
    assert invariants._lacks({"statusReason": "x"}, ("status",))  # (before: no shortcut; same result)
    assert not invariants._lacks({"_status": {"id": "s"}}, ("status",))
    assert not invariants._lacks({"valueString": "x"}, ("value",))
    assert not invariants._lacks({"_valueString": {"id": "s"}}, ("value",))
    assert "value" in invariants._CHOICE_NAMES and "status" not in invariants._CHOICE_NAMES


@pytest.mark.pure_python  # patches a module function: compiled callers do not see it (tests/conftest.py)
def test_a_wrong_table_of_choice_names_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """Negative control: with no choice names, ``valueString`` is not seen by ``value`` expressions."""
    monkeypatch.setattr(invariants, "_CHOICE_NAMES", frozenset())
    monkeypatch.setattr(invariants, "_LOOKUPS", {})
    monkeypatch.setattr(invariants, "_PLANS", {})  # (plans made anew: the quick ones hold the look-ups)
    monkeypatch.setattr(invariants, "_QUICK", {})
    problems = []
    for expression, type_path, is_resource in CORE:
        if "value" in (invariants.focus_names(expression) or ()):
            problems += _checked(expression, type_path, is_resource, [], monkeypatch)[1]
    assert problems
