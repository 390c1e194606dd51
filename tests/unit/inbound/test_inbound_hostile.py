"""Hostile input: DTDs, entities, bombs, oversize and malformed files give an OperationOutcome, never a traceback."""

from __future__ import annotations

import pytest

from adapter import errors
from adapter.inbound import map_export
from adapter.settings import Limits

ROOT_OPEN = ('<rc:RegisterCertificate xmlns:rc="urn:riv:clinicalprocess:healthcond:certificate:'
             'RegisterCertificateResponder:3">')

HOSTILE_XML = {
    "billion-laughs": (
        '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        '<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
        '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>'
        f'{ROOT_OPEN}<x>&lol3;</x></rc:RegisterCertificate>', "LISN_INPUT_XML_DTD"),
    "xxe-file": (
        '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
        f'{ROOT_OPEN}<x>&xxe;</x></rc:RegisterCertificate>', "LISN_INPUT_XML_DTD"),
    "xxe-network": (
        '<?xml version="1.0"?><!DOCTYPE r SYSTEM "http://127.0.0.1:9/evil.dtd">'
        f'{ROOT_OPEN}</rc:RegisterCertificate>', "LISN_INPUT_XML_DTD"),
    "plain-doctype": (f'<!DOCTYPE r>{ROOT_OPEN}</rc:RegisterCertificate>', "LISN_INPUT_XML_DTD"),
    "not-well-formed": (f"{ROOT_OPEN}<a></b>", "LISN_INPUT_NOT_XML"),
    "too-deep": (ROOT_OPEN + "<a>" * 100 + "</a>" * 100 + "</rc:RegisterCertificate>", "LISN_INPUT_TOO_DEEP"),
}


@pytest.mark.parametrize("name", sorted(HOSTILE_XML))
def test_hostile_xml_is_refused(name: str) -> None:
    raw, message_id = HOSTILE_XML[name]
    with pytest.raises(errors.InputRejected) as exc:
        map_export(raw.encode(), "inera-xml")
    assert [errors.message_id_of(i) for i in exc.value.outcome["issue"]] == [message_id]
    assert "passwd" not in str(exc.value.outcome) and "root:" not in str(exc.value.outcome)


@pytest.mark.parametrize(("fmt", "raw", "message_id"), [
    ("openehr-flat", b'{"a": 1,', "LISN_INPUT_NOT_JSON"),
    ("openehr-flat", b'{"a": 1, "a": 2}', "LISN_INPUT_NOT_JSON"),
    ("fhir", b"\xff\xfe{}", "LISN_INPUT_NOT_UTF8"),
    ("fhir", b"[" * 200 + b"]" * 200, "LISN_INPUT_TOO_DEEP"),
])
def test_malformed_json_is_refused(fmt: str, raw: bytes, message_id: str) -> None:
    with pytest.raises(errors.InputRejected) as exc:
        map_export(raw, fmt)
    assert errors.message_id_of(exc.value.outcome["issue"][0]) == message_id


def test_oversize_input_is_refused_before_parsing() -> None:
    with pytest.raises(errors.PayloadTooLarge):
        map_export(b'{"x": "' + b"a" * 2000 + b'"}', "openehr-flat", limits=Limits(max_body_bytes=1000))


@pytest.mark.parametrize(("fmt", "raw"), [("openehr-flat", b"[1, 2]"), ("fhir", b'"text"'), ("openehr-flat", b"null")])
def test_json_that_is_not_an_object(fmt: str, raw: bytes) -> None:
    with pytest.raises(errors.MappingError) as exc:
        map_export(raw, fmt)
    assert errors.message_id_of(exc.value.outcome["issue"][0]) == "LISN_MAP_NOT_OBJECT"
