"""The readable certificate (HTML, PDF) and the CLI commands keys init / to-xml / verify / render."""

from __future__ import annotations

import copy
import json
import re
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
    assert "25 % kvar" in html and "2026-11-15" in html
    assert ("Kan delta i begränsad omfattning:</span> <b>Motiverande eller förberedande insatser (10 tim/v)"
            in html)
    assert "Kan delta fullt ut:</span> <b>Språkinsatser</b>" in html
    assert "SIP (samordnad individuell plan) rekommenderas" in html
    assert "Lugn miljö, korta pass om högst två timmar" in html[summary:answers]  # the adaptations, to plan with
    answered = {i["linkId"] for i in _walk(Submission(example).response["item"])}
    for link_id, text in _question_texts():
        if link_id in answered:
            assert text in html[answers:], link_id  # the template's text, not a re-declared one


def test_the_summary_never_invents_hours(example: dict[str, Any]) -> None:
    """'Kan delta fullt ut' is the physician's words; no 40 hours, no 'av 40' headline (issue 17)."""
    html, pdf = render_html(example), render_pdf(example)
    summary = html[html.index("Bedömningsstöd"):html.index("Intygets svar")]
    assert "40" not in summary and "heltid" not in summary
    assert "Anges inte i intyget" in summary  # template 1.0 does not ask for the total capacity
    assert b"40 tim" not in pdf


def test_html_title_names_no_person(example: dict[str, Any]) -> None:
    html = render_html(example)
    title = html[html.index("<title>"):html.index("</title>")]
    assert "19121212" not in title and "1212" not in title and "Tolvan" not in title
    assert "3f2a9c1e" in title


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
    assert "inte förseglat" in render_html(xml)
    signed = sign_document(xml, key=load_key(dev_keys.key), cert_chain=load_certificates(dev_keys.cert),
                           algorithm="ecdsa-sha256")
    with pytest.raises(errors.InputRejected) as refused:
        render_html(signed)
    assert refused.value.message_id == "LISN_OUTBOUND_SIGNED_UNVERIFIED"
    ok = verify_document(signed, trust=load_certificates(dev_keys.ca))
    html = render_html(ok)
    assert "Signaturen är giltig" in html and "sig-valid" in html
    assert render_pdf(ok).startswith(b"%PDF-")
    # each signature named for what it is: the physician's in the EHR, the adapter's seal on the transfer
    sigs = html[html.index('<div class="sigs">'):]
    assert "Läkarens signatur (i journalsystemet)" in sigs
    assert "Utfärdat och signerat av Lena Läkarsson (SE2321000016-1003) 2026-09-14 10:32" in sigs
    assert "adapterns elektroniska stämpel, inte läkarens signatur" in sigs
    assert "Förseglat av LISN TEST SIGNING KEY — NOT FOR PRODUCTION. Signaturen är giltig" in sigs
    assert "CN=" not in sigs  # the holder by name, not as a raw certificate subject
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
    assert "Tolvansson" not in html and "Skyddade personuppgifter" in html and "MAKULERAT" in html


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
    before = (keys / "signing-key.pem").read_bytes()
    again = runner.invoke(cli, ["keys", "init", str(keys)])  # idempotent: keeps the keys, never overwrites
    assert again.exit_code == 0 and "kept" in again.output and (keys / "signing-key.pem").read_bytes() == before
    (keys / "ca.pem").unlink()  # a partial set is refused, not completed with a key that matches nothing
    assert runner.invoke(cli, ["keys", "init", str(keys)]).exit_code == 2
    assert runner.invoke(cli, ["keys", "init", str(keys), "--force"]).exit_code == 0
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


# -- withdrawn, replaced, PDF pages ------------------------------------------------------------------

def _pdf_text(xml_or_bundle: Any) -> bytes:
    """The PDF with the core font and no compression, so that page text is searchable in the bytes."""
    from adapter.outbound.html import _document
    from adapter.outbound.pdf import build_pdf
    from adapter.outbound.view import certificate_view

    raw = build_pdf(certificate_view(_document(xml_or_bundle, None)), font=None, compress=False)
    # one line of text per BT..ET block (fpdf2 writes "Sida 1 av " and the page total as two strings)
    return b"\n".join(b"".join(re.findall(rb"\((.*?)\) Tj", block)) for block in re.findall(rb"BT (.*?) ET", raw))


