from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapter import errors
from adapter.fhir.parse import parse_json, parse_xml, sniff
from adapter.issues import Issues
from adapter.settings import Limits, Settings


def _mid(exc: errors.AdapterError) -> str | None:
    return errors.message_id_of(exc.outcome["issue"][0])


@pytest.mark.parametrize(("error", "status", "retry_after"), [
    (errors.InputRejected(), 400, None), (errors.PayloadTooLarge(), 413, None),
    (errors.UnsupportedMediaType(), 415, None), (errors.MappingError(), 422, None),
    (errors.ValidationFailed(), 422, None), (errors.SigningError(), 422, None), (errors.TransformError(), 500, None),
    (errors.Unauthenticated(), 401, None), (errors.Forbidden(), 403, None), (errors.NotFound(), 404, None),
    (errors.Conflict(), 409, None), (errors.RetryLater(), 503, 60), (errors.StoreUnavailable(), 503, 5),
    (errors.AdapterError(), 500, None),
])
def test_one_table_decides_status_and_retry_after(error: errors.AdapterError, status: int,
                                                  retry_after: int | None) -> None:
    assert errors.http_status(error) == errors.HttpStatus(status, retry_after)
    assert errors.status_for(error) == status


def test_an_error_without_a_row_answers_as_its_parent() -> None:
    class Stale(errors.Conflict):
        """A newer version exists."""

    assert errors.status_for(Stale()) == 409


def test_every_error_class_has_its_row_and_its_place_in_the_drawn_tree() -> None:
    classes = [c for c in vars(errors).values() if isinstance(c, type) and issubclass(c, errors.AdapterError)]
    assert set(classes) == set(errors.HTTP)
    tree = (errors.__doc__ or "").split("Exception tree")[1]
    assert [c.__name__ for c in classes if f" {c.__name__} " not in tree] == []


def test_unknown_exception_outcome_leaks_nothing() -> None:
    oo = errors.to_outcome(RuntimeError("personnummer 191212121212"))
    assert "1912" not in str(oo)
    assert oo["issue"][0]["code"] == "exception"


def test_issues_collects_all_and_keeps_ids() -> None:
    issues = Issues()
    assert issues.check(True, "ALL_OK") is True
    issues.check(False, "X_ONE", expression="A.b")
    issues.check(False, "X_TWO", expression="A.c", severity="warning")
    assert [errors.message_id_of(i) for i in issues] == ["X_ONE", "X_TWO"]
    assert issues.has_errors
    assert issues.outcome()["issue"][0]["expression"] == ["A.b"]


@pytest.mark.parametrize("raw, message_id", [
    (b"{", "LISN_INPUT_NOT_JSON"),
    (b'{"a": 1, "a": 2}', "LISN_INPUT_NOT_JSON"),
    (b"\xff\xfe", "LISN_INPUT_NOT_UTF8"),
    (b"[" * 65 + b"]" * 65, "LISN_INPUT_TOO_DEEP"),
])
def test_parse_json_rejects(raw: bytes, message_id: str) -> None:
    with pytest.raises(errors.InputRejected) as info:
        parse_json(raw)
    assert _mid(info.value) == message_id


def test_parse_json_reports_line_and_column() -> None:
    with pytest.raises(errors.InputRejected) as info:
        parse_json(b'{\n  "a": tru\n}')
    exts = {e["url"].rsplit("-", 1)[-1]: e["valueInteger"] for e in info.value.outcome["issue"][0]["extension"]
            if "valueInteger" in e}
    assert exts == {"line": 2, "col": 8}


def test_parse_json_size_limit() -> None:
    with pytest.raises(errors.PayloadTooLarge):
        parse_json(b'"' + b"x" * 100 + b'"', Limits(max_body_bytes=50))
    assert parse_json(b'"' + b"x" * 10 + b'"', Limits(max_body_bytes=50)) == "x" * 10


@pytest.mark.parametrize("raw, message_id", [
    (b'<!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>', "LISN_INPUT_XML_DTD"),
    (b'<!DOCTYPE x SYSTEM "http://127.0.0.1:9/x.dtd"><x/>', "LISN_INPUT_XML_DTD"),
    (b"<x><y></x>", "LISN_INPUT_NOT_XML"),
    (b"<a>" * 70 + b"</a>" * 70, "LISN_INPUT_TOO_DEEP"),
])
def test_parse_xml_rejects(raw: bytes, message_id: str) -> None:
    with pytest.raises(errors.InputRejected) as info:
        parse_xml(raw)
    assert _mid(info.value) == message_id


