"""GET /fhir/metadata: a valid CapabilityStatement that names what the package defines.

The statement is validated with the adapter's own validator (the R4 base rules: no empty arrays,
cardinality, invariants); every canonical it names resolves in the package or is an R4 core
OperationDefinition (their existence in R4 core: tests/interop/package/test_package_tools.py).
"""

from __future__ import annotations

import copy
import json
from importlib.metadata import version as dist_version
from typing import Any

import pytest
from service_helpers import ROOT, Api, FhirJsonCheckingClient, empty_values

from adapter.fhir.registry import default_registry
from adapter.fhir.submission import LISN_QR_PROFILES
from adapter.validation import validate

CORE_OPERATION = "http://hl7.org/fhir/OperationDefinition/"


def _statement(api: Api) -> dict[str, Any]:
    r = api.get("/fhir/metadata", who=None)
    assert r.status_code == 200
    found: dict[str, Any] = r.json
    return found


def _problems(resource: dict[str, Any]) -> list[dict[str, Any]]:
    oo = validate(resource, default_registry())
    return [i for i in oo.get("issue", []) if i["severity"] in ("fatal", "error", "warning")]


def test_the_capability_statement_is_valid_r4(api: Api) -> None:
    assert _problems(_statement(api)) == []


@pytest.mark.parametrize("break_it", [
    lambda cs: cs["rest"][0]["resource"][0].__setitem__("interaction", []),
    lambda cs: cs.__setitem__("messaging", [{}]),
    lambda cs: cs["software"].__setitem__("version", None),
    lambda cs: cs.pop("kind"),
], ids=["empty-interaction", "empty-messaging", "null-version", "no-kind"])
def test_the_validator_refuses_a_broken_statement(api: Api, break_it: Any) -> None:
    cs = copy.deepcopy(_statement(api))
    break_it(cs)
    assert any(i["severity"] == "error" for i in _problems(cs))


def test_software_guide_and_profiles(api: Api) -> None:
    cs = _statement(api)
    registry = default_registry()
    package = json.loads((ROOT / "profiles" / "package.json").read_text(encoding="utf-8"))
    assert cs["software"] == {"name": "LISN adapter", "version": dist_version("lisn-adapter")}
    (guide,) = cs["implementationGuide"]
    ig = registry.resolve(guide)
    assert ig and ig["resourceType"] == "ImplementationGuide" and ig["version"] == package["version"]
    by_type = {r["type"]: r for r in cs["rest"][0]["resource"]}
    assert "https://lisn.se/fhir/StructureDefinition/lisn-submission|1.1.0" in by_type["Bundle"]["supportedProfile"]
    assert len(by_type["QuestionnaireResponse"]["supportedProfile"]) == 2
    for res in cs["rest"][0]["resource"]:
        for profile in res.get("supportedProfile", []):
            sd = registry.resolve(profile)
            assert sd and sd["type"] == res["type"], profile


def test_messaging_names_every_event_with_its_focus(api: Api) -> None:
    cs = _statement(api)
    registry = default_registry()
    events = registry.resolve("https://lisn.se/fhir/CodeSystem/lisn-message-event")
    assert events
    (messaging,) = cs["messaging"]
    seen = set()
    for msg in messaging["supportedMessage"]:
        md = registry.resolve(msg["definition"])
        assert md and md["resourceType"] == "MessageDefinition" and msg["mode"] == "receiver"
        assert md["eventCoding"]["system"] == events["url"]
        seen.add(md["eventCoding"]["code"])
        # the certificate: one QuestionnaireResponse, of the QR profile of its template version
        assert {f["code"] for f in md["focus"]} == {"QuestionnaireResponse"}
        assert all((f["min"], f["max"]) == (0, "1") for f in md["focus"])
        assert sorted(f["profile"] for f in md["focus"]) == sorted(LISN_QR_PROFILES.values())
        assert all(registry.resolve(f["profile"], "StructureDefinition") for f in md["focus"])
    assert seen == {c["code"] for c in events["concept"]}


def operations(cs: dict[str, Any]) -> list[tuple[str, str]]:
    rest = cs["rest"][0]
    found = [(o["name"], o["definition"]) for o in rest.get("operation", [])]
    return found + [(o["name"], o["definition"]) for r in rest["resource"] for o in r.get("operation", [])]


def test_every_operation_has_a_definition(api: Api) -> None:
    registry = default_registry()
    ops = operations(_statement(api))
    assert {name for name, _ in ops} >= {"process-message", "validate", "revoke"}
    for name, definition in ops:
        if definition.startswith(CORE_OPERATION):
            continue  # R4 core; checked against the core package in the npm tool tests
        od = registry.resolve(definition)
        assert od and od["resourceType"] == "OperationDefinition" and od["code"] == name, definition


@pytest.mark.parametrize(("doc", "expected"), [
    ({"a": [1, {"b": "x"}], "c": True, "d": 0}, []),
    ({"a": []}, ["$.a"]),
    ({"a": [{"b": {}}]}, ["$.a[0].b"]),
    ({"a": None, "b": ""}, ["$.a", "$.b"]),
])
def test_empty_values_finds_what_fhir_json_forbids(doc: Any, expected: list[str]) -> None:
    assert empty_values(doc) == expected


def test_the_test_client_checks_every_json_answer(api: Api) -> None:
    assert isinstance(api.client, FhirJsonCheckingClient)
    original = api.app.view_functions["capability.metadata"]

    def broken() -> Any:
        from adapter.api.http import fhir_response
        return fhir_response({"resourceType": "CapabilityStatement", "format": []})

    api.app.view_functions["capability.metadata"] = broken
    try:
        with pytest.raises(AssertionError, match=r"\$\.format"):
            api.get("/fhir/metadata", who=None)
    finally:
        api.app.view_functions["capability.metadata"] = original
