"""Code tables inline in the mapping and as ConceptMaps: unmapped (provided, fixed, other-map), target displays,
duplicates removed, explicit "no counterpart"."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from adapter import errors
from adapter.inbound import codes, run_mapping

DATA = Path(__file__).parent / "data"
HEADER = """header:
  - {target: certificate.id, default: "T-1"}
  - {target: authored, default: "2026-09-14T10:00:00+02:00"}
  - {target: patient.identifier, default: "191212121212", system: "1.2.752.129.2.1.3.1"}
  - {target: practitioner.identifier, default: "SE2321000016-1003", system: "1.2.752.129.2.1.4.1"}
  - {target: practitioner.name, default: "Lena Läkarsson"}
  - {target: careUnit.identifier, default: "SE2321000016-15CQ", system: "1.2.752.129.2.1.4.1"}
  - {target: careUnit.name, default: "Vårdcentralen Exempelby"}
  - {target: careUnit.city, default: "Stockholm"}
  - {target: careUnit.phone, default: "08-123 456 78"}
  - {target: careProvider.identifier, default: "SE2321000016-0001", system: "1.2.752.129.2.1.4.1"}
  - {target: careProvider.name, default: "Region Exempel"}
  - {target: recipient.kommunkod, default: "0180"}
  - {target: recipient.name, default: "Socialnämnden"}
  - {target: source.endpoint, default: "urn:lisn:system:test"}
"""
TABLES = """codes:
  atgard:
    source: urn:x:atgard
    target: https://lisn.se/fhir/CodeSystem/atgarder-typ
    map: {TRANING: arbetslivsinriktad-rehabilitering, ANPASSNING: arbetslivsinriktad-rehabilitering,
          SIP: {code: sip, display: "SIP (källans text)"}, OVRIGT: null}
  prognos-fast:
    target: https://lisn.se/fhir/CodeSystem/prognos-typ
    map: {HELT: aterfar-helt}
    unmapped: {mode: fixed, code: oklar}
  prognos-samma:
    target: https://lisn.se/fhir/CodeSystem/prognos-typ
    map: {}
    unmapped: {mode: provided}
  prognos-vidare:
    target: https://lisn.se/fhir/CodeSystem/prognos-typ
    map: {HELT: aterfar-helt}
    unmapped: {mode: other-map, map: prognos-andra}
  prognos-andra:
    target: https://lisn.se/fhir/CodeSystem/prognos-typ
    map: {DELVIS: aterfar-delvis}
  texter:
    map: {HELT: "Återfår förmågan helt"}
