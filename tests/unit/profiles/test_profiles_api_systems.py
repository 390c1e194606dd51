"""Every LISN system, profile and operation the code names is defined in the package (profiles/).

The code is read as text: every ``https://lisn.se/fhir/<Type>/<id>`` (literally or as
``{CANONICAL_BASE}/<Type>/<id>``) in ``adapter/`` must resolve, a ``sid/<id>`` to a NamingSystem
whose ``uniqueId`` it is, anything else to the resource with that canonical URL.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from lisn_profiles_support import BASE, PROFILES, ROOT, definitions, read

from adapter.flows import task

_URL = re.compile(r"(?:https://lisn\.se/fhir|\{(?:ids\.)?CANONICAL_BASE\})/"
                  r"(CodeSystem|ValueSet|StructureDefinition|OperationDefinition|MessageDefinition|Questionnaire|NamingSystem|"
                  r"ImplementationGuide|sid)/([A-Za-z0-9][A-Za-z0-9._-]*)")
_SOURCES = [p for p in (ROOT / "adapter").rglob("*") if p.suffix in {".py", ".yaml", ".json", ".html", ".j2"}
            and "models" not in p.parts and p.is_file()]


def emitted(text: str) -> set[str]:
    """The LISN canonical URLs a source text names."""
    return {f"{BASE}/{kind}/{rid}".rstrip(".") for kind, rid in _URL.findall(text)}


def undefined(urls: set[str]) -> set[str]:
    canon = {r["url"] for r in definitions() if "url" in r}
    ids = {u["value"] for ns in definitions("NamingSystem") for u in ns["uniqueId"]}
    return {u for u in urls if u not in (ids if "/sid/" in u else canon)}


def _all_emitted() -> dict[str, set[Path]]:
    found: dict[str, set[Path]] = {}
    for path in _SOURCES:
        for url in emitted(path.read_text(encoding="utf-8", errors="replace")):
            found.setdefault(url, set()).add(path.relative_to(ROOT))
    return found


def test_the_scan_finds_what_the_api_emits() -> None:
    found = _all_emitted()
    assert {f"{BASE}/CodeSystem/lisn-submission-status", f"{BASE}/sid/submission", f"{BASE}/sid/kommunkod",
            f"{BASE}/OperationDefinition/Consent-revoke", f"{BASE}/CodeSystem/lisn-message-event"} <= set(found)


def test_every_lisn_url_in_the_code_is_defined_in_the_package() -> None:
    found = _all_emitted()
    missing = undefined(set(found))
    assert not missing, {u: sorted(map(str, found[u])) for u in missing}


@pytest.mark.parametrize("text", [
    'STATUS = "https://lisn.se/fhir/CodeSystem/not-in-the-package"',
    'SID = f"{ids.CANONICAL_BASE}/sid/unknown-identifier"',
    'OP = f"{CANONICAL_BASE}/OperationDefinition/Consent-nothing"',
])
def test_an_undefined_url_in_the_code_is_found(text: str) -> None:
    assert len(undefined(emitted(text))) == 1


def test_the_submission_status_codes_are_every_step_the_code_writes() -> None:
    cs = read(PROFILES / "CodeSystem-lisn-submission-status.json")
    codes = {c["code"] for c in cs["concept"]}
    assert cs["url"] == task.STATUS_SYSTEM
    written = set()
    for path in _SOURCES:
        if path.suffix == ".py":
            written |= set(re.findall(r'StatusStep\(\s*"([a-z-]+)"', path.read_text(encoding="utf-8")))
    assert written and written <= codes, written - codes
    assert set(task._TASK_STATUS) <= codes, set(task._TASK_STATUS) - codes
    assert all(c.get("definition", "").endswith(".") and c.get("display") for c in cs["concept"])


def test_the_submission_naming_system_is_the_task_identifier_system() -> None:
    ns = read(PROFILES / "NamingSystem-submission.json")
    assert [u["value"] for u in ns["uniqueId"] if u.get("preferred")] == [task.SUBMISSION_SYSTEM]


def test_package_json_has_the_fields_of_a_fhir_package() -> None:
    pkg = read(PROFILES / "package.json")
    for field in ("name", "version", "description", "author", "fhirVersions", "dependencies", "canonical", "url",
                  "title", "type", "license", "jurisdiction", "date"):
        assert pkg.get(field), field
    assert pkg["dependencies"] == {"hl7.fhir.r4.core": "4.0.1"} and pkg["fhirVersions"] == ["4.0.1"]
