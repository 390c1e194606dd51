"""``adapter verify`` and ``adapter render --trust``: a signed document is shown from its signed content only."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from adapter.cli import cli
from adapter.outbound import render_municipal_xml
from adapter.signing import sign_document
from adapter.signing.keys import pem

COMMENT_TRICK = (b"<kvarvarandeArbetsformagaProcent>25<", b"<kvarvarandeArbetsformagaProcent>2<!---->5<")


@pytest.fixture()
def files(tmp_path: Path, rsa_keys: Any, example_bundle: dict[str, Any]) -> dict[str, Path]:
    signed = sign_document(render_municipal_xml(example_bundle), key=rsa_keys.key, cert_chain=rsa_keys.chain)
    out = {"ca": tmp_path / "ca.pem", "signed": tmp_path / "signed.xml", "trick": tmp_path / "trick.xml"}
    out["ca"].write_bytes(pem(rsa_keys.ca))
    out["signed"].write_bytes(signed)
    out["trick"].write_bytes(signed.replace(*COMMENT_TRICK))
    return out


def test_render_shows_the_signed_content_under_a_valid_signature(files: dict[str, Path], tmp_path: Path) -> None:
    html = tmp_path / "v.html"
    result = CliRunner().invoke(cli, ["render", str(files["signed"]), "--trust", str(files["ca"]), "-o", str(html)])
    assert result.exit_code == 0, result.output
    page = html.read_text(encoding="utf-8")
    assert "Signaturen är giltig" in page and "(25 % kvar)" in page


def test_render_refuses_the_comment_trick_and_writes_nothing(files: dict[str, Path], tmp_path: Path) -> None:
    """Before: exit 0 and "2 %" under "Signaturen är giltig". Now: exit 1, the reason, no page."""
    html = tmp_path / "t.html"
    result = CliRunner().invoke(cli, ["render", str(files["trick"]), "--trust", str(files["ca"]), "-o", str(html)])
    assert result.exit_code == 1 and "FAIL [LISN_SIG_COMMENT]" in result.output
    assert "/intyg/bedomningsstod/kvarvarandeArbetsformagaProcent/comment()" in result.output
    assert not html.exists()
    for fmt in ("html", "pdf"):
        result = CliRunner().invoke(cli, ["render", str(files["trick"]), "--trust", str(files["ca"]), "--format", fmt])
        assert result.exit_code == 1 and not result.stdout_bytes.startswith((b"%PDF", b"<!DOCTYPE"))


def test_render_of_signed_bytes_needs_trust(files: dict[str, Path]) -> None:
    result = CliRunner().invoke(cli, ["render", str(files["signed"])])
    assert result.exit_code == 2 and "LISN_OUTBOUND_SIGNED_UNVERIFIED" in result.output


def test_verify_writes_exactly_the_signed_content(files: dict[str, Path], tmp_path: Path) -> None:
    content = tmp_path / "content.xml"
    ok = CliRunner().invoke(cli, ["verify", str(files["signed"]), "--trust", str(files["ca"]),
                                  "--signed-content", str(content)])
    assert ok.exit_code == 0 and "LISN_SIG_VALID" in ok.output
    assert content.read_bytes().startswith(b'<intyg xmlns="https://lisn.se/xml/intyg/1"')
    assert b"Signature" not in content.read_bytes() and b"<kvarvarandeArbetsformagaProcent>25<" in content.read_bytes()
    refused = tmp_path / "refused.xml"
    bad = CliRunner().invoke(cli, ["verify", str(files["trick"]), "--trust", str(files["ca"]),
                                   "--signed-content", str(refused)])
    assert bad.exit_code == 1 and "LISN_SIG_COMMENT" in bad.output and not refused.exists()
