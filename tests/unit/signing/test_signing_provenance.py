"""JWS signatures on a Provenance over the QuestionnaireResponse (issue 5 §4)."""

from __future__ import annotations

import base64
import copy
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from jwcrypto import jwk, jws

from adapter.outbound import render_municipal_xml
from adapter.signing import verify_provenance_signatures
from adapter.signing.keys import make_ca, new_key
from adapter.signing.provenance import canonical_json


def _token(keys: Any, payload: bytes, *, alg: str = "ES256", x5c: bool = True, detached: bool = True) -> str:
    key = jwk.JWK.from_pyca(keys.key)
    header = {"alg": alg}
    if x5c:
        header["x5c"] = [base64.b64encode(c.public_bytes(Encoding.DER)).decode() for c in keys.chain]
    obj = jws.JWS(payload)
    obj.add_signature(key, alg=alg, protected=json.dumps(header))
    token = obj.serialize(compact=True)
    head, _, sig = token.split(".")
    return f"{head}..{sig}" if detached else token


def _with_provenance(bundle: dict, *signatures: tuple[str, str]) -> dict:
    out = copy.deepcopy(bundle)
    qr_url = out["entry"][1]["fullUrl"]
    out["entry"].append({"fullUrl": "urn:uuid:0d7c6b5a-4e3f-4a2b-9c1d-0e9f8a7b6c5d", "resource": {
        "resourceType": "Provenance", "target": [{"reference": qr_url}], "recorded": "2026-09-14T10:32:00+02:00",
        "agent": [{"who": {"display": "Exempeljournal"}}],
        "signature": [{"type": [{"system": "urn:iso-astm:E1762-95:2013", "code": "1.2.840.10065.1.12.1.1"}],
                       "when": "2026-09-14T10:32:00+02:00", "who": {"display": "Lena Läkarsson"},
                       "sigFormat": fmt, "data": base64.b64encode(data.encode()).decode()}
                      for fmt, data in signatures]}})
    return out


def _qr(bundle: dict) -> dict:
    return bundle["entry"][1]["resource"]


@pytest.mark.parametrize("detached", [True, False], ids=["detached", "attached"])
def test_valid_jws_over_the_response(ec_keys, example_bundle, detached: bool) -> None:
    token = _token(ec_keys, canonical_json(_qr(example_bundle)), detached=detached)
    bundle = _with_provenance(example_bundle, ("application/jose", token))
    [result] = verify_provenance_signatures(bundle, trust=[ec_keys.ca])
    assert (result.ok, result.status, result.code) == (True, "valid", "LISN_PROV_SIGNATURE_VALID")
    assert result.expression == "Bundle.entry[9].resource.signature[0]"
    assert "NOT FOR PRODUCTION" in result.signer


def test_rsa_signer(rsa_keys, example_bundle) -> None:
    token = _token(rsa_keys, canonical_json(_qr(example_bundle)), alg="RS256")
    [result] = verify_provenance_signatures(_with_provenance(example_bundle, ("application/jose", token)),
                                            trust=[rsa_keys.ca])
    assert result.ok


def test_changed_response_fails(ec_keys, example_bundle) -> None:
    token = _token(ec_keys, canonical_json(_qr(example_bundle)))
    bundle = _with_provenance(example_bundle, ("application/jose", token))
    _qr(bundle)["authored"] = "2026-09-15T10:32:00+02:00"
    [result] = verify_provenance_signatures(bundle, trust=[ec_keys.ca])
    assert (result.ok, result.code) == (False, "LISN_PROV_SIGNATURE_INVALID")


def test_attached_payload_of_another_document_fails(ec_keys, example_bundle) -> None:
    token = _token(ec_keys, b'{"resourceType":"QuestionnaireResponse"}', detached=False)
    [result] = verify_provenance_signatures(_with_provenance(example_bundle, ("application/jose", token)),
                                            trust=[ec_keys.ca])
    assert (result.ok, result.code) == (False, "LISN_PROV_PAYLOAD_MISMATCH")


def test_untrusted_or_missing_certificate_fails(ec_keys, example_bundle) -> None:
    payload = canonical_json(_qr(example_bundle))
    foreign = make_ca(new_key("ecdsa"))
    bundle = _with_provenance(example_bundle, ("application/jose", _token(ec_keys, payload)),
                              ("application/jose", _token(ec_keys, payload, x5c=False)))
    results = verify_provenance_signatures(bundle, trust=[foreign])
    assert [(r.ok, r.code) for r in results] == [(False, "LISN_PROV_SIGNATURE_UNTRUSTED")] * 2


@pytest.mark.parametrize("header", [{"alg": "none"}, {"alg": "HS256"}, {"alg": "RS1"}])
def test_weak_algorithms_are_refused(ec_keys, example_bundle, header: dict) -> None:
    head = base64.urlsafe_b64encode(json.dumps(header).encode()).decode().rstrip("=")
    [result] = verify_provenance_signatures(_with_provenance(example_bundle, ("application/jose", f"{head}..AAAA")),
                                            trust=[ec_keys.ca])
    assert (result.ok, result.code) == (False, "LISN_PROV_ALGORITHM_NOT_ALLOWED")


def test_garbage_and_unknown_formats(ec_keys, example_bundle) -> None:
    bundle = _with_provenance(example_bundle, ("application/jose", "not a jws"), ("image/png", "xyz"))
    results = verify_provenance_signatures(bundle, trust=[ec_keys.ca])
    assert [r.code for r in results] == ["LISN_PROV_SIGNATURE_INVALID", "LISN_PROV_FORMAT_UNSUPPORTED"]


def test_inera_xml_signature_is_passed_on_untouched(ec_keys, example_bundle) -> None:
    original = '<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#">…</ds:Signature>'
    bundle = _with_provenance(example_bundle, ("application/signature+xml", original))
    [result] = verify_provenance_signatures(bundle, trust=[ec_keys.ca])
    assert (result.ok, result.status, result.code) == (None, "passed-on", "LISN_PROV_XML_SIGNATURE_PASSED_ON")
    xml = render_municipal_xml(bundle)
    data = bundle["entry"][-1]["resource"]["signature"][0]["data"]
    assert f'<ursprungligSignatur format="application/signature+xml">{data}</ursprungligSignatur>'.encode() in xml
    assert base64.b64decode(data).decode() == original


def test_no_provenance_no_results(ec_keys, example_bundle) -> None:
    assert verify_provenance_signatures(example_bundle, trust=[ec_keys.ca]) == []
