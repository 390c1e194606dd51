"""The submission rule's walk without trails (``invariants._plainly_listed``) gives what the walk
with trails (``invariants._listed``) gives, or declines (``None``) where an object ``reference``
stands below: on every entry resource of the examples, the validation cases and both HL7 corpora
(each document and each resource in it put in a Bundle, as ``test_subset_of_full_urls`` does), on
mutated submissions and on hypothesis-made entry resources; and ``_all_listed`` gives the same with
``PLAIN_LISTED`` on and off. (``test_subset_of_full_urls.py`` holds ``_all_listed`` itself to
fhirpathpy and the general way.) Negative controls: a plain walk that does not look below arrays,
or takes a ``_reference`` as listed, is caught.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_subset_of_full_urls import _FULL_URLS, _KEYS, _PLACES, _bundles, _files, _load, _mutated, _value

from adapter.validation import invariants


def _entry_resources(bundle: Any) -> tuple[set[str], list[dict[str, Any]]] | None:
    entries = bundle.get("entry") if isinstance(bundle, dict) else None
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        return None
    urls = {e["fullUrl"] for e in entries if isinstance(e.get("fullUrl"), str)}
    return urls, [e["resource"] for e in entries if isinstance(e.get("resource"), dict)]


def _problems(bundles: list[Any], monkeypatch: pytest.MonkeyPatch) -> tuple[list[str], int]:
    problems, answered = [], 0
    for bundle in bundles:
        found = _entry_resources(bundle)
        if found is not None:
            urls, resources = found
            for resource in resources:
                plain = invariants._plainly_listed(resource, urls)
                answered += plain is not None
                if plain is not None and plain != invariants._listed(resource, urls, None):
                    problems.append(f"plain walk {plain} on {str(resource)[:200]}")
        with monkeypatch.context() as m:
            m.setattr(invariants, "PLAIN_LISTED", False)
            trailed = invariants._all_listed(bundle)
        if invariants._all_listed(bundle) != trailed:
            problems.append(f"_all_listed differs ({trailed} with trails) on {str(bundle)[:200]}")
    return problems, answered


def _inputs() -> list[Any]:
    return [bundle for path in _files() for bundle in _bundles(_load(path))]


def test_plain_walk_agrees_on_the_inputs(monkeypatch: pytest.MonkeyPatch) -> None:
    problems, answered = _problems(_inputs(), monkeypatch)
    assert answered > 200
    assert not problems, f"{len(problems)} disagreements, first: " + "\n".join(problems[:3])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(_PLACES, _value), max_size=4))
def test_plain_walk_agrees_on_mutated_submissions(mutations: list[tuple[tuple[int, str], Any]]) -> None:
    with pytest.MonkeyPatch.context() as m:
        problems, _ = _problems([_mutated(mutations)], m)
        assert not problems, problems


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(_value, st.dictionaries(_KEYS, _value, max_size=4)), max_size=3))
def test_plain_walk_agrees_on_made_entry_resources(resources: list[Any]) -> None:
    bundle = {"resourceType": "Bundle", "entry": [{"fullUrl": u, "resource": r} for u, r in zip(_FULL_URLS, resources)]}
    with pytest.MonkeyPatch.context() as m:
        problems, _ = _problems([bundle], m)
        assert not problems, problems


@pytest.mark.pure_python  # patches a module function: compiled callers do not see it (tests/conftest.py)
def test_wrong_plain_walks_are_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    real = invariants._plainly_listed
    made = [{"resourceType": "Bundle", "entry": [{"fullUrl": "urn:a", "resource": {
        "resourceType": "Patient", "managingOrganization": {"_reference": {"id": "x"}, "reference": "urn:a"}}}]},
        {"resourceType": "Bundle", "entry": [{"fullUrl": "urn:a", "resource": {
            "resourceType": "Patient", "generalPractitioner": [{"reference": "urn:b"}]}}]}]

    def shallow(node: dict[str, Any], urls: set[str]) -> bool | None:  # arrays not looked into
        return real({k: v for k, v in node.items() if not isinstance(v, list)}, urls)

    def no_extensions(node: dict[str, Any], urls: set[str]) -> bool | None:  # "_reference" taken as listed
        return real({k: v for k, v in node.items() if k != "_reference"}, urls)

    for wrong in (shallow, no_extensions):
        with monkeypatch.context() as m:
            m.setattr(invariants, "_plainly_listed", wrong)
            problems, _ = _problems(made + _inputs()[:50], m)
            assert problems, wrong.__name__