def test_parse_xml_accepts_plain() -> None:
    assert parse_xml(b"<a><b>1</b></a>").findtext("b") == "1"


def test_sniff() -> None:
    assert sniff(b"  {") == "json"
    assert sniff(b"\xef\xbb\xbf<x/>") == "xml"
    assert sniff(b"hello") == "unknown"


def test_settings_from_env() -> None:
    s = Settings.from_env({"ADAPTER_DATA_DIR": "/tmp/x", "ADAPTER_LIMITS_MAX_BODY_BYTES": "10",
                           "ADAPTER_DELIVERY_RUN_IN_PROCESS": "true",
                           "ADAPTER_SERVICE_TRUSTED_PROXIES": "127.0.0.1, ::1"})
    assert s.limits.max_body_bytes == 10
    assert s.delivery.run_in_process is True
    assert s.service.trusted_proxies == ("127.0.0.1", "::1")
    assert s.database.effective_url() == "sqlite:////tmp/x/adapter.db"


@pytest.mark.parametrize("raw, expression", [
    (b'{"resourceType": "Patient", "name": [{"family": "A\\u0000B"}]}', "Patient.name[0].family"),
    (b'{"resourceType": "Patient", "name": [{"given": ["x", "\\udc00"]}]}', "Patient.name[0].given[1]"),
    (b'{"a\\u0001": 1}', "$"),
])
def test_parse_json_refuses_forbidden_characters(raw: bytes, expression: str) -> None:
    with pytest.raises(errors.InputRejected) as info:
        parse_json(raw)
    assert _mid(info.value) == "LISN_INPUT_BAD_CHARACTER"
    assert info.value.outcome["issue"][0]["expression"] == [expression]


def test_parse_json_keeps_allowed_escapes() -> None:
    assert parse_json(b'{"t": "a\\tb\\nc\\r\\u00e5\\ud83d\\ude00"}') == {"t": "a\tb\nc\r\u00e5\U0001F600"}


@pytest.mark.parametrize("raw", [b"5", b'"text"', b"null", b"[]", b"{}"])
def test_parse_json_scalars_and_empties(raw: bytes) -> None:
    assert parse_json(raw) == __import__("json").loads(raw)


def test_parse_json_depth_limit_is_exact() -> None:
    assert parse_json(b"[" * 64 + b"]" * 64) is not None
    assert parse_json(b'{"a":' * 64 + b"1" + b"}" * 64) is not None
    for raw in (b'{"a":' * 65 + b"1" + b"}" * 65, b"[" * 100_000 + b"]" * 100_000):
        with pytest.raises(errors.InputRejected) as info:
            parse_json(raw, Limits(max_body_bytes=1_000_000))
        assert _mid(info.value) == "LISN_INPUT_TOO_DEEP"



def _depth(value: object) -> int:
    """Containers nested in ``value``, the outermost counted (the reference the parser must agree with)."""
    children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else None
    return 0 if children is None else 1 + max((_depth(c) for c in children), default=0)


def _chain(depth: int) -> object:
    """A chain of objects and arrays ``depth`` deep, each level with a few shallow siblings (more
    brackets than levels)."""
    value: object = 1
    for level in range(depth):
        value = {"a": value, "s": [1], "t": {}} if level % 2 else [value, [], {"b": 2}]
    return value


@pytest.mark.parametrize("limit", [2, 5, 64, 300])
def test_parse_json_depth_limit_is_exact_with_more_brackets_than_the_limit(limit: int) -> None:
    # More brackets than the limit: the depth is counted on the parsed tree (recursively, or with a
    # stack of its own above _RECURSE_UP_TO), not settled by the count of brackets.
    limits = Limits(max_json_depth=limit, max_body_bytes=10_000_000)
    seen = set()
    for depth in (limit - 2, limit - 1, limit, limit + 1):
        if depth < 1:
            continue
        value = _chain(depth)
        raw = json.dumps(value).encode()
        assert raw.count(b"[") + raw.count(b"{") > limit
        seen.add(_depth(value) <= limit)
        if _depth(value) <= limit:
            assert parse_json(raw, limits) == value
        else:
            with pytest.raises(errors.InputRejected) as info:
                parse_json(raw, limits)
            assert _mid(info.value) == "LISN_INPUT_TOO_DEEP"
    assert seen == {True, False}  # both sides of the limit were tried


