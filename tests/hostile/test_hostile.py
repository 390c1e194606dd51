"""Hostile input: every case gives a 4xx with an OperationOutcome, never a 5xx, and changes no
stored state (row counts of every table but the audit log, before and after).

The corpus is data (see README.md beside this file), found by glob. ``expected.json`` pins the
message id each case is refused with, so that a case cannot pass by being refused for an
unrelated reason (a missing token, say) instead of the hostile content.
"""

from __future__ import annotations

import json
import os
import re
import socket
import uuid
from pathlib import Path
from typing import Any

import pytest

from bench import certificates

HERE = Path(__file__).resolve().parent
DATA_FILES = ("tokens.json", "expected.json", "known-defects.json", "formats.json", "mappings.json", "probes.json")
RAW = sorted(p for p in HERE.iterdir() if p.suffix in (".json", ".xml") and p.name not in DATA_FILES)
# Defects found by this corpus and not yet fixed (in other areas): strict xfail, so a fix shows.
KNOWN_DEFECTS: dict[str, str] = json.loads((HERE / "known-defects.json").read_text(encoding="utf-8"))


def _param(path: Path, key: str) -> Any:
    reason = KNOWN_DEFECTS.get(key)
    # raises=AssertionError: only the defect itself (a 5xx) is expected; a case that fails for
    # another reason (say its refusal id is not in expected.json yet) fails visibly.
    marks = [pytest.mark.xfail(strict=True, raises=AssertionError, reason=reason)] if reason else []
    return pytest.param(path, id=path.stem, marks=marks)


PATCHES = [_param(p, f"patches/{p.name}") for p in sorted((HERE / "patches").glob("*.json"))]
TOKENS = json.loads((HERE / "tokens.json").read_text(encoding="utf-8"))["cases"]
EXPECTED: dict[str, list[str]] = json.loads((HERE / "expected.json").read_text(encoding="utf-8"))

SUBMIT = "/fhir/$process-message"
FHIR_JSON = "application/fhir+json"
# JSON bodies go to every endpoint that takes one; XML to the inbound formats that read XML.
JSON_TARGETS = (SUBMIT, "/fhir/Consent", "/fhir/Bundle/$validate", "/fhir/QuestionnaireResponse/$validate")
XML_TARGETS = (SUBMIT + "?format=inera-xml", SUBMIT + "?format=fhir")
VALIDATE = ("/fhir/Bundle/$validate", "/fhir/QuestionnaireResponse/$validate")


def message_ids(body: dict[str, Any]) -> list[str]:
    from adapter.errors import message_id_of

    return [m for m in (message_id_of(i) for i in body.get("issue", [])) if m]


def assert_refused(resp: Any, *, validate: bool = False) -> dict[str, Any]:
    """A 4xx (or, from $validate, a 200 whose outcome has errors) with an OperationOutcome."""
    assert resp.status_code < 500, resp.get_data(as_text=True)[:500]
    assert resp.mimetype == FHIR_JSON
    body = resp.get_json()
    assert body["resourceType"] == "OperationOutcome" and body["issue"]
    assert any(i["severity"] in ("error", "fatal") for i in body["issue"])
    if not (validate and resp.status_code == 200):
        assert 400 <= resp.status_code < 500
    return dict(body)


def _post(instance: Any, path: str, body: bytes, ctype: str, headers: dict[str, str] | None = None) -> Any:
    auth = {"Authorization": f"Bearer {instance.token}"} if headers is None else headers
    with instance.app.test_client() as client:
        return client.post(path, data=body, headers={"Content-Type": ctype, "Accept": FHIR_JSON, **auth})


def _expect(case: str, ids: list[str]) -> None:
    record = os.environ.get("LISN_HOSTILE_RECORD")
    if record:  # maintenance: write what each case is refused with, then review it into expected.json
        with open(record, "a", encoding="utf-8") as fh:
            fh.write(json.dumps([case, ids]) + "\n")
        return
    wanted = EXPECTED.get(case)
    if wanted is None:
        pytest.fail(f"add {case!r} to expected.json (refused with {ids})")
    if not set(ids) & set(wanted):
        pytest.fail(f"{case}: refused with {ids}, expected one of {wanted}")


