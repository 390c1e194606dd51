"""The MessageHeader rule's short way (``invariants._endpoint_holds``) gives what fhirpathpy and the general way give.

``%resource.entry.where(fullUrl = …receiver.reference.first()).resource.identifier.where(system =
kommunkod).value.first().exists() implies entry.resource.ofType(MessageHeader).destination.all(endpoint
= 'urn:lisn:kommunkod:' + …)`` is answered ``[True]`` without FHIRPath on plain data. Wherever the
short way answers, fhirpathpy itself (the oracle, R4 model) gives ``[True]`` and the general way
(``RULES_SHORT = False``) gives ``[True]``: on the examples, the validation cases, both HL7 corpora
(each Bundle as it is, and every resource put in a Bundle with the example's MessageHeader) and on
mutated submissions (receivers, endpoints, identifiers, fullUrls, several MessageHeaders and
destinations, odd JSON). Deliberately wrong short ways are caught (the negative controls).
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import fhirpathpy
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapter.fhirpath import fhirpathpy_options
from adapter.fhirpath.env import MODEL
from adapter.validation import invariants
from tests.unit.validation import rule_kit

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "profiles" / "examples" / "Bundle-lisn-example-submission.json"
RULE = invariants._ENDPOINT_NAMES_RECEIVER
_ORACLE = fhirpathpy.compile(RULE, MODEL, fhirpathpy_options(False))
_BUNDLE = json.loads(EXAMPLE.read_text(encoding="utf-8"))
_URLS = [e["fullUrl"] for e in _BUNDLE["entry"]]
KOMMUN = "https://lisn.se/fhir/sid/kommunkod"


def test_the_rule_is_the_profiles() -> None:
    text = (ROOT / "profiles" / "StructureDefinition-lisn-submission.json").read_text(encoding="utf-8")
    assert json.dumps(RULE)[1:-1] in text


def _files() -> list[Path]:
    files = sorted((ROOT / "profiles" / "examples").glob("*.json"))
    files += sorted((ROOT / "tests" / "cases" / "validation").rglob("*.json"))
    corpus = Path(os.environ.get("ADAPTER_CONFORMANCE_DIR") or ROOT.parent / "shared" / "conformance")
    for name in ("hl7-base", "hl7-questionnaire"):
        files += sorted((corpus / name / "cases").glob("*.json"))
    return files


def _load(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError):
        return None


def _resources(node: Any) -> Iterator[Any]:
    if isinstance(node, dict):
        if "resourceType" in node:
            yield node
        for v in node.values():
            yield from _resources(v)
    elif isinstance(node, list):
        for v in node:
            yield from _resources(v)


def _bundles(document: Any) -> Iterator[Any]:
    """The document itself; each resource in it in a Bundle with the example's MessageHeader whose
    receiver is that resource (so its identifiers are read), with and without a kommunkod identifier."""
    yield document
    for resource in list(_resources(document))[:20]:
        header = copy.deepcopy(_BUNDLE["entry"][0])
        yield {"resourceType": "Bundle", "entry": [header, {"fullUrl": _URLS[7], "resource": resource}]}
        if isinstance(resource, dict):
            marked = dict(resource, identifier=[{"system": KOMMUN, "value": "0180"}])
            yield {"resourceType": "Bundle", "entry": [header, {"fullUrl": _URLS[7], "resource": marked}]}


_oracle = partial(rule_kit.oracle, _ORACLE)


def _general(bundle: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    with monkeypatch.context() as m:
        m.setattr(invariants, "RULES_SHORT", False)
        return invariants.holds(RULE, bundle, resource=bundle), invariants.evaluate(RULE, bundle, resource=bundle)


def _disagreement(bundle: Any, monkeypatch: pytest.MonkeyPatch) -> str | None:
    """``None`` where the short way declines, or answers as the oracle and the general way do."""
    if type(bundle) is not dict or not invariants._endpoint_holds(bundle):
        return None
    oracle, general = _oracle(bundle), _general(bundle, monkeypatch)
    fast = invariants.holds(RULE, bundle, resource=bundle)
    if oracle == ("ok", [True]) and general == (True, [True]) and fast is True:
        return None
    return f"short way [True], fhirpathpy {oracle}, general {general}, evaluate {fast}: {json.dumps(bundle)[:300]}"


def _check(documents: list[Any], monkeypatch: pytest.MonkeyPatch) -> tuple[list[str], int]:
    problems, answered = [], 0
    for document in documents:
        for bundle in _bundles(document):
            answered += type(bundle) is dict and invariants._endpoint_holds(bundle)
            problem = _disagreement(bundle, monkeypatch)
            if problem:
                problems.append(problem)
    return problems, answered


def test_the_short_way_answers_on_the_example_submission(monkeypatch: pytest.MonkeyPatch) -> None:
    assert invariants._endpoint_holds(_BUNDLE)
    assert _oracle(_BUNDLE) == ("ok", [True])
    calls = []
    real = invariants._endpoint_holds
    monkeypatch.setitem(invariants._SHORT_RULES, RULE, (lambda b: calls.append(b) or real(b), True))
    assert invariants.holds(RULE, _BUNDLE, resource=_BUNDLE) is True
    assert calls == [_BUNDLE]


def test_short_way_agrees_on_the_inputs(monkeypatch: pytest.MonkeyPatch) -> None:
    files = _files()
    assert len(files) > 20
    problems, answered = _check([_load(p) for p in files], monkeypatch)
    assert answered > 100  # the short way is taken, not only declined
    assert not problems, f"{len(problems)} disagreements, first: " + "\n".join(problems[:3])


def _header(bundle: dict[str, Any]) -> dict[str, Any]:
    resource: dict[str, Any] = bundle["entry"][0]["resource"]
    return resource


def _receiver(bundle: dict[str, Any]) -> dict[str, Any]:
    resource: dict[str, Any] = bundle["entry"][7]["resource"]
    return resource


# Each mutation changes a copy of the example in place.
_Mutation = Callable[[dict[str, Any]], None]
_MUTATIONS: list[_Mutation] = [
    lambda b: _header(b)["destination"][0].update(endpoint="urn:lisn:kommunkod:0181"),
    lambda b: _header(b)["destination"][0].pop("endpoint"),
    lambda b: _header(b)["destination"][0].update(endpoint=["urn:lisn:kommunkod:0180"]),
    lambda b: _header(b)["destination"][0].update(_endpoint={"extension": []}),
    lambda b: _header(b)["destination"][0].pop("receiver"),
    lambda b: _header(b)["destination"][0]["receiver"].pop("reference"),
    lambda b: _header(b)["destination"][0]["receiver"].update(reference=_URLS[2]),
    lambda b: _header(b)["destination"][0]["receiver"].update(reference="urn:uuid:nowhere"),
    lambda b: _header(b)["destination"][0]["receiver"].update(reference=5),
    lambda b: _header(b)["destination"][0]["receiver"].update(_reference={"id": "x"}),
    lambda b: _header(b)["destination"][0].update(receiver=[{"reference": _URLS[7]}]),
    lambda b: _header(b)["destination"].insert(0, {"endpoint": "urn:lisn:kommunkod:0180"}),
    lambda b: _header(b)["destination"].insert(0, {"endpoint": "urn:x", "receiver": {"reference": _URLS[5]}}),
    lambda b: _header(b)["destination"].append({"endpoint": "urn:lisn:kommunkod:0180"}),
    lambda b: _header(b)["destination"].append({"endpoint": "urn:lisn:kommunkod:0999"}),
    lambda b: _header(b)["destination"].append({"endpoint": "urn:lisn:kommunkod:0180",
                                                "receiver": {"reference": "urn:uuid:other"}}),
    lambda b: _header(b).update(destination=_header(b)["destination"][0]),
    lambda b: _header(b).update(destination=[]),
    lambda b: _header(b).pop("destination"),
    lambda b: _header(b).update(_destination=[{"id": "a"}]),
    lambda b: b["entry"].append(copy.deepcopy(b["entry"][0])),
    lambda b: b["entry"].append({"fullUrl": "urn:x", "resource": dict(_header(b), destination=[
        {"endpoint": "urn:lisn:kommunkod:0180", "receiver": {"reference": _URLS[6]}}])}),
    lambda b: b["entry"].append({"fullUrl": "urn:x", "resource": dict(_header(b), destination=[
        {"endpoint": "urn:lisn:kommunkod:1111", "receiver": {"reference": _URLS[7]}}])}),
    lambda b: b["entry"].insert(0, {"fullUrl": _URLS[7], "resource": {"resourceType": "Organization", "identifier": [
        {"system": KOMMUN, "value": "0999"}]}}),
    lambda b: b["entry"].append({"fullUrl": _URLS[7], "resource": {"resourceType": "Organization", "identifier": [
        {"system": KOMMUN, "value": "0999"}]}}),
    lambda b: b["entry"].append({"fullUrl": _URLS[7]}),
    lambda b: b["entry"].append({"resource": {"resourceType": "MessageHeader"}}),
    lambda b: b["entry"].append({"resource": {"resourceType": "MessageHeader", "destination": [{}]}}),
    lambda b: b["entry"].append("x"),
    lambda b: b["entry"].append({"fullUrl": 7}),
    lambda b: b["entry"].append({"resource": None}),
    lambda b: b["entry"].append({"resource": {"resourceType": 5}}),
    lambda b: b["entry"][7].pop("fullUrl"),
    lambda b: b["entry"][7].update(fullUrl=_URLS[7] + " "),
    lambda b: b["entry"][7].update(_fullUrl={"id": "y"}),
    lambda b: b["entry"][7].update(resource=[_receiver(b)]),
    lambda b: b["entry"][7].pop("resource"),
    lambda b: _receiver(b)["identifier"].reverse(),
    lambda b: _receiver(b)["identifier"][0].update(value="0181"),
    lambda b: _receiver(b)["identifier"][0].update(value=180),
    lambda b: _receiver(b)["identifier"][0].pop("value"),
    lambda b: _receiver(b)["identifier"][0].update(valueString="0180"),
    lambda b: _receiver(b)["identifier"][0].update(_value={"extension": []}),
    lambda b: _receiver(b)["identifier"][0].update(_system={"extension": []}),
    lambda b: _receiver(b)["identifier"][0].update(system=KOMMUN + "x"),
    lambda b: _receiver(b)["identifier"][0].update(system=[KOMMUN]),
    lambda b: _receiver(b)["identifier"][0].pop("system"),
    lambda b: _receiver(b)["identifier"].insert(0, {"system": KOMMUN, "value": "0999"}),
    lambda b: _receiver(b)["identifier"].insert(0, {"system": KOMMUN}),
    lambda b: _receiver(b)["identifier"].append({"system": KOMMUN, "value": "0999"}),
    lambda b: _receiver(b)["identifier"].append("x"),
    lambda b: _receiver(b).update(identifier=_receiver(b)["identifier"][0]),
    lambda b: _receiver(b).pop("identifier"),
    lambda b: _receiver(b).update(_identifier=[{"id": "i"}]),
    lambda b: _receiver(b).update(resourceType="Patient"),
    lambda b: _receiver(b).update(resourceType="Bundle"),
    lambda b: _receiver(b).update(resourceType="MessageHeader"),
    lambda b: b.update(_entry=[{"id": "e"}]),
    lambda b: b.update(entry=b["entry"][0]),
    lambda b: b.pop("entry"),
]


def _mutated(indexes: list[int]) -> dict[str, Any]:
    bundle = copy.deepcopy(_BUNDLE)
    for i in indexes:
        with contextlib.suppress(KeyError, IndexError, TypeError, AttributeError):
            _MUTATIONS[i](bundle)  # (an earlier mutation may have taken away what this one changes)
    return bundle


def test_each_mutation(monkeypatch: pytest.MonkeyPatch) -> None:
    answered = 0
    for i in range(len(_MUTATIONS)):
        bundle = _mutated([i])
        answered += invariants._endpoint_holds(bundle)
        problem = _disagreement(bundle, monkeypatch)
        assert problem is None, (i, problem)
    assert answered >= 15


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.integers(0, len(_MUTATIONS) - 1), max_size=4))
def test_mutated_submissions(monkeypatch: pytest.MonkeyPatch, indexes: list[int]) -> None:
    problem = _disagreement(_mutated(indexes), monkeypatch)
    assert problem is None, problem
