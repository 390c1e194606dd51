"""ref-1 taken as holding without evaluation (``constraints._ref_1_holds``) only where the engine says it holds.

Every probe Reference is checked in every probe resource and container: wherever the shortcut
fires, the evaluated expression must give ``[True]``; and ``run_constraints`` must report the same
issues with the shortcut as without it.
"""

from __future__ import annotations

from itertools import product
from typing import Any

import pytest

from adapter.fhir import definitions as defs
from adapter.issues import Issues
from adapter.validation import constraints, invariants

REFERENCES: list[Any] = [
    {"reference": "urn:uuid:6c2bd1f6-36a4-4b6e-9a3c-1b8f7d3e2a10"},
    {"reference": "Patient/1", "display": "x"},
    {"reference": "https://example.org/fhir/Patient/1"},
    {"reference": ""},
    {"reference": " #a"},
    {"reference": "#"},
    {"reference": "#c1"},
    {"reference": "#nothere"},
    {"reference": "Patient/1", "_reference": {"extension": [{"url": "http://example.org/x", "valueString": "y"}]}},
    {"_reference": {"extension": [{"url": "http://example.org/x", "valueString": "y"}]}},
    {"reference": 7},
    {"reference": ["Patient/1"]},
    {"reference": {"a": "b"}},
    {"reference": None},
    {"display": "only a display"},
    {},
    "Patient/1",
]
ROOTS: list[Any] = [
    {"resourceType": "Observation", "status": "final"},
    {"resourceType": "Observation", "contained": [{"resourceType": "Patient", "id": "c1"}]},
    {"resourceType": "Observation", "contained": [{"resourceType": "Patient", "id": ["c1"]}, "odd", [1]]},
    {"resourceType": "Observation", "contained": "odd"},
]
TYPE_PATHS = ["Reference", None, "Identifier"]


def test_the_shortcut_is_for_r4s_ref_1() -> None:
    found = {c.expression for c in defs.type_def("Reference").constraints if c.key == "ref-1"}
    assert found == {constraints.REF_1}


def _probes() -> list[tuple[Any, Any, Any, str | None]]:
    out = []
    for ref, root, container, type_path in product(REFERENCES, ROOTS, [None, *ROOTS], TYPE_PATHS):
        out.append((ref, root, container, type_path))
    return out


def test_it_fires_only_where_ref_1_evaluates_to_true() -> None:
    fired = 0
    for ref, resource, container, type_path in _probes():
        if constraints._ref_1_holds(ref, resource, container, type_path):
            fired += 1
            result = invariants.evaluate(constraints.REF_1, ref, resource=resource, root=container, type_path=type_path)
            assert result == [True], (ref, resource, container, type_path)
    assert fired >= 4 * 2 * 1  # the plain references, in resources and containers without contained


def _issues(ref: Any, resource: Any, container: Any, type_path: str | None) -> list[Any]:
    ref_1 = [c for c in defs.type_def("Reference").constraints if c.key == "ref-1"]
    issues = Issues()
    constraints.run_constraints(tuple(ref_1), ref, "Observation.subject", resource, issues, set(),
                                type_path=type_path, root_resource=container)
    return list(issues)


def test_run_constraints_reports_the_same_with_and_without_it(monkeypatch: pytest.MonkeyPatch) -> None:
    probes = _probes()
    shortcut = [_issues(*p) for p in probes]
    monkeypatch.setattr(constraints, "_ref_1_holds", lambda *args: False)
    assert shortcut == [_issues(*p) for p in probes]