def test_a_withdrawn_certificate_voids_its_content(example: dict[str, Any]) -> None:
    html = render_html(render_municipal_xml(example, status="withdrawn"))
    assert "Intyget är makulerat och får inte användas som underlag." in html
    assert "Bedömningsstöd –" not in html and "Vilka aktiviteter passar" not in html  # no summary to act on
    assert '<body class="void">' in html and 'data-stamp="MAKULERAT"' in html
    assert "MAKULERAT" in html[html.index("<title>"):html.index("</title>")]
    pdf = _pdf_text(render_municipal_xml(example, status="withdrawn"))
    assert "Intyget är makulerat och får inte användas som underlag.".encode("cp1252") in pdf
    assert b"Vilka aktiviteter passar" not in pdf


def test_a_replacing_certificate_says_the_old_one_is_void(example: dict[str, Any]) -> None:
    old = "11111111-2222-4333-8444-555555555555"
    html = render_html(render_municipal_xml(example, status="replacing", replaces=old))
    assert f"Detta intyg ersätter intyg {old}. Det tidigare intyget får inte längre användas som underlag" in html
    assert "Vilka aktiviteter passar" in html  # the replacing certificate is the valid one


def test_render_of_a_withdrawal_bundle_shows_its_status(tmp_path: Path) -> None:
    withdrawal = EXAMPLE.with_name("Bundle-lisn-example-withdrawal.json")
    assert "MAKULERAT" in render_html(json.loads(withdrawal.read_text(encoding="utf-8")))
    result = CliRunner().invoke(cli, ["render", str(withdrawal)])
    assert result.exit_code == 0 and "Intyget är makulerat och får inte användas som underlag." in result.output
    result = CliRunner().invoke(cli, ["render", str(withdrawal), "--format", "pdf", "-o", str(tmp_path / "w.pdf")])
    assert result.exit_code == 0


def test_every_pdf_page_has_a_number_and_later_pages_the_patient(example: dict[str, Any]) -> None:
    pdf = _pdf_text(example)
    pages = len(re.findall(rb"Sida \d+ av \d+", pdf))
    assert pages >= 2  # the example runs onto a second page
    for n in range(1, pages + 1):
        assert f"Sida {n} av {pages}".encode() in pdf
    header = "Läkarintyg till socialnämnden · Tolvan Tolvansson, 19121212-1212 · intyg 3f2a9c1e".encode("cp1252")
    assert pdf.count(header) == pages - 1  # page 1 carries the full header instead


def test_pdf_without_a_unicode_font_does_not_crash_on_other_characters(example: dict[str, Any]) -> None:
    bundle = copy.deepcopy(example)
    for item in Submission(bundle).response["item"]:
        if item["linkId"] == "funktionsnedsattning":
            item["answer"] = [{"valueString": "Smärta ≥ 7 av 10 → vila 😊"}]
    assert "Smärta ? 7 av 10 ? vila ?".encode("cp1252") in _pdf_text(bundle)


def test_the_1_1_view_leads_with_the_total_and_shows_every_step() -> None:
    bundle = json.loads((ROOT / "tests" / "golden" / "outbound" / "1.1" / "example.input.json").read_text(encoding="utf-8"))
    html = render_html(bundle)
    summary = html[html.index("Bedömningsstöd –"):html.index("Intygets svar")]
    assert "<b>10 tim/vecka</b><span>total förmåga, alla aktiviteter · högst 2 tim/dag</span>" in summary
    assert "Stegvis upptrappning" in summary and "2027-02-01 –<br>2027-03-31" in summary and "<b>20 tim/v</b>" in summary
    assert "Risk för försämring</th><td>Ja: Stressande miljöer" in summary
    assert "Förväntas återfå förmågan delvis, inom 6 månader" in summary
    assert "Huvudansvar för rehabiliteringen</th><td>Hälso- och sjukvården" in summary
    assert "Lämnat 2026-12-14, gäller 2026-12-14 – 2027-12-14" in html  # the consent, legal basis of the disclosure
    assert "<span class=\"muted\">Legitimation:</span> Läkare" in html
    assert "Anges inte i intyget" not in html
    text = _pdf_text(bundle)
    assert "Total förmåga, alla aktiviteter: 10 tim/vecka, högst 2 tim/dag".encode("cp1252") in text
    assert "Stegvis upptrappning".encode("cp1252") in text


def test_cli_to_xml_replaced(tmp_path: Path) -> None:
    v11 = ROOT / "tests" / "golden" / "outbound" / "1.1" / "example.input.json"
    new = "22222222-3333-4444-8555-666666666666"
    result = CliRunner().invoke(cli, ["to-xml", str(v11), "--status", "replaced", "--replaced-by", new])
    assert result.exit_code == 0 and f"<status>replaced</status><ersattAvIntygsId>{new}<".encode() in result.stdout_bytes
    result = CliRunner().invoke(cli, ["to-xml", str(v11), "--status", "replaced"])
    assert result.exit_code == 1 and "LISN_OUTBOUND_BAD_STATUS" in result.output
