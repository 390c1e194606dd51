"""bdl-7's short way (``constraints._bdl_7_holds``) gives what fhirpathpy and the general way give.

``(type = 'history') or entry.where(fullUrl.exists()).select(fullUrl&resource.meta.versionId).isDistinct()``
(a core invariant of every Bundle) is passed over by :func:`constraints.run_constraints` where its
short way says it holds on plain data. Wherever the short way answers, fhirpathpy itself (the oracle,
R4 model) gives ``[True]`` and the general way (:func:`invariants.evaluate`) gives ``[True]``: on every
Bundle of the examples, the validation cases and both HL7 corpora, every resource of them put in a
Bundle of its own (with and without a fullUrl), and on mutated submissions (fullUrls repeated,
versionIds, ``type``, odd JSON). The whole OperationOutcome is the same with ``BDL_7_SHORT`` on and
off on every input. Deliberately wrong short ways are caught (the negative controls).
"""

from __future__ import annotations

import contextlib
import copy
import json
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import fhirpathpy
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_invariant_quick import EXAMPLE, _inputs, _registry

from adapter.fhirpath import fhirpathpy_options
from adapter.fhirpath.env import MODEL
from adapter.validation import constraints, invariants
from tests.unit.validation import rule_kit
from tests.unit.validation.test_rules_fast_formaga import ROOT, _files, _load

RULE = constraints.BDL_7
_ORACLE = fhirpathpy.compile(RULE, MODEL, fhirpathpy_options(False))
_BUNDLE = json.loads(EXAMPLE.read_text(encoding="utf-8"))
_URLS = [e["fullUrl"] for e in _BUNDLE["entry"]]


def test_the_rule_is_r4s() -> None:
    text = (ROOT / "adapter" / "fhir" / "models" / "r4" / "base.json").read_text(encoding="utf-8")
    assert json.dumps(RULE)[1:-1] in text


_objects = rule_kit.objects


_oracle = partial(rule_kit.oracle, _ORACLE)


def _disagreement(node: Any) -> str | None:
    """``None`` where the short way declines, or answers as the oracle and the general way do."""
    if not constraints._bdl_7_holds(node):
        return None
    oracle = _oracle(node)
    general = invariants.evaluate(RULE, node, resource=node)
    if oracle == ("ok", [True]) and general == [True]:
        return None
    return f"short way True, fhirpathpy {oracle}, general {general}: {json.dumps(node, default=str)[:300]}"


def _bundles(document: Any) -> Iterator[Any]:
    """Every object of the document; each resource in it in a Bundle of its own, with a fullUrl, twice
    (one with a versionId), and without one."""
    for node in _objects(document):
        yield node
        if isinstance(node, dict) and "resourceType" in node:
            yield {"resourceType": "Bundle", "entry": [{"fullUrl": "urn:a", "resource": node}]}
            yield {"resourceType": "Bundle", "type": "collection", "entry": [
                {"fullUrl": "urn:a", "resource": node}, {"fullUrl": "urn:a", "resource": node}]}
            yield {"resourceType": "Bundle", "entry": [{"resource": node}]}


def test_the_short_way_answers_on_the_example() -> None:
    assert constraints._bdl_7_holds(_BUNDLE)
    assert _oracle(_BUNDLE) == ("ok", [True])


def test_short_way_agrees_on_the_inputs() -> None:
    problems, answered = [], 0
    for path in _files():
        for node in _bundles(_load(path)):
            answered += constraints._bdl_7_holds(node)
            problem = _disagreement(node)
            if problem:
                problems.append(problem)
    assert answered > 100
    assert not problems, f"{len(problems)} disagreements, first: " + "\n".join(problems[:3])


def _entry(bundle: dict[str, Any], i: int) -> dict[str, Any]:
    found: dict[str, Any] = bundle["entry"][i]
    return found


def _resource(bundle: dict[str, Any], i: int) -> dict[str, Any]:
    found: dict[str, Any] = bundle["entry"][i]["resource"]
    return found


