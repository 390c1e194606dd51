"""The test kit's scenario loader and expectation matcher: passing and failing cases of each."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from adapter.testkit.expect import ExpectationError, Response, check_spec, issues, match
from adapter.testkit.scenario import (
    DEFAULT_VARS,
    SCENARIOS,
    ScenarioError,
    build_body,
    fill,
    load_scenario,
    load_scenarios,
)

OO = {"resourceType": "OperationOutcome", "issue": [
    {"severity": "error", "code": "invalid", "expression": ["Bundle.entry[2].resource.identifier[0].value"],
     "extension": [{"url": "http://hl7.org/fhir/StructureDefinition/operationoutcome-message-id",
                    "valueString": "LISN_PERSONNUMMER_CHECKSUM"}]},
    {"severity": "warning", "code": "business-rule", "expression": ["Bundle.entry[1].resource"],
     "details": {"coding": [{"system": "https://lisn.se/fhir/CodeSystem/lisn-message", "code": "LISN_SOMETHING"}]}},
]}


def answer(status: int, body: object, **headers: str) -> Response:
    return Response(status, headers, json.dumps(body))


# -- the kit's own scenarios load ------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["sender", "receiver"])
def test_the_kits_own_scenarios_load_and_each_checks_something(kind: str) -> None:
    scenarios = load_scenarios(kind)
    assert [s.id for s in scenarios] == sorted(p.stem for p in (SCENARIOS / kind).glob("*.yaml"))
    for s in scenarios:
        assert s.rule and s.steps and all(step.expect for step in s.steps), s.id


def test_every_sender_fixture_builds_valid_json_with_the_variables_filled() -> None:
    variables = DEFAULT_VARS | {"cert": "11111111-2222-4333-8444-555555555555", "replacement": "r"}
    for s in load_scenarios("sender"):
        for step in s.steps:
            body = build_body(step.body, s.source, variables)
            if body is not None:
                assert "{{" not in body.decode(), (s.id, step.name)
                json.loads(body)


# -- the loader refuses what it cannot use, naming file and place ----------------------------------

def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "s.yaml"
    p.write_text(text, encoding="utf-8")
    return p


GOOD = """
name: reads metadata
fresh: [cert]
steps:
  - name: get
    request: {method: GET, path: /metadata}
    expect: [{status: 200}]
    capture: {kind: "CapabilityStatement.kind"}
  - name: again
    request: {method: GET, path: "/x/{{kind}}/{{cert}}/{{kommunkod}}"}
    expect: [{same_as: get}, {path: "kind", same_as: get}]
