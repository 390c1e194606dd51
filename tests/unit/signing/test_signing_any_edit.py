"""Property (issue 13): any edit anywhere in a signed file either fails verification or leaves the
rendered view (HTML) byte-identical. For RSA and ECDSA, plain XML-DSig and XAdES.

The edits are structural as well as textual, anywhere in the file: comments, processing
instructions and elements inserted (in the content, in ``ds:Object``, ``ds:KeyInfo``, the prolog,
after the root), a second signature, duplicated, removed and reordered elements, attributes set
and removed, namespace declarations added and prefixes renamed, character references and CDATA,
whitespace in text and in tags, a changed XML declaration, a changed byte. One to four of them
are applied in sequence (tree edits on the parsed file, then byte edits on its serialisation).

``test_the_property_finds_the_comment_defect_without_the_protections`` runs the same property
with both protections switched off (the refusal of unsigned content, and reading the view from
the signed content) and requires it to fail, on an edit carrying a comment: the property can
find the ``2<!---->5`` defect on its own.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from typing import Any
from unittest.mock import patch

import pytest
from hypothesis import HealthCheck, Phase, event, given, settings
from hypothesis import strategies as st
from lxml import etree

from adapter.fhir.parse import parse_xml
from adapter.outbound import html, reader, render_html, render_municipal_xml
from adapter.signing import sign_document, verify_document, xmldsig
from adapter.signing.structure import DS, XADES

INTYG = "https://lisn.se/xml/intyg/1"
XML_NS = "http://www.w3.org/XML/1998/namespace"
NAMESPACES = [INTYG, DS, XADES, "urn:example:other", ""]
LOCAL_NAMES = ["intyg", "status", "kvarvarandeArbetsformagaProcent", "Object", "KeyName", "Signature",
               "QualifyingProperties", "UnsignedProperties", "X509Certificate", "x"]
ATTRIBUTE_NAMES = ["Id", "Target", "URI", "kod", "kodsystem", "typ", "Algorithm", "schemaVersion", "MimeType",
                   "{urn:example:other}a", f"{{{XML_NS}}}lang", f"{{{XML_NS}}}space"]
KEEP_EVERYTHING = etree.XMLParser(remove_comments=False, remove_pis=False, resolve_entities=False, no_network=True)

TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cc", "Cs", "Cn")), max_size=6)
COMMENT_TEXT = st.sampled_from(["", " ", "x", " unsigned ", "MAKULERAT"])
PI = st.tuples(st.sampled_from(["xml-stylesheet", "lisn", "x"]),
               st.sampled_from(["", 'type="text/xsl" href="https://evil.example/x.xsl"', "x"]))
WHITESPACE = st.sampled_from([" ", "\n", "\t", "  \n  "])


# -- tree edits (on the file parsed with comments and PIs kept) ----------------------------------

def _elements(root: etree._Element) -> list[etree._Element]:
    return list(root.iter(etree.Element))


def _element(data: st.DataObject, root: etree._Element, *, below_root: bool = False) -> etree._Element:
    candidates = _elements(root)[1:] if below_root else _elements(root)
    return data.draw(st.sampled_from(candidates), label="element")


def _place(data: st.DataObject, root: etree._Element, node: Any, *, outside_allowed: bool) -> str:
    """Put ``node`` inside an element's text, among its children, or before/after the root."""
    where = data.draw(st.sampled_from(["text", "child", "after", *(["prolog", "epilog"] if outside_allowed else [])]),
                      label="where")
    if where == "prolog":
        root.addprevious(node)
        return where
    if where == "epilog":
        root.addnext(node)
        return where
    el = _element(data, root, below_root=where == "after")
    if where == "text":
        text = el.text or ""
        at = data.draw(st.integers(0, len(text)), label="offset")
        el.text, node.tail = text[:at], text[at:] + (node.tail or "")
        el.insert(0, node)
    elif where == "child":
        el.insert(data.draw(st.integers(0, len(el)), label="index"), node)
    else:
        el.addnext(node)
    return f"{where} {etree.QName(el).localname}"


