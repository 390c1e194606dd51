"""``adapter validate --ig``: JSON and XML definitions, files, folders and packages in any mix.

A source that cannot be used (missing, unreadable, not FHIR, no conformance resource, a broken
file inside a folder or package) stops the command with exit 2 and names that file.
"""

from __future__ import annotations

import io
import json
import shutil
import tarfile
from pathlib import Path

from click.testing import CliRunner, Result

from adapter.cli import cli
from adapter.fhir.loader import DefinitionSourceError, read_definitions

CASES = Path(__file__).resolve().parents[2] / "cases" / "validation"
XML_DEFS = CASES / "definitions-xml"
JSON_DEFS = CASES / "definitions"
VALID = CASES / "inputs" / "all-types-valid.json"
INVALID = CASES / "inputs" / "decimal-min.json"


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, ["validate", "--format", "json", *args])


def ids(result: Result) -> list[str]:
    oo = json.loads(result.output)
    return [e["valueString"] for i in oo["issue"] for e in i.get("extension", []) if e["url"].endswith("message-id")]


def test_without_the_questionnaire_the_response_cannot_be_checked() -> None:
    result = run(str(VALID))
    assert result.exit_code == 1 and "QUESTIONNAIRE_QR_Q_NOTFOUND" in ids(result)


def test_an_xml_questionnaire_file() -> None:
    args = ["--ig", str(XML_DEFS / "Questionnaire-all-types.xml"), "--ig", str(XML_DEFS / "ValueSet-colour.xml"),
            "--ig", str(JSON_DEFS / "CodeSystem-colour.json")]
    assert run(*args, str(VALID)).exit_code == 0
    bad = run(*args, str(INVALID))
    assert bad.exit_code == 1 and "QUESTIONNAIRE_QR_ITEM_DECIMAL_MIN" in ids(bad)


def test_a_folder_of_xml_definitions() -> None:
    assert run("--ig", str(XML_DEFS), str(VALID)).exit_code == 0


def test_a_package_mixing_json_and_xml(tmp_path: Path) -> None:
    tgz = tmp_path / "mixed.tgz"
    with tarfile.open(tgz, "w:gz") as tar:
        tar.add(XML_DEFS / "Questionnaire-all-types.xml", arcname="package/Questionnaire-all-types.xml")
        tar.add(JSON_DEFS / "ValueSet-colour.json", arcname="package/ValueSet-colour.json")
        tar.add(JSON_DEFS / "CodeSystem-colour.json", arcname="package/CodeSystem-colour.json")
        tar.add(VALID, arcname="package/example/QuestionnaireResponse-x.json")  # an instance: left out
        manifest = json.dumps({"name": "test.pkg", "version": "1.0.0"}).encode()
        info = tarfile.TarInfo("package/package.json")
        info.size = len(manifest)
        tar.addfile(info, io.BytesIO(manifest))
    assert run("--ig", str(tgz), str(VALID)).exit_code == 0


def test_a_bundle_of_definitions_in_xml(tmp_path: Path) -> None:
    entries = "".join(f"<entry><resource>{(XML_DEFS / n).read_text(encoding='utf-8').split('?>', 1)[-1]}</resource></entry>"
                      for n in ("Questionnaire-all-types.xml", "ValueSet-colour.xml", "CodeSystem-colour.xml"))
    f = tmp_path / "defs.xml"
    f.write_text(f'<Bundle xmlns="http://hl7.org/fhir"><type value="collection"/>{entries}</Bundle>', encoding="utf-8")
    assert {r["resourceType"] for r in read_definitions(f)} == {"Questionnaire", "ValueSet", "CodeSystem"}
    assert run("--ig", str(f), str(VALID)).exit_code == 0


def _refused(result: Result, name: str) -> None:
    assert result.exit_code == 2, result.output
    oo = json.loads(result.output)
    assert ids(result) == ["LISN_VALIDATION_IG_UNREADABLE"]
    assert name in oo["issue"][0]["details"]["text"], oo


def test_a_resource_that_is_no_definition_is_refused(tmp_path: Path) -> None:
    f = tmp_path / "patient.xml"
    f.write_text('<Patient xmlns="http://hl7.org/fhir"><id value="p"/></Patient>', encoding="utf-8")
    _refused(run("--ig", str(f), str(VALID)), str(f))


def test_a_file_that_is_not_fhir_is_refused(tmp_path: Path) -> None:
    for name, text in (("notes.json", '{"hello": 1}'), ("broken.json", '{"resourceType": '),
                       ("broken.xml", "<Questionnaire xmlns='http://hl7.org/fhir'>"), ("plain.txt", "hello")):
        f = tmp_path / name
        f.write_text(text, encoding="utf-8")
        _refused(run("--ig", str(f), str(VALID)), str(f))


def test_a_missing_source_is_refused(tmp_path: Path) -> None:
    _refused(run("--ig", str(JSON_DEFS), "--ig", str(tmp_path / "nowhere.xml"), str(VALID)), "nowhere.xml")


def test_a_broken_file_inside_a_folder_is_named(tmp_path: Path) -> None:
    folder = tmp_path / "defs"
    shutil.copytree(XML_DEFS, folder)
    (folder / "ValueSet-broken.xml").write_text("<ValueSet xmlns='http://hl7.org/fhir'><url value='x'/>", encoding="utf-8")
    _refused(run("--ig", str(folder), str(VALID)), "ValueSet-broken.xml")


def test_a_broken_package_is_named(tmp_path: Path) -> None:
    tgz = tmp_path / "broken.tgz"
    tgz.write_bytes(b"not a gzip file")
    _refused(run("--ig", str(tgz), str(VALID)), str(tgz))
    inner = tmp_path / "inner.tgz"
    with tarfile.open(inner, "w:gz") as tar:
        data = b'{"resourceType": "ValueSet", '
        info = tarfile.TarInfo("package/ValueSet-bad.json")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    _refused(run("--ig", str(inner), str(VALID)), "package/ValueSet-bad.json")


def test_the_error_type_names_the_source(tmp_path: Path) -> None:
    f = tmp_path / "x.json"
    f.write_text('{"resourceType": "Patient"}', encoding="utf-8")
    try:
        list(read_definitions(f))
    except DefinitionSourceError as exc:
        assert exc.source == str(f) and "Patient" in exc.reason
    else:
        raise AssertionError("a Patient is no definition")
