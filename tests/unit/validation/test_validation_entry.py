"""validate()/validate_bytes(): dispatch, paths inside a Bundle, positions, malformed input, the CLI."""

from __future__ import annotations

import copy
import json
import tarfile
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from adapter import errors
from adapter.cli import cli
from adapter.fhir.registry import Registry, default_registry
from adapter.validation import validate, validate_bytes

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "profiles" / "examples" / "Bundle-lisn-example-submission.json"
CASES = ROOT / "tests" / "cases" / "validation"
DEFS = CASES / "definitions"


def ids(oo: dict[str, Any]) -> list[tuple[str | None, str]]:
    return [(errors.message_id_of(i), ", ".join(i.get("expression") or [])) for i in oo["issue"]]


def ext(iss: dict[str, Any], suffix: str) -> Any:
    return next((e["valueInteger"] for e in iss.get("extension", []) if e["url"].endswith(suffix)), None)


@pytest.fixture(scope="module")
def bundle() -> dict[str, Any]:
    return json.loads(EXAMPLE.read_text(encoding="utf-8"))


def test_example_submission_is_clean(bundle: dict[str, Any]) -> None:
    assert ids(validate(bundle)) == [("ALL_OK", "")]


def test_response_inside_a_bundle_gets_the_entry_path(bundle: dict[str, Any]) -> None:
    b = copy.deepcopy(bundle)
    b["entry"][1]["resource"]["item"].append({"linkId": "nope"})
    last = len(b["entry"][1]["resource"]["item"]) - 1
    assert ("QUESTIONNAIRE_QR_ITEM_NOTFOUND", f"Bundle.entry[1].resource.item[{last}]") in ids(validate(b))


def test_unknown_template_version_names_the_known_ones(bundle: dict[str, Any]) -> None:
    b = copy.deepcopy(bundle)
    b["entry"][1]["resource"]["questionnaire"] = "https://lisn.se/fhir/Questionnaire/lisn|7.3"
    oo = validate(b)
    iss = next(i for i in oo["issue"] if errors.message_id_of(i) == "QUESTIONNAIRE_QR_Q_UNKNOWN_VERSION")
    assert iss["expression"] == ["Bundle.entry[1].resource.questionnaire"]
    assert "7.3" in iss["details"]["text"] and "https://lisn.se/fhir/Questionnaire/lisn|1.0" in iss["details"]["text"]


def test_questionnaire_is_checked_as_a_definition() -> None:
    q = json.loads((DEFS / "Questionnaire-all-types.json").read_text(encoding="utf-8"))
    assert ids(validate(q, Registry())) == [("ALL_OK", "")]
    q["item"][0]["linkId"] = "dec"
    assert ("QUESTIONNAIRE_Q_LINKID_DUPLICATE", "Questionnaire.item[1].linkId") in ids(validate(q, Registry()))


def test_issue_order_is_deterministic(bundle: dict[str, Any]) -> None:
    b = json.loads((CASES / "acceptance" / "Bundle-twelve-mistakes.json").read_text(encoding="utf-8"))
    assert validate(b) == validate(copy.deepcopy(b))


def test_json_positions_point_at_the_element() -> None:
    raw = (CASES / "inputs" / "integer-max.json").read_bytes()
    reg = Registry()
    reg.load_path(DEFS)
    oo = validate_bytes(raw, reg)
    iss = next(i for i in oo["issue"] if errors.message_id_of(i) == "QUESTIONNAIRE_QR_ITEM_INTEGER_MAX")
    line, col = ext(iss, "issue-line"), ext(iss, "issue-col")
    text_line = raw.decode("utf-8").splitlines()[line - 1]
    assert text_line[col - 1:].startswith('"valueInteger": 40') or text_line[col - 1:].startswith("40")


