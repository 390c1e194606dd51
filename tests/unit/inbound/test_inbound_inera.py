"""Inera's certificates as formats: LISJP's stepwise periods into LISN 1.1, AG7804 into LISN 1.0 (refused when
its periods cannot be one), the certificate type checked."""

from __future__ import annotations

import copy

from inbound_helpers import EXAMPLES, answers, side_inputs
from lxml import etree

from adapter import errors, messages
from adapter.inbound import run_mapping

LISJP = EXAMPLES / "inera-lisjp" / "lisjp-stepwise.xml"
AG7804 = EXAMPLES / "inera-ag7804" / "ag7804-halftid.xml"
NS = {"gn": "urn:riv:clinicalprocess:healthcond:certificate:3", "tp": "urn:riv:clinicalprocess:healthcond:certificate:types:3"}


def _periods_from_lisjp_into_ag7804() -> bytes:
    """The AG7804 example with the LISJP example's three periods (100 %, 50 %, 25 %)."""
    ag, lisjp = etree.fromstring(AG7804.read_bytes()), etree.fromstring(LISJP.read_bytes())
    [old] = ag.xpath("//gn:svar[@id='32']", namespaces=NS)
    for svar in lisjp.xpath("//gn:svar[@id='32']", namespaces=NS):
        old.addprevious(copy.deepcopy(svar))
    old.getparent().remove(old)
    return etree.tostring(ag)


def test_lisjp_periods_become_lisn_1_1_steps() -> None:
    bundle, issues, _ = run_mapping(LISJP.read_bytes(), "inera-lisjp", inputs=side_inputs(LISJP))
    assert bundle is not None, issues.outcome()
    qr = bundle["entry"][1]["resource"]
    assert qr["questionnaire"] == "https://lisn.se/fhir/Questionnaire/lisn|1.1"
    got = answers(bundle)
    starts = [v for k, v in got if k == "formaga.period.start"]
    totals = [v["code"] for k, v in got if k == "formaga.period.totalt"]
    hours = [v for k, v in got if k == "formaga.period.totalt.timmar"]
    assert sorted(starts) == ["2026-12-07", "2026-12-21", "2027-01-18"]
    assert sorted(totals) == ["begransat", "begransat", "inte"] and sorted(hours) == [20, 30]
    # Today's degree is that of the first period, not of any other (and never one for the whole span).
    assert [v["code"] for k, v in got if k == "formaga.arbete"] == ["helt-nedsatt"]
    assert [v["code"] for k, v in got if k == "atgarder.typ"] == ["arbetslivsinriktad-rehabilitering"]
    # LISN 1.1 is issued by a legitimerad läkare: Inera's legitimeratYrke (HSA codes) becomes the qualification.
    practitioner = bundle["entry"][3]["resource"]
    assert practitioner["qualification"] == [{"code": {"coding": [
        {"system": "urn:oid:1.2.752.116.3.1.3", "code": "LK", "display": "Läkare"}]}}]


def test_ag7804_with_several_periods_is_refused_not_mapped_to_one() -> None:
    bundle, issues, _ = run_mapping(_periods_from_lisjp_into_ag7804(), "inera-ag7804", inputs=side_inputs(AG7804))
    assert bundle is None
    refused = [i for i in issues.items if i["severity"] == "error"]
    found = [(errors.message_id_of(i), i["expression"][1]) for i in refused]
    assert found == [
        ("LISN_MAP_TOO_MANY", "QuestionnaireResponse.repeat(item).where(linkId='formaga.arbete')"),
        ("LISN_MAP_TOO_MANY", "QuestionnaireResponse.repeat(item).where(linkId='formaga.period')")]
    assert all("LISN 1.0 has one" in i["details"]["text"] for i in refused), "the note says why"
    # The periods not taken are not silently dropped either: they are reported as not mapped.
    assert {i["severity"] for i in issues.items} == {"error", "warning"}


def test_ag7804_without_a_disclosed_diagnosis_is_refused() -> None:
    ag = etree.fromstring(AG7804.read_bytes())
    for el in ag.xpath("//gn:svar[@id='6']", namespaces=NS):
        el.getparent().remove(el)
    ag.xpath("//gn:svar[@id='100']/gn:delsvar", namespaces=NS)[0].text = "false"
    bundle, issues, _ = run_mapping(etree.tostring(ag), "inera-ag7804", inputs=side_inputs(AG7804))
    [iss] = issues.items
    assert bundle is None and errors.message_id_of(iss) == "LISN_MAP_REQUIRED_MISSING"
    assert "did not disclose the diagnosis" in iss["details"]["text"]


def test_another_certificate_type_is_refused_by_expect() -> None:
    with messages.use_lang("en"):
        bundle, issues, _ = run_mapping(LISJP.read_bytes(), "inera-ag7804", inputs=side_inputs(AG7804))
    [iss] = issues.items
    assert bundle is None and errors.message_id_of(iss) == "LISN_MAP_EXPECTATION_FAILED"
    assert "expected AG7804" in iss["details"]["text"] and "found 'LISJP'" in iss["details"]["text"]