def insert_comment(data: st.DataObject, root: etree._Element) -> str:
    return "comment " + _place(data, root, etree.Comment(data.draw(COMMENT_TEXT)), outside_allowed=True)


def insert_pi(data: st.DataObject, root: etree._Element) -> str:
    target, text = data.draw(PI)
    return "pi " + _place(data, root, etree.ProcessingInstruction(target, text), outside_allowed=True)


def insert_element(data: st.DataObject, root: etree._Element) -> str:
    kind = data.draw(st.sampled_from(["copy", "second-root", "new"]), label="new element")
    if kind == "copy":
        new = copy.deepcopy(_element(data, root))
    elif kind == "second-root":
        new = copy.deepcopy(root)
    else:
        ns, local = data.draw(st.sampled_from(NAMESPACES)), data.draw(st.sampled_from(LOCAL_NAMES))
        new = etree.Element(etree.QName(ns or None, local).text)
        new.text = data.draw(TEXT)
    new.tail = None
    return f"element {kind} " + _place(data, root, new, outside_allowed=False)


def second_signature(data: st.DataObject, root: etree._Element) -> str:
    signature = root.find(f"{{{DS}}}Signature")
    if signature is None:  # an earlier edit of the same example removed it: nothing to copy
        return "signature (none left to copy)"
    new = copy.deepcopy(signature)
    new.tail = None
    return "signature " + _place(data, root, new, outside_allowed=False)


def set_attribute(data: st.DataObject, root: etree._Element) -> str:
    el = _element(data, root)
    name = data.draw(st.sampled_from(sorted(el.attrib) + ATTRIBUTE_NAMES), label="attribute")
    el.set(name, data.draw(TEXT, label="value"))
    return f"set @{name} on {etree.QName(el).localname}"


def remove_attribute(data: st.DataObject, root: etree._Element) -> str:
    candidates = [el for el in _elements(root) if el.attrib]
    el = data.draw(st.sampled_from(candidates), label="element")
    name = data.draw(st.sampled_from(sorted(el.attrib)), label="attribute")
    del el.attrib[name]
    return f"remove @{name} on {etree.QName(el).localname}"


def change_text(data: st.DataObject, root: etree._Element) -> str:
    el = _element(data, root)
    attr = data.draw(st.sampled_from(["text", "tail"]) if el is not root else st.just("text"), label="slot")
    old = getattr(el, attr) or ""
    how = data.draw(st.sampled_from(["char", "replace", "append", "clear"]), label="how")
    if how == "char" and old:
        at = data.draw(st.integers(0, len(old) - 1), label="offset")
        new = old[:at] + data.draw(TEXT.filter(bool)) + old[at + 1:]
    elif how == "replace":
        new = data.draw(TEXT)
    elif how == "append":
        new = old + data.draw(st.one_of(TEXT, WHITESPACE))
    else:
        new = ""
    setattr(el, attr, new or None)
    return f"{how} {attr} of {etree.QName(el).localname}"


def cdata(data: st.DataObject, root: etree._Element) -> str:
    candidates = [el for el in _elements(root) if el.text and "]]>" not in el.text]
    el = data.draw(st.sampled_from(candidates), label="element")
    el.text = etree.CDATA(el.text or "")
    return f"cdata {etree.QName(el).localname}"


def reorder(data: st.DataObject, root: etree._Element) -> str:
    parent = data.draw(st.sampled_from([el for el in _elements(root) if len(el) >= 2]), label="parent")
    i, j = data.draw(st.lists(st.integers(0, len(parent) - 1), min_size=2, max_size=2, unique=True), label="swap")
    a, b = parent[i], parent[j]
    a_tail, b_tail = a.tail, b.tail
    parent.replace(a, copy.deepcopy(b))
    parent.replace(b, copy.deepcopy(a))
    parent[i].tail, parent[j].tail = a_tail, b_tail
    return f"swap {i} {j} in {etree.QName(parent).localname}"


