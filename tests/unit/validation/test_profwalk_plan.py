"""The planned profile walk (``profiles._Shape.plan``, :meth:`Walk.planned_below`) gives the general way's outcomes.

At an object a profile walk looks at its node's children by a plan made once per node (each child's
JSON names, bounds, and whether its values are handed on, only counted, or left to
:meth:`Walk.children`); ``profiles.PLANNED = False`` takes :meth:`Walk.children` for every child,
the general way. Every pinned input (examples, XML, conformance and profile cases, the shared HL7
corpora when present) and the examples mutated (at random with a fixed seed: keys dropped, array
items duplicated or dropped, values made null, a ``_key``, of the wrong kind, wrapped in an array
or taken out of one, emptied; and each array doubled, each property of a resource made a ``_key``)
are validated both ways: the outcomes (issues, order, texts, positions) must be the same, and so
must every single ``below`` (its values, locations, nodes and the issues it adds). Negative
controls: a plan that lets one value too many pass, or reads no ``_key``, must be caught. The same
for the slices :meth:`Walk.slice` looks up by a value's resource (``profiles._typed_slices``, also
taken only with ``PLANNED``), with a look-up that finds no slice as its negative control.
"""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from adapter import errors
from adapter.fhir.registry import default_registry
from adapter.issues import Issues
from adapter.validation import profiles, validate_bytes
from tests.unit.validation import outcome_pin
from tests.unit.validation.doc_paths import objects

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = sorted((ROOT / "profiles" / "examples").glob("*.json"))
SEED = 15
PER_EXAMPLE = 60


def _mutate(doc: Any, rng: random.Random) -> tuple[str, Any]:
    """One random change somewhere in ``doc`` (a copy), and what it was."""
    out = copy.deepcopy(doc)
    paths = [p for p in objects(out) if p]  # (not the root: its resourceType stays)
    path = rng.choice(paths)
    obj = _at(out, path)
    key = rng.choice(list(obj) or ["id"])
    value = obj.get(key)
    kind = rng.randrange(9)
    if kind == 0:
        obj.pop(key, None)
    elif kind == 1 and isinstance(value, list) and value:
        value.append(copy.deepcopy(rng.choice(value)))  # one more value: a maximum passed, a slice full
    elif kind == 2 and isinstance(value, list) and value:
        value.pop(rng.randrange(len(value)))  # one less: a minimum not met, a slice empty
    elif kind == 3:
        obj[key] = None
    elif kind == 4:
        obj["_" + key] = obj.pop(key, None)
    elif kind == 5:
        obj[key] = value[0] if isinstance(value, list) and value else [value]
    elif kind == 6:
        obj[key] = {} if isinstance(value, dict) else [] if isinstance(value, list) else ""
    elif kind == 7 and isinstance(value, list):
        value.insert(rng.randrange(len(value) + 1), None)
    else:
        obj[key] = 7 if isinstance(value, str) else "x"
    return f"{'.'.join(map(str, path))}.{key} #{kind}", out


def _inputs() -> Iterator[tuple[str, bytes, Any]]:
    yield from outcome_pin.inputs()
    lisn = default_registry()
    rng = random.Random(SEED)
    for source in EXAMPLES:
        doc = json.loads(source.read_bytes())
        for n in range(PER_EXAMPLE):
            what, changed = _mutate(doc, rng)
            yield f"{source.name} {what} {n}", json.dumps(changed).encode(), lisn
        for path in objects(doc):  # each array doubled: every maximum there passed
            for key in [k for k, v in _at(doc, path).items() if isinstance(v, list)]:
                changed = copy.deepcopy(doc)
                _at(changed, path)[key] *= 2
                yield f"{source.name} {'.'.join(map(str, path))}.{key} #doubled", json.dumps(changed).encode(), lisn
        entries = [("entry", i, "resource") for i in range(len(doc.get("entry") or []))]
        for path in [(), *entries]:  # each property of a resource written as its ``_key`` (a primitive's form)
            for key in [k for k in _at(doc, path) if k != "resourceType"]:
                changed = copy.deepcopy(doc)
                resource = _at(changed, path)
                resource["_" + key] = resource.pop(key)
                yield f"{source.name} {'.'.join(map(str, path))}.{key} #underscored", json.dumps(changed).encode(), lisn


