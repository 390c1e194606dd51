"""Protected identity (issue 13, DESIGN §3): every Swedish protection label in ``meta.security`` gives
``skyddadIdentitet=true`` and keeps name, address and anything that tells where the person lives out
of the municipal XML and the view; the validator knows the labels. Sources in docs/outbound.md."""

from __future__ import annotations

import base64
import copy
import json
from pathlib import Path
from typing import Any

import pytest

from adapter.fhir.submission import Submission
from adapter.outbound import render_html, render_municipal_xml
from adapter.validation.entry import validate

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "profiles" / "examples" / "Bundle-lisn-example-submission.json"
SE = "http://hl7.se/fhir/ig/base/CodeSystem/SecurityLabel"
CONF = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
ACT = "http://terminology.hl7.org/CodeSystem/v3-ActCode"

LABELS = {
    # HL7 Sweden base profiles, SecurityLabelCS (tags 1.0.0 and 1.1.0 of HL7Sweden/basprofiler-r4)
    "hl7se-sekretessmarkering": [{"system": ACT, "code": "DEMO"}, {"system": SE, "code": "sekretessmarkering"}],
    "hl7se-skyddad-folkbokforing": [{"system": ACT, "code": "DEMO"}, {"system": SE, "code": "skyddadFolkbokforing"}],
    "hl7se-label-alone": [{"system": SE, "code": "skyddadFolkbokforing"}],
    "v3-act-demo-alone": [{"system": ACT, "code": "DEMO"}],
    # the v3 confidentiality codes recognised before (R sekretessmarkering, V skyddad folkbokföring)
    "v3-confidentiality-R": [{"system": CONF, "code": "R"}],
    "v3-confidentiality-V": [{"system": CONF, "code": "V"}],
}
# Everything in the example that names the person or tells where they live or are seen for care.
SECRETS = ("Tolvan", "Hemliga gatan", "11133", "Hemstad", "Vårdcentralen Exempelby", "Exempelgatan", "11122",
           "08-123 456 78", "TUlSU0lHTkFUVVJF")


@pytest.fixture()
def bundle() -> dict[str, Any]:
    """The example, with a home address for the patient and an original (Inera) signature kept."""
    data = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    sub = Submission(data)
    sub.patient["address"] = [{"line": ["Hemliga gatan 3"], "postalCode": "11133", "city": "Hemstad"}]
    data["entry"].append({"fullUrl": "urn:uuid:9d8c7b6a-5f4e-4d3c-8b2a-1f0e9d8c7b6a", "resource": {
        "resourceType": "Provenance", "target": [{"reference": data["entry"][1]["fullUrl"]}],
        "recorded": "2026-09-14T10:32:00+02:00", "agent": [{"who": {"reference": data["entry"][3]["fullUrl"]}}],
        "signature": [{"type": [{"system": "urn:iso-astm:E1762-95:2013", "code": "1.2.840.10065.1.12.1.1"}],
                       "when": "2026-09-14T10:32:00+02:00", "who": {"reference": data["entry"][3]["fullUrl"]},
                       "sigFormat": "application/signature+xml",
                       "data": base64.b64encode(b"MIRSIGNATURE").decode()}]}})
    return data


def _label(bundle: dict[str, Any], security: list[dict[str, str]]) -> dict[str, Any]:
    out = copy.deepcopy(bundle)
    Submission(out).patient.setdefault("meta", {})["security"] = security
    return out


def test_without_a_label_everything_goes(bundle: dict[str, Any]) -> None:
    """The control: the secrets are in the input and do reach the XML when no label protects them."""
    xml = render_municipal_xml(bundle).decode("utf-8")
    assert "<skyddadIdentitet>false</skyddadIdentitet>" in xml
    for secret in SECRETS:
        assert secret in xml, secret


@pytest.mark.parametrize("name", LABELS)
def test_a_protected_identity_passes_on_no_name_and_no_location(bundle: dict[str, Any], name: str) -> None:
    labelled = _label(bundle, LABELS[name])
    assert Submission(labelled).protected_identity
    xml = render_municipal_xml(labelled).decode("utf-8")
    assert "<skyddadIdentitet>true</skyddadIdentitet>" in xml
    for secret in SECRETS:
        assert secret not in xml, secret
    assert "<hsaId>SE2321000016-15CQ</hsaId>" in xml  # the care unit stays identifiable for verification
    assert "<personId typ=\"personnummer\">191212121212</personId>" in xml
    html = render_html(xml)
    assert "Skyddade personuppgifter" in html and "vårdenhetens HSA-id SE2321000016-15CQ" in html
    for secret in SECRETS:
        assert secret not in html, secret


def test_a_misspelt_swedish_label_still_protects_and_is_refused(bundle: dict[str, Any]) -> None:
    labelled = _label(bundle, [{"system": SE, "code": "skyddad-folkbokforing"}])
    assert b"Tolvan" not in render_municipal_xml(labelled)  # fail safe ...
    errors = [i for i in validate(labelled)["issue"] if i["severity"] == "error"]
    assert [i["expression"] for i in errors] == [["Bundle.entry[2].resource.meta.security[0]"]]  # ... and refused
    assert "lisn-pat-4" in errors[0]["details"]["text"]


def test_an_unrelated_security_label_protects_nothing(bundle: dict[str, Any]) -> None:
    labelled = _label(bundle, [{"system": CONF, "code": "N"}, {"system": ACT, "code": "PSY"}])
    assert not Submission(labelled).protected_identity
    assert b"Tolvansson" in render_municipal_xml(labelled)


@pytest.mark.parametrize("name", LABELS)
def test_the_validator_recognises_every_label(bundle: dict[str, Any], name: str) -> None:
    """lisn-pat-3 (profile) warns about a name or address beside any label the outbound protects."""
    issues = validate(_label(bundle, LABELS[name]))["issue"]
    warned = [i for i in issues if "lisn-pat-3" in i["details"]["text"]]
    assert warned and all(i["severity"] == "warning" for i in warned)
    assert not [i for i in issues if i["severity"] == "error"]
    clean = [i for i in validate(bundle)["issue"] if "lisn-pat-3" in i["details"]["text"]]
    assert clean == []
