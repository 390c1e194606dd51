"""The renderer's Submission resolves each part once and references over keys made once (issue 15
target 6): it must give exactly what :class:`~adapter.fhir.submission.Submission` gives."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapter.fhir.submission import Submission
from adapter.outbound.municipal import _Parts

ROOT = Path(__file__).resolve().parents[3]
BUNDLES = sorted((ROOT / "profiles" / "examples").glob("Bundle-*.json")) \
    + sorted((ROOT / "tests" / "golden" / "outbound").glob("**/*.input.json"))
PARTS = ("header", "event", "response", "patient", "practitioner_role", "practitioner", "care_unit",
         "care_provider", "recipient", "protected_identity", "patient_identifier", "consents", "replaces",
         "questionnaire")


@pytest.mark.parametrize("path", BUNDLES, ids=lambda p: p.name)
def test_the_parts_are_the_submissions(path: Path) -> None:
    bundle = json.loads(path.read_text(encoding="utf-8"))
    plain, once = Submission(bundle), _Parts(bundle)
    for name in PARTS:
        assert getattr(once, name) == getattr(plain, name), name
        assert getattr(once, name) == getattr(plain, name), name  # asked again: the same (cached) answer


_names = st.sampled_from(["a", "b", "Patient/a", "urn:uuid:a", "http://x/Patient/a", "x/a", ""])
_entries = st.lists(st.one_of(
    st.fixed_dictionaries({"resource": st.fixed_dictionaries({"resourceType": st.sampled_from(["Patient", "Organization"]),
                                                               "id": st.sampled_from(["a", "b"])})},
                          optional={"fullUrl": _names}),
    st.just("junk"), st.just({"fullUrl": "Patient/a"}), st.just({"resource": "junk"})), max_size=6)


@settings(max_examples=300, deadline=None)
@given(entries=_entries, reference=st.one_of(_names, st.builds(lambda r: {"reference": r}, _names), st.none(),
                                              st.just({"display": "x"})))
def test_a_reference_resolves_as_the_submission_resolves_it(entries: list[Any], reference: Any) -> None:
    bundle = {"resourceType": "Bundle", "entry": entries}
    assert _Parts(bundle).resolve(reference) is Submission(bundle).resolve(reference)


def test_the_comparison_can_fail() -> None:
    """The first match counts: two entries that both match tell a different resolution apart."""
    first, second = {"resourceType": "Patient", "id": "a"}, {"resourceType": "Patient", "id": "a"}
    bundle = {"entry": [{"resource": first}, {"fullUrl": "Patient/a", "resource": second}]}
    assert _Parts(bundle).resolve("Patient/a") is first is not second
