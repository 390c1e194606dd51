"""Conversions and source readers, each with a passing and a failing case."""

from __future__ import annotations

import pytest
from lxml import etree

from adapter.inbound import codes, values
from adapter.inbound.sources import FlatSource, JsonSource, SelectorError, XmlSource


@pytest.mark.parametrize(("kind", "raw", "want"), [
    ("date", "2026-09-14", "2026-09-14"), ("date", "20260914", "2026-09-14"),
    ("dateTime", "2026-09-14T10:32:00", "2026-09-14T10:32:00+02:00"),
    ("dateTime", "2026-12-14T10:32", "2026-12-14T10:32:00+01:00"),
    ("dateTime", "2026-09-14T08:32:00Z", "2026-09-14T08:32:00Z"),
    ("dateTime", "2026-09-14T10:32:00.250+02:00", "2026-09-14T10:32:00.250+02:00"),
    ("boolean", "ja", True), ("boolean", False, False), ("boolean", "0", False),
    ("integer", "12", 12), ("integer", 12.0, 12), ("integer", "12.0", 12),
    ("decimal", "2,5", 2.5), ("decimal", 3, 3), ("string", "  x  ", "x"), ("string", True, "true"),
])
def test_conversion(kind: str, raw: object, want: object) -> None:
    assert values.SCALAR[kind](raw, timezone="Europe/Stockholm") == want


@pytest.mark.parametrize(("kind", "raw"), [
    ("date", "2026-02-30"), ("date", "14/9 2026"), ("date", "2026-09"), ("dateTime", "2026-09-14"),
    ("dateTime", "2026-09-14T25:00:00"), ("boolean", "kanske"), ("integer", "12.5"), ("integer", True),
    ("decimal", "tolv"), ("decimal", "NaN"), ("string", "   "),
])
def test_conversion_refuses(kind: str, raw: object) -> None:
    with pytest.raises(values.ConversionError):
        values.SCALAR[kind](raw, timezone="Europe/Stockholm")


def test_quantity() -> None:
    assert values.quantity({"value": "12", "unit": "h"}) == {
        "value": 12, "unit": "h", "system": "http://unitsofmeasure.org", "code": "h"}
    with pytest.raises(values.ConversionError):
        values.quantity({"value": "mycket"})


def test_json_selectors() -> None:
    src = JsonSource({"item": [{"linkId": "a", "answer": [{"v": 1}, {"v": 2}]}, {"linkId": "b", "answer": [{"v": 3}]}]})
    assert [src.value(n) for n in src.select(src.root, "item.answer.v")] == [1, 2, 3]
    assert [src.value(n) for n in src.select(src.root, "item[linkId=b].answer.v")] == [3]
    assert [src.location(n) for n in src.select(src.root, "item[0].answer[-1].v")] == ["item[0].answer[1].v"]
    assert src.select(src.root, "item[linkId=c].answer") == []
    with pytest.raises(SelectorError):
        src.select(src.root, "item[linkId")


def test_json_unread_and_ignore() -> None:
    src = JsonSource({"a": {"b": 1, "c": [2, 3]}, "meta": {"x": 1}})
    src.mark(src.select(src.root, "a.c")[0])
    assert src.unread(["meta.*"]) == ["a.b", "a.c[1]"]
    src.mark(src.select(src.root, "a")[0])
    assert src.unread([]) == ["meta.x"]


def test_flat_selectors_enumerate_indexes_in_numeric_order() -> None:
    src = FlatSource({"l/d:10/k|code": "x", "l/d:2/k|code": "y", "l/d:2/t": "z", "l/dd:0/k": "no"})
    contexts = src.select(src.root, "l/d:{i}")
    assert contexts == ["l/d:2", "l/d:10"]
    assert [src.value(n) for n in src.select(contexts[0], "k|code")] == ["y"]
    assert src.select(contexts[0], "k|value") == []
    src.mark("l/d:2/k")
    assert src.unread([]) == ["l/d:10/k|code", "l/d:2/t", "l/dd:0/k"]


def test_xml_locations_use_prefixes_and_svar_ids() -> None:
    ns = {"g": "urn:g"}
    root = etree.fromstring(b'<r xmlns="urn:g"><svar id="1"><d id="1.1">a</d></svar>'
                            b'<svar id="1"><d id="1.1">b</d></svar><x>c</x><y>d</y><y>e</y></r>')
    src = XmlSource(root, ns)
    second = src.select(root, "g:svar[2]/g:d")[0]
    assert src.location(second) == "/g:r/g:svar[@id='1'][2]/g:d[@id='1.1']"
    assert src.location(src.select(root, "g:svar[1]/g:d/@id")[0]) == "/g:r/g:svar[@id='1'][1]/g:d[@id='1.1']/@id"
    src.mark(src.select(root, "g:svar[1]")[0])
    src.mark(src.select(root, "g:y[2]/text()")[0])
    assert src.unread(["**/@id"]) == ["/g:r/g:svar[@id='1'][2]/g:d[@id='1.1']", "/g:r/g:x", "/g:r/g:y[1]"]
    with pytest.raises(SelectorError):
        src.select(root, "g:svar[")


def test_conceptmap_translation_picks_the_group_by_source_and_target() -> None:
    cm = {"group": [
        {"source": "local", "target": "cs:a", "element": [{"code": "at1", "target": [{"code": "A", "equivalence": "equivalent"}]}]},
        {"source": "local", "target": "cs:b", "element": [{"code": "at1", "target": [{"code": "B", "equivalence": "equivalent"}]},
                                                          {"code": "at2", "target": [{"code": "X", "equivalence": "unmatched"}]}]},
    ]}
    assert codes.translate(cm, "local", "at1") == codes.Translation("cs:a", "A")
    assert codes.translate(cm, "local", "at1", frozenset({"cs:b"})) == codes.Translation("cs:b", "B")
    assert codes.translate(cm, "other", "at1") is None
    assert codes.translate(cm, "local", "at3") is None
    # An explicit "unmatched" is an answer: the code has no counterpart (not "no entry").
    assert codes.translate(cm, "local", "at2", frozenset({"cs:b"})) == codes.Translation("cs:b", None)
