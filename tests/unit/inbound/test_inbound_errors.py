"""Mapping errors: each names its message id, the source location, the target and the mapping file line."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import pytest
from inbound_helpers import EXAMPLES, GOLDEN
from lxml import etree

from adapter import errors
from adapter.inbound import map_export, run_mapping
from adapter.inbound.export import mappings_dir

FLAT = json.loads((EXAMPLES / "openehr-flat" / "lisn-depression.json").read_bytes())
INERA = (EXAMPLES / "inera-xml" / "lisn-depression.xml").read_bytes()
NS = {"rc": "urn:riv:clinicalprocess:healthcond:certificate:RegisterCertificateResponder:3",
      "gn": "urn:riv:clinicalprocess:healthcond:certificate:3",
      "tp": "urn:riv:clinicalprocess:healthcond:certificate:types:3",
      "ds": "http://www.w3.org/2000/09/xmldsig#"}
SVAR = "/rc:RegisterCertificate/rc:intyg/gn:svar"


def line_of(fmt: str, text: str) -> int:
    """The line of the rule in the shipped mapping file that contains ``text``."""
    lines = (mappings_dir() / "inbound" / f"{fmt}.yaml").read_text(encoding="utf-8").splitlines()
    return next(n for n, line in enumerate(lines, 1) if text in line)


def flat(change: Callable[[dict[str, Any]], None]) -> bytes:
    doc = dict(FLAT)
    change(doc)
    return json.dumps(doc).encode()


def inera(xpath: str, change: Callable[[etree._Element], None]) -> bytes:
    root = etree.fromstring(INERA)
    for el in root.xpath(xpath, namespaces=NS):
        change(el)
    return etree.tostring(root)


def remove(el: etree._Element) -> None:
    el.getparent().remove(el)


def set_text(text: str) -> Callable[[etree._Element], None]:
    def apply(el: etree._Element) -> None:
        el.text = text
    return apply


def issues_of(raw: bytes, fmt: str) -> list[tuple[str, str, list[str] | None, list[str] | None, str | None]]:
    bundle, issues, _ = run_mapping(raw, fmt)
    found = [(i["severity"], errors.message_id_of(i), i.get("location"), i.get("expression"), i.get("diagnostics"))
             for i in issues.items]
    if any(s == "error" for s, *_ in found):
        assert bundle is None, "no Bundle when the mapping has errors"
    return found


def item(link_id: str) -> str:
    return f"QuestionnaireResponse.repeat(item).where(linkId='{link_id}')"


def test_required_value_missing_in_flat() -> None:
    raw = flat(lambda d: d.pop("lisn/funktionsnedsattning"))
    line = line_of("openehr-flat", "target: funktionsnedsattning")
    assert issues_of(raw, "openehr-flat") == [
        ("error", "LISN_MAP_REQUIRED_MISSING", ["lisn/funktionsnedsattning"],
         ["lisn/funktionsnedsattning", item("funktionsnedsattning")], f"openehr-flat.yaml:{line}")]


def test_required_value_missing_inside_a_repeat_in_xml() -> None:
    raw = inera(f"{SVAR}[@id='6']/gn:delsvar[@id='6.1']", remove)
    where = f"{SVAR}[@id='6']/gn:delsvar[@id='6.1']/tp:cv"
    line = line_of("inera-xml", "target: diagnos.kod")
    assert issues_of(raw, "inera-xml") == [
        ("error", "LISN_MAP_REQUIRED_MISSING", [where], [where, item("diagnos.kod")], f"inera-xml.yaml:{line}")]


def test_required_header_value_missing() -> None:
    raw = inera("/rc:RegisterCertificate/rc:intyg/gn:patient/gn:person-id", remove)
    where = "/rc:RegisterCertificate/rc:intyg/gn:patient/gn:person-id"
    line = line_of("inera-xml", "target: patient.identifier")
    assert issues_of(raw, "inera-xml") == [
        ("error", "LISN_MAP_REQUIRED_MISSING", [where], [where, "Patient.identifier"], f"inera-xml.yaml:{line}")]


def test_condition_makes_a_value_required_only_when_it_holds() -> None:
    # Instance 2 of svar 1 has typ ANNAT: its delsvar 1.3 is then required; instance 1 (not ANNAT) needs none.
    raw = inera(f"{SVAR}[@id='1'][2]/gn:delsvar[@id='1.3']", remove)
    where = f"{SVAR}[@id='1'][2]/gn:delsvar[@id='1.3']"
    line = line_of("inera-xml", "target: grund.annat")
    assert issues_of(raw, "inera-xml") == [
        ("error", "LISN_MAP_REQUIRED_MISSING", [where], [where, item("grund.annat")], f"inera-xml.yaml:{line}")]


def test_code_without_conceptmap_entry_is_an_error_not_dropped() -> None:
    raw = inera(f"{SVAR}[@id='40']/gn:delsvar/tp:cv/tp:code", set_text("KVART"))
    where = f"{SVAR}[@id='40']/gn:delsvar[@id='40.1']/tp:cv"
    line = line_of("inera-xml", "target: formaga.arbete")
    bundle, issues, _ = run_mapping(raw, "inera-xml")
    assert bundle is None
    [iss] = issues.items
    assert (errors.message_id_of(iss), iss["code"], iss["location"], iss["expression"], iss["diagnostics"]) == (
        "LISN_MAP_CODE_UNMAPPED", "code-invalid", [where], [where, item("formaga.arbete")], f"inera-xml.yaml:{line}")
    assert "'KVART' (KV_LISN_0002)" in iss["details"]["text"] and "inera-lisn" in iss["details"]["text"]


def test_unmapped_code_in_flat_local_terminology() -> None:
    raw = flat(lambda d: d.update({"lisn/prognos/typ|code": "at9999"}))
    assert [(i[1], i[2]) for i in issues_of(raw, "openehr-flat")] == [
        ("LISN_MAP_CODE_UNMAPPED", ["lisn/prognos/typ"])]


@pytest.mark.parametrize(("key", "value", "kind"), [
    ("lisn/debut", "2026-13-01", "date"),
    ("lisn/context/start_time", "i går", "dateTime"),
    ("lisn/kontakt/onskas", "kanske", "boolean"),
    ("lisn/formaga/aktivitet:0/timmar|magnitude", 10.5, "integer"),
])
def test_value_that_cannot_be_converted(key: str, value: Any, kind: str) -> None:
    raw = flat(lambda d: d.update({key: value}))
    found = issues_of(raw, "openehr-flat")
    assert [(i[1], i[2]) for i in found if i[0] == "error"] == [("LISN_MAP_VALUE_INVALID", [key])]
    _, issues, _ = run_mapping(raw, "openehr-flat")
    assert f"som {kind}:" in issues.items[0]["details"]["text"]


def test_xml_value_that_cannot_be_converted() -> None:
    raw = inera(f"{SVAR}[@id='41']/gn:delsvar/tp:pq/tp:value", set_text("tolv"))
    where = f"{SVAR}[@id='41']/gn:delsvar[@id='41.3']/tp:pq/tp:value"
    assert [(i[1], i[2], i[3]) for i in issues_of(raw, "inera-xml")] == [
        ("LISN_MAP_VALUE_INVALID", [where], [where, item("formaga.aktivitet.timmar")])]


def test_unknown_source_field_is_a_warning_and_the_rest_maps() -> None:
    raw = flat(lambda d: d.update({"lisn/leverantor/intern_kod": "X-17"}))
    assert issues_of(raw, "openehr-flat") == [
        ("warning", "LISN_MAP_NOT_MAPPED", ["lisn/leverantor/intern_kod"], ["lisn/leverantor/intern_kod"], None)]
    bundle, report = map_export(raw, "openehr-flat")
    assert bundle["type"] == "message" and errors.message_id_of(report["issue"][0]) == "LISN_MAP_NOT_MAPPED"


def test_unknown_xml_element_is_a_warning_with_its_xpath() -> None:
    def add(el: etree._Element) -> None:
        etree.SubElement(el, f"{{{NS['gn']}}}delsvar", id="17.9").text = "extra"
    raw = inera(f"{SVAR}[@id='17']", add)
    where = f"{SVAR}[@id='17']/gn:delsvar[@id='17.9']"
    assert issues_of(raw, "inera-xml") == [("warning", "LISN_MAP_NOT_MAPPED", [where], [where], None)]


def test_two_values_for_a_single_answer() -> None:
    def dup(el: etree._Element) -> None:
        el.addnext(etree.fromstring(etree.tostring(el)))
    raw = inera(f"{SVAR}[@id='35']/gn:delsvar", dup)
    where = f"{SVAR}[@id='35']/gn:delsvar[@id='35.1']"
    assert [(i[1], i[2]) for i in issues_of(raw, "inera-xml")] == [("LISN_MAP_TOO_MANY", [where])]


def test_unknown_template_version() -> None:
    raw = inera("/rc:RegisterCertificate/rc:intyg/gn:version", set_text("9.9"))
    assert [(i[1], i[3]) for i in issues_of(raw, "inera-xml")] == [
        ("LISN_MAP_TEMPLATE_UNKNOWN", ["QuestionnaireResponse.questionnaire"])]


def test_wrong_root_element() -> None:
    raw = b'<x:RegisterCertificate xmlns:x="urn:riv:clinicalprocess:healthcond:certificate:RegisterCertificateResponder:2"/>'
    assert [(i[1], i[3]) for i in issues_of(raw, "inera-xml")] == [("LISN_MAP_ROOT_UNEXPECTED", ["/"])]


def test_unknown_format() -> None:
    with pytest.raises(errors.MappingError) as exc:
        map_export(b"{}", "hl7v2")
    [iss] = exc.value.outcome["issue"]
    assert errors.message_id_of(iss) == "LISN_MAP_FORMAT_UNKNOWN"
    assert "fhir, inera-ag7804, inera-lisjp, inera-xml, openehr-arbetsformaga, openehr-flat" in iss["details"]["text"]


def test_map_export_raises_mapping_error_with_every_issue() -> None:
    raw = flat(lambda d: (d.pop("lisn/funktionsnedsattning"), d.update({"lisn/debut": "igår", "lisn/x": "y"})))
    with pytest.raises(errors.MappingError) as exc:
        map_export(raw, "openehr-flat")
    ids = [errors.message_id_of(i) for i in exc.value.outcome["issue"]]
    assert ids == ["LISN_MAP_VALUE_INVALID", "LISN_MAP_REQUIRED_MISSING", "LISN_MAP_NOT_MAPPED"]
    assert errors.status_for(exc.value) == 422


# -- fhir ----------------------------------------------------------------------------------------

def _fhir(name: str) -> dict[str, Any]:
    return json.loads((EXAMPLES / "fhir" / name).read_bytes())


def test_fhir_unresolved_reference() -> None:
    qr = _fhir("lisn-questionnaireresponse-contained.json")
    qr["subject"] = {"reference": "#saknas"}
    found = issues_of(json.dumps(qr).encode(), "fhir")
    assert ("error", "LISN_MAP_REFERENCE_UNRESOLVED", None, ["QuestionnaireResponse.subject"], None) in found


def test_fhir_bundle_without_response() -> None:
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": {"resourceType": "Patient"}}]}
    assert issues_of(json.dumps(bundle).encode(), "fhir") == [
        ("error", "LISN_MAP_FHIR_NO_RESPONSE", None, ["Bundle.entry"], None)]


def test_fhir_wrong_resource_type() -> None:
    assert issues_of(b'{"resourceType": "Patient"}', "fhir") == [
        ("error", "LISN_MAP_FHIR_RESOURCE_TYPE", None, ["resourceType"], None)]


def test_fhir_national_oids_are_normalised() -> None:
    raw = (EXAMPLES / "fhir" / "lisn-questionnaireresponse-contained.json").read_bytes()
    assert b"1.2.752.129.2.1.3.1" in raw and b"1.2.752.129.2.1.4.1" in raw
    bundle, _ = map_export(raw, "fhir")
    systems = {i["system"] for e in bundle["entry"] for i in e["resource"].get("identifier", [])
               if isinstance(e["resource"].get("identifier"), list)}
    assert systems == {"http://electronichealth.se/identifier/personnummer", "urn:oid:1.2.752.29.4.19",
                       "https://lisn.se/fhir/sid/kommunkod", "urn:oid:2.5.4.97"}


# -- what the source says about itself --------------------------------------------------------------

def test_signature_is_kept_as_provenance_byte_for_byte() -> None:
    raw = (GOLDEN / "inera-xml" / "signed-register-certificate.input.xml").read_bytes()
    bundle, _ = map_export(raw, "inera-xml")
    prov = bundle["entry"][-1]["resource"]
    assert prov["resourceType"] == "Provenance"
    assert prov["target"] == [{"reference": bundle["entry"][1]["fullUrl"]}]
    [sig] = prov["signature"]
    assert sig["sigFormat"] == "application/signature+xml"
    assert sig["type"][0]["code"] == "1.2.840.10065.1.12.1.1"
    signature = etree.fromstring(raw).xpath("//ds:Signature", namespaces=NS)[0]
    assert base64.b64decode(sig["data"]) == etree.tostring(signature, method="c14n", exclusive=True)


def test_timestamps_come_from_the_source_with_its_zone() -> None:
    bundle, _ = map_export(INERA, "inera-xml")
    assert bundle["timestamp"] == "2026-09-14T10:35:00+02:00"   # skickatTidpunkt, Swedish summer time
    assert bundle["entry"][1]["resource"]["authored"] == "2026-09-14T10:32:00+02:00"
    winter = inera("/rc:RegisterCertificate/rc:intyg/gn:signeringstidpunkt", set_text("2026-01-14T10:32:00"))
    assert map_export(winter, "inera-xml")[0]["entry"][1]["resource"]["authored"] == "2026-01-14T10:32:00+01:00"


def test_ids_derive_from_the_certificate_id() -> None:
    one, _ = map_export(INERA, "inera-xml")
    other, _ = map_export(inera("/rc:RegisterCertificate/rc:intyg/gn:intygs-id/tp:extension",
                                set_text("0c0ffee0-0000-4000-8000-000000000001")), "inera-xml")
    assert one["entry"][1]["resource"]["identifier"]["value"] == "urn:uuid:8d3b2f4a-61c7-4e0b-9a52-7c1e3d9f0b21"
    assert not {e["fullUrl"] for e in one["entry"]} & {e["fullUrl"] for e in other["entry"]}


def test_protected_identity_never_carries_the_name() -> None:
    raw = (GOLDEN / "openehr-flat" / "protected-minimal.input.json").read_bytes()
    assert b"Tolvansson" in raw
    bundle, _ = map_export(raw, "openehr-flat")
    patient = bundle["entry"][2]["resource"]
    assert "name" not in patient and patient["meta"]["security"][0]["code"] == "V"
    assert "Tolvansson" not in json.dumps(bundle, ensure_ascii=False)


def test_a_given_registry_gives_the_same_result() -> None:
    from adapter.fhir.registry import default_registry

    assert map_export(INERA, "inera-xml", registry=default_registry())[0] == map_export(INERA, "inera-xml")[0]
