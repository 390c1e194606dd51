"""Side inputs: declared in the mapping, given by --set, map_export(inputs=...) or $process-message?set=...

Identifiers built from them (or from a default) are proper Identifiers; every problem names the input.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from inbound_helpers import EXAMPLES, side_inputs

from adapter import errors
from adapter.cli import cli
from adapter.inbound import map_export, run_mapping

LISJP = EXAMPLES / "inera-lisjp" / "lisjp-stepwise.xml"
FLAT = EXAMPLES / "openehr-arbetsformaga" / "utlatande-ehrbase.json"
HEAD = """format: t
syntax: json
template: https://lisn.se/fhir/Questionnaire/lisn|1.0
inputs:
  pnr: {type: string, required: true}
  kommun: {type: string, default: "0180"}
  dag: {type: date}
header:
  - {target: certificate.id, from: id}
  - {target: authored, from: when}
  - {target: patient.identifier, from: {input: pnr}, system: "1.2.752.129.2.1.3.1"}
  - {target: practitioner.identifier, default: "SE2321000016-1003", system: "1.2.752.129.2.1.4.1"}
  - {target: practitioner.name, default: "Lena Läkarsson"}
  - {target: careUnit.identifier, default: {system: "1.2.752.129.2.1.4.1", value: "SE2321000016-15CQ"}}
  - {target: careUnit.name, default: "Vårdcentralen Exempelby"}
  - {target: careUnit.city, default: "Stockholm"}
  - {target: careUnit.phone, default: "08-123 456 78"}
  - {target: careProvider.identifier, default: "SE2321000016-0001", system: "1.2.752.129.2.1.4.1"}
  - {target: careProvider.name, default: "Region Exempel"}
  - {target: recipient.kommunkod, from: {input: kommun}}
  - {target: recipient.name, default: "Socialnämnden"}
  - {target: source.endpoint, default: "urn:lisn:system:test"}
items:
  - {target: debut, from: {input: dag}}