@pytest.mark.parametrize(("raw", "message_id"), [
    (b'{"resourceType": "Patient",', "LISN_INPUT_NOT_JSON"),
    (b"[1, 2]", "LISN_VALIDATION_UNSUPPORTED_RESOURCE"),
    (b"hello", "LISN_VALIDATION_INPUT_UNKNOWN"),
    (b"<Patient xmlns='urn:other'/>", "LISN_VALIDATION_NOT_FHIR_XML"),
    (b"<!DOCTYPE x [<!ENTITY e 'x'>]><Patient xmlns='http://hl7.org/fhir'/>", "LISN_INPUT_XML_DTD"),
    (b'{"a": 1, "a": 2}', "LISN_INPUT_NOT_JSON"),
    (b"{}", "LISN_VALIDATION_UNSUPPORTED_RESOURCE"),
])
def test_malformed_input_is_an_outcome(raw: bytes, message_id: str) -> None:
    oo = validate_bytes(raw, Registry())
    assert oo["resourceType"] == "OperationOutcome"
    assert errors.message_id_of(oo["issue"][0]) == message_id
    assert errors.has_errors(oo)


# -- the CLI -----------------------------------------------------------------------------------
def run(*args: str) -> Any:
    return CliRunner().invoke(cli, ["validate", *args])


def test_cli_exit_codes_and_formats(tmp_path: Path) -> None:
    ig = ["--ig", str(DEFS)]
    assert run(*ig, str(CASES / "inputs" / "all-types-valid.json")).exit_code == 0
    bad = run(*ig, str(CASES / "inputs" / "decimal-min.json"))
    assert bad.exit_code == 1
    assert "QuestionnaireResponse.item[1].answer[0].value.ofType(decimal)" in bad.output
    assert "[QUESTIONNAIRE_QR_ITEM_DECIMAL_MIN]" in bad.output
    both = run(*ig, "--format", "json", str(CASES / "inputs" / "all-types-valid.json"), str(CASES / "inputs" / "decimal-min.json"))
    assert both.exit_code == 1
    parsed = json.loads(both.output)
    assert [o["resourceType"] for o in parsed] == ["OperationOutcome", "OperationOutcome"]
    missing = run(str(tmp_path / "absent.json"))
    assert missing.exit_code == 2 and "LISN_VALIDATION_FILE_UNREADABLE" in missing.output
    (tmp_path / "broken.json").write_text("{", encoding="utf-8")
    assert run(str(tmp_path / "broken.json")).exit_code == 2
    assert run("--ig", str(tmp_path / "no-such-ig"), str(CASES / "inputs" / "all-types-valid.json")).exit_code == 2
    assert run().exit_code == 2  # usage: no file
    assert run("--format", "yaml", str(EXAMPLE)).exit_code == 2


def test_cli_ig_from_a_package(tmp_path: Path) -> None:
    tgz = tmp_path / "defs.tgz"
    with tarfile.open(tgz, "w:gz") as tar:
        for f in DEFS.glob("*.json"):
            tar.add(f, arcname=f"package/{f.name}")
    assert run("--ig", str(tgz), str(CASES / "inputs" / "all-types-valid.json")).exit_code == 0
    assert run(str(CASES / "inputs" / "all-types-valid.json")).exit_code == 1  # without it: unknown questionnaire


def test_lisn_profiles_always_loaded() -> None:
    assert default_registry().resolve("https://lisn.se/fhir/Questionnaire/lisn|1.0", "Questionnaire") is not None


def test_outcomes_share_nothing_between_calls() -> None:
    """The outcome holds the collector's issue dicts as they are (no copy, issue 15): nothing of
    one call's outcome is another's, and changing one outcome leaves the next call's as it was."""
    raw = json.dumps({"resourceType": "QuestionnaireResponse", "status": "bogus", "authored": "x",
                      "questionnaire": "http://example.org/no-such|1"}, indent=1).encode()
    first, second = validate_bytes(raw), validate_bytes(raw)
    assert first == second and len(first["issue"]) >= 2
    expected = copy.deepcopy(second)
    assert first["issue"] is not second["issue"]
    for a, b in zip(first["issue"], second["issue"]):
        assert a is not b and a["extension"] is not b["extension"]
    first["issue"][0]["extension"].append({"url": "x"})
    first["issue"][1]["severity"] = "changed"
    first["issue"].append({"severity": "fatal"})
    assert second == expected == validate_bytes(raw)
