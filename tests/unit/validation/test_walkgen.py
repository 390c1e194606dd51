"""The generated visits of the structure walk (``adapter.validation.walkgen``) give the general way's outcomes.

Every pinned input (examples, XML, conformance and profile cases, the shared HL7 corpora when present)
and the examples mutated object by object (a key added, removed, made a ``_key``, made null, given a
value of the wrong kind, an array where one value belongs and one value where an array does, keys
reversed, an object or array emptied, a null in an array) are validated with every shape's visit
generated at its first visit (``walkgen.AFTER = 0``) and with the generator off (``walkgen.ENABLED =
False``): the outcomes (issues, order, texts, positions) must be the same; that covers the visits
generated for objects with profile walks below them (``walkgen.generate(..., below=True)``: the
example submission's resources, entries and profiled parts). Negative controls: a generator that
lets every primitive pass, that forgets a key or the missing required elements, or whose visit of
an object with profile walks below it forgets them (all, or those at its last key), must change
some outcome.
"""

from __future__ import annotations

import copy
import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from adapter.fhir.registry import default_registry
from adapter.validation import structure, validate_bytes, walkgen
from tests.unit.validation import outcome_pin
from tests.unit.validation.doc_paths import objects

ROOT = Path(__file__).resolve().parents[3]
SUBMISSION = ROOT / "profiles" / "examples" / "Bundle-lisn-example-submission.json"


def _wrong(value: Any) -> Any:
    if isinstance(value, str):
        return 12
    if isinstance(value, bool):
        return "true"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, dict):
        return "text"
    return {"x": value}


