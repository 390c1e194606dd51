"""The generated visits call a type's rules only when ``core_rules.quiet_source``'s condition fails
(branch walk3): held to the general way, which calls ``core_rules.check_type`` on every object.

- the condition itself: for every type with rules, every shape of keys, nested or not, and values
  of ``system``/``url`` of every kind (absolute or not, a ValueSet's base, empty, other JSON
  types), wherever the condition holds ``check_type`` reports nothing;
- the generated visits with the condition and with the call always made (``quiet_source`` giving
  None): the whole outcome of every pinned input (examples, cases, HL7 corpora), the handmade and
  mutated documents of ``test_walkgen``, and documents with codings, identifiers and extensions of
  every such value, each visit generated at its first visit.

Negative control: a condition that forgets the ValueSet bases of a Coding's system is caught by
both comparisons.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest

from adapter.fhir.registry import default_registry
from adapter.issues import Issues
from adapter.validation import core_rules, structure, walkgen
from tests.unit.validation import outcome_pin
from tests.unit.validation.test_walkgen import INPUTS

VALUES: list[Any] = ["http://x.se/a", "https://x", "urn:oid:1.2.3", "urn:uuid:0", "urn:x", "oid:1.2", "x", "", " ",
                     "http://hl7.org/fhir/ValueSet/x", "http://terminology.hl7.org/ValueSet/x", "https://hl7.org/fhir/ValueSet/x",
                     "HTTP://x", "http:/x", "http://", "#a", 12, None, True, ["http://x"], {"a": 1}]
KEYS = {"Coding": ("system", "code", "display", "version", "extension"),
        "Identifier": ("system", "value", "use", "type"),
        "Extension": ("url", "valueString", "extension")}


def _objects(type_name: str) -> list[dict[str, Any]]:
    names = KEYS[type_name]
    lead = "url" if type_name == "Extension" else "system"
    out = []
    for size in range(len(names) + 1):
        for keys in itertools.combinations(names, size):
            for value in VALUES if lead in keys else [None]:
                out.append({k: (value if k == lead else "v") for k in keys})
    return out


def _quiet_holds_where_nothing_is_reported(quiet_source: Any) -> bool:
    for type_name in sorted(core_rules.TYPES_WITH_RULES):
        for obj in _objects(type_name) if type_name in KEYS else [{"data": "x"}, {"div": "x"}, {"type": "x"}]:
            for nested in (False, True):
                condition = quiet_source(type_name, tuple(obj), nested)
                if condition is None or not eval(condition, {}, {"obj": obj}):  # noqa: S307  # (made by the code under test)
                    continue
                issues = Issues()
                core_rules.check_type(type_name, obj, "X", issues, nested=nested)
                if len(issues):
                    return False
    return True


_QUIET = core_rules.quiet_source


def _forgets_valueset_bases(type_name: str | None, keys: tuple[str, ...], nested: bool) -> str | None:
    found = _QUIET(type_name, keys, nested)
    return found.split(" and not ")[0] if found and type_name == "Coding" else found


def test_the_condition_holds_only_where_the_rules_report_nothing() -> None:
    assert _quiet_holds_where_nothing_is_reported(core_rules.quiet_source)
    assert not _quiet_holds_where_nothing_is_reported(_forgets_valueset_bases)  # negative control


def _documents() -> list[tuple[str, bytes, Any]]:
    lisn = default_registry()
    out = []
    for value in VALUES:
        for copies in (1, 3):
            doc = {"resourceType": "Observation", "status": "final",
                   "code": {"coding": [{"system": value, "code": "c"}] * copies},
                   "identifier": [{"system": value, "value": "1"}] * copies,
                   "extension": [{"url": value, "valueString": "x"}] * copies,
                   "valueCodeableConcept": {"coding": [{"system": value, "code": "c", "display": "d"}],
                                            "extension": [{"url": "http://x", "extension": [{"url": value}]}]}}
            bundle = {"resourceType": "Bundle", "type": "collection",
                      "entry": [{"fullUrl": f"urn:uuid:{i}", "resource": doc} for i in range(copies)]}
            out.append((f"{value!r} x{copies}", json.dumps(bundle).encode(), lisn))
    return out


DOCUMENTS = _documents()


def _outcomes(monkeypatch: pytest.MonkeyPatch, quiet_source: Any) -> list[Any]:
    with monkeypatch.context() as m:
        m.setattr(walkgen, "AFTER", 0)
        m.setattr(core_rules, "quiet_source", quiet_source)
        m.setattr(structure, "_TABLES", {})  # visits of their own, generated with this condition
        m.setattr(structure, "_ROOTS", {})
        m.setattr(structure, "_ELEMENT", [])
        return [outcome_pin.outcome(raw, registry) for _, raw, registry in INPUTS + DOCUMENTS]


@pytest.mark.pure_python  # patches a module function: compiled callers do not see it (tests/conftest.py)
def test_generated_visits_with_the_condition_give_the_outcomes_of_the_call(monkeypatch: pytest.MonkeyPatch) -> None:
    quiet = _outcomes(monkeypatch, core_rules.quiet_source)
    called = _outcomes(monkeypatch, lambda type_name, keys, nested: None)
    assert [name for (name, _, _), a, b in zip(INPUTS + DOCUMENTS, quiet, called) if a != b] == []
    # negative control: the ValueSet bases forgotten
    wrong = _outcomes(monkeypatch, _forgets_valueset_bases)
    assert [name for (name, _, _), a, b in zip(INPUTS + DOCUMENTS, wrong, called) if a != b]
