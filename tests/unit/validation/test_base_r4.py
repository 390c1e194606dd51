"""Base R4 validation: the reviewer's repro, the XML representation rules, and two properties.

Properties (hypothesis), over every example in ``profiles/examples`` and every passing base case:
a primitive set to a value outside its type's format, or an unknown element added to any object,
is reported as an error at exactly that path.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapter import errors
from adapter.cli import cli
from adapter.fhir import definitions as defs
from adapter.validation import validate, validate_bytes

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = sorted((ROOT / "profiles" / "examples").glob("*.json")) + sorted(
    (ROOT / "tests" / "cases" / "validation" / "inputs" / "base").glob("*-valid.json"))
SUBMISSION = ROOT / "profiles" / "examples" / "Bundle-lisn-example-submission.json"
XML_CASES = Path(__file__).resolve().parent / "xml_base"


def error_places(oo: dict[str, Any]) -> set[tuple[str, str]]:
    return {(errors.message_id_of(i) or "", e) for i in oo["issue"] if i["severity"] in ("error", "fatal")
            for e in i.get("expression") or []}


# -- the reviewer's repro --------------------------------------------------------------------

def test_unknown_resource_type_is_an_error(tmp_path: Path) -> None:
    f = tmp_path / "foo.json"
    f.write_text('{"resourceType":"Foo"}', encoding="utf-8")
    result = CliRunner().invoke(cli, ["validate", "--format", "json", str(f)])
    assert result.exit_code == 1
    assert error_places(json.loads(result.output)) == {("Validation_VAL_Profile_NoDefinition", "Foo")}


def test_broken_patient_inside_the_submission(tmp_path: Path) -> None:
    bundle = json.loads(SUBMISSION.read_text(encoding="utf-8"))
    index, patient = next((i, e["resource"]) for i, e in enumerate(bundle["entry"])
                          if e["resource"]["resourceType"] == "Patient")
    patient.update({"gender": "robot", "birthDate": "2020-13-45", "foo": "bar"})
    f = tmp_path / "submission.json"
    f.write_text(json.dumps(bundle), encoding="utf-8")
    result = CliRunner().invoke(cli, ["validate", "--format", "json", str(f)])
    assert result.exit_code == 1
    at = f"Bundle.entry[{index}].resource"
    assert {("Terminology_TX_NoValid_16", f"{at}.gender"), ("Type_Specific_Checks_DT_Date_Valid", f"{at}.birthDate"),
            ("Unrecognised_property_", f"{at}.foo")} <= error_places(json.loads(result.output))


def test_the_examples_are_valid() -> None:
    for example in EXAMPLES:
        oo = validate(json.loads(example.read_text(encoding="utf-8")))
        assert not errors.has_errors(oo), (example.name, error_places(oo))


# -- XML representation ----------------------------------------------------------------------

def _xml_cases() -> list[Any]:
    manifest = json.loads((XML_CASES / "manifest.json").read_text(encoding="utf-8"))
    return [pytest.param(c, id=c["file"]) for c in manifest["cases"]]


@pytest.mark.parametrize("case", _xml_cases())
def test_xml_representation(case: dict[str, Any]) -> None:
    oo = validate_bytes((XML_CASES / case["file"]).read_bytes())
    assert sorted(error_places(oo)) == sorted(tuple(e) for e in case["expect"])


# -- properties ------------------------------------------------------------------------------

# A value outside each primitive type's format (JSON type, regular expression or range).
BAD_VALUES: dict[str, Any] = {
    "boolean": "yes", "integer": 1.5, "positiveInt": 0, "unsignedInt": -1, "decimal": "one",
    "string": "", "markdown": "", "code": " padded", "id": "not_an_id", "uri": "has space",
    "url": "has space", "canonical": "has space", "oid": "1.2.3", "uuid": "urn:uuid:NOT-A-UUID",
    "base64Binary": "not base64!", "date": "2020-13-45", "dateTime": "2020-01-01T10:00:00",
    "instant": "2020-01-01", "time": "25:00:00", "xhtml": "<p>not a div</p>",
}


def primitives(value: Any, path: str, owner: str) -> Iterator[tuple[list[Any], str, str]]:
    """(JSON location as keys, FHIRPath-like path, type) of every primitive value below ``value``."""
    yield from _walk(value, [], path, owner)


def _walk(obj: Any, keys: list[Any], path: str, owner: str) -> Iterator[tuple[list[Any], str, str]]:
    names = defs.json_names(owner)
    for key, value in obj.items():
        hit = names.get(key)
        if hit is None:
            continue
        el, type_name = hit
        items = list(enumerate(value)) if isinstance(value, list) else [(None, value)]
        for i, item in items:
            where, at = f"{path}.{key}" + ("" if i is None else f"[{i}]"), keys + [key] + ([] if i is None else [i])
            if type_name in BAD_VALUES and item is not None:
                yield at, where, type_name
            elif type_name == "Resource" and isinstance(item, dict):
                yield from _walk(item, at, where, str(item["resourceType"]))
            elif isinstance(item, dict):
                yield from _walk(item, at, where, el.owner or type_name)


def objects(value: Any, path: str, keys: list[Any] | None = None) -> Iterator[tuple[list[Any], str]]:
    """Every JSON object below (and including) ``value``, with its path."""
    keys = keys or []
    yield keys, path
    for key, child in value.items():
        items = list(enumerate(child)) if isinstance(child, list) else [(None, child)]
        for i, item in items:
            if isinstance(item, dict) and not key.startswith("_"):
                yield from objects(item, f"{path}.{key}" + ("" if i is None else f"[{i}]"),
                                   keys + [key] + ([] if i is None else [i]))


def _at(data: Any, keys: list[Any]) -> Any:
    for k in keys:
        data = data[k]
    return data


def _load(example: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(example.read_text(encoding="utf-8"))
    return data


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(EXAMPLES), st.data())
def test_a_primitive_outside_its_format_is_reported_at_its_path(example: Path, data: st.DataObject) -> None:
    resource = _load(example)
    rtype = str(resource["resourceType"])
    keys, path, type_name = data.draw(st.sampled_from(list(primitives(resource, rtype, rtype))))
    mutated = copy.deepcopy(resource)
    _at(mutated, keys[:-1])[keys[-1]] = BAD_VALUES[type_name]
    places = error_places(validate(mutated))
    assert path in {where for _, where in places}, (type_name, path, sorted(places))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(EXAMPLES), st.data(), st.from_regex(r"[a-z][a-zA-Z]{2,12}", fullmatch=True))
def test_an_unknown_element_is_reported_at_its_path(example: Path, data: st.DataObject, name: str) -> None:
    resource = _load(example)
    rtype = str(resource["resourceType"])
    keys, path = data.draw(st.sampled_from(list(objects(resource, rtype))))
    target = _at(resource, keys)
    owner_keys = set(defs.json_names(str(target.get("resourceType")))) if "resourceType" in target else set()
    name = "zz" + name  # no R4 element starts with "zz"
    assert name not in owner_keys
    mutated = copy.deepcopy(resource)
    _at(mutated, keys)[name] = "x"
    assert ("Unrecognised_property_", f"{path}.{name}") in error_places(validate(mutated))