"""


def test_a_good_scenario_loads(tmp_path: Path) -> None:
    s = load_scenario(_write(tmp_path, GOOD), "sender")
    assert s.name == "reads metadata" and s.fresh == ("cert",)
    assert [st.name for st in s.steps] == ["get", "again"] and s.steps[0].capture == {"kind": "CapabilityStatement.kind"}


@pytest.mark.parametrize(("text", "says"), [
    ("name: x\nsteps: []\n", "steps: a non-empty list"),
    ("steps: [{request: {path: /}, expect: [{status: 200}]}]\n", "name: missing"),
    ("name: x\nsteps: [{request: {path: /}, expect: []}]\n", "steps[0].expect: a non-empty list"),
    ("name: x\nsteps: [{request: {path: /}, expect: [{status: [200, 201]}]}]\n", "status is one number"),
    ("name: x\nsteps: [{request: {method: FETCH, path: /}, expect: [{status: 200}]}]\n", "'FETCH' is not one of"),
    ("name: x\nsteps: [{request: {path: /}, expect: [{same_as: nothing}]}]\n", "same_as names an earlier step"),
    ("name: x\nsteps: [{request: {path: '/{{nope}}'}, expect: [{status: 200}]}]\n", "unknown variable(s) ['nope']"),
    ("name: x\nsteps: [{request: {path: /, body: {fixture: none.json}}, expect: [{status: 200}]}]\n",
     "fixture 'none.json' not found"),
    ("name: x\nsteps: [{request: {path: /, body: {document: {}}}, expect: [{status: 200}]}]\n",
     "document bodies are for receiver scenarios"),
    ("name: x\nsteps: [{request: {path: /}, expect: [{path: a, equals: 1, in: [1]}]}]\n", "exactly one of"),
    ("name: x\nstep: []\n", "unknown key(s) ['step']"),
    ("name: [unclosed\n", "not YAML"),
])
def test_a_broken_scenario_is_refused_naming_the_place(tmp_path: Path, text: str, says: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ScenarioError) as exc:
        load_scenario(path, "sender")
    assert str(exc.value).startswith(str(path)) and says in str(exc.value)


def test_an_empty_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="no scenario files"):
        load_scenarios("sender", tmp_path)


# -- templates and bodies --------------------------------------------------------------------------

def test_fill_replaces_known_names_and_refuses_unknown_ones() -> None:
    assert fill({"a": ["x{{ b }}y"]}, {"b": "1"}) == {"a": ["x1y"]}
    with pytest.raises(ScenarioError, match="no value for"):
        fill("{{c}}", {})


def test_set_and_remove_change_the_fixture_exactly_there(tmp_path: Path) -> None:
    (tmp_path / "f.json").write_text('{"a": [{"b": "{{v}}"}, {"c": 2}], "d": 1}', encoding="utf-8")
    src = tmp_path / "s.yaml"
    body = build_body({"fixture": "f.json", "set": {"a[0].b": "new-{{v}}"}, "remove": ["a[1]", "d"]}, src, {"v": "1"})
    assert json.loads(body or b"") == {"a": [{"b": "new-1"}]}
    with pytest.raises(ScenarioError, match="no 'zz' in the fixture"):
        build_body({"fixture": "f.json", "set": {"zz.y": 1}}, src, {"v": "1"})


# -- the matcher: each expectation passes and fails ------------------------------------------------

def test_status_is_exact() -> None:
    assert match({"status": 422}, answer(422, OO), {}).ok
    failed = match({"status": 422}, answer(400, OO), {})
    assert not failed.ok and failed.found == "status 400"


def test_header_presence_is_case_insensitive() -> None:
    assert match({"header": "location"}, answer(200, {}, Location="x"), {}).ok
    assert not match({"header": "Location"}, answer(200, {}), {}).ok


def test_issue_matches_severity_expression_and_message_id() -> None:
    ok = {"issue": {"severity": "error", "id": "LISN_PERSONNUMMER_CHECKSUM",
                    "expression": "Bundle.entry[2].resource.identifier[0].value"}}
    assert match(ok, answer(422, OO), {}).ok
    elsewhere = {"issue": {"id": "LISN_PERSONNUMMER_CHECKSUM", "expression": "Bundle.entry[3].resource"}}
    failed = match(elsewhere, answer(422, OO), {})
    assert not failed.ok and "LISN_PERSONNUMMER_CHECKSUM at Bundle.entry[2]" in failed.found
    assert not match({"issue": {"severity": "fatal"}}, answer(422, OO), {}).ok
    assert match({"issue": {"id": "LISN_SOMETHING"}}, answer(422, OO), {}).ok  # the id in details.coding
    assert not match({"issue": {"severity": "error"}}, answer(200, {"resourceType": "Bundle"}), {}).ok


def test_issues_are_found_inside_a_receipt_bundle_and_no_issue_fails_on_one() -> None:
    receipt = {"resourceType": "Bundle", "entry": [{"resource": {"resourceType": "Task"}}, {"resource": OO}]}
    assert len(issues(receipt)) == 2
    assert not match({"no_issue": {"severity": "error"}}, answer(200, receipt), {}).ok
    assert match({"no_issue": {"severity": "fatal"}}, answer(200, receipt), {}).ok


def test_same_as_compares_status_and_body() -> None:
    first = answer(200, {"a": 1})
    assert match({"same_as": "s"}, answer(200, {"a": 1}), {"s": first}).ok
    assert not match({"same_as": "s"}, answer(200, {"a": 2}), {"s": first}).ok
    assert not match({"same_as": "s"}, answer(201, {"a": 1}), {"s": first}).ok


def test_paths_equals_in_exists_and_same_as() -> None:
    task = answer(200, {"resourceType": "Task", "id": "t1", "businessStatus": {"coding": [{"code": "consent-ok"}]}})
    assert match({"path": "Task.id", "equals": "t1"}, task, {}).ok
    assert not match({"path": "Task.id", "equals": "t2"}, task, {}).ok
    assert match({"path": "Task.businessStatus.coding.code", "in": ["consent-ok", "delivered"]}, task, {}).ok
    assert not match({"path": "Task.businessStatus.coding.code", "in": ["awaiting-consent"]}, task, {}).ok
    assert match({"path": "Task.owner", "exists": False}, task, {}).ok
    assert not match({"path": "Task.owner", "exists": True}, task, {}).ok
    receipt = answer(200, {"status": "accepted", "receivedAt": "2026-12-03T10:00:00Z"})
    again = answer(200, {"status": "accepted", "receivedAt": "2026-12-03T10:00:00Z", "duplicate": True})
    later = answer(201, {"status": "accepted", "receivedAt": "2026-12-03T10:00:05Z"})
    assert match({"path": "receivedAt", "same_as": "push"}, again, {"push": receipt}).ok
    assert not match({"path": "receivedAt", "same_as": "push"}, later, {"push": receipt}).ok
    assert not match({"path": "Task.id", "equals": "t1"}, Response(200, {}, "not json"), {}).ok


@pytest.mark.parametrize("spec", [{"status": "200"}, {"header": 1}, {"issue": {"colour": "red"}}, {"path": "a"},
                                  {"status": 200, "header": "X"}, "status 200", {"same_as": "later"}])
def test_malformed_expectations_are_refused(spec: object) -> None:
    with pytest.raises(ExpectationError):
        check_spec(spec, earlier=["first"])


def test_a_typed_path_on_an_answer_of_another_type_finds_nothing() -> None:
    empty = answer(200, {})
    failed = match({"path": "Bundle.type", "equals": "message"}, empty, {})
    assert not failed.ok and failed.found == "Bundle.type: empty"
    assert match({"path": "Bundle.type", "exists": False}, answer(200, {"resourceType": "Task"}), {}).ok