def duplicate(data: st.DataObject, root: etree._Element) -> str:
    el = _element(data, root, below_root=True)
    el.addnext(copy.deepcopy(el))
    return f"duplicate {etree.QName(el).localname}"


def remove(data: st.DataObject, root: etree._Element) -> str:
    el = _element(data, root, below_root=True)
    parent = el.getparent()
    assert parent is not None
    parent.remove(el)
    return f"remove {etree.QName(el).localname}"


TREE_EDITS: list[Callable[[st.DataObject, etree._Element], str]] = [
    insert_comment, insert_pi, insert_element, second_signature, set_attribute, remove_attribute, change_text,
    cdata, reorder, duplicate, remove]


# -- byte edits (on the serialised file) -----------------------------------------------------------

START_TAG = re.compile(rb"<([A-Za-z_][\w.:-]*)")
TEXT_RUN = re.compile(rb">([^<>]+)<")
DECLARATION = re.compile(rb"^<\?xml[^>]*\?>")


def namespace_declaration(data: st.DataObject, raw: bytes) -> tuple[str, bytes]:
    tag = data.draw(st.sampled_from(list(START_TAG.finditer(raw))), label="start tag")
    prefix = data.draw(st.sampled_from(["", "p", "ds", "xades", "x"]), label="prefix")
    uri = data.draw(st.sampled_from(NAMESPACES), label="uri")
    decl = f' xmlns{":" + prefix if prefix else ""}="{uri}"'.encode()
    return f"xmlns:{prefix}={uri} on {tag.group(1)!r}", raw[:tag.end()] + decl + raw[tag.end():]


def rename_prefix(data: st.DataObject, raw: bytes) -> tuple[str, bytes]:
    old = data.draw(st.sampled_from(["ds", "xades", ""]), label="old prefix")
    new = data.draw(st.sampled_from(["dsig", "x", "i"]), label="new prefix")
    if old:
        for a, b in ((b"<%s:", b"<%s:"), (b"</%s:", b"</%s:"), (b"xmlns:%s=", b"xmlns:%s=")):
            raw = raw.replace(a % old.encode(), b % new.encode())
        return f"prefix {old} -> {new}", raw
    raw = re.sub(rb"<(/?)([A-Za-z_][\w.-]*)([\s/>])", lambda m: b"<" + m[1] + new.encode() + b":" + m[2] + m[3], raw)
    return f"default namespace -> {new}", raw.replace(f' xmlns="{INTYG}"'.encode(), f' xmlns:{new}="{INTYG}"'.encode())


def character_reference(data: st.DataObject, raw: bytes) -> tuple[str, bytes]:
    run = data.draw(st.sampled_from(list(TEXT_RUN.finditer(raw))), label="text")
    # An earlier byte edit may have left bytes that are no UTF-8: they are kept as they are
    # (surrogateescape), and a reference to one is a reference to no character (still an edit).
    text = run.group(1).decode("utf-8", "surrogateescape")
    at = data.draw(st.integers(0, len(text) - 1), label="offset")
    form = data.draw(st.sampled_from(["&#%d;", "&#x%X;", "insert &amp;", "insert &#50;", "insert &lt;"]))
    if form.startswith("insert "):
        new = text[:at] + form.removeprefix("insert ") + text[at:]
    else:
        new = text[:at] + form % ord(text[at]) + text[at + 1:]
    return f"{form} in text", raw[:run.start(1)] + new.encode("utf-8", "surrogateescape") + raw[run.end(1):]


