"""The built package (``adapter package``) in standard FHIR tools from the npm registry.

fhir-package-loader loads it and finds every resource again; @medplum/core loads every profile
and extension (it needs the snapshot); GoFSH turns the package into FSH and SUSHI builds that FSH
again. Any error fails the test. The tools are installed by the test (npm_tools.py); without npm
or its registry the tests are skipped, except with ADAPTER_REQUIRE_NPM=1 (CI).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import pytest
from npm_tools import HERE, core_package, install_tools, unpack

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[3]
PROFILES = ROOT / "profiles"


@pytest.fixture(scope="module")
def tools() -> Path:
    return install_tools()


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory, tools: Path) -> Path:
    """A HOME whose FHIR package cache holds hl7.fhir.r4.core and the built se.lisn.fhir."""
    home = tmp_path_factory.mktemp("home")
    dist = tmp_path_factory.mktemp("dist")
    built = subprocess.run([sys.executable, "-m", "adapter", "package", "--out", str(dist)],
                           capture_output=True, text=True, timeout=120)
    assert built.returncode == 0, built.stderr
    tgz = Path(built.stdout.strip())
    assert tgz.is_file()
    core_package(tools, home / ".fhir")
    unpack(tgz, home / ".fhir")
    return home


def _package(home: Path) -> Path:
    return home / ".fhir" / "packages" / "se.lisn.fhir#1.1.0" / "package"


def _node(tools: Path, script: str, *args: str, home: Path) -> subprocess.CompletedProcess[str]:
    """Run one of this folder's scripts beside the installed node_modules (ES modules resolve there)."""
    shutil.copy(HERE / script, tools / script)
    return subprocess.run(["node", script, *args], cwd=tools, capture_output=True, text=True, timeout=600,
                          env={"HOME": str(home), "PATH": _path()})


def _path() -> str:
    import os

    return os.environ.get("PATH", "/usr/bin:/bin")


def _definitions(folder: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(folder.glob("*.json"))
            if p.name != "package.json" and not p.name.startswith(".")]


def test_fhir_package_loader_loads_the_package_and_finds_every_resource(tools: Path, home: Path) -> None:
    run = _node(tools, "fpl_load.mjs", "se.lisn.fhir", "1.1.0", home=home)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    report = json.loads(run.stdout)
    assert report["status"] == {"hl7.fhir.r4.core#4.0.1": "LOADED", "se.lisn.fhir#1.1.0": "LOADED"}
    assert report["found"] == len(_definitions(_package(home))) and report["errors"] == []
    assert report["packageJson"] == json.loads((PROFILES / "package.json").read_text(encoding="utf-8"))


def test_medplum_loads_every_profile_and_extension(tools: Path, home: Path) -> None:
    run = _node(tools, "medplum_load.mjs", str(_package(home)), home=home)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    report = json.loads(run.stdout)
    sds = {p.name: json.loads(p.read_text(encoding="utf-8")) for p in _package(home).glob("StructureDefinition-*")}
    assert set(report["loaded"]) == set(sds) and report["failed"] == []
    for name, sd in sds.items():
        loaded = report["loaded"][name]
        root = sd["differential"]["element"][0]
        if root["id"] == sd["type"]:
            # the profile's own rules on the root reach Medplum (FHIRSchema-style tools drop them)
            assert {c["key"] for c in root.get("constraint", [])} <= set(loaded["constraints"]), name
        children = {el["path"].split(".")[1] for el in sd["differential"]["element"] if el["path"].count(".") >= 1}
        assert children <= set(loaded["elements"]), name


def test_medplum_refuses_a_profile_without_snapshot(tools: Path, home: Path, tmp_path: Path) -> None:
    sd = json.loads((_package(home) / "StructureDefinition-lisn-patient.json").read_text(encoding="utf-8"))
    del sd["snapshot"]
    (tmp_path / "StructureDefinition-lisn-patient.json").write_text(json.dumps(sd), encoding="utf-8")
    run = _node(tools, "medplum_load.mjs", str(tmp_path), home=home)
    assert run.returncode == 1 and "No snapshot" in run.stdout


def _log_errors(log: str) -> list[tuple[str, str]]:
    """(message, file) of every ``error`` line of a GoFSH/SUSHI log."""
    out = []
    lines = log.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("error "):
            where = next((x.strip()[len("File: "):] for x in lines[i + 1:i + 3] if x.strip().startswith("File: ")), "")
            out.append((line[len("error "):].strip(), where))
    return out


def test_gofsh_then_sushi_rebuild_the_package(tools: Path, home: Path, tmp_path: Path) -> None:
    env = {"HOME": str(home), "PATH": _path()}
    fsh = tmp_path / "fsh"
    gofsh = subprocess.run([str(tools / "node_modules" / ".bin" / "gofsh"), str(_package(home)), "-o", str(fsh)],
                           capture_output=True, text=True, timeout=600, env=env)
    assert gofsh.returncode == 0 and _log_errors(gofsh.stdout) == [], gofsh.stdout[-3000:]
    assert re.search(r"\b0 Errors\b", gofsh.stdout)
    sushi = subprocess.run([str(tools / "node_modules" / ".bin" / "sushi"), "build", str(fsh)],
                           capture_output=True, text=True, timeout=600, env=env)
    # No error at all: every resource has its own canonical url (the QR profile of each template
    # version too), so SUSHI resolves every InstanceOf and profile to the one we meant.
    assert sushi.returncode == 0 and _log_errors(sushi.stdout) == [], sushi.stdout[-4000:]
    assert re.search(r"\b0 Errors\b", sushi.stdout), sushi.stdout[-2000:]
    generated = fsh / "fsh-generated" / "resources"
    made = {p.name for p in generated.glob("StructureDefinition-*.json")}
    assert made == {p.name for p in PROFILES.glob("StructureDefinition-*.json")}
    for name in made:  # every element SUSHI's differential names is in our snapshot, by the same id
        ours = json.loads((PROFILES / name).read_text(encoding="utf-8"))
        theirs = json.loads((generated / name).read_text(encoding="utf-8"))
        assert {e["id"] for e in theirs["differential"]["element"]} <= {e["id"] for e in ours["snapshot"]["element"]}


def test_the_core_operations_the_capability_statement_names_exist_in_r4(home: Path) -> None:
    from adapter.api.capability import declarations

    core = home / ".fhir" / "packages" / "hl7.fhir.r4.core#4.0.1" / "package"
    urls = {json.loads(p.read_text(encoding="utf-8"))["url"] for p in core.glob("OperationDefinition-*.json")}
    named = {d for parts in declarations().values() for _, d in parts.get("operation", [])}
    core_named = {d for d in named if d.startswith("http://hl7.org/fhir/")}
    assert core_named and core_named <= urls, core_named - urls


def test_the_archive_has_no_resource_without_snapshot_or_index_entry(home: Path) -> None:
    pkg = _package(home)
    index = json.loads((pkg / ".index.json").read_text(encoding="utf-8"))
    assert {f["filename"] for f in index["files"]} == {p.name for p in pkg.glob("*.json")
                                                        if p.name != "package.json" and not p.name.startswith(".")}
    for res in _definitions(pkg):
        if res["resourceType"] == "StructureDefinition":
            assert res["snapshot"]["element"], res["id"]
    assert tarfile.is_tarfile(next((home.parent).glob("dist*/se.lisn.fhir-1.1.0.tgz")))
