"""Every problem at once, each with where it is: the source location and the mapping-file line.

Header, item and validator problems come in one run; selector errors say why and are not echoed as
"required value missing"; a broken mapping file exits 2; ignore patterns stay within one step; an
encoding that contradicts the bytes is refused; the docs' required fields are the engine's.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from inbound_helpers import EXAMPLES, ROOT, side_inputs
from lxml import etree

from adapter import errors, messages
from adapter.cli import cli
from adapter.inbound import convert_export, map_export, run_mapping
from adapter.inbound.bundle import REQUIRED_HEADER
from adapter.inbound.sources import FlatSource, XmlSource

LISJP = EXAMPLES / "inera-lisjp" / "lisjp-stepwise.xml"
INERA = EXAMPLES / "inera-xml" / "lisn-depression.xml"
NS = {"rc": "urn:riv:clinicalprocess:healthcond:certificate:RegisterCertificateResponder:3",
      "gn": "urn:riv:clinicalprocess:healthcond:certificate:3",
      "tp": "urn:riv:clinicalprocess:healthcond:certificate:types:3"}


def _edit(path: Path, *changes: tuple[str, Any]) -> bytes:
    root = etree.fromstring(path.read_bytes())
    for xpath, change in changes:
        for el in root.xpath(xpath, namespaces=NS):
            if change is None:
                el.getparent().remove(el)
            else:
                el.text = change
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def _found(oo: dict[str, Any]) -> list[tuple[str | None, Any, Any]]:
    return [(errors.message_id_of(i), i.get("location"), i.get("diagnostics")) for i in oo["issue"]]


def _line(fmt: str, text: str) -> int:
    lines = (ROOT / "mappings" / "inbound" / f"{fmt}.yaml").read_text(encoding="utf-8").splitlines()
    return next(n for n, line in enumerate(lines, 1) if text in line)


def test_header_item_and_validator_problems_come_in_one_run() -> None:
    raw = _edit(LISJP,
                ("//gn:patient/gn:person-id", None),                                   # header value missing
                ("//gn:svar[@id='35']/gn:delsvar", None),                              # item value missing
                ("//gn:svar[@id='1'][2]/gn:delsvar[@id='1.2']", "2027-01-01"))         # after signing: lisn-1
    bundle, oo = convert_export(raw, "inera-lisjp", inputs=side_inputs(LISJP))
    assert bundle is None
    found = _found(oo)
    svar = "/rc:RegisterCertificate/rc:intyg/gn:svar"
    assert ("LISN_MAP_REQUIRED_MISSING", ["/rc:RegisterCertificate/rc:intyg/gn:patient/gn:person-id"],
            f"inera-lisjp.yaml:{_line('inera-lisjp', 'target: patient.identifier')}") in found
    assert ("LISN_MAP_REQUIRED_MISSING", [f"{svar}[@id='35']/gn:delsvar[@id='35.1']"],
            f"inera-lisjp.yaml:{_line('inera-lisjp', 'target: funktionsnedsattning')}") in found
    lisn1 = [f for f in found if f[0] and f[0].endswith("#lisn-1")]
    assert lisn1, found
    # ... and the validator's finding points at the source and the rule that put the value there.
    assert lisn1[0][1] == [f"{svar}[@id='1'][2]/gn:delsvar[@id='1.2']"]
    assert lisn1[0][2].endswith(f"; inera-lisjp.yaml:{_line('inera-lisjp', 'target: grund.datum')}")
    # The validator does not repeat what the mapping already said.
    texts = " ".join(i["details"]["text"] for i in oo["issue"])
    assert "'funktionsnedsattning'" not in texts and "Patient.identifier: minst" not in texts


def test_one_run_without_side_inputs_too() -> None:
    raw = _edit(INERA, ("//gn:patient/gn:person-id", None), ("//gn:svar[@id='35']/gn:delsvar", None),
                ("//gn:svar[@id='1'][2]/gn:delsvar[@id='1.2']", "2026-09-20"))
    bundle, oo = convert_export(raw, "inera-xml")
    ids = [f[0] for f in _found(oo)]
    assert bundle is None
    assert ids.count("LISN_MAP_REQUIRED_MISSING") == 2 and any(i and i.endswith("#lisn-1") for i in ids), ids


def test_an_undeclared_prefix_is_named_with_the_declared_ones(tmp_path: Path) -> None:
    mapping = (ROOT / "mappings" / "inbound" / "inera-xml.yaml").read_text(encoding="utf-8")
    broken = tmp_path / "inera-xml.yaml"
    broken.write_text(mapping.replace('gn:svar[@id=\'35\']/gn:delsvar[@id=\'35.1\']"', 'gn:svar[@id=\'35\']/gx:delsvar"'),
                      encoding="utf-8")
    with pytest.raises(errors.MappingError) as exc:
        run_mapping(INERA.read_bytes(), "inera-xml", mapping=broken)
    [iss] = exc.value.outcome["issue"]
    assert "the prefix 'gx' is not declared in 'namespaces' (declared: ds, gn, rc, tp)" in iss["details"]["text"]
    assert iss["diagnostics"] == f"inera-xml.yaml:{_line('inera-xml', 'target: funktionsnedsattning')}"
    result = CliRunner().invoke(cli, ["convert", "--from", "inera-xml", str(INERA), "--mapping", str(broken)])
    assert result.exit_code == 2 and "LISN_MAP_REQUIRED_MISSING" not in result.stderr, "no echo as 'missing'"


def test_a_linkid_the_template_lacks_exits_2_with_the_rest_reported(tmp_path: Path) -> None:
    mapping = (ROOT / "mappings" / "inbound" / "inera-xml.yaml").read_text(encoding="utf-8")
    broken = tmp_path / "inera-xml.yaml"
    broken.write_text(mapping.replace("target: ovrigt,", "target: ovrigt.text,"), encoding="utf-8")
    result = CliRunner().invoke(cli, ["convert", "--from", "inera-xml", str(INERA), "--mapping", str(broken),
                                      "--format", "json"])
    assert result.exit_code == 2
    ids = [errors.message_id_of(i) for i in json.loads(result.stdout)["issue"]]
    assert ids == ["LISN_MAP_LINKID_UNKNOWN"]


def test_wrong_root_and_namespace_say_what_was_found() -> None:
    raw = INERA.read_bytes().replace(b"RegisterCertificateResponder:3", b"RegisterCertificateResponder:2")
    with messages.use_lang("en"):
        bundle, issues, _ = run_mapping(raw, "inera-xml")
    [iss] = issues.items
    text = iss["details"]["text"]
    assert bundle is None and errors.message_id_of(iss) == "LISN_MAP_ROOT_UNEXPECTED"
    assert "found RegisterCertificate in namespace urn:riv:clinicalprocess:healthcond:certificate:RegisterCertificateResponder:2" in text
    assert "another namespace" in text
    other = run_mapping(b"<Intyg xmlns='urn:x'/>", "inera-xml")[1].items[0]["details"]["text"]
    assert "fann Intyg i namnrymden urn:x" in other  # Swedish unless English is asked for


def test_a_missing_conceptmap_file_names_its_line(tmp_path: Path) -> None:
    mapping = (ROOT / "tests" / "unit" / "inbound" / "data" / "vendor-flat" / "journalx.yaml").read_text(encoding="utf-8")
    path = tmp_path / "journalx.yaml"
    path.write_text(mapping, encoding="utf-8")   # journalx-codes.json is not copied
    with pytest.raises(errors.MappingError) as exc:
        run_mapping(b"{}", "journalx", mapping=path)
    [iss] = exc.value.outcome["issue"]
    assert iss["diagnostics"] == "journalx.yaml:6" and "journalx-codes.json does not exist" in iss["details"]["text"]


def test_star_in_ignore_stays_within_one_step() -> None:
    root = etree.fromstring(b"<r><a><x>1</x><b><x>2</x></b></a></r>")
    src = XmlSource(root, {})
    assert src.unread(["/r/*/x"]) == ["/r/a/b/x"], "'*' matches one step"
    assert src.unread(["/r/**/x"]) == []
    flat = FlatSource({"l/a:0/kod|code": "x", "l/a:0/sub/kod|code": "y"})
    assert flat.unread(["l/a:*/kod|*"]) == ["l/a:0/sub/kod|code"]


def test_latin1_declared_over_utf8_bytes_is_refused_and_real_latin1_is_read() -> None:
    utf8 = INERA.read_bytes().replace(b'encoding="UTF-8"', b'encoding="ISO-8859-1"')
    with pytest.raises(errors.InputRejected) as exc:
        map_export(utf8, "inera-xml")
    assert errors.message_id_of(exc.value.outcome["issue"][0]) == "LISN_INPUT_ENCODING_MISMATCH"
    result = CliRunner().invoke(cli, ["convert", "--from", "inera-xml", "-"], input=utf8)
    assert result.exit_code == 2 or "LISN" in result.output
    latin1 = INERA.read_text(encoding="utf-8").replace('encoding="UTF-8"', 'encoding="ISO-8859-1"').encode("latin-1")
    bundle, _ = map_export(latin1, "inera-xml")
    assert bundle["entry"][3]["resource"]["name"][0]["text"] == "Lena Läkarsson"
    bom = b"\xef\xbb\xbf" + INERA.read_bytes().replace(b'encoding="UTF-8"', b'encoding="UTF-16"')
    with pytest.raises(errors.InputRejected):
        map_export(bom, "inera-xml")


def test_map_export_takes_a_str_mapping_path() -> None:
    path = str(ROOT / "mappings" / "inbound" / "inera-xml.yaml")
    assert map_export(INERA.read_bytes(), "inera-xml", mapping=path)[0] == map_export(INERA.read_bytes(), "inera-xml")[0]
    with pytest.raises(errors.MappingError) as exc:
        map_export(INERA.read_bytes(), "inera-xml", mapping="/nowhere/m.yaml")
    assert errors.message_id_of(exc.value.outcome["issue"][0]) == "LISN_MAP_FILE_MISSING"


def test_the_docs_required_header_fields_are_the_engines() -> None:
    from adapter.inbound.bundle import REQUIRED_HEADER_ONE_OF

    docs = (ROOT / "docs" / "mappings.md").read_text(encoding="utf-8")
    table = docs[docs.index("### Header fields"):docs.index("### Code tables")]
    required: set[str] = set()
    for row in re.findall(r"^\| (.+?) \| \w+ \| (yes|one of|) \|", table, re.M):
        names = re.findall(r"`([\w.]+)`", row[0])
        base = names[0].split(".")[0]
        full = [f"{base}{n}" if n.startswith(".") else n for n in names]
        if row[1] == "yes":
            required |= set(full)
    assert required == set(REQUIRED_HEADER)
    for group in REQUIRED_HEADER_ONE_OF:
        assert f"one of {', '.join(f'`{g}`' for g in group)}" in table


def test_a_required_care_unit_phone_is_reported_by_the_mapping(tmp_path: Path) -> None:
    raw = _edit(INERA, ("//gn:enhet/gn:telefonnummer", None))
    _, issues, _ = run_mapping(raw, "inera-xml")
    assert [(errors.message_id_of(i), i["expression"][1]) for i in issues.items] == [
        ("LISN_MAP_REQUIRED_MISSING", "Organization.phone")]
    mapping = (ROOT / "mappings" / "inbound" / "inera-xml.yaml").read_text(encoding="utf-8")
    path = tmp_path / "m.yaml"
    path.write_text("\n".join(line for line in mapping.splitlines() if "careUnit.phone" not in line), encoding="utf-8")
    with pytest.raises(errors.MappingError) as exc:
        run_mapping(INERA.read_bytes(), "inera-xml", mapping=path)
    assert "no 'header' rule for the required field 'careUnit.phone'" in exc.value.outcome["issue"][0]["details"]["text"]


def test_flat_index_may_be_left_out() -> None:
    src = FlatSource({"l/diagnos/kod|code": "F32.1", "l/diagnos:1/kod|code": "M54.5", "l/diagnoser/x": "no"})
    contexts = src.select(src.root, "l/diagnos:{i}")
    assert contexts == ["l/diagnos", "l/diagnos:1"]
    assert [src.value(n) for c in contexts for n in src.select(c, "kod|code")] == ["F32.1", "M54.5"]


def test_xpath_functions_in_selectors_count_as_mapped(tmp_path: Path) -> None:
    mapping = (ROOT / "mappings" / "inbound" / "inera-xml.yaml").read_text(encoding="utf-8")
    path = tmp_path / "inera-xml.yaml"
    path.write_text(mapping.replace(
        "{target: practitioner.name, from: \"rc:intyg/gn:skapadAv/gn:fullstandigtNamn\"}",
        "{target: patient.name, from: \"concat(rc:intyg/gn:patient/gn:fornamn, ' ', rc:intyg/gn:patient/gn:efternamn)\"}\n"
        "  - {target: practitioner.name, from: \"normalize-space(rc:intyg/gn:skapadAv/gn:fullstandigtNamn)\"}"),
        encoding="utf-8")
    bundle, issues, trace = run_mapping(INERA.read_bytes(), "inera-xml", mapping=path)
    assert not issues.items, "values read through XPath functions are mapped"
    assert bundle["entry"][2]["resource"]["name"][0]["text"] == "Tolvan Tolvansson"
    [name] = [t for t in trace if t.target == "patient.name"]
    assert name.source == "/rc:RegisterCertificate/rc:intyg/gn:patient/gn:fornamn"
