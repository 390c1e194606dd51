from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from adapter.fhir.loader import DefinitionSourceError
from adapter.fhir.registry import Registry, default_registry, split_canonical, version_key
from adapter.issues import Issues
from adapter.validation.business import check_template_active

Q = "http://example.org/Questionnaire/q"


def _q(version: Any, **extra: Any) -> dict[str, Any]:
    return {"resourceType": "Questionnaire", "id": f"q{version}", "url": Q, "version": version, **extra}


def test_resolve_by_version_newest_and_major_minor() -> None:
    reg = Registry([_q("1.9"), _q("1.10"), _q("2.0.1")])
    assert reg.resolve(Q)["version"] == "2.0.1"
    assert reg.resolve(f"{Q}|1.9")["version"] == "1.9"
    assert reg.resolve(f"{Q}|2.0")["version"] == "2.0.1"
    assert reg.resolve(f"{Q}|3.0") is None
    assert reg.resolve(f"{Q}|1.9", "ValueSet") is None
    assert reg.versions(Q) == ["1.9", "1.10", "2.0.1"]
    assert version_key("1.10") > version_key("1.9")
    assert split_canonical(f"{Q}|1.0") == (Q, "1.0")


@pytest.mark.parametrize("resource", [
    {"resourceType": ["Questionnaire"], "url": Q},
    {"resourceType": {"x": 1}},
    _q({"not": "a string"}),
    _q(["1.0"]),
    {"resourceType": "Questionnaire", "id": 7, "url": 8},
])
def test_malformed_definitions_never_crash(resource: dict[str, Any]) -> None:
    reg = Registry()
    reg.add(resource)
    assert reg.count() <= 1


def test_load_path_file_folder_and_bundle(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text(json.dumps(_q("1.0")))
    (tmp_path / "b.json").write_text(json.dumps({"resourceType": "Bundle", "entry": [{"resource": _q("2.0")}]}))
    reg = Registry()
    assert reg.load_path(tmp_path) == 2
    # Nothing is skipped silently: a broken file in a folder, or a missing source, names the file.
    (tmp_path / "c.json").write_text("not json")
    with pytest.raises(DefinitionSourceError, match="c.json"):
        Registry().load_path(tmp_path)
    with pytest.raises(DefinitionSourceError, match="missing.json"):
        reg.load_path(tmp_path / "missing.json")


def test_default_registry_has_the_lisn_template_and_is_a_copy() -> None:
    one = default_registry()
    assert one.resolve("https://lisn.se/fhir/Questionnaire/lisn|1.0") is not None
    one.add(_q("9.9"))
    assert default_registry().resolve(f"{Q}|9.9") is None


def _qr(canonical: str, authored: str) -> dict[str, Any]:
    return {"resourceType": "QuestionnaireResponse", "questionnaire": canonical, "authored": authored}


def test_template_activation_is_an_error_for_lisn_templates_only() -> None:
    lisn = "https://lisn.se/fhir/Questionnaire/lisn|1.0"
    issues = Issues()
    check_template_active(_qr(lisn, "2026-06-30"), default_registry(), issues, path="QuestionnaireResponse")
    assert [i["expression"] for i in issues] == [["QuestionnaireResponse.authored"]]
    other = Issues()
    reg = Registry([_q("1.0", effectivePeriod={"start": "2030-01-01"})])
    check_template_active(_qr(f"{Q}|1.0", "2026-06-30"), reg, other, path="QuestionnaireResponse")
    assert len(other) == 0


def test_template_activation_tolerates_a_malformed_period() -> None:
    reg = Registry([{**default_registry().resolve("https://lisn.se/fhir/Questionnaire/lisn|1.0"),
                     "effectivePeriod": [{"start": "2026-07-01"}]}])
    issues = Issues()
    check_template_active(_qr("https://lisn.se/fhir/Questionnaire/lisn|1.0", "2020-01-01"), reg, issues,
                          path="QuestionnaireResponse")
    assert len(issues) == 0


def test_newest_version_is_remembered_and_forgotten_when_the_url_gains_a_version() -> None:
    """The newest version per url is worked out once (a cache): a version added later, newer or
    older, and a version replaced, must still give the newest resource held."""
    reg = Registry([_q("1.9"), _q("1.10")])
    assert reg.resolve(Q)["version"] == "1.10"
    assert reg.resolve(Q)["version"] == "1.10"  # from the cache
    reg.add(_q("2.0"))
    assert reg.resolve(Q)["version"] == "2.0"
    reg.add(_q("1.0"))
    assert reg.resolve(Q)["version"] == "2.0"
    replaced = _q("2.0", status="retired")
    reg.add(replaced)
    assert reg.resolve(Q) is replaced
    assert reg.resolve(Q, "ValueSet") is None
    assert reg.copy().resolve(Q) is replaced
