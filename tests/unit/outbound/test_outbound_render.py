"""The readable certificate (HTML, PDF) and the CLI commands keys init / to-xml / verify / render."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from adapter import errors
from adapter.cli import cli
from adapter.fhir.registry import default_registry
from adapter.fhir.submission import Submission
from adapter.outbound import render_html, render_municipal_xml, render_pdf
from adapter.outbound.html import find_font
from adapter.signing import init_dev_keys, load_certificates, load_key, sign_document, verify_document

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "profiles" / "examples" / "Bundle-lisn-example-submission.json"


@pytest.fixture(scope="module")
def example() -> dict[str, Any]:
    return json.loads(EXAMPLE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def dev_keys(tmp_path_factory: pytest.TempPathFactory):
    return init_dev_keys(tmp_path_factory.mktemp("keys"), algorithm="ecdsa")


def _question_texts() -> list[str]:
    q = default_registry().resolve("https://lisn.se/fhir/Questionnaire/lisn|1.0", "Questionnaire")
    out, stack = [], list(q["item"])
    while stack:
        item = stack.pop()
        out.append((item["linkId"], item["text"]))
        stack.extend(item.get("item") or [])
    return out


def test_html_shows_summary_first_then_every_answered_question(example: dict[str, Any]) -> None:
    html = render_html(example)
    summary = html.index("Bedömningsstöd")
    answers = html.index("Intygets svar")
    assert summary < answers
    assert "25 %" in html and "2026-11-15" in html
    assert "Kan delta begränsat: Motiverande eller förberedande insatser 10 tim/v" in html
    assert "Kan delta på heltid (40 tim/v): Språkinsatser" in html
    assert "SIP (samordnad individuell plan) rekommenderas" in html
    answered = {i["linkId"] for i in _walk(Submission(example).response["item"])}
    for link_id, text in _question_texts():
        if link_id in answered:
            assert text in html[answers:], link_id  # the template's text, not a re-declared one


def _walk(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for item in items:
        out.append(item)
        out.extend(_walk(item.get("item") or []))
    return out


def test_html_escapes_text(example: dict[str, Any]) -> None:
    bundle = copy.deepcopy(example)
    for item in Submission(bundle).response["item"]:
        if item["linkId"] == "ovrigt" or item["linkId"] == "funktionsnedsattning":
            item["answer"] = [{"valueString": "<script>alert(1)</script> & mer text som är tillräckligt lång för att räcka"}]
    html = render_html(bundle)
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt; &amp; mer" in html


def test_html_shows_signature_status(example: dict[str, Any], dev_keys) -> None:
    """Unsigned: said so. Signed: only through a valid verification, never from the bytes alone."""
    xml = render_municipal_xml(example)
    assert "inte signerat" in render_html(xml)
    signed = sign_document(xml, key=load_key(dev_keys.key), cert_chain=load_certificates(dev_keys.cert),
                           algorithm="ecdsa-sha256")
    with pytest.raises(errors.InputRejected) as refused:
        render_html(signed)
    assert refused.value.message_id == "LISN_OUTBOUND_SIGNED_UNVERIFIED"
    ok = verify_document(signed, trust=load_certificates(dev_keys.ca))
    assert "Signaturen är giltig" in render_html(ok) and "sig-valid" in render_html(ok)
    assert render_pdf(ok).startswith(b"%PDF-")
    bad = verify_document(signed.replace(b"Tolvansson", b"Tolvanson"), trust=load_certificates(dev_keys.ca))
    for render in (render_html, render_pdf):
        with pytest.raises(errors.SigningError) as invalid:
            render(bad)
        assert invalid.value.message_id == "LISN_SIG_DIGEST_MISMATCH"


def test_html_for_protected_identity_and_withdrawn(example: dict[str, Any]) -> None:
    bundle = copy.deepcopy(example)
    Submission(bundle).patient["meta"]["security"] = [
        {"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "code": "V"}]
    html = render_html(render_municipal_xml(bundle, status="withdrawn"))
    assert "Tolvansson" not in html and "Skyddad identitet" in html and "MAKULERAT" in html


def test_pdf_embeds_a_unicode_font(example: dict[str, Any]) -> None:
    pdf = render_pdf(example)
    assert pdf.startswith(b"%PDF-") and pdf.rstrip().endswith(b"%%EOF")
    if find_font() is None:
        pytest.skip("no DejaVu TTF installed (Debian fonts-dejavu-core); the core font was used")
    assert b"DejaVu" in pdf


# -- CLI ---------------------------------------------------------------------------------------------

def test_cli_sign_verify_tamper_render(tmp_path: Path) -> None:
    runner = CliRunner()
    keys = tmp_path / "keys"
    result = runner.invoke(cli, ["keys", "init", str(keys)])
    assert result.exit_code == 0 and "NOT FOR PRODUCTION" in result.output
    assert runner.invoke(cli, ["keys", "init", str(keys)]).exit_code == 2  # never overwrites silently
    result = runner.invoke(cli, ["to-xml", str(EXAMPLE), "--sign", "--key", str(keys / "signing-key.pem"),
                                 "--cert", str(keys / "signing-cert.pem"), "--xades"])
    assert result.exit_code == 0, result.output
    signed = tmp_path / "signed.xml"
    signed.write_bytes(result.stdout_bytes)
    result = runner.invoke(cli, ["verify", str(signed), "--trust", str(keys / "ca.pem")])
    assert result.exit_code == 0 and "LISN_SIG_VALID" in result.output
    tampered = tmp_path / "tampered.xml"
    tampered.write_bytes(signed.read_bytes().replace(b"<kommunkod>0180<", b"<kommunkod>0181<"))
    result = runner.invoke(cli, ["verify", str(tampered), "--trust", str(keys / "ca.pem")])
    assert result.exit_code == 1 and "LISN_SIG_DIGEST_MISMATCH" in result.output
    result = runner.invoke(cli, ["verify", str(tampered), "--trust", str(keys / "ca.pem"), "--format", "json"])
    assert json.loads(result.output)["issue"][0]["extension"][0]["valueString"] == "LISN_SIG_DIGEST_MISMATCH"
    assert runner.invoke(cli, ["verify", str(tmp_path / "missing.xml"), "--trust", str(keys / "ca.pem")]).exit_code == 2
    result = runner.invoke(cli, ["render", str(signed), "--trust", str(keys / "ca.pem")])
    assert result.exit_code == 0 and "Signaturen är giltig" in result.output
    result = runner.invoke(cli, ["render", str(EXAMPLE), "--format", "pdf", "-o", str(tmp_path / "c.pdf")])
    assert result.exit_code == 0 and (tmp_path / "c.pdf").read_bytes().startswith(b"%PDF-")


def test_cli_to_xml_status_from_the_event_and_bad_input(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(cli, ["to-xml", str(EXAMPLE.with_name("Bundle-lisn-example-replacement.json"))])
    assert result.exit_code == 0 and b"<status>replacing</status><ersatterIntygsId>" in result.stdout_bytes
    junk = tmp_path / "junk.json"
    junk.write_text("{not json")
    result = runner.invoke(cli, ["to-xml", str(junk)])
    assert result.exit_code == 2 and "LISN_INPUT_NOT_JSON" in result.output
    result = runner.invoke(cli, ["to-xml", str(EXAMPLE), "--sign"])
    assert result.exit_code == 2