def declaration(data: st.DataObject, raw: bytes) -> tuple[str, bytes]:
    new = data.draw(st.sampled_from([b"", b'<?xml version="1.0"?>', b'<?xml version="1.0" encoding="utf-8"?>',
                                     b"<?xml version='1.0' encoding='UTF-8' standalone='yes'?>",
                                     b'<?xml version="1.0" encoding="ISO-8859-1"?>', b"\xef\xbb\xbf"]), label="decl")
    if new == b"\xef\xbb\xbf":
        return "byte order mark", new + raw
    return f"declaration {new!r}", DECLARATION.sub(new, raw, count=1)


def tag_whitespace(data: st.DataObject, raw: bytes) -> tuple[str, bytes]:
    spots = [m.start() for m in re.finditer(rb"(?<=[\w\"'])(/?>)", raw)]
    at = data.draw(st.sampled_from(spots), label="tag end")
    return "whitespace in a tag", raw[:at] + data.draw(WHITESPACE).encode() + raw[at:]


def quote_style(data: st.DataObject, raw: bytes) -> tuple[str, bytes]:
    spots = list(re.finditer(rb'="([^"\']*)"', raw))
    m = data.draw(st.sampled_from(spots), label="attribute")
    return "attribute quotes", raw[:m.start()] + b"='" + m.group(1) + b"'" + raw[m.end():]


def change_byte(data: st.DataObject, raw: bytes) -> tuple[str, bytes]:
    at = data.draw(st.integers(0, len(raw) - 1), label="byte")
    new = data.draw(st.integers(0, 255).filter(lambda b: b != raw[at]), label="value")
    return f"byte {at} -> {new}", raw[:at] + bytes([new]) + raw[at + 1:]


BYTE_EDITS: list[Callable[[st.DataObject, bytes], tuple[str, bytes]]] = [
    namespace_declaration, rename_prefix, character_reference, declaration, tag_whitespace, quote_style, change_byte]


def edit(data: st.DataObject, signed: bytes) -> tuple[list[str], bytes]:
    """One to four edits anywhere in ``signed``: the edited file and what was done."""
    tree_edits = data.draw(st.lists(st.sampled_from(TREE_EDITS), max_size=3), label="tree edits")
    byte_edits = data.draw(st.lists(st.sampled_from(BYTE_EDITS), min_size=0 if tree_edits else 1, max_size=2),
                           label="byte edits")
    log: list[str] = []
    raw = signed
    if tree_edits:
        root = etree.fromstring(signed, KEEP_EVERYTHING)
        log.extend(e(data, root) for e in tree_edits)
        raw = etree.tostring(root.getroottree(), xml_declaration=True, encoding="UTF-8")
    for byte_edit in byte_edits:
        what, raw = byte_edit(data, raw)
        log.append(what)
    return log, raw


# -- the property ----------------------------------------------------------------------------------

@pytest.fixture(scope="module", params=[False, True], ids=["xmldsig", "xades"])
def signed(request: pytest.FixtureRequest, keys: Any, example_bundle: dict[str, Any]) -> tuple[bytes, Any, str]:
    xml = sign_document(render_municipal_xml(example_bundle), key=keys.key, cert_chain=keys.chain,
                        algorithm=keys.algorithm, xades=request.param)
    baseline = verify_document(xml, trust=[keys.ca])
    assert baseline.ok
    return xml, keys, render_html(baseline)


def shown(xml: bytes, keys: Any) -> str | None:
    """What a case worker sees for ``xml``: the view of a valid document, or nothing."""
    result = verify_document(xml, trust=[keys.ca])
    return render_html(result) if result.ok else None


def _check(data: st.DataObject, signed: tuple[bytes, Any, str], view: Callable[[bytes, Any], str | None]) -> None:
    xml, keys, baseline = signed
    log, edited = edit(data, xml)
    page = view(edited, keys)
    event("refused" if page is None else "verified")
    assert page is None or page == baseline, f"verified, but the view changed after: {log}"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_edit_fails_or_changes_nothing_shown(signed: tuple[bytes, Any, str], data: st.DataObject) -> None:
    _check(data, signed, shown)


