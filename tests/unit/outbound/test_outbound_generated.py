"""The mapping generated as Python source (``engine.generate_body``) against the closures that
interpret it (the oracle, ``engine.build_document``), issue 15 target 6.

The generated function writes the bytes that are sent (``build_serialised``): they must be
exactly what lxml writes for the closures' tree, on every example and golden input in every status,
every assessment case, under every mapping of the template's major version, and on values chosen
to be awkward (empty texts, markup, codes without display, answers the mapping does not name).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from adapter import errors
from adapter.fhir.submission import Submission
from adapter.outbound import engine
from adapter.outbound.engine import Context, build_document, build_serialised, generate_body
from adapter.outbound.mapping import OutboundMapping, all_mappings
from adapter.outbound.municipal import prepare
from tests.unit.outbound.test_outbound_assessment import CASES, build_case
from tests.unit.outbound.test_outbound_pinned import _statuses

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "profiles" / "examples" / "Bundle-lisn-example-submission.json"
EXAMPLE_1_1 = ROOT / "profiles" / "examples" / "Bundle-lisn-example-submission-1.1.json"


def _bundles() -> Iterator[tuple[str, dict[str, Any]]]:
    sources = sorted((ROOT / "profiles" / "examples").glob("Bundle-*.json")) \
        + sorted((ROOT / "tests" / "golden" / "outbound").glob("**/*.input.json"))
    for path in sources:
        yield str(path.relative_to(ROOT)), json.loads(path.read_text(encoding="utf-8"))
    for case in CASES:
        yield f"assessment_cases.yaml#{case['name']}", build_case(case)
    for name, bundle in _awkward():
        yield f"awkward#{name}", bundle


def _answer(bundle: dict[str, Any], link_id: str, answer: list[dict[str, Any]]) -> dict[str, Any]:
    bundle = copy.deepcopy(bundle)
    response = Submission(bundle).response
    assert response is not None
    for item in response["item"]:
        if item["linkId"] == link_id:
            item["answer"] = answer
            return bundle
    response["item"].append({"linkId": link_id, "answer": answer})
    return bundle


def _awkward() -> Iterator[tuple[str, dict[str, Any]]]:
    for path in (EXAMPLE, EXAMPLE_1_1):
        base = json.loads(path.read_text(encoding="utf-8"))
        tag = path.stem[len("Bundle-lisn-example-"):]
        text = 'Rad ett\r\nrad två <b>&amp; "citat"</b> ]]> \tslut'
        yield f"{tag}-empty-text", _answer(base, "ovrigt", [{"valueString": ""}])
        yield f"{tag}-markup", _answer(base, "ovrigt", [{"valueString": text}])
        yield f"{tag}-unmapped-coded", _answer(base, "x.later", [
            {"valueCoding": {"system": 'urn:x"\n<', "code": "a&b", "display": text}}])
        yield f"{tag}-unmapped-no-display", _answer(base, "x.later", [{"valueCoding": {"system": "urn:x", "code": "c"}}])
        yield f"{tag}-unmapped-empty", _answer(base, "x.later", [{"valueString": ""}, {"valueInteger": 0},
                                                                  {"valueBoolean": False}])
        yield f"{tag}-null-answer", _answer(base, "ovrigt", [{"valueString": None}])
        yield f"{tag}-coded-empty-display", _answer(base, "prognos.typ", [
            {"valueCoding": {"system": "https://lisn.se/fhir/CodeSystem/prognos-typ", "code": "ej-aterfa",
                             "display": ""}}])
        yield f"{tag}-coded-unknown", _answer(base, "prognos.typ", [{"valueCoding": {"code": "okand"}}])
        yield f"{tag}-no-answers", _answer(base, "diagnos", [])


def _mappings_for(bundle: dict[str, Any]) -> list[OutboundMapping | None]:
    """None (the mapping the certificate chooses) and every mapping of its template and major."""
    url, _, version = (Submission(bundle).questionnaire or "").partition("|")
    return [None, *(m for m in all_mappings() if m.template_url == url and str(m.template_major) == version[:1])]


def _contexts() -> Iterator[tuple[str, OutboundMapping, Context]]:
    for name, bundle in _bundles():
        for status, args in _statuses(bundle):
            for forced in _mappings_for(bundle):
                version = forced.schema_version if forced else None
                try:
                    mapping, ctx = prepare(copy.deepcopy(bundle), **args, schema_version=version)
                except errors.TransformError:
                    continue
                yield f"{name}@{status}@{mapping.schema_version}", mapping, ctx


CONTEXTS = {name: (mapping, ctx) for name, mapping, ctx in _contexts()}


def interpreted(mapping: OutboundMapping, ctx: Context) -> bytes:
    """The oracle: the closures' tree, serialised by lxml."""
    return etree.tostring(build_document(mapping, ctx, None), xml_declaration=True, encoding="UTF-8")


def test_the_cases_cover_both_mappings_and_many_documents() -> None:
    assert {m.file for m, _ in CONTEXTS.values()} == {m.file for m in all_mappings()}
    assert len(CONTEXTS) >= 100
    assert len({interpreted(m, c) for m, c in CONTEXTS.values()}) >= 60


@pytest.mark.parametrize("name", sorted(CONTEXTS))
def test_generated_code_writes_what_the_interpreter_builds(name: str) -> None:
    mapping, ctx = CONTEXTS[name]
    xml, tree = build_serialised(mapping, ctx, None)
    assert xml == interpreted(mapping, ctx)
    # the tree handed on (XSD check, signing) is the one the bytes parse to
    assert etree.tostring(tree, method="c14n") == etree.tostring(etree.fromstring(xml), method="c14n")


def test_the_comparison_fails_for_an_element_closed_otherwise(monkeypatch: pytest.MonkeyPatch) -> None:
    """The comparison can fail: a leaf without text written as ``<a></a>`` parses to the same tree,
    but is not the bytes lxml writes."""
    mapping, ctx = CONTEXTS["awkward#submission-1.1-unmapped-no-display@default@1.1"]

    def leaf(run: Any, start: str, end: str, value: Any) -> str:
        attrs: dict[str, str] = {}
        text = engine._written_content(run, value, attrs)
        return f"{start}{engine._attributes(attrs)}>{text or ''}{end}"
    monkeypatch.setattr(engine, "_BODIES", {})
    monkeypatch.setattr(engine, "_leaf", leaf)
    xml, _ = build_serialised(mapping, ctx, None)
    assert etree.tostring(etree.fromstring(xml), method="c14n") == \
        etree.tostring(etree.fromstring(interpreted(mapping, ctx)), method="c14n")
    assert xml != interpreted(mapping, ctx)


def test_the_code_is_generated_once_per_mapping() -> None:
    mapping = all_mappings()[0]
    assert engine.generated_for(mapping)[0] is engine.generated_for(mapping)[0]
    source, _names = generate_body(mapping)
    compile(source, "<test>", "exec")  # plain Python, straight-line per node
    assert "def body(run, out):" in source and "for " in source


def test_a_value_xml_cannot_carry_is_a_value_error() -> None:
    bundle = _answer(json.loads(EXAMPLE.read_text(encoding="utf-8")), "ovrigt", [{"valueString": "a\x01b"}])
    mapping, ctx = prepare(bundle)
    with pytest.raises(ValueError):
        build_serialised(mapping, ctx, None)