@pytest.mark.parametrize("path", RAW, ids=lambda p: p.name)
def test_raw_body(instance: Any, path: Path) -> None:
    raw = path.read_bytes()
    targets, ctype = (JSON_TARGETS, FHIR_JSON) if path.suffix == ".json" else (XML_TARGETS, "application/fhir+xml")
    before = instance.counts()
    for target in targets:
        body = assert_refused(_post(instance, target, raw, ctype), validate=target in VALIDATE)
        if target.startswith(SUBMIT):
            _expect(f"{path.name} {target}", message_ids(body))
    assert instance.counts() == before


def _apply(doc: Any, op: dict[str, Any]) -> None:
    """RFC 6902 replace / add / remove / move on JSON Pointer paths (enough for the corpus)."""
    def split(pointer: str) -> tuple[Any, str]:
        parts = [p.replace("~1", "/").replace("~0", "~") for p in pointer.lstrip("/").split("/")]
        parent = doc
        for part in parts[:-1]:
            parent = parent[int(part)] if isinstance(parent, list) else parent[part]
        return parent, parts[-1]

    if op["op"] == "move":
        parent, key = split(op["from"])
        value = parent.pop(int(key)) if isinstance(parent, list) else parent.pop(key)
        _apply(doc, {"op": "add", "path": op["path"], "value": value})
        return
    parent, key = split(op["path"])
    if op["op"] == "remove":
        del parent[int(key) if isinstance(parent, list) else key]
    elif isinstance(parent, list):
        index = len(parent) if key == "-" else int(key)
        if op["op"] == "add":
            parent.insert(index, op["value"])
        else:
            parent[index] = op["value"]
    else:
        parent[key] = op["value"]


@pytest.mark.parametrize("path", PATCHES)
def test_patched_example(instance: Any, path: Path) -> None:
    bundle = certificates.with_certificate_id(certificates.example())
    for op in json.loads(path.read_text(encoding="utf-8"))["patch"]:
        _apply(bundle, op)
    # ensure_ascii keeps lone surrogates as \ud800 escapes, which is how an attacker sends them
    raw = json.dumps(bundle, ensure_ascii=True).encode("ascii")
    before = instance.counts()
    body = assert_refused(_post(instance, SUBMIT, raw, FHIR_JSON))
    _expect(f"patches/{path.name}", message_ids(body))
    assert instance.counts() == before


@pytest.mark.parametrize("case", TOKENS, ids=lambda c: c["name"])
def test_forged_credentials(instance: Any, case: dict[str, Any]) -> None:
    raw = certificates.to_bytes(certificates.with_certificate_id(certificates.example()))
    before = instance.counts()
    resp = _post(instance, SUBMIT, raw, FHIR_JSON, headers=case["headers"])
    assert_refused(resp)
    assert resp.status_code == 401  # no client behind any of them: unauthenticated, not merely forbidden
    assert instance.counts() == before


def test_the_valid_example_is_accepted(instance: Any) -> None:
    """The control: the same set-up accepts the untouched example, so refusals above are real."""
    raw = certificates.to_bytes(certificates.with_certificate_id(certificates.example()))
    before = instance.counts()
    resp = _post(instance, SUBMIT, raw, FHIR_JSON)
    assert resp.status_code == 200, resp.get_data(as_text=True)[:800]
    assert instance.counts()["submissions"] == before["submissions"] + 1


# -- generated at test time (too large, or pointless, to keep as files) -------------------------

def _generated() -> dict[str, tuple[bytes, str]]:
    depth = 10_000
    blob = "a" * 50_000
    return {
        "oversize-json": (b'{"resourceType": "Bundle", "type": "message", "entry": []}' + b" " * (2 * 1024 * 1024),
                          FHIR_JSON),
        "deep-json": (b'{"resourceType": "Bundle", "type": "message", "entry": ' + b"[" * depth + b"]" * depth + b"}",
                      FHIR_JSON),
        "deep-json-objects": (b'{"resourceType": "Bundle", "a": ' + b'{"a": ' * depth + b"1" + b"}" * depth + b"}",
                              FHIR_JSON),
        "deep-xml": (b'<Bundle xmlns="http://hl7.org/fhir">' + b"<a>" * depth + b"</a>" * depth + b"</Bundle>",
                     "application/fhir+xml"),
        "quadratic-blowup-xml": (f'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "{blob}">]><x>{"&a;" * 2000}</x>'.encode(),
                                 "application/fhir+xml"),
        "example-as-text-plain": (certificates.example_bytes(), "text/plain"),
        "example-latin1-charset": (certificates.example_bytes(), "application/fhir+json; charset=iso-8859-1"),
    }


