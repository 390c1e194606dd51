"""The ImplementationGuide and package.json describe profiles/, and `adapter package` builds it."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import tarfile
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from lisn_profiles_support import EXAMPLES, PROFILES, read, resource_files

from adapter import errors
from adapter.cli import cli
from adapter.fhir.package import build_package
from adapter.fhir.registry import Registry

IG_FILE = "ImplementationGuide-se.lisn.fhir.json"
TGZ = "se.lisn.fhir-1.1.0.tgz"


def _listed() -> list[str]:
    ig = read(PROFILES / IG_FILE)
    return [e["reference"]["reference"] for e in ig["definition"]["resource"]]


def _on_disk() -> set[str]:
    return {f"{r['resourceType']}/{r['id']}" for r in map(read, resource_files())} - {"ImplementationGuide/se.lisn.fhir"}


def test_package_json() -> None:
    pkg = read(PROFILES / "package.json")
    assert (pkg["name"], pkg["version"], pkg["canonical"]) == ("se.lisn.fhir", "1.1.0", "https://lisn.se/fhir")
    assert pkg["fhirVersions"] == ["4.0.1"]
    assert pkg["dependencies"] == {"hl7.fhir.r4.core": "4.0.1"}


def test_ig_agrees_with_package_json() -> None:
    ig, pkg = read(PROFILES / IG_FILE), read(PROFILES / "package.json")
    assert (ig["packageId"], ig["version"], ig["fhirVersion"]) == (pkg["name"], pkg["version"], pkg["fhirVersions"])


def test_ig_lists_every_resource_in_profiles_once() -> None:
    listed = _listed()
    assert len(listed) == len(set(listed))
    assert set(listed) == _on_disk()


def test_ig_marks_examples_by_the_profile_they_claim() -> None:
    ig = read(PROFILES / IG_FILE)
    for path in EXAMPLES.glob("*.json"):
        res = read(path)
        (entry,) = [e for e in ig["definition"]["resource"]
                    if e["reference"]["reference"] == f"{res['resourceType']}/{res['id']}"]
        assert entry["exampleCanonical"] == res["meta"]["profile"][0]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_package(tmp_path_factory.mktemp("dist"))


def _members(tgz: Path) -> dict[str, bytes]:
    with tarfile.open(tgz, "r:gz") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}  # type: ignore[union-attr]


def test_package_has_the_conventional_name_and_layout(built: Path) -> None:
    assert built.name == TGZ
    members = _members(built)
    assert json.loads(members["package/package.json"]) == read(PROFILES / "package.json")
    assert "package/.index.json" in members and "package/example/.index.json" in members


def test_package_contains_every_resource_of_profiles(built: Path) -> None:
    members = _members(built)
    for path in resource_files():
        folder = "package/example" if path.parent == EXAMPLES else "package"
        assert members[f"{folder}/{path.name}"] == path.read_bytes(), path.name
    assert len(members) == len(resource_files()) + 3  # package.json and two .index.json


@pytest.mark.parametrize("folder", ["package", "package/example"])
def test_index_lists_every_file_with_its_fields(built: Path, folder: str) -> None:
    members = _members(built)
    index = json.loads(members[f"{folder}/.index.json"])
    assert index["index-version"] == 1
    names = sorted(n.rsplit("/", 1)[1] for n in members
                   if n.rsplit("/", 1)[0] == folder and n.endswith(".json") and not n.endswith(("/.index.json", "/package.json")))
    assert [f["filename"] for f in index["files"]] == names
    for row in index["files"]:
        res = json.loads(members[f"{folder}/{row['filename']}"])
        for field in ("resourceType", "id", "url", "version", "kind", "type"):
            assert row.get(field) == (res.get(field) if isinstance(res.get(field), str) else None), (row, field)


def test_package_is_deterministic(built: Path, tmp_path: Path) -> None:
    again = build_package(tmp_path / "again")
    assert hashlib.sha256(again.read_bytes()).hexdigest() == hashlib.sha256(built.read_bytes()).hexdigest()
    with tarfile.open(built, "r:gz") as tar:
        infos = tar.getmembers()
    assert [i.name for i in infos] == sorted(i.name for i in infos)
    assert {(i.mtime, i.uid, i.gid, i.uname, i.mode) for i in infos} == {(499162500, 0, 0, "", 0o644)}
    assert built.read_bytes()[4:8] == b"\0\0\0\0", "no timestamp in the gzip header"


def test_registry_reads_the_built_package(built: Path) -> None:
    reg = Registry()
    reg.load_path(built)
    assert reg.resolve("https://lisn.se/fhir/Questionnaire/lisn|1.0", "Questionnaire") is not None
    assert reg.resolve("https://lisn.se/fhir/StructureDefinition/lisn-submission", "StructureDefinition") is not None


# -- failures: each problem is an issue with its id; the CLI exits 1 (bad content) or 2 (unusable input)
def _copy_profiles(tmp_path: Path) -> Path:
    src = tmp_path / "profiles"
    shutil.copytree(PROFILES, src)
    return src


def _ids(oo: dict[str, Any]) -> list[tuple[str | None, list[str]]]:
    return [(errors.message_id_of(i), i.get("expression", [])) for i in oo["issue"]]


def test_misnamed_unreadable_and_duplicate_files_are_all_reported(tmp_path: Path) -> None:
    src = _copy_profiles(tmp_path)
    (src / "CodeSystem-grund-typ.json").rename(src / "CodeSystem-grundtyp.json")
    (src / "ValueSet-broken.json").write_text("{not json", encoding="utf-8")
    (src / "examples" / "Patient-nothing.json").write_text('{"resourceType": "Patient"}', encoding="utf-8")
    dup = read(src / "ValueSet-grund-typ.json")
    dup["id"] = "grund-typ-copy"
    (src / "ValueSet-grund-typ-copy.json").write_text(json.dumps(dup), encoding="utf-8")
    with pytest.raises(errors.ValidationFailed) as caught:
        build_package(tmp_path / "out", source=src)
    assert _ids(caught.value.outcome) == [
        ("LISN_PACKAGE_FILE_NAME_MISMATCH", ["CodeSystem.id"]),
        ("LISN_PACKAGE_FILE_UNREADABLE", []),
        ("LISN_PACKAGE_FILE_NOT_RESOURCE", []),
        ("LISN_PACKAGE_DUPLICATE_CANONICAL", ["ValueSet.url"]),  # after every file is read
    ]
    assert not (tmp_path / "out" / TGZ).exists()


def test_cli_writes_the_package(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["package", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == str(tmp_path / TGZ)
    assert (tmp_path / TGZ).is_file()


def test_cli_exits_1_with_an_outcome_on_bad_profiles(tmp_path: Path) -> None:
    src = _copy_profiles(tmp_path)
    (src / "CodeSystem-grund-typ.json").rename(src / "CodeSystem-x.json")
    result = CliRunner().invoke(cli, ["package", "--profiles", str(src), "--out", str(tmp_path), "--format", "json"])
    assert result.exit_code == 1
    oo = json.loads(result.output)
    assert _ids(oo) == [("LISN_PACKAGE_FILE_NAME_MISMATCH", ["CodeSystem.id"])]
    assert "CodeSystem-grund-typ.json" in oo["issue"][0]["details"]["text"]


def test_cli_exits_2_without_a_package_json(tmp_path: Path) -> None:
    src = _copy_profiles(tmp_path)
    (src / "package.json").unlink()
    result = CliRunner().invoke(cli, ["package", "--profiles", str(src), "--out", str(tmp_path), "--format", "json"])
    assert result.exit_code == 2
    assert _ids(json.loads(result.output)) == [("LISN_PACKAGE_MANIFEST_MISSING", [])]


def test_cli_exits_2_when_the_manifest_lacks_a_version(tmp_path: Path) -> None:
    src = _copy_profiles(tmp_path)
    (src / "package.json").write_text('{"name": "se.lisn.fhir"}', encoding="utf-8")
    result = CliRunner().invoke(cli, ["package", "--profiles", str(src), "--out", str(tmp_path), "--format", "json"])
    assert result.exit_code == 2
    assert _ids(json.loads(result.output)) == [("LISN_PACKAGE_MANIFEST_INVALID", [])]


def test_cli_exits_2_when_the_output_cannot_be_written(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x", encoding="utf-8")
    result = CliRunner().invoke(cli, ["package", "--out", str(blocker / "sub"), "--format", "json"])
    assert result.exit_code == 2
    assert _ids(json.loads(result.output)) == [("LISN_PACKAGE_NOT_WRITABLE", [])]
    assert "Traceback" not in result.output


def test_package_bytes_are_a_valid_gzip_tar(built: Path) -> None:
    with tarfile.open(fileobj=io.BytesIO(built.read_bytes()), mode="r:gz") as tar:
        assert tar.getmember("package/package.json").isfile()
