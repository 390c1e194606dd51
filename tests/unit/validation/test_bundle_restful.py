"""``bundle_rules.is_restful`` (a small pattern and a set lookup) against the regular expression it
replaced (every R4 resource type's name in one group), on many references valid and invalid."""

from __future__ import annotations

import itertools
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapter.fhir import definitions as defs
from adapter.validation.bundle_rules import is_restful, resolve_reference

NAMES = sorted(defs.resource_type_names())
# The pattern as it was before (adapter/validation/bundle_rules.py up to this change).
OLD = re.compile(rf"((http|https)://([A-Za-z0-9\\.:%$]*/)*)?({'|'.join(NAMES)})/[A-Za-z0-9\-.]{{1,64}}"
                 rf"(/_history/[A-Za-z0-9\-.]{{1,64}})?")

PREFIXES = ["", "http://", "https://", "http://x.org/", "https://x.org/fhir/", "http://x:8080/a%20b/$c/",
            "http://a\\b/", "ftp://x/", "urn:uuid:", "HTTP://x/", "http://x_y/", "http://x-y/", "http:///",
            "https://x/Patient/", "http://x/Patient/1/", "/", "x/", "http://x/_history/", "http://x/a.b:c/"]
TYPES = ["Patient", "Observation", "Bundle", "QuestionnaireResponse", "patient", "PATIENT", "Patients",
         "Resource", "DomainResource", "HumanName", "Foo", "_history", "Pat-ient", "Pat1ent", "", "Patient2"]
IDS = ["1", "abc", "a-b.c", "A" * 64, "A" * 65, "", "a_b", "a/b", "a b", "ä", "1/"]
TAILS = ["", "/_history/1", "/_history/a-b.c", "/_history/", "/_history/" + "v" * 65, "/_history/1/x", "/x",
         "/", "/_HISTORY/1", "?a=b", "#p"]


def _old(url: str) -> bool:
    return OLD.fullmatch(url) is not None


def test_same_answer_as_the_old_pattern_on_every_combination() -> None:
    urls = [p + t + "/" + i + tail for p, t, i, tail in itertools.product(PREFIXES, TYPES, IDS, TAILS)]
    assert len(urls) > 20_000
    differ = [u for u in urls if is_restful(u) != _old(u)]
    assert not differ, differ[:10]
    assert sum(map(is_restful, urls)) > 300  # both answers occur, many times


@pytest.mark.parametrize(("url", "restful"), [
    ("Patient/1", True), ("http://x.org/fhir/Observation/a-b.c/_history/2", True),
    ("https://x/Patient/1/Observation/2", True), ("urn:uuid:5f4a7c6e-0000-4000-8000-000000000001", False),
    ("http://x/Resource/1", False), ("http://x/HumanName/1", False), ("http://x/patient/1", False),
    ("http://x_y/Patient/1", False), ("http://x/Patient/1/_history/", False),
])
def test_known_answers(url: str, restful: bool) -> None:
    assert is_restful(url) is restful is _old(url)


_PIECES = st.sampled_from(["http", "https", "://", "/", ":", "_history", "-", ".", "_", "%", "$", "\\", "x",
                           "1", "Patient", "Observation", "Bundle", "Patien", "tient", "ient/", "Pati", " ",
                           "Questionnaire", "Response", "Resource"])


@settings(max_examples=3000, deadline=None)
@given(st.lists(_PIECES, max_size=14).map("".join))
def test_same_answer_as_the_old_pattern_on_generated_strings(url: str) -> None:
    assert is_restful(url) == _old(url)


def test_relative_references_resolve_against_a_restful_full_url_only() -> None:
    entries = [{"fullUrl": "http://x/fhir/Patient/1", "resource": {"resourceType": "Patient", "id": "1"}}]
    assert resolve_reference(entries, "Patient/1", "http://x/fhir/Observation/2") == [0]
    assert resolve_reference(entries, "Patient/1", "http://x/fhir/NotAType/2") == []
