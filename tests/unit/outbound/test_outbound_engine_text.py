"""The mapping engine writes the document as XML text and parses it once (issue 15 target 6): the
parsed tree must be the tree that making each element with lxml gave. These tests hold the
escaping to that (every text and attribute value parses back to itself), the one text XML cannot
say (""), and the values XML 1.0 cannot carry (still a TransformError). The documents themselves
are pinned byte for byte by test_outbound_pinned.py."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from adapter import errors
from adapter.fhir.submission import Submission
from adapter.outbound import render_municipal_xml
from adapter.outbound.assessment import AnswerIndex, assess
from adapter.outbound.engine import (
    EMPTY_TEXT,
    Context,
    build_document,
    escape_attribute,
    escape_text,
    submission_values,
)
from adapter.outbound.mapping import mapping_for

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "profiles" / "examples" / "Bundle-lisn-example-submission.json"
NS = "{https://lisn.se/xml/intyg/1}"

# Every character XML 1.0 can carry (https://www.w3.org/TR/xml/#charsets), the awkward ones often.
xml_chars = st.one_of(
    st.sampled_from(list("&<>\"'\r\n\t ]") + ["]]>", "\r\n", "\x85", "\u2028", "&amp;", "&#13;"]),
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\ufffe\uffff",
                  min_codepoint=0x20),
)
xml_text = st.lists(xml_chars, max_size=12).map("".join)


@settings(max_examples=400, deadline=None)
@given(text=xml_text)
def test_escaped_text_and_attributes_parse_back_to_themselves(text: str) -> None:
    el = etree.fromstring(f'<a b="{escape_attribute(text)}">{escape_text(text)}</a>'.encode())
    assert el.get("b") == text
    assert (el.text or "") == text
    made = etree.Element("a", b=text)  # what lxml writes for the same values set one by one
    made.text = text or None
    assert etree.tostring(el) == etree.tostring(made)


def test_the_escaping_fails_without_the_character_references() -> None:
    """The comparison above can fail: a bare carriage return or tab does not survive parsing."""
    assert etree.fromstring(b"<a>x\ry</a>").text == "x\ny"
    assert etree.fromstring(b'<a b="x\ty"/>').get("b") == "x y"
    assert etree.fromstring(b"<a>" + escape_text("x\ry").encode() + b"</a>").text == "x\ry"


@pytest.fixture
def example() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    return data


def _answer(bundle: dict[str, Any], link_id: str, answer: list[dict[str, Any]]) -> None:
    response = Submission(bundle).response
    assert response is not None
    for item in response["item"]:
        if item["linkId"] == link_id:
            item["answer"] = answer
            return
    response["item"].append({"linkId": link_id, "answer": answer})


def _tree(bundle: dict[str, Any]) -> etree._Element:
    """The engine's tree for ``bundle``, before the schema check."""
    sub = Submission(bundle)
    index = AnswerIndex()
    values = submission_values(sub, assess(sub.response or {}, index=index), status="original", replaces=None)
    resources = {"patient": sub.patient, "practitioner": sub.practitioner, "care_unit": sub.care_unit,
                 "care_provider": sub.care_provider, "recipient": sub.recipient,
                 "practitioner_role": sub.practitioner_role}
    return build_document(mapping_for(sub.questionnaire), Context(values=values, resources=resources, index=index),
                          None)


def test_an_empty_text_is_written_as_lxml_wrote_it(example: dict[str, Any]) -> None:
    """lxml writes an element whose text is "" as ``<a></a>`` (no text: ``<a/>``); XML text cannot
    say it, so the engine marks it and sets it after parsing. (The schema then refuses an empty
    ``ovrigt``; an element without a minimum length would be sent so.)"""
    bundle = copy.deepcopy(example)
    _answer(bundle, "ovrigt", [{"valueString": ""}])
    root = _tree(bundle)
    assert root.find(f"{NS}svar/{NS}ovrigt").text == ""
    xml = etree.tostring(root)
    assert b"<ovrigt></ovrigt>" in xml
    assert EMPTY_TEXT.encode() not in xml and not list(root.iter(etree.ProcessingInstruction))
    with pytest.raises(errors.TransformError) as exc:
        render_municipal_xml(bundle)
    assert exc.value.message_id == "LISN_OUTBOUND_XSD_INVALID"


def test_markup_and_line_ends_in_values_stay_text(example: dict[str, Any]) -> None:
    bundle = copy.deepcopy(example)
    text = 'Rad ett\r\nrad två <b>&amp; "citat"</b> ]]> \tslut'
    _answer(bundle, "ovrigt", [{"valueString": text}])
    _answer(bundle, "x.later", [{"valueCoding": {"system": 'urn:x"\n<', "code": "a&b", "display": text}}])
    root = etree.fromstring(render_municipal_xml(bundle))
    assert root.find(f"{NS}svar/{NS}ovrigt").text == text
    extra = root.find(f"{NS}svar/{NS}tillaggssvar")
    assert (extra.get("linkId"), extra.get("kod"), extra.get("kodsystem"), extra.text) == \
        ("x.later", "a&b", 'urn:x"\n<', text)


@pytest.mark.parametrize("bad", ["\x01", "\ufffe", "\ud800"], ids=["control", "non-character", "lone-surrogate"])
def test_a_value_xml_cannot_carry_is_a_transform_error(example: dict[str, Any], bad: str) -> None:
    for link_id in ("ovrigt", "x.later"):
        bundle = copy.deepcopy(example)
        _answer(bundle, link_id, [{"valueString": f"före {bad} efter"}])
        with pytest.raises(errors.TransformError) as exc:
            render_municipal_xml(bundle)
        assert exc.value.message_id == "LISN_OUTBOUND_NOT_XML_TEXT"
