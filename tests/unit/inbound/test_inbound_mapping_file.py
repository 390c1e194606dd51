"""The mapping file format: checks with the line, selectors, conditions, defaults, repeats, ConceptMaps."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from adapter import errors
from adapter.inbound import load_mapping, run_mapping
from adapter.inbound.export import mappings_dir

HEAD = """format: t
syntax: json
template: https://lisn.se/fhir/Questionnaire/lisn|1.0
"""
MINIMAL_HEADER = """header:
  - {target: certificate.id, from: id}
  - {target: authored, from: when}
  - {target: patient.identifier, from: pnr, system: "1.2.752.129.2.1.3.1"}
  - {target: practitioner.identifier, from: hsa, system: "1.2.752.129.2.1.4.1"}
  - {target: practitioner.name, default: "Lena Läkarsson"}
  - {target: careUnit.identifier, from: hsa, system: "1.2.752.129.2.1.4.1"}
  - {target: careUnit.name, default: "Vårdcentralen Exempelby"}
  - {target: careUnit.city, default: "Stockholm"}
  - {target: careUnit.phone, default: "08-123 456 78"}
  - {target: careProvider.identifier, from: hsa, system: "1.2.752.129.2.1.4.1"}
  - {target: careProvider.name, default: "Region Exempel"}
  - {target: recipient.kommunkod, from: kommun, default: "0180"}
  - {target: recipient.name, default: "Socialnämnden i Stockholms stad"}
  - {target: source.endpoint, default: "urn:lisn:system:test"}
