"""The profiles a resource declares, kept per registry (``profiles._declarations``), give the general way's outcomes.

:func:`adapter.validation.profiles.start_walks`, :func:`~adapter.validation.profiles.check_reference_targets`
and :meth:`~adapter.validation.profiles.Walk.type_profiles` work out what a resource's type,
``questionnaire`` and ``meta.profile`` come to (the wrong LISN QR profiles, each applicable profile
with its index and compiled profile) once per such declaration and registry, and the resource
types a ``targetProfile`` names once per node and registry (``Registry.derived``, forgotten when
the registry gains a definition); ``profiles.DECLARED_KEPT = False`` reads them from the resource
each time. Every pinned input but the HL7 corpora, and the example submission with each entry's
declarations changed (no ``meta``, no profile, an unknown one, one twice, with a version, of
another type, not a text, not a list; the response's ``questionnaire`` another template's, not a
text, its profile another template's) are validated both ways, each twice with the kept ones (the
second time from what the first kept): the outcomes (issues, order, texts, positions) must be the
same. A registry that gains a definition between two validations gives the new outcome. Negative
control: declarations kept by resource type alone must be caught.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from adapter.fhir.registry import default_registry
from adapter.validation import profiles
from tests.unit.validation import outcome_pin

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "profiles" / "examples" / "Bundle-lisn-example-submission.json"
UNKNOWN = "https://example.org/fhir/StructureDefinition/not-known"


def _declared_changes(resource: dict[str, Any]) -> Iterator[tuple[str, Callable[[dict[str, Any]], None]]]:
    declared = (resource.get("meta") or {}).get("profile") or []
    first = declared[0] if declared else "https://lisn.se/fhir/StructureDefinition/lisn-patient"

    def setter(value: Any) -> Callable[[dict[str, Any]], None]:
        def change(res: dict[str, Any]) -> None:
            res.setdefault("meta", {})["profile"] = value
        return change

    yield "no meta", lambda res: res.pop("meta", None)
    yield "meta without profile", lambda res: res.__setitem__("meta", {"versionId": "1"})
    yield "no profile", setter([])
    yield "unknown", setter([UNKNOWN, *declared])
    yield "twice", setter([*declared, *declared])
    yield "with version", setter([f"{first}|1.0"])
    yield "other version", setter([f"{first}|9.9"])
    yield "other type", setter(["https://lisn.se/fhir/StructureDefinition/lisn-patient",
                                "https://lisn.se/fhir/StructureDefinition/lisn-consent"])
    yield "not a text", setter([12, *declared])
    yield "not a list", setter(first)
    if resource.get("resourceType") == "QuestionnaireResponse":
        yield "questionnaire 1.1", lambda res: res.__setitem__("questionnaire", "https://lisn.se/fhir/Questionnaire/lisn|1.1")
        yield "questionnaire not a text", lambda res: res.__setitem__("questionnaire", 5)
        yield "other template's profile", setter(
            ["https://lisn.se/fhir/StructureDefinition/lisn-questionnaireresponse|1.1.0"])


def _inputs() -> Iterator[tuple[str, bytes, Any]]:
    for name, raw, registry in outcome_pin.inputs():
        if not name.startswith("hl7"):
            yield name, raw, registry
    lisn = default_registry()
    doc = json.loads(EXAMPLE.read_bytes())
    for i, entry in enumerate(doc["entry"]):
        for what, change in _declared_changes(entry["resource"]):
            changed = copy.deepcopy(doc)
            change(changed["entry"][i]["resource"])
            yield f"entry[{i}] {what}", json.dumps(changed).encode(), lisn
            yield f"entry[{i}] {what} alone", json.dumps(changed["entry"][i]["resource"]).encode(), lisn


INPUTS = list(_inputs())


def _outcomes(monkeypatch: pytest.MonkeyPatch, kept: bool, inputs: list[tuple[str, bytes, Any]] = INPUTS) -> list[Any]:
    with monkeypatch.context() as m:
        m.setattr(profiles, "DECLARED_KEPT", kept)
        out = []
        for _, raw, registry in inputs:
            first = outcome_pin.outcome(raw, registry)
            if kept:  # (again, from what the first validation kept)
                assert outcome_pin.outcome(raw, registry) == first
            out.append(first)
        return out


def _differ(a: list[Any], b: list[Any]) -> list[str]:
    assert len(a) == len(b) == len(INPUTS)
    return [name for (name, _, _), x, y in zip(INPUTS, a, b) if x != y]


@pytest.mark.pure_python  # patches a module function: compiled callers do not see it (tests/conftest.py)
def test_kept_declarations_give_the_outcomes_of_the_general_way(monkeypatch: pytest.MonkeyPatch) -> None:
    taken = [0]
    real = profiles._declarations

    def counted(resource: Any, registry: Any) -> Any:
        found = real(resource, registry)
        taken[0] += found is not None
        return found

    monkeypatch.setattr(profiles, "_declarations", counted)
    general = _outcomes(monkeypatch, False)
    assert taken[0] == 0
    kept = _outcomes(monkeypatch, True)
    assert len(INPUTS) > 300
    assert not _differ(general, kept)[:10]
    assert taken[0] > 1_000
    # the changes reach what is kept: unknown profiles, wrong types, other templates
    texts = {c["valueString"] for o in general for i in o["issue"] for c in i.get("extension", [])
             if c["url"].endswith("message-id")}
    assert {"Validation_VAL_Profile_Unknown", "Validation_VAL_Profile_WrongType",
            "LISN_QR_PROFILE_WRONG_TEMPLATE"} <= texts, texts


def test_a_registry_that_gains_a_definition_forgets_what_it_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    doc = json.loads(EXAMPLE.read_bytes())
    patient = next(e["resource"] for e in doc["entry"] if e["resource"]["resourceType"] == "Patient")
    patient["meta"]["profile"].append(UNKNOWN)
    raw = json.dumps(doc).encode()
    registry = default_registry()
    before = outcome_pin.outcome(raw, registry)
    assert UNKNOWN in json.dumps(before)
    assert any(k[0] == "profiles.declared" for k in registry.derived)
    registry.add({"resourceType": "StructureDefinition", "url": UNKNOWN, "type": "Patient", "kind": "resource",
                  "differential": {"element": [{"id": "Patient", "path": "Patient"},
                                               {"id": "Patient.gender", "path": "Patient.gender", "min": 1}]}})
    after = outcome_pin.outcome(raw, registry)
    with monkeypatch.context() as m:
        m.setattr(profiles, "DECLARED_KEPT", False)
        assert after == outcome_pin.outcome(raw, registry) != before


@pytest.mark.pure_python  # patches a module function: compiled callers do not see it (tests/conftest.py)
def test_declarations_kept_too_coarsely_are_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """Negative control: declarations kept by resource type alone (what the first resource of a
    type declared taken for every other) must change some outcome."""
    general = _outcomes(monkeypatch, False)
    real = profiles._declarations
    by_type: dict[Any, Any] = {}

    def coarse(resource: Any, registry: Any) -> Any:
        found = real(resource, registry)
        return by_type.setdefault((id(registry), resource.get("resourceType")), found) if found is not None else None

    monkeypatch.setattr(profiles, "_declarations", coarse)
    assert _differ(general, _outcomes(monkeypatch, True))
