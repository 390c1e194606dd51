"""``StructureWalk.entry_full_url`` (an index of a Bundle's entries, made once) answers as the search it replaced.

The search: the fullUrl of the first entry (a JSON object) whose ``resource`` is the resource
(the same object), else None. Compared on entry lists with shared resources, entries that are no
objects, entries without a resource or a fullUrl, and resources in no entry; the negative control
(an index that keeps the last entry of a resource) must be caught.
"""

from __future__ import annotations

from typing import Any

from adapter.fhir.registry import Registry
from adapter.issues import Issues
from adapter.validation.structure import StructureWalk


def _searched(entries: list[Any], resource: Any) -> Any:
    return next((e.get("fullUrl") for e in entries if isinstance(e, dict) and e.get("resource") is resource), None)


def _cases() -> list[tuple[list[Any], list[Any]]]:
    a, b, c = {"resourceType": "Patient"}, {"resourceType": "Patient"}, {"resourceType": "Organization"}
    entries: list[Any] = [
        {"fullUrl": "urn:uuid:1", "resource": a},
        "not an entry", None, 3, [a],
        {"resource": b},  # no fullUrl
        {"fullUrl": "urn:uuid:2", "resource": b},
        {"fullUrl": "urn:uuid:3", "resource": a},  # the same resource again: the first one wins
        {"fullUrl": "urn:uuid:4"},  # no resource
        {"fullUrl": 5, "resource": c},
        {"fullUrl": "urn:uuid:6", "resource": dict(c)},  # equal, not the same
    ]
    return [(entries, [a, b, c, dict(a), "x", None, entries[9]["resource"]]),
            ([], [a]),
            ([{"fullUrl": "u", "resource": None}], [None, a])]


def test_the_index_answers_as_the_search() -> None:
    for entries, resources in _cases():
        walk = StructureWalk(Registry(), Issues(), lambda res, path: None)
        for resource in resources * 2:  # (the second time from the index)
            assert walk.entry_full_url(entries, resource) == _searched(entries, resource), resource


def test_a_wrong_index_is_caught() -> None:
    """Negative control: an index that keeps each resource's last entry differs."""
    def last(self: StructureWalk, entries: list[Any], resource: Any) -> Any:
        index = {id(e.get("resource")): e.get("fullUrl") for e in entries if isinstance(e, dict)}
        return index.get(id(resource))

    entries, resources = _cases()[0]
    walk = StructureWalk(Registry(), Issues(), lambda res, path: None)
    assert any(last(walk, entries, r) != _searched(entries, r) for r in resources)