@pytest.mark.parametrize("name", sorted(_generated()))
def test_generated(instance: Any, name: str) -> None:
    raw, ctype = _generated()[name]
    target = SUBMIT + ("?format=inera-xml" if "xml" in ctype else "")
    before = instance.counts()
    body = assert_refused(_post(instance, target, raw, ctype))
    _expect(f"generated/{name}", message_ids(body))
    assert instance.counts() == before


def _raw_http(port: int, request: bytes) -> tuple[int, bytes]:
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(request)
        data = b""
        while True:
            try:
                chunk = sock.recv(65536)
            except (ConnectionResetError, TimeoutError):
                break
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


def test_chunked_oversize_over_a_real_socket(instance: Any) -> None:
    """Werkzeug gives a chunked body to the app as an unbounded stream: the limit must still hold."""
    import threading

    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, instance.app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        chunk = b" " * 65536
        pieces = [b'{"resourceType": "Bundle", "type": "message", "entry": []}'] + [chunk] * 40  # ~2.6 MB
        body = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"
        head = (f"POST {SUBMIT} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {FHIR_JSON}\r\n"
                f"Authorization: Bearer {instance.token}\r\nTransfer-Encoding: chunked\r\n"
                "Connection: close\r\n\r\n").encode()
        before = instance.counts()
        status, answer = _raw_http(server.server_port, head + body)
        assert status == 413
        assert json.loads(answer)["resourceType"] == "OperationOutcome"
        assert instance.counts() == before
    finally:
        server.shutdown()
        server.server_close()


# -- on the wire: malformed framing and request lines, through the embedded server ---------------

WIRE = sorted((HERE / "wire").glob("*.http"))


