"""The structure walk's short ways (``structure._SHORT_WAYS``) give the outcomes of its general way.

- :meth:`adapter.validation.structure.StructureWalk.each`: an array with no ``_key`` array, no null
  and no profile walk at its values is visited value by value at once (a plain primitive that
  passes its quick test is not even named), instead of being gathered first.
- :meth:`adapter.validation.structure.StructureWalk.known`: an object whose elements are one key
  each (no ``_key``, no choice written twice) with no profile walk below it has its single values
  and plain arrays visited without :meth:`~adapter.validation.structure.StructureWalk.element`
  (the objects with only plain keys, and, from ``properties``, those with a choice or unknown keys).
- ``structure._HOLD_UNCONTAINED``: the core constraints whose paths all start at ``contained``
  (dom-2, dom-4, dom-5) are not evaluated on a resource without ``contained``; each gives ``true``
  there when evaluated (checked on every resource of the inputs).

Every pinned input but the HL7 corpora (examples, XML, conformance and profile cases), and the
examples with their arrays changed (a null added, a value made wrong, an array emptied, made a
single value, given a ``_key`` array), are validated with the short ways on and off: the outcomes
(issues, order, texts, positions) must be the same. Negative controls: a short way that forgets a
value, or a key, or that leaves out constraints that can fail, must change some outcome.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from adapter.fhir import definitions as defs
from adapter.validation import invariants, structure, walkgen
from tests.unit.validation import outcome_pin

ROOT = Path(__file__).resolve().parents[3]


def _arrays(node: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(node, dict):
        for key, child in node.items():
            if isinstance(child, list):
                yield (*path, key)
            yield from _arrays(child, (*path, key))
    elif isinstance(node, list):
        for i, child in enumerate(node):
            yield from _arrays(child, (*path, i))


def _changed(doc: Any, path: tuple[Any, ...], n: int) -> Any:
    out = copy.deepcopy(doc)
    parent = out
    for step in path[:-1]:
        parent = parent[step]
    key = path[-1]
    array = parent[key]
    kind = n % 6
    if kind == 0:
        array.append(None)
    elif kind == 1:
        array[-1] = ["", 12, {}, "x y", True, "2020-13-45"][n // 6 % 6]
    elif kind == 2:
        array.clear()
    elif kind == 3:
        parent[key] = array[0]
    elif kind == 4:
        parent["_" + key] = [{"id": "m1"} for _ in array]
    else:
        array.append(copy.deepcopy(array[0]))
    return out


def _inputs() -> Iterator[tuple[str, bytes, Any]]:
    lisn = None
    for name, raw, registry in outcome_pin.inputs():
        if name.startswith("hl7"):
            continue
        yield name, raw, registry
        if name.startswith("examples/") and name.endswith(".json"):
            lisn = registry
            doc = json.loads(raw)
            for n, path in enumerate(list(_arrays(doc))[:60]):
                yield f"{name} {path} #{n}", json.dumps(_changed(doc, path, n), indent=1).encode(), lisn


INPUTS = list(_inputs())


def _outcomes(monkeypatch: pytest.MonkeyPatch, short: bool) -> list[Any]:
    with monkeypatch.context() as m:
        m.setattr(structure, "_SHORT_WAYS", short)
        m.setattr(walkgen, "ENABLED", False)  # (its generated visits stand in for these: test_walkgen.py)
        return [outcome_pin.outcome(raw, registry) for _, raw, registry in INPUTS]


@pytest.mark.pure_python  # patches a module function: compiled callers do not see it (tests/conftest.py)
def test_short_ways_give_the_outcomes_of_the_general_way(monkeypatch: pytest.MonkeyPatch) -> None:
    taken: dict[str, int] = {"each": 0, "known": 0}
    for name in taken:
        real = getattr(structure.StructureWalk, name)

        def counted(self: structure.StructureWalk, *args: Any, _real: Any = real, _name: str = name) -> None:
            taken[_name] += 1
            _real(self, *args)

        monkeypatch.setattr(structure.StructureWalk, name, counted)
    short = _outcomes(monkeypatch, True)
    assert min(taken.values()) > 1000, taken  # the short ways are taken
    general = _outcomes(monkeypatch, False)
    assert len(short) == len(general) > 500
    differ = [name for (name, _, _), a, b in zip(INPUTS, short, general) if a != b]
    assert not differ, differ[:10]


def _forgets_a_value(real: Any) -> Any:
    def each(self: structure.StructureWalk, values: list[Any], *args: Any) -> None:
        real(self, values[:-1], *args)
    return each


def _forgets_a_key(real: Any) -> Any:
    def known(self: structure.StructureWalk, obj: dict[str, Any], path: str, plans: Any, res: Any) -> None:
        real(self, obj, path, list(plans)[:-1], res)
    return known


@pytest.mark.pure_python  # patches a module function: compiled callers do not see it (tests/conftest.py)
@pytest.mark.parametrize(("name", "wrong"), [("each", _forgets_a_value), ("known", _forgets_a_key)])
def test_a_wrong_short_way_is_caught(monkeypatch: pytest.MonkeyPatch, name: str, wrong: Any) -> None:
    """Negative controls: a short way that leaves out an array's last value, or an object's last key,
    changes some outcome."""
    general = _outcomes(monkeypatch, False)
    monkeypatch.setattr(structure.StructureWalk, name, wrong(getattr(structure.StructureWalk, name)))
    assert _outcomes(monkeypatch, True) != general


def _resources(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        if isinstance(node.get("resourceType"), str):
            yield node
        for child in node.values():
            yield from _resources(child)
    elif isinstance(node, list):
        for child in node:
            yield from _resources(child)


def test_the_constraints_left_out_hold_on_every_resource_without_contained() -> None:
    checked = 0
    for _, raw, _ in INPUTS:
        try:
            doc = json.loads(raw)
        except ValueError:
            continue
        for res in _resources(doc):
            tdef = defs.type_def(res["resourceType"])
            if tdef is None or "contained" in res or "_contained" in res:
                continue
            for c in tdef.constraints:
                if (c.key, c.expression) in structure._HOLD_UNCONTAINED:
                    assert invariants.evaluate(c.expression, res, resource=res) == [True], (c.key, res["resourceType"])
                    checked += 1
    assert checked > 300


class _Everything:
    def __contains__(self, item: object) -> bool:
        return True


@pytest.mark.pure_python  # patches a module function: compiled callers do not see it (tests/conftest.py)
def test_leaving_out_constraints_that_can_fail_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """Negative control: a table that says every constraint holds without ``contained`` changes outcomes."""
    general = _outcomes(monkeypatch, False)
    monkeypatch.setattr(structure, "_HOLD_UNCONTAINED", _Everything())
    monkeypatch.setattr(structure, "_ROOTS", {})
    assert _outcomes(monkeypatch, True) != general