def _mutated(doc: Any, path: tuple[Any, ...], n: int) -> Any:
    out = copy.deepcopy(doc)
    obj = out
    for step in path:
        obj = obj[step]
    keys = list(obj)
    key = keys[n // 12 % len(keys)] if keys else None
    kind = n % 12
    if kind == 0 or key is None:
        obj["zzUnknown"] = "x"
    elif kind == 1:
        del obj[key]
    elif kind == 2:
        obj["_" + key] = {"id": "m1"}
    elif kind == 3:
        obj[key] = None
    elif kind == 4:
        obj[key] = _wrong(obj[key])
    elif kind == 5:
        obj[key] = [obj[key]] if not isinstance(obj[key], list) else [obj[key]]
    elif kind == 6:
        obj[key] = obj[key][0] if isinstance(obj[key], list) and obj[key] else obj[key]
    elif kind == 7:
        for k in reversed(keys):
            obj[k] = obj.pop(k)
    elif kind == 8:
        obj[key] = {} if isinstance(obj[key], dict) else [] if isinstance(obj[key], list) else ""
    elif kind == 9:
        if isinstance(obj[key], list):
            obj[key].append(None)
        else:
            obj["resourceType"] = "Patient"
    elif kind == 10:
        obj[key + "X"] = obj[key]  # (a choice written twice, where key is one: valueStringX is unknown)
    else:
        obj.clear()
    return out


_DIV = '<div xmlns="http://www.w3.org/1999/xhtml">x</div>'
# Resources without profiles (every object's visit may be generated), each with something wrong
HANDMADE: list[dict[str, Any]] = [
    {"resourceType": "Observation", "status": "final", "code": {"text": "x"}, "text": {"div": _DIV}},
    {"resourceType": "Observation", "status": "final", "text": {"status": "generated", "div": _DIV}},
    {"resourceType": "Observation", "status": "final", "code": {"coding": [{"system": "x y", "code": " c"}]},
     "valueQuantity": {"value": "1", "unit": ""}},
    {"resourceType": "Observation", "status": "done", "code": {"coding": [{"system": "urn:oid:1.2", "code": "c"}]},
     "subject": {"reference": "#p1"}, "issued": "2020-02-30T10:00:00Z"},
    {"resourceType": "Patient", "id": "a b", "name": [{"given": ["A", "", 3]}], "birthDate": "2020-13-01",
     "extension": [{"valueString": "x"}], "gender": "none"},
    {"resourceType": "Patient", "contained": [{"resourceType": "Patient", "id": "p1"}], "link": [{"type": "seealso"}],
     "managingOrganization": {"reference": "#p1"}, "active": "true", "multipleBirthInteger": 2 ** 40},
]


def _inputs() -> Iterator[tuple[str, bytes, Any]]:
    lisn = default_registry()
    yield from outcome_pin.inputs()
    for n, doc in enumerate(HANDMADE):
        for copies in (1, 2):  # (an object met again: its shape's generated visit)
            bundle = {"resourceType": "Bundle", "type": "collection",
                      "entry": [{"fullUrl": f"urn:uuid:{i}", "resource": doc} for i in range(copies)]}
            yield f"handmade #{n} x{copies}", json.dumps(bundle).encode(), lisn
    for source in sorted((ROOT / "profiles" / "examples").glob("*.json")):
        doc = json.loads(source.read_bytes())
        paths = list(objects(doc))
        step = max(1, len(paths) // 150)
        for n, path in enumerate(paths[::step]):
            yield f"{source.name} {path} #{n}", json.dumps(_mutated(doc, path, n)).encode(), lisn


INPUTS = list(_inputs())


def _outcomes(monkeypatch: pytest.MonkeyPatch, generated: bool, inputs: list[tuple[str, bytes, Any]] = INPUTS,
              fresh: bool = False) -> list[Any]:
    with monkeypatch.context() as m:
        m.setattr(walkgen, "ENABLED", generated)
        m.setattr(walkgen, "AFTER", 0)
        if fresh:  # visits of their own (the shapes generated by the generator as it stands)
            m.setattr(structure, "_TABLES", {})
            m.setattr(structure, "_ROOTS", {})
            m.setattr(structure, "_ELEMENT", [])
        return [outcome_pin.outcome(raw, registry) for _, raw, registry in inputs]


def _differ(a: list[Any], b: list[Any], inputs: list[tuple[str, bytes, Any]] = INPUTS) -> list[str]:
    assert len(a) == len(b) == len(inputs)
    return [name for (name, _, _), x, y in zip(inputs, a, b) if x != y]


@pytest.mark.pure_python  # patches a module function: compiled callers do not see it (tests/conftest.py)
def test_generated_visits_give_the_outcomes_of_the_general_way(monkeypatch: pytest.MonkeyPatch) -> None:
    general_visits = [0]
    real = structure.StructureWalk.properties_of

    def counted(self: structure.StructureWalk, *args: Any) -> None:
        general_visits[0] += 1
        real(self, *args)

    below_made = [0]
    real_generate = walkgen.generate

    def generate(visit: Any, keys: tuple[str, ...], below: bool = False) -> Any:
        made = real_generate(visit, keys, below=below)
        below_made[0] += below and made is not None
        return made

    monkeypatch.setattr(structure.StructureWalk, "properties_of", counted)
    monkeypatch.setattr(walkgen, "generate", generate)
    general = _outcomes(monkeypatch, False)
    by_general = general_visits[0]
    general_visits[0] = 0
    generated = _outcomes(monkeypatch, True, fresh=True)
    assert len(INPUTS) > 900
    assert not _differ(general, generated)[:10]
    # the generated visits are taken: most objects are not visited the general way
    assert general_visits[0] < by_general / 3, (general_visits[0], by_general)
    # those of objects with profile walks below them too (resources' roots, Bundle entries, ...)
    assert below_made[0] > 20, below_made


def test_the_mutations_give_issues() -> None:
    """The mutated documents are not all valid (the comparison above sees the issues' code)."""
    registry = default_registry()
    failing = [name for name, raw, _ in INPUTS if "#" in name
               and any(i["severity"] == "error" for i in validate_bytes(raw, registry)["issue"])]
    assert len(failing) > 400
    assert all(f"handmade #{n} x1" in failing for n in range(len(HANDMADE)))


def test_shapes_are_generated_after_their_count(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tiered: a shape takes the general way its first ``AFTER`` visits, then its generated visit;
    the outcome is the same each time."""
    raw = SUBMISSION.read_bytes()
    registry = default_registry()
    monkeypatch.setattr(structure, "_TABLES", {})
    monkeypatch.setattr(structure, "_ROOTS", {})
    monkeypatch.setattr(structure, "_ELEMENT", [])
    monkeypatch.setattr(walkgen, "AFTER", 3)
    first = outcome_pin.outcome(raw, registry)
    for _ in range(3):
        assert outcome_pin.outcome(raw, registry) == first
    visits = list(_visits(list(structure._TABLES.values())))
    assert sum(len(v.shapes) for v in visits) > 20
    for visit in visits:
        for keys, shape in visit.shapes.items():
            assert visit.counts[keys] == walkgen.AFTER - 1, keys  # generated at its AFTER-th visit
            assert shape.source.startswith("def shape(")  # type: ignore[attr-defined]
        assert all(n < walkgen.AFTER - 1 or keys in visit.shapes or n < 0 for keys, n in visit.counts.items())


def _visits(tables: list[structure._OwnerTable]) -> Iterator[structure._Visit]:
    seen: set[int] = set()
    for table in tables:
        for plan in table.plans.values():
            for visit in (plan.visit,):
                if visit is not None and id(visit) not in seen:
                    seen.add(id(visit))
                    yield visit
    for visit in structure._ROOTS.values():
        if visit is not None and id(visit) not in seen:
            seen.add(id(visit))
            yield visit


def test_the_shapes_counted_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """An input of endless key orders makes no more than ``SHAPES`` counts (and functions) per owner."""
    monkeypatch.setattr(walkgen, "AFTER", 2)
    monkeypatch.setattr(structure, "_TABLES", {})  # (visits of their own: nothing counted before)
    monkeypatch.setattr(structure, "_ROOTS", {})
    monkeypatch.setattr(structure, "_ELEMENT", [])
    keys = ["system", "code", "display", "version", "userSelected"]
    codings = []
    for order in itertools.permutations(keys):
        coding = {k: {"system": "http://x", "code": "c", "display": "d", "version": "1", "userSelected": True}[k]
                  for k in order}
        codings += [coding, dict(coding)]
    doc = {"resourceType": "Observation", "status": "final", "code": {"coding": codings}}
    registry = default_registry()
    out = validate_bytes(json.dumps(doc).encode(), registry)
    assert not [i for i in out["issue"] if i["severity"] == "error"]
    visit = structure._TABLES["CodeableConcept"].plans["coding"].visit
    assert visit is not None
    assert len(visit.counts) == len(visit.shapes) == walkgen.SHAPES < len(codings) // 2


def test_root_visits_are_the_roots() -> None:
    """The generated visit of a root takes ``root=True`` from its visit: only resources' roots have one."""
    validate_bytes(SUBMISSION.read_bytes(), default_registry())
    assert all(v is None or v.root for v in structure._ROOTS.values())
    assert not any(plan.visit is not None and plan.visit.root
                   for table in structure._TABLES.values() for plan in table.plans.values())


# -- negative controls: a wrong generator is caught --------------------------------------------

SOME = [item for item in INPUTS if item[0].startswith("handmade")] + \
    [item for item in INPUTS if "#" in item[0] and not item[0].startswith("handmade")][::5]


def _every_text_passes(real: Any) -> Any:
    def quick(plan: Any, name: str) -> str | None:
        found = real(plan, name)
        return found if found is None or "str" not in found else f"(type({name}) is str)"
    return quick


def _forgets_the_last_key(real: Any) -> Any:
    def shape_plans(visit: Any, keys: tuple[str, ...]) -> Any:
        plans = real(visit, keys)
        return plans[:-1] if plans else plans
    return shape_plans


def _forgets_required(real: Any) -> Any:
    class NoRequired:
        def __init__(self, table: Any) -> None:
            self.table = table

        def __getattr__(self, name: str) -> Any:
            return () if name == "required" else getattr(self.table, name)

    def generate(visit: Any, keys: tuple[str, ...], **below: Any) -> Any:
        table = visit.table
        visit.table = NoRequired(table)
        try:
            return real(visit, keys, **below)
        finally:
            visit.table = table
    return generate


def _forgets_the_walks_below(real: Any) -> Any:
    """A visit of an object with profile walks below it that visits it as with none."""
    def generate(visit: Any, keys: tuple[str, ...], below: bool = False) -> Any:
        plain = real(visit, keys)
        if not below or plain is None:
            return plain
        return lambda self, obj, path, res, touched, below: plain(self, obj, path, res)
    return generate


def _forgets_a_key_below(real: Any) -> Any:
    """A visit of an object with profile walks below it that forgets the walks at its last key."""
    def generate(visit: Any, keys: tuple[str, ...], below: bool = False) -> Any:
        made = real(visit, keys, below=below)
        if not below or made is None:
            return made
        return lambda self, obj, path, res, touched, below: made(self, obj, path, res, touched - {keys[-1]}, below)
    return generate


@pytest.mark.pure_python  # patches a module function: compiled callers do not see it (tests/conftest.py)
@pytest.mark.parametrize(("owner", "name", "wrong"), [
    (walkgen, "_quick", _every_text_passes),
    (structure, "shape_plans", _forgets_the_last_key),
    (walkgen, "generate", _forgets_required),
    (walkgen, "generate", _forgets_the_walks_below),
    (walkgen, "generate", _forgets_a_key_below),
])
def test_a_wrong_generator_is_caught(monkeypatch: pytest.MonkeyPatch, owner: Any, name: str, wrong: Any) -> None:
    general = _outcomes(monkeypatch, False, SOME)
    right = _outcomes(monkeypatch, True, SOME, fresh=True)
    assert not _differ(general, right, SOME)
    monkeypatch.setattr(owner, name, wrong(getattr(owner, name)))
    assert _differ(general, _outcomes(monkeypatch, True, SOME, fresh=True), SOME)
