"""``adapter convert``: exit codes, determinism, the validator in the loop, a fourth format by data only."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from inbound_helpers import EXAMPLES, check_submission, example_inputs, set_options

from adapter import errors
from adapter.cli import cli
from adapter.validation import validate

DATA = Path(__file__).resolve().parent / "data"


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["convert", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize("example", example_inputs(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_example_converts_into_a_submission_the_validator_accepts(example: Path, tmp_path: Path) -> None:
    code, out, err = run("--from", example.parent.name, str(example), *set_options(example))
    assert code == 0, err
    assert err == "", "the shipped examples map every value"
    bundle = json.loads(out)
    check_submission(bundle)
    assert not errors.has_errors(validate(bundle))
    converted = tmp_path / "submission.json"
    converted.write_text(out, encoding="utf-8")
    checked = CliRunner().invoke(cli, ["validate", str(converted)])
    assert checked.exit_code == 0, checked.output


def test_every_format_has_an_example() -> None:
    from adapter.inbound import known_formats

    assert {p.parent.name for p in example_inputs()} == set(known_formats())


def test_output_is_byte_identical_between_runs() -> None:
    example = EXAMPLES / "inera-xml" / "lisn-depression.xml"
    first, second = run("--from", "inera-xml", str(example)), run("--from", "inera-xml", str(example))
    assert first[0] == 0 and first[1] == second[1]


def test_mapping_error_exits_1_with_the_outcome(tmp_path: Path) -> None:
    doc = json.loads((EXAMPLES / "openehr-flat" / "lisn-depression.json").read_bytes())
    doc["lisn/debut"] = "2026-02-30"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc), encoding="utf-8")
    code, out, err = run("--from", "openehr-flat", str(bad))
    assert (code, out) == (1, "")
    assert "lisn/debut" in err and "[LISN_MAP_VALUE_INVALID]" in err
    code, out, _ = run("--from", "openehr-flat", str(bad), "--format", "json")
    oo = json.loads(out)
    assert code == 1 and oo["resourceType"] == "OperationOutcome"
    assert [errors.message_id_of(i) for i in oo["issue"]] == ["LISN_MAP_VALUE_INVALID"]


def test_validation_error_exits_1_with_its_path(tmp_path: Path) -> None:
    doc = json.loads((EXAMPLES / "openehr-flat" / "lisn-depression.json").read_bytes())
    doc["lisn/formaga/period/upper"] = "2026-01-01"   # ends before it starts: a profile invariant
    bad = tmp_path / "period.json"
    bad.write_text(json.dumps(doc), encoding="utf-8")
    code, out, _ = run("--from", "openehr-flat", str(bad), "--format", "json")
    oo = json.loads(out)
    assert code == 1
    assert any("Bundle.entry[1].resource" in e for i in oo["issue"] for e in i.get("expression", [])), oo


def test_unknown_format_and_unreadable_input_exit_2(tmp_path: Path) -> None:
    example = EXAMPLES / "openehr-flat" / "lisn-depression.json"
    code, _, err = run("--from", "hl7v2", str(example))
    assert code == 2 and "[LISN_MAP_FORMAT_UNKNOWN]" in err
    code, _, err = run("--from", "openehr-flat", str(tmp_path / "missing.json"))
    assert code == 2 and "[LISN_INPUT_UNREADABLE]" in err
    broken = tmp_path / "broken.json"
    broken.write_text('{"lisn/debut": ', encoding="utf-8")
    code, out, err = run("--from", "openehr-flat", str(broken))
    assert (code, out) == (2, "") and "[LISN_INPUT_NOT_JSON]" in err and "Traceback" not in err


def test_broken_mapping_file_exits_2_naming_the_line(tmp_path: Path) -> None:
    mapping = tmp_path / "m.yaml"
    mapping.write_text("format: x\nsyntax: flat\nheader:\n  - {target: authored, form: a}\n", encoding="utf-8")
    code, _, err = run("--from", "x", str(EXAMPLES / "openehr-flat" / "lisn-depression.json"), "--mapping", str(mapping))
    assert code == 2 and "rad 4" in err and "[LISN_MAP_FILE_INVALID]" in err


def test_a_fourth_format_needs_only_a_mapping_file_and_its_example(tmp_path: Path) -> None:
    # Copy the vendor's files somewhere the adapter has never seen: no Python is added or changed.
    for f in (DATA / "vendor-flat").iterdir():
        shutil.copy(f, tmp_path / f.name)
    code, out, err = run("--from", "journalx", str(tmp_path / "journalx-example.json"),
                         "--mapping", str(tmp_path / "journalx.yaml"))
    assert code == 0, err
    assert "exportinfo" not in err, "ignored fields are not reported"
    bundle = json.loads(out)
    check_submission(bundle)
    assert not errors.has_errors(validate(bundle))
    qr = bundle["entry"][1]["resource"]
    assert qr["item"][0]["item"][0]["answer"][0]["valueCoding"]["code"] == "undersokning-fysisk"
    assert bundle["entry"][2]["resource"]["identifier"][0]["system"] == \
        "http://electronichealth.se/identifier/samordningsnummer"


def test_validation_errors_point_back_at_the_source(tmp_path: Path) -> None:
    doc = json.loads((EXAMPLES / "openehr-flat" / "lisn-depression.json").read_bytes())
    doc["lisn/formaga/period/upper"] = "2026-01-01"
    doc["lisn/patient/id|id"] = "191212121213"          # wrong Luhn check digit
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc), encoding="utf-8")
    code, out, _ = run("--from", "openehr-flat", str(bad), "--format", "json")
    located = {i["location"][0] for i in json.loads(out)["issue"] if i.get("location")}
    assert code == 1 and {"lisn/formaga/period/upper", "lisn/patient/id"} <= located


def test_a_signed_register_certificate_validates() -> None:
    signed = Path(__file__).resolve().parents[2] / "golden" / "inbound" / "inera-xml" / \
        "signed-register-certificate.input.xml"
    code, _, err = run("--from", "inera-xml", str(signed))
    assert code == 0, err


def test_an_unfinished_fhir_response_is_not_sent(tmp_path: Path) -> None:
    qr = json.loads((EXAMPLES / "fhir" / "lisn-questionnaireresponse-contained.json").read_bytes())
    qr["status"] = "in-progress"
    draft = tmp_path / "draft.json"
    draft.write_text(json.dumps(qr), encoding="utf-8")
    code, out, _ = run("--from", "fhir", str(draft), "--format", "json")
    issues = json.loads(out)["issue"]
    assert code == 1
    assert "https://lisn.se/fhir/StructureDefinition/lisn-questionnaireresponse#lisn-8" in \
        [errors.message_id_of(i) for i in issues], issues
