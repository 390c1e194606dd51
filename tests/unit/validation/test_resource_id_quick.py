"""The quick test of a resource's own ``id`` passes only ids the full check finds nothing wrong with.

The structure walk runs ``primitives.check_primitive(..., resource_id=True)`` only on the ids
``primitives.quick_resource_id`` does not pass (``structure._Plan.quick``); so an id the quick test
passes must get no issue from the full check, and the ids the examples use pass it (it is taken).
Negative control: a quick test that lets one character too many through is caught.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapter.issues import Issues
from adapter.validation import primitives

ROOT = Path(__file__).resolve().parents[3]
EDGES: list[Any] = ["", " ", "a", "a b", "A-z.0", "x" * 63, "x" * 64, "x" * 65, "x" * 200, "a\n", "\na", "å",
                    "a_b", "a/b", "1", "-", ".", 1, 1.5, True, None, [], {}, ["a"], "٣", "ａ"]
TEXT = st.one_of(st.text(), st.from_regex(r"[A-Za-z0-9\-._ /\n]{0,70}", fullmatch=True), st.integers(), st.none())


def _clean(value: Any) -> bool:
    issues = Issues()
    primitives.check_primitive(value, "id", "X.id", issues, resource_id=True)
    return not issues.items


def _sound(quick: Callable[[Any], bool], values: list[Any]) -> bool:
    return all(_clean(v) for v in values if quick(v))


def test_edge_ids() -> None:
    assert _sound(primitives.quick_resource_id, EDGES)
    assert [v for v in EDGES if primitives.quick_resource_id(v)] == ["a", "A-z.0", "x" * 63, "x" * 64, "1", "-", "."]


@settings(max_examples=400, deadline=None)
@given(TEXT)
def test_what_the_quick_test_passes_the_full_check_passes(value: Any) -> None:
    if primitives.quick_resource_id(value):
        assert _clean(value)


def test_the_example_ids_pass_it() -> None:
    ids = [e["resource"]["id"] for path in sorted((ROOT / "profiles" / "examples").glob("Bundle-*.json"))
           for e in json.loads(path.read_text(encoding="utf-8")).get("entry", []) if "id" in e.get("resource", {})]
    assert ids and all(primitives.quick_resource_id(i) for i in ids)


@pytest.mark.parametrize("wrong", [lambda v: type(v) is str and 0 < len(v) <= 65,
                                   lambda v: type(v) is str and len(v) <= 64 and " " not in v])
def test_a_wrong_quick_test_is_caught(wrong: Callable[[Any], bool]) -> None:
    assert not _sound(wrong, EDGES)
