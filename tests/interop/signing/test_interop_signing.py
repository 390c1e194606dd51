"""Interop: signatures made by xmlsec1 verify here, and our signatures verify in xmlsec1."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from lxml import etree

from adapter.outbound import read_verified, render_municipal_xml
from adapter.signing import init_dev_keys, load_certificates, load_key, sign_document, verify_document

HERE = Path(__file__).resolve().parent
EXAMPLE = HERE.parents[2] / "profiles" / "examples" / "Bundle-lisn-example-submission.json"
MANIFEST = yaml.safe_load((HERE / "manifest.yaml").read_text(encoding="utf-8"))
XMLSEC1 = shutil.which("xmlsec1")


@pytest.mark.parametrize("case", MANIFEST, ids=lambda c: f"{c['file']}@{c['trust']}")
def test_xmlsec1_vectors(case: dict[str, Any]) -> None:
    xml = (HERE / case["file"]).read_bytes()
    result = verify_document(xml, trust=load_certificates(HERE / case["trust"]))
    assert result.code == case["code"], result.detail
    assert result.ok is (case["code"] == "LISN_SIG_VALID")


def test_every_vector_file_is_in_the_manifest() -> None:
    listed = {c["file"] for c in MANIFEST}
    assert {p.name for p in HERE.glob("xmlsec1-*.xml")} == listed


def test_the_signed_vectors_carry_the_committed_document() -> None:
    """The vectors sign a real municipal document that still reads back through our mapping."""
    result = verify_document((HERE / "xmlsec1-rsa-sha256.xml").read_bytes(), trust=load_certificates(HERE / "ca-rsa.pem"))
    doc = read_verified(result)
    assert doc.signed and doc.text("mottagare/kommunkod") == "0180"
    assert result.signed_content == etree.tostring(etree.parse(HERE / "document.xml").getroot(), method="c14n",
                                                   exclusive=True)


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return {alg: init_dev_keys(tmp_path_factory.mktemp(alg), algorithm=alg) for alg in ("rsa", "ecdsa")}


@pytest.fixture(scope="module")
def xmlsec1() -> str:
    """The xmlsec1 binary: skipped where it is missing, except in CI (ADAPTER_REQUIRE_XMLSEC1=1)."""
    if XMLSEC1 is None:
        if os.environ.get("ADAPTER_REQUIRE_XMLSEC1"):
            pytest.fail("xmlsec1 is required here but not installed (Debian: apt-get install xmlsec1)")
        pytest.skip("xmlsec1 is not installed (Debian: apt-get install xmlsec1)")
    return XMLSEC1


@pytest.mark.parametrize("alg", ["rsa", "ecdsa"])
@pytest.mark.parametrize("xades", [False, True], ids=["xmldsig", "xades"])
def test_xmlsec1_verifies_our_signatures(keys: dict[str, Any], tmp_path: Path, alg: str, xades: bool,
                                         xmlsec1: str) -> None:
    paths = keys[alg]
    xml = render_municipal_xml(json.loads(EXAMPLE.read_text(encoding="utf-8")))
    signed = sign_document(xml, key=load_key(paths.key), cert_chain=load_certificates(paths.cert),
                           algorithm="rsa-sha256" if alg == "rsa" else "ecdsa-sha256", xades=xades)
    out = tmp_path / "signed.xml"
    command = [xmlsec1, "--verify", "--trusted-pem", str(paths.ca),
               "--id-attr:Id", "http://uri.etsi.org/01903/v1.3.2#:SignedProperties",
               "--id-attr:Id", "http://www.w3.org/2000/09/xmldsig#:KeyInfo", str(out)]
    out.write_bytes(signed)
    ok = subprocess.run(command, capture_output=True, text=True, timeout=30)
    assert ok.returncode == 0, ok.stderr
    out.write_bytes(signed.replace(b"<kommunkod>0180<", b"<kommunkod>0181<"))
    assert subprocess.run(command, capture_output=True, timeout=30).returncode != 0
