"""FHIR XML -> JSON: every XML file here equals its JSON form; XML input validates like JSON.

The XML of the examples was written by fhir.resources (R4B ``model_dump_xml``) from the JSON
examples, an independent serializer; ``Patient-primitive-extensions`` is hand-written and covers
primitive extensions, ids on primitives, aligned ``_name`` arrays, the narrative div, a
contained resource and decimals. Files are found by glob.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from adapter import errors
from adapter.cli import cli
from adapter.fhir.parse import parse_xml
from adapter.fhir.xmljson import xml_to_json
from adapter.validation import validate_bytes

HERE = Path(__file__).resolve().parent / "xml"
ROOT = Path(__file__).resolve().parents[3]
XMLS = sorted(HERE.glob("*.xml"))


def json_twin(xml: Path) -> Path:
    local = xml.with_suffix(".json")
    if local.exists():
        return local
    found = sorted((ROOT / "profiles").rglob(xml.stem + ".json"))
    assert found, f"no JSON form of {xml.name}"
    return found[0]


@pytest.mark.parametrize("xml", XMLS, ids=[x.stem for x in XMLS])
def test_xml_equals_its_json(xml: Path) -> None:
    assert xml_to_json(parse_xml(xml.read_bytes())) == json.loads(json_twin(xml).read_text(encoding="utf-8"))


def test_there_are_xml_examples() -> None:
    assert len(XMLS) >= 10


def test_xml_submission_validates_like_json() -> None:
    xml = HERE / "Bundle-lisn-example-submission.xml"
    assert [errors.message_id_of(i) for i in validate_bytes(xml.read_bytes())["issue"]] == ["ALL_OK"]
    result = CliRunner().invoke(cli, ["validate", str(xml)])
    assert result.exit_code == 0, result.output


def test_bad_value_in_xml_is_reported() -> None:
    raw = (HERE / "Bundle-lisn-example-submission.xml").read_bytes().replace(
        b'<valueInteger value="', b'<valueInteger value="x', 1)
    oo = validate_bytes(raw)
    assert errors.has_errors(oo)
    iss = next(i for i in oo["issue"] if errors.message_id_of(i) == "QUESTIONNAIRE_QR_ITEM_VALUE_INVALID")
    line = next(e["valueInteger"] for e in iss["extension"] if e["url"].endswith("issue-line"))
    assert '<valueInteger value="x' in raw.decode("utf-8").splitlines()[line - 1]
