"""The municipal XML of every example and test certificate, pinned byte for byte (issue 15 target 6).

The transformation is rewritten for speed (compiled mapping, compiled FHIRPath, one answer walk);
this test holds its output to what the interpreter wrote before, so that no refactor changes a
document silently. ``pinned_render.json`` maps each case to the SHA-256 and length of its XML (or
to the message id of the TransformError it raises). A deliberate change of the output is made by
regenerating the file: ``ADAPTER_PIN_WRITE=1 python -m pytest tests/unit/outbound/test_outbound_pinned.py -n 0``,
and the diff of that file is then part of the review.

Cases: every example Bundle and golden input in every status its schema version allows, every
case of ``assessment_cases.yaml`` (edited example Bundles: every remark and flag of the
assessment summary).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from adapter import errors
from adapter.fhir.submission import Submission
from adapter.outbound import render_municipal_xml
from adapter.outbound.mapping import mapping_for
from tests.unit.outbound.test_outbound_assessment import CASES, build_case

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
PINNED = HERE / "pinned_render.json"
REPLACED = "urn:uuid:7d9e1b2a-3c4d-4e5f-8a9b-0c1d2e3f4a5b"
REPLACED_BY = "urn:uuid:1f2e3d4c-5b6a-4978-8695-a4b3c2d1e0f9"


def _load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def _statuses(bundle: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    yield "default", {}
    try:
        mapping = mapping_for(Submission(bundle).questionnaire)
    except errors.TransformError:
        return
    for status in mapping.statuses:
        args: dict[str, Any] = {"status": status}
        if status == "replacing":
            args["replaces"] = REPLACED
        if status == "replaced":
            args["replaced_by"] = REPLACED_BY
        yield status, args


def cases() -> dict[str, Callable[[], bytes]]:
    """Each case's name and the call that renders it."""
    out: dict[str, Callable[[], bytes]] = {}
    sources = sorted((ROOT / "profiles" / "examples").glob("Bundle-*.json")) \
        + sorted((ROOT / "tests" / "golden" / "outbound").glob("**/*.input.json"))
    for path in sources:
        bundle = _load(path)
        name = str(path.relative_to(ROOT))
        for status, args in _statuses(bundle):
            out[f"{name}@{status}"] = lambda b=bundle, a=args: render_municipal_xml(b, **a)  # type: ignore[misc]
    for case in CASES:
        out[f"assessment_cases.yaml#{case['name']}"] = lambda c=case: render_municipal_xml(build_case(c))  # type: ignore[misc]
    return out


def fingerprint(render: Callable[[], bytes]) -> str:
    try:
        xml = render()
    except errors.TransformError as exc:
        return f"error {exc.message_id}"
    return f"sha256 {hashlib.sha256(xml).hexdigest()} bytes {len(xml)}"


CASE_CALLS = cases()


def test_the_pins_cover_the_cases() -> None:
    if os.environ.get("ADAPTER_PIN_WRITE"):
        PINNED.write_text(json.dumps({name: fingerprint(fn) for name, fn in CASE_CALLS.items()}, indent=1,
                                     sort_keys=True) + "\n", encoding="utf-8")
    pinned = json.loads(PINNED.read_text(encoding="utf-8"))
    assert sorted(pinned) == sorted(CASE_CALLS)
    documents = [v for v in pinned.values() if v.startswith("sha256")]
    assert len(documents) >= 40 and len(set(documents)) >= 30  # real documents, and different ones


@pytest.mark.parametrize("name", sorted(CASE_CALLS))
def test_render_output_is_pinned(name: str) -> None:
    pinned = json.loads(PINNED.read_text(encoding="utf-8"))
    assert fingerprint(CASE_CALLS[name]) == pinned[name]


def test_a_changed_document_fails_the_pin() -> None:
    """The comparison can fail: one character more in an answer is another fingerprint."""
    name = "profiles/examples/Bundle-lisn-example-submission.json@default"
    bundle = _load(ROOT / "profiles" / "examples" / "Bundle-lisn-example-submission.json")
    changed = json.loads(json.dumps(bundle, ensure_ascii=False).replace("Lugn miljö", "Lugn  miljö"))
    pinned = json.loads(PINNED.read_text(encoding="utf-8"))
    assert fingerprint(lambda: render_municipal_xml(bundle)) == pinned[name]
    assert fingerprint(lambda: render_municipal_xml(changed)) != pinned[name]