"""
DOC = {"id": "T-1", "when": "2026-09-14T10:00:00+02:00", "pnr": "191212121212", "hsa": "SE2321000016-15CQ"}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "m.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def invalid(tmp_path: Path, text: str) -> list[tuple[str, str]]:
    with pytest.raises(errors.MappingError) as exc:
        load_mapping(write(tmp_path, text))
    return [(str(errors.message_id_of(i)), i["diagnostics"]) for i in exc.value.outcome["issue"]]


@pytest.mark.parametrize(("text", "line"), [
    (HEAD + "header:\n  - {target: authored, form: x}\n", 5),          # a misspelt key
    (HEAD + "items:\n  - {target: debut}\n", 5),                         # neither from nor default
    (HEAD + "items:\n  - {target: debut, group: x, from: a}\n", 5),      # target and group
    (HEAD + "items:\n  - {target: debut, from: a, convert: money}\n", 5),
    (HEAD + "header:\n  - {group: grund}\n", 5),
    (HEAD + "header:\n  - {target: patient.shoeSize, from: x}\n", 5),
    (HEAD + "items:\n  - {target: ovrigt, from: a, pattern: 'x {value}'}\n", 5),
    (HEAD + "items:\n  - {target: debut, from: a, when: {path: b, like: c}}\n", 5),
    ("format: t\nsyntax: csv\n", 1),
    ("format: t\nsyntax: json\ntimezone: Mars/Olympus\n", 1),
    ("format: t\nsyntax: json\nsurprise: 1\n", 1),
    ("format: t\nsyntax: json\nitems: [\n", 4),                           # YAML syntax error
    ("- just\n- a list\n", 1),
])
def test_invalid_mapping_files_name_the_line(tmp_path: Path, text: str, line: int) -> None:
    found = invalid(tmp_path, text)
    assert ("LISN_MAP_FILE_INVALID", f"m.yaml:{line}") in found, found
    assert {mid for mid, _ in found} == {"LISN_MAP_FILE_INVALID"}


def test_the_shipped_mappings_load() -> None:
    for path in sorted((mappings_dir() / "inbound").glob("*.yaml")):
        spec = load_mapping(path)
        assert spec.format == path.stem and spec.items and spec.header


def _map(tmp_path: Path, items: str, doc: dict, extra: str = "") -> tuple:
    path = write(tmp_path, HEAD + extra + MINIMAL_HEADER + "items:\n" + items)
    return run_mapping(json.dumps(doc).encode(), "t", mapping=path)


def _ids(issues) -> list[tuple[str | None, list | None]]:
    return [(errors.message_id_of(i), i.get("location")) for i in issues.items]


def test_unknown_linkid_names_the_rule_line(tmp_path: Path) -> None:
    bundle, issues, _ = _map(tmp_path, "  - {target: grund.typx, from: a}\n", DOC)
    assert bundle is None and _ids(issues) == [("LISN_MAP_LINKID_UNKNOWN", None)]
    assert issues.items[0]["diagnostics"] == "m.yaml:20"


def test_linkid_outside_its_group_is_refused(tmp_path: Path) -> None:
    items = "  - group: diagnos\n    for: d[*]\n    items:\n      - {target: grund.typ, from: a}\n"
    _, issues, _ = _map(tmp_path, items, DOC)
    # The misplaced rule is skipped; the rest of the mapping still runs and reports what it finds.
    assert _ids(issues) == [("LISN_MAP_LINKID_UNKNOWN", None), ("LISN_MAP_REQUIRED_MISSING", ["d[*]"])]
    assert issues.items[0]["diagnostics"] == "m.yaml:23"


def test_invalid_selector_is_a_mapping_file_error_with_its_line(tmp_path: Path) -> None:
    with pytest.raises(errors.MappingError) as exc:
        _map(tmp_path, "  - {target: debut, from: 'a[b'}\n", DOC)
    [iss] = exc.value.outcome["issue"]
    assert iss["diagnostics"] == "m.yaml:20" and "'a[b'" in iss["details"]["text"]


def test_unknown_conceptmap(tmp_path: Path) -> None:
    _, issues, _ = _map(tmp_path, "  - {target: formaga.arbete, from: c, map: nowhere}\n", {**DOC, "c": "X"})
    assert _ids(issues) == [("LISN_MAP_CONCEPTMAP_UNKNOWN", None)]


def test_defaults_conditions_and_patterns(tmp_path: Path) -> None:
    items = ("  - {target: ovrigt, from: note, pattern: 'Anteckning: {}'}\n"
             "  - {target: kontakt.onskas, from: want, default: false}\n"
             "  - {target: kontakt.anledning, from: why, when: {path: want, in: [true, 'ja']}}\n")
    bundle, issues, trace = _map(tmp_path, items, {**DOC, "note": "hej", "why": "skäl"})
    qr = bundle["entry"][1]["resource"]
    assert [i["linkId"] for i in qr["item"]] == ["ovrigt", "kontakt"]
    assert qr["item"][0]["answer"] == [{"valueString": "Anteckning: hej"}]
    assert qr["item"][1]["item"] == [{"linkId": "kontakt.onskas", "text": qr["item"][1]["item"][0]["text"],
                                      "answer": [{"valueBoolean": False}]}]
    assert _ids(issues) == [("LISN_MAP_NOT_MAPPED", ["why"])], "a condition that does not hold reads nothing"
    assert [t.source for t in trace if t.target == "kontakt.onskas"] == ["default"]
    bundle, _, _ = _map(tmp_path, items, {**DOC, "want": "ja", "why": "skäl"})
    assert bundle["entry"][1]["resource"]["item"][0]["item"][1]["answer"] == [{"valueString": "skäl"}]


def test_repeats_become_group_instances_in_template_order(tmp_path: Path) -> None:
    items = ("  - group: formaga.aktivitet\n    for: akt[*]\n    order_by: nr\n    items:\n"
             "      - {target: formaga.aktivitet.typ, from: typ, system: 'https://lisn.se/fhir/CodeSystem/aktivitet-typ'}\n"
             "  - {target: formaga.arbete, from: arb, system: 'https://lisn.se/fhir/CodeSystem/formaga-arbete'}\n")
    doc = {**DOC, "arb": "ej-nedsatt", "akt": [{"nr": 2, "typ": "sprak"}, {"nr": 1, "typ": "motiverande"}]}
    bundle, issues, _ = _map(tmp_path, items, doc)
    assert not issues.items
    formaga = bundle["entry"][1]["resource"]["item"][0]
    assert [i["linkId"] for i in formaga["item"]] == ["formaga.arbete", "formaga.aktivitet", "formaga.aktivitet"]
    assert [g["item"][0]["answer"][0]["valueCoding"]["code"] for g in formaga["item"][1:]] == ["motiverande", "sprak"]
    cs = json.loads((Path(__file__).resolve().parents[3] / "profiles" / "CodeSystem-aktivitet-typ.json").read_bytes())
    assert formaga["item"][1]["item"][0]["answer"][0]["valueCoding"]["display"] == \
        next(c["display"] for c in cs["concept"] if c["code"] == "motiverande"), "displays come from our CodeSystem"


def test_a_non_repeating_group_found_twice(tmp_path: Path) -> None:
    items = "  - group: prognos\n    for: p[*]\n    items:\n      - {target: prognos.beskrivning, from: t}\n"
    _, issues, _ = _map(tmp_path, items, {**DOC, "p": [{"t": "a"}, {"t": "b"}]})
    assert _ids(issues)[0] == ("LISN_MAP_TOO_MANY", ["p[*]"])


def test_required_group_missing(tmp_path: Path) -> None:
    items = "  - group: diagnos\n    for: diagnoser[*]\n    items:\n      - {target: diagnos.text, from: t}\n"
    _, issues, _ = _map(tmp_path, items, DOC)
    assert _ids(issues) == [("LISN_MAP_REQUIRED_MISSING", ["diagnoser[*]"])]
    assert issues.items[0]["expression"] == ["diagnoser[*]", "QuestionnaireResponse.repeat(item).where(linkId='diagnos')"]


def test_missing_conceptmap_file_is_a_mapping_file_error(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD + "conceptmaps: [nowhere.json]\n" + MINIMAL_HEADER)
    with pytest.raises(errors.MappingError) as exc:
        run_mapping(json.dumps(DOC).encode(), "t", mapping=path)
    assert errors.message_id_of(exc.value.outcome["issue"][0]) == "LISN_MAP_FILE_INVALID"


@pytest.mark.parametrize("rule", ["  - {target: grund, from: a}\n", "  - {group: debut, for: a}\n"])
def test_target_must_be_a_question_and_group_a_group(tmp_path: Path, rule: str) -> None:
    bundle, issues, _ = _map(tmp_path, rule, {**DOC, "a": "x"})
    assert bundle is None and _ids(issues) == [("LISN_MAP_LINKID_UNKNOWN", None), ("LISN_MAP_NOT_MAPPED", ["a"])]


def test_a_bad_root_selector_is_a_mapping_file_error_not_a_traceback(tmp_path: Path) -> None:
    path = write(tmp_path, "format: t\nsyntax: xml\nroot: 'x:['\n" + MINIMAL_HEADER)
    with pytest.raises(errors.MappingError) as exc:
        run_mapping(b"<r/>", "t", mapping=path)
    [iss] = exc.value.outcome["issue"]
    assert iss["diagnostics"] == "m.yaml:3" and "Invalid expression" in iss["details"]["text"]