"""
DOC = json.dumps({"id": "T-1", "when": "2026-09-14T10:00:00+02:00"}).encode()


def _mapping(tmp_path: Path) -> Path:
    path = tmp_path / "t.yaml"
    path.write_text(HEAD, encoding="utf-8")
    return path


def _ids(issues) -> list[tuple[str | None, list | None]]:  # type: ignore[no-untyped-def]
    return [(errors.message_id_of(i), i.get("expression")) for i in issues.items]


def test_inputs_and_defaults_give_proper_identifiers(tmp_path: Path) -> None:
    bundle, issues, trace = run_mapping(DOC, "t", mapping=_mapping(tmp_path), inputs={"pnr": "191212121212",
                                                                                     "dag": "2026-09-01"})
    assert not issues.has_errors, issues.outcome()
    entries = {e["resource"]["resourceType"] + e["resource"].get("meta", {}).get("profile", [""])[0][-8:]: e["resource"]
               for e in bundle["entry"]}
    patient = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient")
    assert patient["identifier"] == [{"system": "http://electronichealth.se/identifier/personnummer",
                                      "value": "191212121212"}]
    units = [e["resource"]["identifier"][0] for e in bundle["entry"]
             if e["resource"]["resourceType"] == "Organization" and "kommunkod" not in json.dumps(e["resource"])]
    # A default is built like a source value: {system, value}, never a bare string or a repr with '__line__'.
    assert units == [{"system": "urn:oid:1.2.752.29.4.19", "value": "SE2321000016-15CQ"},
                     {"system": "urn:oid:1.2.752.29.4.19", "value": "SE2321000016-0001"}]
    assert "__line__" not in json.dumps(bundle) and entries
    assert [t.source for t in trace if t.target == "patient.identifier"] == ["input:pnr"]
    assert bundle["entry"][1]["resource"]["item"][0] == {"linkId": "debut", "text": "Datum då den nedsatta förmågan började",
                                                         "answer": [{"valueDate": "2026-09-01"}]}


def test_identifier_defaults_are_identifiers(tmp_path: Path) -> None:
    text = HEAD.replace("{input: pnr}", "pnr").replace("{input: kommun}", "kommun").replace("{input: dag}", "dag")
    text = text[:text.index("inputs:")] + text[text.index("header:"):]
    path = tmp_path / "t.yaml"
    path.write_text(text, encoding="utf-8")
    doc = json.dumps({"id": "T-1", "when": "2026-09-14T10:00:00+02:00", "pnr": "191212121212", "kommun": "0180"})
    bundle, issues, _ = run_mapping(doc.encode(), "t", mapping=path)
    units = [e["resource"]["identifier"][0] for e in bundle["entry"]
             if e["resource"]["resourceType"] in ("Organization", "Practitioner")
             and "kommunkod" not in json.dumps(e["resource"])]
    assert units == [{"system": "urn:oid:1.2.752.29.4.19", "value": "SE2321000016-1003"},
                     {"system": "urn:oid:1.2.752.29.4.19", "value": "SE2321000016-15CQ"},
                     {"system": "urn:oid:1.2.752.29.4.19", "value": "SE2321000016-0001"}]


def test_a_missing_required_input_is_named_once_and_not_echoed(tmp_path: Path) -> None:
    bundle, issues, _ = run_mapping(DOC, "t", mapping=_mapping(tmp_path))
    assert bundle is None
    assert _ids(issues) == [("LISN_MAP_INPUT_MISSING", ["input:pnr"])], "no second 'required value missing'"
    assert "'pnr'" in issues.items[0]["details"]["text"] and issues.items[0]["diagnostics"] == "t.yaml:5"


def test_unknown_and_invalid_inputs(tmp_path: Path) -> None:
    _, issues, _ = run_mapping(DOC, "t", mapping=_mapping(tmp_path),
                               inputs={"pnr": "191212121212", "dag": "den första", "komun": "0180"})
    assert _ids(issues) == [("LISN_MAP_INPUT_UNKNOWN", ["input:komun"]), ("LISN_MAP_INPUT_INVALID", ["input:dag"])]
    assert "kommun" in issues.items[0]["details"]["text"], "the known inputs are listed"


def test_an_undeclared_input_in_a_rule_is_a_mapping_file_error(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(HEAD.replace("{input: dag}", "{input: datum}"), encoding="utf-8")
    with pytest.raises(errors.MappingError) as exc:
        run_mapping(DOC, "t", mapping=path)
    [iss] = exc.value.outcome["issue"]
    assert iss["diagnostics"] == "t.yaml:24" and "'datum'" in iss["details"]["text"]


@pytest.mark.parametrize(("pairs", "message_id"), [(["kommun"], "LISN_MAP_INPUT_SYNTAX"), (["=1"], "LISN_MAP_INPUT_SYNTAX"),
                                                   (["a=1", "a=2"], "LISN_MAP_INPUT_TWICE")])
def test_assignments_are_name_equals_value(pairs: list[str], message_id: str) -> None:
    from adapter.inbound.inputs import parse_assignments

    assert parse_assignments(["kommun=0180", "namn=Socialnämnden i Å=stad"]) == {
        "kommun": "0180", "namn": "Socialnämnden i Å=stad"}
    with pytest.raises(errors.InputRejected) as exc:
        parse_assignments(pairs)
    assert errors.message_id_of(exc.value.outcome["issue"][0]) == message_id


def test_cli_set_reaches_the_mapping() -> None:
    sets = [a for k, v in side_inputs(LISJP).items() for a in ("--set", f"{k}={v}")]
    result = CliRunner().invoke(cli, ["convert", "--from", "inera-lisjp", str(LISJP), *sets])
    assert result.exit_code == 0, result.stderr
    recipient = json.loads(result.stdout)["entry"][7]["resource"]
    assert recipient["identifier"][0] == {"system": "https://lisn.se/fhir/sid/kommunkod", "value": "0180"}
    missing = CliRunner().invoke(cli, ["convert", "--from", "inera-lisjp", str(LISJP), "--format", "json"])
    ids = {errors.message_id_of(i) for i in json.loads(missing.stdout)["issue"]}
    # Without the inputs the MessageHeader's destination has no endpoint, which base R4 requires (1..1).
    assert missing.exit_code == 1 and ids == {"LISN_MAP_INPUT_MISSING", "Validation_VAL_Profile_Minimum"}
    bad = CliRunner().invoke(cli, ["convert", "--from", "inera-lisjp", str(LISJP), "--set", "kommun"])
    assert bad.exit_code == 2 and "[LISN_MAP_INPUT_SYNTAX]" in bad.stderr


def test_map_export_takes_inputs_and_a_str_mapping_path() -> None:
    mapping = str(Path(__file__).resolve().parents[3] / "mappings" / "inbound" / "openehr-arbetsformaga.yaml")
    bundle, _ = map_export(FLAT.read_bytes(), "openehr-arbetsformaga", mapping=mapping, inputs=side_inputs(FLAT))
    patient = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient")
    assert patient["identifier"][0]["value"] == "191212121212"
