"""The municipality register (CodeSystem kommunkod) and the tool that generates it from SCB's list."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import pytest
from lisn_profiles_support import BASE, PROFILES, ROOT, read

from adapter.fhir.registry import default_registry
from adapter.validation import identifiers, terminology


def _tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_kommunkod", ROOT / "tools" / "gen_kommunkod.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_code_system_holds_290_current_municipalities_and_the_retired_codes() -> None:
    cs = read(PROFILES / "CodeSystem-kommunkod.json")
    status = {c["code"]: next(p["valueCode"] for p in c["property"] if p["code"] == "status") for c in cs["concept"]}
    assert sum(s == "active" for s in status.values()) == 290
    assert status["1917"] == "retired" and status["0331"] == "active"
    heby = next(c for c in cs["concept"] if c["code"] == "1917")
    assert {"code": "replacedBy", "valueCode": "0331"} in heby["property"]
    assert all(c["display"].strip() and c["definition"].endswith(".") for c in cs["concept"])
    assert next(c for c in cs["concept"] if c["code"] == "0180")["display"] == "Stockholm"
    assert "sjbrg/swedish-geodata" in cs["description"] and "SCB" in cs["description"]
    # Every current code starts with a county code in use (01, 03-10, 12-14, 17-25).
    assert {c[:2] for c, s in status.items() if s == "active"} == {
        "01", "03", "04", "05", "06", "07", "08", "09", "10", "12", "13", "14",
        "17", "18", "19", "20", "21", "22", "23", "24", "25"}


def test_the_value_set_is_the_current_codes_and_the_validator_reads_the_same() -> None:
    expanded = terminology.expand(default_registry(), f"{BASE}/ValueSet/kommunkod")
    assert expanded is not None
    codes = {code for _, code in expanded.codes}
    assert len(codes) == 290 and "1917" not in codes
    assert codes == set(identifiers.municipalities()[0])


def _csv(tmp_path: Path, rows: list[str]) -> Path:
    path = tmp_path / "municipalities.csv"
    path.write_text("municipality_code,municipality_name,municipality_name_short,county_code\n" + "\n".join(rows) + "\n",
                    encoding="utf-8")
    return path


def test_the_tool_writes_the_code_system_from_the_csv(tmp_path: Path) -> None:
    tool = _tool()
    rows = tool.read_csv(_csv(tmp_path, ["0180,Stockholms kommun,Stockholm,01", "0331,Heby kommun,Heby,03"]))
    cs = tool.code_system(rows, [{"code": "1917", "name": "Heby", "replacedBy": "0331", "retired": "2007-01-01"}],
                          "test source", "2026-12-03")
    assert [c["code"] for c in cs["concept"]] == ["0180", "0331", "1917"]
    assert cs["count"] == 3 and "test source" in cs["description"]
    with pytest.raises(ValueError):  # a retired code must point at a current one
        tool.code_system(rows, [{"code": "1917", "name": "Heby", "replacedBy": "0999", "retired": "2007-01-01"}], "s", "d")


@pytest.mark.parametrize("row", ["180,Stockholms kommun,Stockholm,01", "0180,Stockholms kommun,,01",
                                 "0180,Stockholms kommun,Stockholm,03"])
def test_the_tool_refuses_a_broken_row(tmp_path: Path, row: str) -> None:
    with pytest.raises(ValueError):
        _tool().read_csv(_csv(tmp_path, [row]))


def test_the_tool_refuses_a_list_of_the_wrong_size(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = _tool().main([str(_csv(tmp_path, ["0180,Stockholms kommun,Stockholm,01"])), "--out", str(tmp_path)])
    assert code == 1 and "expected 290" in capsys.readouterr().err
    assert not (tmp_path / "CodeSystem-kommunkod.json").exists()


def test_the_retired_list_names_its_source() -> None:
    data = json.loads((ROOT / "tools" / "kommunkod_retired.json").read_text(encoding="utf-8"))
    assert "SCB" in data["_source"] and data["retired"]


def test_the_test_environment_setting_reaches_the_command_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from adapter.cli.validate import validate_command

    practitioner = read(PROFILES / "examples" / "Practitioner-lisn-example-practitioner.json")
    practitioner["identifier"][0]["value"] = "TSTNMT2321000156-1079"
    path = tmp_path / "Practitioner.json"
    path.write_text(json.dumps(practitioner), encoding="utf-8")
    monkeypatch.delenv("ADAPTER_VALIDATION_TEST_ENVIRONMENT", raising=False)
    refused = CliRunner().invoke(validate_command, [str(path)])
    assert refused.exit_code == 1 and "LISN_HSAID_TEST_PREFIX" in refused.output
    monkeypatch.setenv("ADAPTER_VALIDATION_TEST_ENVIRONMENT", "1")
    accepted = CliRunner().invoke(validate_command, [str(path)])
    assert accepted.exit_code == 0, accepted.output


def test_the_test_environment_setting_reaches_the_service_stages(tmp_path: Path) -> None:
    from adapter.settings import DatabaseSettings, Settings, ValidationSettings
    from adapter.wiring import default_stages

    practitioner = read(PROFILES / "examples" / "Practitioner-lisn-example-practitioner.json")
    practitioner["identifier"][0]["value"] = "TSTNMT2321000156-1079"
    registry = default_registry()
    for flag, errors_expected in ((False, True), (True, False)):
        settings = Settings(database=DatabaseSettings(data_dir=tmp_path), validation=ValidationSettings(test_environment=flag))
        oo = default_stages(settings, registry).validate(practitioner, registry)
        assert any(i["severity"] == "error" for i in oo["issue"]) is errors_expected
