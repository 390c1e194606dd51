"""Hypothesis mutates the examples; the compiled FHIRPath must still give what fhirpathpy gives.

Mutations go where the semantics are delicate: partial and zoned dates, values of another JSON
type, primitive extensions (``_x``) beside or instead of a value, choice-type renames
(``valueDate`` → ``valueString``), duplicated or removed array items, nested arrays, odd
``resourceType``s, contained resources and references. Then every profile expression, every
``semantics.json`` expression and every core invariant of the resource's type runs on each
resource of the mutated document, with both engines.
"""

from __future__ import annotations

import contextlib
import copy
import json
from typing import Any

import pytest
from fhirpath_oracle import ROOT, disagreement, resources, typed_nodes
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from test_oracle import CORE, PROFILE, SEMANTICS, _core_for

BASES = [json.loads((ROOT / "profiles" / "examples" / name).read_text(encoding="utf-8"))
         for name in ("Bundle-lisn-example-submission.json", "Patient-lisn-example-patient.json")]
VALUES = st.sampled_from([
    "", "2024", "2024-05", "2024-05-06", "2024-05-06T10:00:00+01:00", "2024-05-06T09:00:00Z", "T10:00", "10:00:00",
    "urn:uuid:12345678-1234-1234-1234-123456789abc", "#p1", "Patient/1", "Organization/x", "R", "completed", "ingen",
    0, 1, -3, 7, 1.5, 2.0, True, False, None, [], {}, [[]], [{"reference": "#p1"}],
    {"extension": [{"url": "http://example.org/x", "valueString": "y"}]},
    {"system": "http://unitsofmeasure.org", "code": "d", "value": 3}, {"resourceType": 5},
    {"resourceType": "Patient", "id": "p1", "birthDate": "1912-12-12"},
])


def _spots(doc: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [path]
    if isinstance(doc, dict):
        for key, value in doc.items():
            out += _spots(value, path + (key,))
    elif isinstance(doc, list):
        for i, value in enumerate(doc):
            out += _spots(value, path + (i,))
    return out


def _mutate(doc: Any, path: tuple[Any, ...], how: str, value: Any) -> None:
    if not path:
        return
    parent = doc
    for step in path[:-1]:
        parent = parent[step]
    last = path[-1]
    if how == "set":
        parent[last] = value
    elif how == "delete":
        del parent[last]
    elif how == "duplicate" and isinstance(parent, list):
        parent.insert(last, copy.deepcopy(parent[last]))
    elif how == "extension" and isinstance(parent, dict) and isinstance(last, str):
        parent["_" + last.lstrip("_")] = {"extension": [{"url": "http://example.org/x", "valueBoolean": True}]}
    elif how == "rename" and isinstance(parent, dict) and isinstance(last, str) and last.startswith("value"):
        parent[last.replace("Date", "String").replace("Coding", "Date").replace("String", "Integer", 1)] = parent.pop(last)
    elif how == "contain" and isinstance(parent, dict) and "resourceType" in parent:
        parent.setdefault("contained", []).append({"resourceType": "Patient", "id": "p1", "birthDate": "2000"})


@st.composite
def mutated(draw: st.DrawFn) -> Any:
    doc = copy.deepcopy(draw(st.sampled_from(BASES)))
    for _ in range(draw(st.integers(1, 4))):
        spots = _spots(doc)
        path = draw(st.sampled_from(spots))
        how = draw(st.sampled_from(["set", "set", "delete", "duplicate", "extension", "rename", "contain"]))
        with contextlib.suppress(KeyError, IndexError, TypeError):  # the spot went away with an earlier mutation
            _mutate(doc, path, how, copy.deepcopy(draw(VALUES)))
    return doc


# Shrinking re-runs hundreds of expressions per attempt: off (the failing example and seed are printed).
@pytest.mark.slow  # 30 generated resources through every expression: ~40 s of CPU
@settings(max_examples=30, deadline=None, phases=[Phase.explicit, Phase.reuse, Phase.generate],
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(mutated())
def test_mutated_resources_agree(doc: Any) -> None:
    problems = []
    for resource, variables in resources(doc):
        for expression in PROFILE + SEMANTICS:
            found = disagreement(expression, resource, variables, raw=True)
            if found:
                problems.append(found)
        for typed in typed_nodes(resource)[:8]:
            is_resource = isinstance(typed.data, dict) and "resourceType" in typed.data
            for expression in _core_for(typed.path, is_resource):
                found = disagreement(expression, typed, variables, raw=True)
                if found:
                    problems.append(found)
    assert not problems, "\n".join(problems[:5])


def test_core_invariants_are_all_compiled_but_htmlchecks() -> None:
    """Every R4 core invariant but txt-1/txt-2 (``htmlChecks()``, fhirpathpy lacks it too) is compiled."""
    from fhirpath_oracle import ours

    falling_back = sorted({i["key"] for i in CORE if ours(i["expression"], True).compiled is None})
    assert falling_back == ["txt-1", "txt-2"]


@pytest.mark.parametrize("expression", sorted(set(PROFILE)))
def test_profile_expressions_are_compiled(expression: str) -> None:
    from fhirpath_oracle import ours

    assert ours(expression, False).compiled is not None, ours(expression, False).reason