# Each mutation changes a copy of the example in place.
_MUTATIONS: list[Callable[[dict[str, Any]], None]] = [
    lambda b: _entry(b, 1).update(fullUrl=_URLS[2]),
    lambda b: _entry(b, 1).update(fullUrl=""),
    lambda b: _entry(b, 2).update(fullUrl=""),
    lambda b: _entry(b, 1).pop("fullUrl"),
    lambda b: _entry(b, 2).pop("fullUrl"),
    lambda b: _entry(b, 1).update(fullUrl=None),
    lambda b: _entry(b, 1).update(fullUrl=5),
    lambda b: _entry(b, 1).update(fullUrl=[_URLS[1]]),
    lambda b: _entry(b, 1).update(_fullUrl={"id": "x"}),
    lambda b: _entry(b, 1).update(resourceType="Patient"),
    lambda b: _entry(b, 1).pop("resource"),
    lambda b: _entry(b, 1).update(resource=None),
    lambda b: _entry(b, 1).update(resource=[_resource(b, 2)]),
    lambda b: _entry(b, 1).update(resource="x"),
    lambda b: _entry(b, 1).update(_resource={"id": "y"}),
    lambda b: _resource(b, 1).update(meta={"versionId": "1"}),
    lambda b: _resource(b, 2).update(meta={"versionId": "1"}),
    lambda b: _resource(b, 2).update(meta={"versionId": ""}),
    lambda b: _resource(b, 1).update(meta={"versionId": 1}),
    lambda b: _resource(b, 1).update(meta={"versionId": ["1"]}),
    lambda b: _resource(b, 1).update(meta={"versionId": None}),
    lambda b: _resource(b, 1).update(meta={"_versionId": {"id": "v"}}),
    lambda b: _resource(b, 1).update(meta={"resourceType": "Meta", "versionId": "1"}),
    lambda b: _resource(b, 1).update(meta=[{"versionId": "1"}]),
    lambda b: _resource(b, 1).update(meta=None),
    lambda b: _resource(b, 1).update(_meta={"id": "m"}),
    lambda b: _resource(b, 1).update(resourceType="Unknown"),
    lambda b: _resource(b, 1).update(resourceType=5),
    lambda b: _resource(b, 1).pop("resourceType"),
    lambda b: b["entry"].append({"fullUrl": _URLS[3] + "1"}),
    lambda b: b["entry"].append({"fullUrl": _URLS[3][:-1]}),
    lambda b: b["entry"].append({"fullUrl": _URLS[3]}),
    lambda b: b["entry"].append({"fullUrl": _URLS[3], "resource": {"resourceType": "Patient", "meta": {"versionId": "2"}}}),
    lambda b: b["entry"].append({}),
    lambda b: b["entry"].append("x"),
    lambda b: b["entry"].append(None),
    lambda b: b["entry"].append([]),
    lambda b: b.update(type="history"),
    lambda b: b.update(type="collection"),
    lambda b: b.update(type=["history"]),
    lambda b: b.update(type=None),
    lambda b: b.pop("type"),
    lambda b: b.update(_type={"id": "t"}),
    lambda b: b.update(_entry=[{"id": "e"}]),
    lambda b: b.update(entry=_entry(b, 0)),
    lambda b: b.update(entry=[]),
    lambda b: b.pop("entry"),
    lambda b: b.update(resourceType="Parameters"),
]


def _mutated(indexes: list[int]) -> dict[str, Any]:
    bundle = copy.deepcopy(_BUNDLE)
    for i in indexes:
        with contextlib.suppress(KeyError, IndexError, TypeError, AttributeError):
            _MUTATIONS[i](bundle)  # (an earlier mutation may have taken away what this one changes)
    return bundle


def test_each_mutation() -> None:
    answered = 0
    for i in range(len(_MUTATIONS)):
        bundle = _mutated([i])
        answered += constraints._bdl_7_holds(bundle)
        assert _disagreement(bundle) is None, i
    assert answered >= 10


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.integers(0, len(_MUTATIONS) - 1), max_size=4))
def test_mutated_submissions(indexes: list[int]) -> None:
    assert _disagreement(_mutated(indexes)) is None


def _outcome(resource: Any, igs: tuple[str, ...] | None, short: bool, monkeypatch: pytest.MonkeyPatch) -> str:
    return rule_kit.outcome(resource, _registry(igs), monkeypatch, constraints, "BDL_7_SHORT", short)


@pytest.mark.parametrize(("path", "igs"), list(_inputs()))
def test_the_outcome_is_the_same(path: Path, igs: tuple[str, ...] | None, monkeypatch: pytest.MonkeyPatch) -> None:
    resource = _load(path)
    if not isinstance(resource, dict):
        pytest.skip("not a JSON object")
    assert _outcome(resource, igs, True, monkeypatch) == _outcome(resource, igs, False, monkeypatch)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.integers(0, len(_MUTATIONS) - 1), max_size=3))
def test_the_outcome_is_the_same_on_mutated_submissions(monkeypatch: pytest.MonkeyPatch, indexes: list[int]) -> None:
    bundle = _mutated(indexes)
    assert _outcome(bundle, None, True, monkeypatch) == _outcome(bundle, None, False, monkeypatch)


def test_wrong_short_ways_are_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """Negative controls: the versionId left out of the key, or the fullUrls alone told apart."""
    with monkeypatch.context() as m:
        m.setattr(constraints, "_PATH_TO_TYPE", {})  # (every resource declined: the short way never answers)
        assert not constraints._bdl_7_holds(_BUNDLE)
    wrong = _mutated([_MUTATIONS.index(_MUTATIONS[32])])  # a fullUrl repeated with a versionId: distinct
    assert constraints._bdl_7_holds(wrong)
    repeated = copy.deepcopy(_BUNDLE)
    repeated["entry"].append({"fullUrl": _URLS[3], "resource": {"resourceType": "Patient"}})
    repeated["type"] = "history"
    assert constraints._bdl_7_holds(repeated) and _disagreement(repeated) is None
    repeated["type"] = "message"
    assert not constraints._bdl_7_holds(repeated)
    assert _outcome(repeated, None, True, monkeypatch) == _outcome(repeated, None, False, monkeypatch)
    assert "bdl-7" in _outcome(repeated, None, True, monkeypatch)
