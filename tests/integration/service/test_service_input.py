"""Robust input: size limits (also chunked, over a real socket), content types, parsing, nesting.

Each refusal is a 4xx OperationOutcome and leaves every table as it was.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from service_helpers import FHIR, LIMIT, Api, example

from adapter import errors
from adapter.api.serving import make_embedded_server


def mid(body: dict[str, Any]) -> list[str | None]:
    return [errors.message_id_of(i) for i in body["issue"] if i["severity"] in ("error", "fatal")]


BODY_ENDPOINTS = ["/fhir/$process-message", "/fhir/Consent", "/fhir/Bundle/$validate",
                  "/fhir/QuestionnaireResponse/$validate"]


@pytest.mark.parametrize("path", BODY_ENDPOINTS)
def test_oversize_body_is_413(api: Api, path: str) -> None:
    before = api.counts()
    r = api.post(path, b"{" + b" " * LIMIT + b"}")
    assert r.status_code == 413 and mid(r.json) == ["LISN_BODY_TOO_LARGE"]
    assert api.counts() == before


def test_body_at_the_limit_is_read(api: Api) -> None:
    body = json.dumps(example()).encode()
    padded = body[:-1] + b" " * (LIMIT - len(body)) + b"}"
    assert len(padded) == LIMIT
    assert api.post("/fhir/$process-message", padded).status_code == 200


@pytest.mark.parametrize("content_type", ["text/plain", "application/xml", "application/fhir+json; charset=latin-1",
                                          None])
def test_wrong_content_type_is_415(api: Api, content_type: str | None) -> None:
    before = api.counts()
    r = api.post("/fhir/$process-message", example(), content_type=content_type)
    assert r.status_code == 415 and mid(r.json) == ["LISN_CONTENT_TYPE"]
    assert api.counts() == before


def test_plain_json_content_type_is_accepted(api: Api) -> None:
    assert api.post("/fhir/$process-message", example(), content_type="application/json").status_code == 200


@pytest.mark.parametrize(("body", "expected"), [
    (b"{not json", "LISN_INPUT_NOT_JSON"),
    (b"[" * 10_000 + b"]" * 10_000, "LISN_INPUT_TOO_DEEP"),
    (b'{"resourceType": "Bundle", "resourceType": "Bundle"}', "LISN_INPUT_NOT_JSON"),
    (b"\xff\xfe{}", "LISN_INPUT_NOT_UTF8"),
    (b"", "LISN_INPUT_NOT_JSON"),
])
@pytest.mark.parametrize("path", ["/fhir/$process-message", "/fhir/Consent"])
def test_unreadable_json_is_400(api: Api, path: str, body: bytes, expected: str) -> None:
    before = api.counts()
    r = api.post(path, body)
    assert r.status_code == 400 and mid(r.json) == [expected]
    assert api.counts() == before


# -- a real socket ------------------------------------------------------------------------------

@pytest.fixture
def server(api: Api) -> Iterator[tuple[str, int]]:
    srv = make_embedded_server(api.app, "127.0.0.1", 0)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield "127.0.0.1", srv.server_port
    srv.shutdown()
    thread.join(5)
    srv.server_close()


def _exchange(address: tuple[str, int], head: bytes, chunks: list[bytes]) -> tuple[int, dict[str, Any]]:
    with socket.create_connection(address, timeout=10) as sock:
        sock.sendall(head)
        try:
            for chunk in chunks:
                sock.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may answer before it has read everything
        sock.shutdown(socket.SHUT_WR)
        data = b""
        while part := sock.recv(65536):
            data += part
    status_line, _, rest = data.partition(b"\r\n")
    body = rest.split(b"\r\n\r\n", 1)[1]
    return int(status_line.split()[1]), json.loads(body)


def _chunked(payload: bytes, size: int = 8192) -> list[bytes]:
    out = [b"%x\r\n%s\r\n" % (len(payload[i:i + size]), payload[i:i + size]) for i in range(0, len(payload), size)]
    return out + [b"0\r\n\r\n"]


def _head(token: str, port: int) -> bytes:
    return (f"POST /fhir/$process-message HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Authorization: Bearer {token}\r\nContent-Type: {FHIR}\r\nTransfer-Encoding: chunked\r\n"
            "Connection: close\r\n\r\n").encode()


def test_chunked_oversize_body_is_413_over_a_socket(api: Api, server: tuple[str, int]) -> None:
    before = api.counts()
    payload = b'{"resourceType": "Bundle", "x": "' + b"a" * (2 * LIMIT) + b'"}'
    status, body = _exchange(server, _head(api.tokens["ehr"], server[1]), _chunked(payload))
    assert status == 413 and mid(body) == ["LISN_BODY_TOO_LARGE"]
    assert api.counts() == before


def test_chunked_submission_over_a_socket(api: Api, server: tuple[str, int]) -> None:
    payload = json.dumps(example()).encode()
    status, body = _exchange(server, _head(api.tokens["ehr"], server[1]), _chunked(payload, 1000))
    assert status == 200 and body["resourceType"] == "Bundle"
    task_id = body["entry"][1]["resource"]["id"]
    with socket.create_connection(server, timeout=10) as sock:
        sock.sendall((f"GET /fhir/Task/{task_id} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
                      f"{api.tokens['stockholm']}\r\nConnection: close\r\n\r\n").encode())
        data = b""
        while part := sock.recv(65536):
            data += part
    assert data.startswith(b"HTTP/1.1 200") and b'"resourceType":"Task"' in data


def test_request_log_leaves_out_the_query(api: Api, server: tuple[str, int], caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="werkzeug")
    with socket.create_connection(server, timeout=10) as sock:
        sock.sendall((f"GET /fhir/Consent?patient=191212121212 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
                      f"{api.tokens['ehr']}\r\nConnection: close\r\n\r\n").encode())
        while sock.recv(65536):
            pass
    lines = [r.getMessage() for r in caplog.records if r.name == "werkzeug"]
    assert any("GET /fhir/Consent " in line for line in lines)
    assert not any("191212121212" in line for line in lines)


@pytest.mark.parametrize("path", ["/fhir/Task/%00", "/fhir/Consent/a%00b", "/fhir/Task?focus=x%00",
                                  "/fhir/Consent?patient=1912%0012", "/fhir/Task/" + "a" * 65,
                                  "/fhir/Consent?patient=%F0%9F%98%80"])
def test_hostile_ids_and_search_values_are_400(api: Api, path: str) -> None:
    before = api.counts()
    r = api.get(path)
    assert r.status_code == 400 and mid(r.json) == ["LISN_PARAM_INVALID"]
    assert api.counts() == before
    r = api.post("/fhir/Consent/%00/$revoke", b"", content_type=None)
    assert r.status_code == 400