def test_edits_that_keep_the_signed_content_verify_and_show_the_same(signed: tuple[bytes, Any, str]) -> None:
    """The other branch of the property is real: these edits verify, and the view stays byte-identical."""
    xml, keys, baseline = signed
    harmless = [
        xml.replace(b"<kvarvarandeArbetsformagaProcent>25<", b"<kvarvarandeArbetsformagaProcent><![CDATA[25]]><"),
        xml.replace(b"<kvarvarandeArbetsformagaProcent>25<", b"<kvarvarandeArbetsformagaProcent>&#50;5<"),
        xml.replace(b"<huvud>", b'<huvud xmlns:unused="urn:example:other">', 1),
        xml.replace(b' schemaVersion="1.0"', b" schemaVersion='1.0' ", 1),
        DECLARATION.sub(b"", xml, count=1),
        xml.decode("utf-8").replace("encoding='UTF-8'", "encoding='UTF-16'").encode("utf-16"),
        xml.replace(b'<typ kod="motiverande" kodsystem="https://lisn.se/fhir/CodeSystem/aktivitet-typ">',
                    b'<typ kodsystem="https://lisn.se/fhir/CodeSystem/aktivitet-typ" kod="motiverande">', 1),
        xml.replace(b"</ds:SignedInfo><ds:SignatureValue>", b"</ds:SignedInfo>\n  <ds:SignatureValue>", 1),
    ]
    for changed in harmless:
        assert changed != xml
        assert shown(changed, keys) == baseline


def _reading_the_bytes_received(received: dict[str, bytes]) -> Callable[[Any], reader.MunicipalDocument]:
    """The old way in: the document read from the bytes received, whatever the signature covers."""
    return lambda verification: reader._document(parse_xml(received["xml"]), verification)


@pytest.mark.slow  # the negative control: hypothesis searches until it finds the defect (5-20 s, at most ~60 s)
def test_the_property_finds_the_comment_defect_without_the_protections(rsa_keys: Any,
                                                                       example_bundle: dict[str, Any]) -> None:
    xml = sign_document(render_municipal_xml(example_bundle), key=rsa_keys.key, cert_chain=rsa_keys.chain)
    fixture = (xml, rsa_keys, render_html(verify_document(xml, trust=[rsa_keys.ca])))
    received: dict[str, bytes] = {}

    def unprotected(edited: bytes, keys: Any) -> str | None:
        received["xml"] = edited
        return shown(edited, keys)

    # The keys are made afresh in each session, so the signed bytes and with them the edits drawn
    # differ from run to run. Measured on 9 key sets on 2026-12-04: the defect was found after 372
    # to 1,315 examples (2 of the 9 needed more than the budget of 1,000 it had; CI failed so once).
    # The search stops at the first find: the larger budget costs time only in an unlucky run.
    @settings(max_examples=5000, deadline=None, derandomize=True, phases=[Phase.generate], database=None)
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        _check(data, fixture, unprotected)

    with patch.object(xmldsig, "unsigned_content", lambda root, *, xades: None), \
            patch.object(html, "read_verified", _reading_the_bytes_received(received)), \
            pytest.raises(AssertionError, match="verified, but the view changed"):
        run()
    assert b"<!--" in received["xml"]  # the falsifying edit carries a comment
    # and with the protections in place, that very file is refused
    assert verify_document(received["xml"], trust=[rsa_keys.ca]).code == "LISN_SIG_COMMENT"


@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_a_character_reference_edit_keeps_bytes_that_are_no_utf8(data: st.DataObject) -> None:
    """The edit above after a byte edit that left no UTF-8 (a found failure of the test itself)."""
    raw = b"<a>\x80en nedsatta</a>"
    _, edited = character_reference(data, raw)
    assert edited.startswith(b"<a>") and edited.endswith(b"</a>") and edited != raw