def _at(doc: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        doc = doc[step]
    return doc


INPUTS = list(_inputs())


def _outcomes(monkeypatch: pytest.MonkeyPatch, planned: bool) -> list[Any]:
    with monkeypatch.context() as m:
        m.setattr(profiles, "PLANNED", planned)
        return [outcome_pin.outcome(raw, registry) for _, raw, registry in INPUTS]


def _differ(a: list[Any], b: list[Any]) -> list[str]:
    assert len(a) == len(b) == len(INPUTS)
    return [name for (name, _, _), x, y in zip(INPUTS, a, b) if x != y]


@pytest.mark.pure_python  # patches a module function: compiled callers do not see it (tests/conftest.py)
def test_planned_walks_give_the_outcomes_of_the_general_way(monkeypatch: pytest.MonkeyPatch) -> None:
    taken = [0]
    real = profiles.Walk.planned_below

    def counted(self: profiles.Walk, *args: Any) -> Any:
        taken[0] += 1
        return real(self, *args)

    looked_up = [0]
    real_look_up = profiles._typed_slices

    def look_up(*args: Any) -> Any:
        looked_up[0] += 1
        return real_look_up(*args)

    monkeypatch.setattr(profiles.Walk, "planned_below", counted)
    monkeypatch.setattr(profiles, "_typed_slices", look_up)
    general = _outcomes(monkeypatch, False)
    assert taken[0] == looked_up[0] == 0  # (the general way takes no plan)
    planned = _outcomes(monkeypatch, True)
    assert len(INPUTS) > 1000
    assert not _differ(general, planned)[:10]
    assert taken[0] > 10_000  # the plans are taken
    assert looked_up[0] > 1_000  # and the slices looked up


def _handed_on(walk: profiles.Walk, out: list[tuple[Any, str, profiles.Node]]) -> list[tuple[Any, str, profiles.Node]]:
    """What of ``below``'s values a walk checks anything at: a walk with no resolver (a resource's
    own profiles) checks no targetProfile, and its plan (``_Shape.local_plan``) hands on only the
    nodes with something else to check (``_Shape.local``); the general way hands on the others too."""
    if walk.resolver is None and not walk.refs_only:
        return [x for x in out if profiles._shape(x[2]).local]
    return out


def _below_both_ways(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Each ``below`` of every input made both ways: where its values, locations, nodes (those
    checked: :func:`_handed_on`) or the issues it adds differ."""
    real = profiles.Walk.below
    differ: list[str] = []

    def twice(self: profiles.Walk, node: profiles.Node, value: Any, path: str) -> Any:
        kept = self.issues
        found = []
        for planned in (False, True):
            self.issues = Issues()
            profiles.PLANNED = planned  # (restored by the context below)
            out = real(self, node, value, path)
            found.append(([(id(v), p, id(n)) for v, p, n in _handed_on(self, out)], list(self.issues)))
        self.issues = kept
        if found[0] != found[1]:
            differ.append(f"{path} ({node.label})")
        kept.extend(found[1][1])
        return out

    with monkeypatch.context() as m:
        m.setattr(profiles, "PLANNED", True)
        m.setattr(profiles.Walk, "below", twice)
        for _, raw, registry in INPUTS:
            validate_bytes(raw, registry)
    return differ


def test_every_below_is_the_same_both_ways(monkeypatch: pytest.MonkeyPatch) -> None:
    assert not _below_both_ways(monkeypatch)[:10]


@pytest.mark.pure_python  # patches a module function: compiled callers do not see it (tests/conftest.py)
def test_the_mutations_reach_the_profiles(monkeypatch: pytest.MonkeyPatch) -> None:
    """The mutated documents give the profiles' own counts out of bounds (a minimum, a maximum, of
    an element and of a slice), which the comparisons above then see made both ways."""
    reports: set[str] = set()
    real = profiles.Walk.cardinality

    def seen(self: profiles.Walk, node: profiles.Node, values: list[Any], parent_path: str, min_id: str,
             max_id: str) -> None:
        before = len(self.issues)
        real(self, node, values, parent_path, min_id, max_id)
        reports.update(e["valueString"] for i in list(self.issues)[before:] for e in i.get("extension", [])
                       if e["url"] == errors.MESSAGE_ID_URL)

    monkeypatch.setattr(profiles.Walk, "cardinality", seen)
    for name, raw, registry in INPUTS:
        if " #" in name:
            validate_bytes(raw, registry)
    assert reports >= {"Validation_VAL_Profile_Minimum", "Validation_VAL_Profile_Maximum",
                       "Validation_VAL_Profile_Minimum_SLICE", "Validation_VAL_Profile_Maximum_SLICE"}, reports


def _off_by_one(child: profiles.Node) -> Any:
    step = _real_step(child)
    return (*step[:4], step[4] + 1, step[5])  # one value more than the maximum passes


def _no_meta(child: profiles.Node) -> Any:
    step = _real_step(child)
    return (step[0], step[1], step[1], *step[3:])  # ``_name`` not read


_real_step = profiles._step


@pytest.mark.pure_python  # patches a module function: compiled callers do not see it (tests/conftest.py)
@pytest.mark.parametrize(("wrong", "in_outcomes"), [(_off_by_one, True), (_no_meta, False)])
def test_a_wrong_plan_is_caught(monkeypatch: pytest.MonkeyPatch, wrong: Callable[[profiles.Node], Any],
                                in_outcomes: bool) -> None:
    """Negative control: the comparisons above catch a plan that is wrong (a ``_key`` left unread
    changes no outcome here, as its values meet their rules or make a count the general way
    reports: each ``below`` compared catches it)."""
    general = _outcomes(monkeypatch, False)
    with monkeypatch.context() as m:
        m.setattr(profiles, "_step", wrong)
        m.setattr(profiles, "_COMPILED", {})  # (profiles compiled afresh: plans made by the wrong _step)
        assert bool(_differ(general, _outcomes(monkeypatch, True))) == in_outcomes
        assert _below_both_ways(monkeypatch)


@pytest.mark.pure_python  # patches a module function: compiled callers do not see it (tests/conftest.py)
def test_a_wrong_slice_look_up_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """Negative control for the slices looked up by a value's resource (``profiles._typed_slices``,
    taken only with ``PLANNED``): one that finds no slice must be caught."""
    general = _outcomes(monkeypatch, False)
    real = profiles._typed_slices
    with monkeypatch.context() as m:
        m.setattr(profiles, "_typed_slices", lambda index, step, value: None if real(index, step, value) is None else ())
        assert _differ(general, _outcomes(monkeypatch, True))
        assert _below_both_ways(monkeypatch)


@pytest.mark.pure_python  # patches a module function: compiled callers do not see it (tests/conftest.py)
def test_a_wrong_local_plan_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """Negative control for the plans of walks with no resolver (``_Shape.local_plan``): one that
    forgets what the grandchildren check (a child counted as ``local`` only by its own rules) must
    be caught by the outcomes, and one that lists too little by the ``below`` compared."""
    general = _outcomes(monkeypatch, False)
    real = profiles._counts_locally
    with monkeypatch.context() as m:
        m.setattr(profiles, "_counts_locally", lambda node: real(node) and (bool(node.min) or node.max is not None
                                                                            or bool(node.slices)
                                                                            or profiles._shape(node).rules))
        m.setattr(profiles, "_COMPILED", {})
        assert _differ(general, _outcomes(monkeypatch, True))
        assert _below_both_ways(monkeypatch)
