"""Property tests (hypothesis): random documents and random values never crash the engine.

Whatever comes in, the result is either a Bundle that keeps the submission properties, or
an OperationOutcome with at least one error; the only exceptions are AdapterErrors.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from inbound_helpers import EXAMPLES, check_submission, side_inputs
from lxml import etree

from adapter import errors
from adapter.inbound import run_mapping

FLAT = json.loads((EXAMPLES / "openehr-flat" / "lisn-depression.json").read_bytes())
INERA = (EXAMPLES / "inera-xml" / "lisn-depression.xml").read_bytes()
FHIR = json.loads((EXAMPLES / "fhir" / "lisn-message-bundle.json").read_bytes())
# 120 generated documents per property through the whole mapping engine: ~35 s of CPU in all.
pytestmark = pytest.mark.slow

SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-10**12, max_value=10**12),
    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=30),
    st.sampled_from(["2026-09-14", "2026-02-30", "20260914", "2026-09-14T10:00:00", "at0010", "at9999",
                     "F32.1", "true", "false", "", " ", "10", "10.0", "1e3", "0180", "local", "ICD-10-SE"]),
)
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
    st.text(max_size=5), inner, max_size=3), max_leaves=6)
flat_keys = st.one_of(
    st.sampled_from(sorted(FLAT)),
    st.builds(lambda a, i, b: f"lisn/{a}:{i}/{b}", st.sampled_from(["grund", "diagnos", "formaga/aktivitet",
                                                                   "atgarder/typ"]),
              st.integers(0, 12), st.sampled_from(["typ|code", "datum", "kod|code", "kod|terminology", "text",
                                                    "timmar|magnitude", "x"])),
    st.text(min_size=1, max_size=25),
)


def _holds(result: tuple[Any, Any, Any]) -> None:
    bundle, issues, _ = result
    for iss in issues.items:
        assert errors.message_id_of(iss), iss
        assert iss["severity"] in ("error", "warning")
        assert iss.get("expression") or iss.get("diagnostics"), iss
    if bundle is None:
        assert issues.has_errors
    else:
        assert not issues.has_errors
        check_submission(bundle)


def _run(raw: bytes, fmt: str, inputs: dict[str, str] | None = None) -> None:
    try:
        result = run_mapping(raw, fmt, inputs=inputs)
    except errors.AdapterError as exc:  # unreadable input: an outcome, never a traceback
        assert exc.outcome["issue"] and errors.has_errors(exc.outcome)
        return
    _holds(result)


@SETTINGS
@given(st.dictionaries(flat_keys, json_values, max_size=25))
def test_random_flat_documents_never_crash(doc: dict[str, Any]) -> None:
    _run(json.dumps(doc).encode(), "openehr-flat")


@SETTINGS
@given(st.dictionaries(st.sampled_from(sorted(FLAT)), json_values, max_size=8))
def test_random_values_in_a_valid_flat_document_never_crash(changes: dict[str, Any]) -> None:
    _run(json.dumps({**FLAT, **changes}).encode(), "openehr-flat")


xml_text = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=20)


@SETTINGS
@given(st.lists(st.tuples(st.integers(min_value=0), xml_text), max_size=6), st.lists(st.integers(min_value=0), max_size=3))
def test_random_values_and_removals_in_xml_never_crash(changes: list[tuple[int, str]], removals: list[int]) -> None:
    _run(_mutated(INERA, changes, removals), "inera-xml")


def _mutated(raw: bytes, changes: list[tuple[int, str]], removals: list[int]) -> bytes:
    """The document with some leaves' texts changed and some leaves removed."""
    root = etree.fromstring(raw)
    leaves = [el for el in root.iter() if isinstance(el.tag, str) and len(el) == 0]
    for index, text in changes:
        leaves[index % len(leaves)].text = text
    for index in removals:
        el = leaves[index % len(leaves)]
        if el.getparent() is not None:
            el.getparent().remove(el)
    return etree.tostring(root)


@SETTINGS
@given(st.lists(st.tuples(st.integers(min_value=0), json_values), max_size=5))
def test_random_answer_values_in_fhir_never_crash(changes: list[tuple[int, Any]]) -> None:
    bundle = json.loads(json.dumps(FHIR))
    answers = [a for e in bundle["entry"] for a in _answers(e["resource"].get("item", []))]
    for index, value in changes:
        answer = answers[index % len(answers)]
        key = next(iter(answer))
        answer[key] = value
    _run(json.dumps(bundle).encode(), "fhir")


def _answers(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for item in items:
        out += item.get("answer", [])
        out += _answers(item.get("item", []))
    return out


@SETTINGS
@given(st.binary(max_size=200), st.sampled_from(["fhir", "inera-xml", "openehr-flat"]))
def test_random_bytes_never_crash(raw: bytes, fmt: str) -> None:
    _run(raw, fmt)


LISJP = EXAMPLES / "inera-lisjp" / "lisjp-stepwise.xml"


@SETTINGS
@given(st.lists(st.tuples(st.integers(min_value=0), xml_text), max_size=6), st.lists(st.integers(min_value=0), max_size=3),
       st.dictionaries(st.sampled_from(sorted(side_inputs(LISJP)) + ["okand"]), st.text(max_size=12), max_size=3))
def test_random_values_removals_and_inputs_in_lisjp_never_crash(changes: list[tuple[int, str]], removals: list[int],
                                                                inputs: dict[str, str]) -> None:
    _run(_mutated(LISJP.read_bytes(), changes, removals), "inera-lisjp", {**side_inputs(LISJP), **inputs})