@pytest.mark.parametrize("raw", [
    b"\xef\xbb\xbf\xef\xbb\xbf{}",  # a second byte order mark: json.loads refuses it (its own check, not the decoder's)
    b'{"a": 1, "a": 2}', b'{"a": {"b": 1, "b": 1}}', b'{"a": NaN}', b'[-Infinity]', b'{"a": 1} x',
    b'{"a" 1}', b"[1,]", b"",
])
def test_parse_json_with_the_decoder_made_once_refuses_as_json_loads_did(raw: bytes) -> None:
    """parse_json reuses one decoder (with its hooks) instead of json.loads: the same inputs are refused,
    with the same line and column json.loads reports."""
    text = raw.decode("utf-8-sig")
    try:
        json.loads(text, object_pairs_hook=_strict_pairs, parse_constant=_no_constants)
    except json.JSONDecodeError as expected:
        with pytest.raises(errors.InputRejected) as caught:
            parse_json(raw)
        issue = caught.value.outcome["issue"][0]
        assert _mid(caught.value) == "LISN_INPUT_NOT_JSON"
        assert _line_col(issue) == (expected.lineno, expected.colno)
        assert expected.msg in json.dumps(issue, ensure_ascii=False)  # the decoder's own words
    except ValueError:
        with pytest.raises(errors.InputRejected) as caught:
            parse_json(raw)
        assert _mid(caught.value) == "LISN_INPUT_NOT_JSON"
    else:
        pytest.fail("every case here is refused by json.loads")
    # The decoder keeps no state between calls: a good text parses after a refused one.
    assert parse_json(b'{"a": [1, {"b": 2}]}') == {"a": [1, {"b": 2}]}


def _strict_pairs(pairs: list[tuple[str, object]]) -> dict[str, object]:
    if len({k for k, _ in pairs}) != len(pairs):
        raise ValueError("duplicate key")
    return dict(pairs)


def _no_constants(token: str) -> object:
    raise ValueError(token)


def _line_col(issue: dict[str, object]) -> tuple[object, object]:
    found = {e["url"].rsplit("-", 1)[1]: e.get("valueInteger") for e in issue.get("extension", [])}  # type: ignore[union-attr]
    return found.get("line"), found.get("col")


def _sniff_by_copy(raw: bytes) -> str:
    """sniff as it was: the body stripped (a copy of it) and its first byte read."""
    head = raw.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    return "json" if head in (b"{", b"[") else "xml" if head == b"<" else "unknown"


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from([b"\xef", b"\xbb", b"\xbf", b"\xef\xbb\xbf", b" ", b"\t", b"\r", b"\n", b"{", b"[",
                                 b"<", b"x", b"\x00", b"\xff", b"]"]), max_size=12).map(b"".join))
def test_sniff_without_copying_reads_the_byte_the_stripped_copy_did(raw: bytes) -> None:
    assert sniff(raw) == _sniff_by_copy(raw)
    assert sniff(raw + b'{"a": 1}') == _sniff_by_copy(raw + b'{"a": 1}')


def test_the_one_decoder_serves_threads_at_once() -> None:
    """The decoder made once is shared by the service's threads; its hook (Python code) lets another
    thread in mid-parse: every thread still gets its own document, and duplicates are still refused."""
    from concurrent.futures import ThreadPoolExecutor

    docs = [json.dumps({"resourceType": "Patient", "id": f"p{n}", "name": [{"given": [f"G{n}-{i}" for i in range(30)]}],
                        "extension": [{"url": f"u{n}", "valueString": "x" * n}]}).encode() for n in range(40)]

    def one(n: int) -> bool:
        for _ in range(20):
            if parse_json(docs[n]) != json.loads(docs[n]):
                return False
            with pytest.raises(errors.InputRejected):
                parse_json(b'{"a": {"b": 1, "c": [1, 2], "b": 2}}')
        return True

    with ThreadPoolExecutor(max_workers=4) as pool:
        assert all(pool.map(one, range(40)))
