"""The quick test of a primitive value passes only values the full check finds nothing wrong with.

The structure walk runs ``primitives.check_primitive`` only on the values ``quick_check`` does not
pass; so for every type, a value the quick test passes must get no issue from the full check. The
values are the spec's edge cases and hypothesis' (text of every kind, numbers, booleans, nulls).
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapter.fhir import definitions as defs
from adapter.issues import Issues
from adapter.validation import primitives

EDGES: list[Any] = [
    "", " ", "a", "a b", " a", "a ", "\t", "x" * (1024 * 1024 + 1), "2020-02-30", "2020-02-29", "2021-02-29",
    "2020", "2020-13", "2020-01-01T10:00:00Z", "2020-01-01T10:00:00+01:00", "2020-01-01T25:00:00Z", "10:00:00",
    "urn:oid:1.2.3", "urn:uuid:c757873d-ec9a-4326-a141-556f43239520", "http://x", "oid:1.2", "#x", "ab=",
    "QUJD", "1", "-1", "1.5", True, False, None, 0, 1, -1, 2**31 - 1, 2**31, -(2**31), -(2**31) - 1, 1.5,
    float("inf"), float("nan"), [], {}, ["a"],
]


def _clean(value: Any, type_name: str) -> bool:
    issues = Issues()
    primitives.check_primitive(value, type_name, "X.y", issues)
    return not issues.items


@pytest.mark.parametrize("type_name", sorted(defs.PRIMITIVES))
def test_edge_values(type_name: str) -> None:
    quick = primitives.quick_check(type_name)
    if quick is None:
        return
    passed = [v for v in EDGES if quick(v)]
    assert passed, f"{type_name}: the quick test passes some value"
    for value in passed:
        assert _clean(value, type_name), (type_name, value)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(sorted(defs.PRIMITIVES)),
       st.one_of(st.text(), st.from_regex(r"[0-9]{4}(-[0-9]{2}(-[0-9]{2}(T[0-9]{2}:[0-9]{2}:[0-9]{2}(Z|[+-][0-9]{2}:[0-9]{2}))?)?)?",
                                          fullmatch=True),
                 st.integers(), st.floats(), st.booleans(), st.none()))
def test_what_the_quick_test_passes_the_full_check_passes(type_name: str, value: Any) -> None:
    quick = primitives.quick_check(type_name)
    if quick is not None and quick(value):
        assert _clean(value, type_name)