@pytest.mark.parametrize("path", WIRE, ids=lambda p: p.stem)
def test_malformed_wire_request(instance: Any, path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    """A malformed chunk size or request line: 400 with an OperationOutcome, never a 500, a
    dropped connection or a traceback (``wire/*.http``; ``{TOKEN}`` is the sender's token)."""
    import threading

    from adapter.api.serving import make_embedded_server

    server = make_embedded_server(instance.app, "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        before = instance.counts()
        status, answer = _raw_http(server.server_port, path.read_bytes().replace(b"{TOKEN}", instance.token.encode()))
        assert status == 400
        body = json.loads(answer)
        assert body["resourceType"] == "OperationOutcome"
        _expect(f"wire/{path.name}", message_ids(body))
        assert instance.counts() == before
    finally:
        server.shutdown()
        server.server_close()
    assert "Traceback" not in capfd.readouterr().err


# -- ?format= names a registered mapping, never a path ---------------------------------------------

FORMATS = json.loads((HERE / "formats.json").read_text(encoding="utf-8"))["cases"]


@pytest.mark.parametrize("case", FORMATS, ids=lambda c: c["name"])
def test_format_is_never_a_path(instance: Any, case: dict[str, str], tmp_path: Path) -> None:
    """``?format=`` with ``../``, an absolute path or an over-long name; ``{PLANTED}`` is a copy of a
    real mapping file outside ``mappings/inbound`` (without ``.yaml``), which the old code loaded."""
    import shutil
    from urllib.parse import quote

    planted = tmp_path / "planted"
    shutil.copy(Path(certificates.__file__).resolve().parents[1] / "mappings" / "inbound" / "inera-xml.yaml",
                f"{planted}.yaml")
    fmt = case["format"].replace("{PLANTED}", str(planted).lstrip("/"))
    raw = (Path(certificates.__file__).resolve().parents[1] / "mappings" / "examples" / "inera-xml"
           / "lisn-depression.xml").read_bytes()
    before = instance.counts()
    body = assert_refused(_post(instance, f"{SUBMIT}?format={quote(fmt, safe='')}", raw, "application/xml"))
    _expect(f"formats/{case['name']}", message_ids(body))
    assert instance.counts() == before


# -- hostile mapping files: bounded size and depth, selectors that read only their document -------

MAPPINGS = json.loads((HERE / "mappings.json").read_text(encoding="utf-8"))["cases"]


def _pad(text: str) -> str:
    text = text.replace("PADALIAS", ", ".join(["*a"] * 100))
    return re.sub(r"PAD(\d+)", lambda m: "x" * int(m.group(1)), text)


@pytest.mark.parametrize("case", MAPPINGS, ids=lambda c: c["name"])
def test_hostile_mapping_file(case: dict[str, str], tmp_path: Path) -> None:
    from adapter import errors
    from adapter.inbound.mapping import load_mapping

    shipped = Path(certificates.__file__).resolve().parents[1] / "mappings" / "inbound" / "inera-xml.yaml"
    text = shipped.read_text(encoding="utf-8")
    if "append" in case:
        text += "\n" + _pad(case["append"])
    else:
        selector = 'from: "rc:intyg/gn:version"'
        assert selector in text
        text = text.replace(selector, "from: " + json.dumps(_pad(case["replace"])))
    path = tmp_path / "hostile.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(errors.MappingError) as caught:
        load_mapping(path)
    texts = " ".join(i["details"]["text"] for i in caught.value.outcome["issue"])
    assert case["expect"] in texts


# -- another tenant's data (issue 13): answered exactly as data that does not exist ---------------

PROBES = json.loads((HERE / "probes.json").read_text(encoding="utf-8"))["cases"]
OTHER_UNIT = "SE2321000016-9ZZZ"


@pytest.fixture(scope="module")
def tenants(instance: Any) -> dict[str, str]:
    """The first sender's certificate (with its Task and Consent), and a second sender's token."""
    from adapter.store.clients import add_client

    cert = uuid.uuid4()
    accepted = _post(instance, SUBMIT, certificates.to_bytes(certificates.with_certificate_id(
        certificates.example(), cert)), FHIR_JSON)
    assert accepted.status_code == 200, accepted.get_data(as_text=True)[:500]
    task = next(e["resource"]["id"] for e in accepted.get_json()["entry"] if e["resource"]["resourceType"] == "Task")
    with instance.app.test_client() as client:
        found = client.get("/fhir/Consent?patient=191212121212",
                           headers={"Authorization": f"Bearer {instance.token}", "Accept": FHIR_JSON}).get_json()
    svc = instance.app.extensions["lisn"]
    with svc.store.session() as session:
        _, other = add_client(session, name="hostile-other-unit", role="sender", pepper=svc.pepper,
                              care_units=(OTHER_UNIT,))
    return {"cert": str(cert), "task": task, "consent": found["entry"][0]["resource"]["id"],
            "unknown": str(uuid.uuid4()), "token": other}


def _probe_body(spec: str | None, ids: dict[str, str]) -> bytes:
    if spec is None:
        return b""
    kind, _, of = spec.format(**ids).partition(" of ")
    assert kind == "withdrawal", spec
    example = certificates.ROOT / "profiles" / "examples" / "Bundle-lisn-example-withdrawal.json"
    bundle = json.loads(example.read_text(encoding="utf-8").replace("SE2321000016-15CQ", OTHER_UNIT))
    return certificates.to_bytes(certificates.with_certificate_id(bundle, uuid.UUID(of)))


@pytest.mark.parametrize("case", PROBES, ids=lambda c: c["name"])
def test_another_tenants_data_is_answered_as_none(instance: Any, tenants: dict[str, str],
                                                  case: dict[str, str]) -> None:
    headers = {"Authorization": f"Bearer {tenants['token']}", "Accept": FHIR_JSON, "Content-Type": FHIR_JSON}
    before = instance.counts()

    def ask(path: str, body: bytes) -> Any:
        with instance.app.test_client() as client:
            return client.open(path.format(**tenants), method=case["method"], data=body, headers=headers)

    probe = ask(case["path"], _probe_body(case.get("body"), tenants))
    control = ask(case.get("control", case["path"]), _probe_body(case.get("control_body"), tenants))
    assert probe.status_code != 403, probe.get_data(as_text=True)[:300]
    assert (probe.status_code, _blank(probe)) == (control.status_code, _blank(control))
    after = instance.counts()
    assert {k: v for k, v in after.items() if k != "audit_log"} == {k: v for k, v in before.items() if k != "audit_log"}


def _blank(resp: Any) -> str:
    """The answer with what differs between any two answers (ids, times) blanked."""
    text = resp.get_data(as_text=True)
    text = re.sub(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "<id>", text)
    return re.sub(r"\d{4}-\d\d-\d\dT[\d:.]+(Z|[+-]\d\d:\d\d)", "<time>", text)