"""


def _run(tmp_path: Path, items: str, doc: dict[str, Any], *, tables: bool = True) -> tuple[Any, Any]:
    for name in ("snomed-icd.json", "test-atgard.json"):
        shutil.copy(DATA / name, tmp_path / name)
    path = tmp_path / "m.yaml"
    path.write_text("format: t\nsyntax: json\ntemplate: https://lisn.se/fhir/Questionnaire/lisn|1.0\n"
                    "conceptmaps: [snomed-icd.json, test-atgard.json]\n" + (TABLES if tables else "") + HEADER
                    + "items:\n" + items, encoding="utf-8")
    bundle, issues, _ = run_mapping(json.dumps(doc).encode(), "t", mapping=path)
    return bundle, issues


def _answers(bundle: dict[str, Any], link_id: str) -> list[Any]:
    out: list[Any] = []
    stack = list(bundle["entry"][1]["resource"]["item"])
    while stack:
        item = stack.pop(0)
        if item["linkId"] == link_id:
            out += [next(iter(a.values())) for a in item.get("answer", [])]
        stack += item.get("item", [])
    return out


def test_inline_table_translates_and_removes_duplicates(tmp_path: Path) -> None:
    items = "  - {target: atgarder.typ, from: 'a[*]', map: atgard, system: 'urn:x:atgard'}\n"
    bundle, issues = _run(tmp_path, items, {"a": ["TRANING", "ANPASSNING", "SIP", "OVRIGT"]})
    assert not issues.has_errors, issues.outcome()
    got = _answers(bundle, "atgarder.typ")
    assert [c["code"] for c in got] == ["arbetslivsinriktad-rehabilitering", "sip"], "two codes fold into one; OVRIGT has none"
    # The display is the target CodeSystem's, not the table's or the source's.
    assert got[1]["display"] == "Samordnad individuell plan (SIP)"


def test_a_conceptmap_that_sends_two_codes_to_one_gives_one_answer(tmp_path: Path) -> None:
    items = "  - {target: atgarder.typ, from: 'a[*]', map: test-atgard, system: 'urn:x:atgard'}\n"
    bundle, issues = _run(tmp_path, items, {"a": ["TRANING", "ANPASSNING"]}, tables=False)
    assert not issues.has_errors, issues.outcome()
    assert [c["code"] for c in _answers(bundle, "atgarder.typ")] == ["arbetslivsinriktad-rehabilitering"]


def test_a_code_not_in_the_table_is_an_error(tmp_path: Path) -> None:
    items = "  - {target: atgarder.typ, from: 'a[*]', map: atgard, system: 'urn:x:atgard'}\n"
    bundle, issues = _run(tmp_path, items, {"a": ["TRANING", "OKAND"]})
    assert bundle is None
    assert [(errors.message_id_of(i), i["location"]) for i in issues.items] == [("LISN_MAP_CODE_UNMAPPED", ["a[1]"])]


@pytest.mark.parametrize(("table", "code", "want"), [
    ("prognos-fast", "HELT", "aterfar-helt"), ("prognos-fast", "OKANT", "oklar"),          # fixed
    ("prognos-samma", "ej-aterfa", "ej-aterfa"),                                           # provided
    ("prognos-vidare", "DELVIS", "aterfar-delvis"),                                        # other-map
])
def test_unmapped_modes(tmp_path: Path, table: str, code: str, want: str) -> None:
    bundle, issues = _run(tmp_path, f"  - {{target: prognos.typ, from: p, map: {table}}}\n", {"p": code})
    assert not issues.has_errors, issues.outcome()
    assert [c["code"] for c in _answers(bundle, "prognos.typ")] == [want]


def test_other_map_without_an_entry_is_still_an_error(tmp_path: Path) -> None:
    _, issues = _run(tmp_path, "  - {target: prognos.typ, from: p, map: prognos-vidare}\n", {"p": "OKANT"})
    assert [errors.message_id_of(i) for i in issues.items] == ["LISN_MAP_CODE_UNMAPPED"]


def test_a_conceptmap_target_never_keeps_the_source_display(tmp_path: Path) -> None:
    items = ("  - group: diagnos\n    for: 'd[*]'\n    items:\n"
             "      - {target: diagnos.kod, from: kod, map: test-snomed-icd}\n      - {target: diagnos.text, from: text}\n")
    doc = {"d": [{"kod": {"code": "44054006", "system": "http://snomed.info/sct", "display": "Diabetes mellitus type 2"},
                  "text": "Diabetes typ 2"},
                 {"kod": {"code": "35489007", "system": "http://snomed.info/sct", "display": "Depressive disorder"},
                  "text": "Depression"}]}
    bundle, issues = _run(tmp_path, items, doc, tables=False)
    assert not issues.has_errors, issues.outcome()
    first, second = _answers(bundle, "diagnos.kod")
    # E11.9 must not go out with SNOMED's English text; we hold no ICD-10-SE CodeSystem, so no display.
    assert first == {"system": "urn:oid:1.2.752.116.1.1.1", "code": "E11.9"}
    # The map's own display for the target is the target's text.
    assert second == {"system": "urn:oid:1.2.752.116.1.1.1", "code": "F32.9", "display": "Depressiv episod, ospecificerad"}


def test_translate_function_reads_a_table_as_text(tmp_path: Path) -> None:
    bundle, issues = _run(tmp_path, "  - {target: ovrigt, from: {translate: p, table: texter}}\n", {"p": "HELT"})
    assert _answers(bundle, "ovrigt") == ["Återfår förmågan helt"]
    _, issues = _run(tmp_path, "  - {target: ovrigt, from: {translate: p, table: texter}}\n", {"p": "DELVIS"})
    assert [errors.message_id_of(i) for i in issues.items] == ["LISN_MAP_VALUE_INVALID"]
    assert "'DELVIS' has no entry in the table 'texter'" in issues.items[0]["details"]["text"]


def test_unknown_table_in_translate_is_a_mapping_file_error(tmp_path: Path) -> None:
    with pytest.raises(errors.MappingError) as exc:
        _run(tmp_path, "  - {target: ovrigt, from: {translate: p, table: nowhere}}\n", {"p": "x"})
    assert "'nowhere'" in exc.value.outcome["issue"][0]["details"]["text"]


def test_other_map_loops_end() -> None:
    loop = {"group": [{"target": "t", "element": [], "unmapped": {"mode": "other-map", "url": "self"}}]}
    assert codes.translate(loop, None, "x", resolve=lambda url: loop) is None
