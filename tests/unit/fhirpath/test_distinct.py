"""``|``, ``union()``, ``distinct()`` and ``isDistinct()`` give what fhirpathpy's implementation gives.

:mod:`adapter.fhirpath.distinct` computes fhirpathpy's ``distinct_fn`` (JSON-text keys, else
``str()``; the last of equal items kept; nodes' data deduplicated and retyped) without its cost.
Hypothesis generates collections of the values FHIRPath evaluation meets (strings, numbers,
Decimals, Booleans, null, objects and arrays, nodes of those, shared objects, Quantities, dates)
and both functions must give the same items (by identity for objects) or raise the same error.
The expressions of the outbound mapping and of the examples' validation must use the compiled
form: not fhirpathpy's ``uniq`` (nor any fallback).
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fhirpath_oracle import ROOT, describe
from fhirpathpy.engine import util
from fhirpathpy.engine.invocations import existence
from fhirpathpy.engine.nodes import FP_DateTime, FP_Quantity, FP_Time, ResourceNode
from hypothesis import given, settings
from hypothesis import strategies as st

from adapter import fhirpath
from adapter.fhirpath import distinct

SHARED = [{"system": "s", "code": "c"}, {"code": "c", "system": "s"}, ["a"], {"resourceType": "Patient", "id": "p"}]
SCALARS = st.one_of(
    st.sampled_from(["", "a", "A", "1", "true", "null", '"a"', "é", "1.0"]), st.text(max_size=3),
    st.integers(-2, 2), st.sampled_from([0.5, 1.0, 2.0, 1e20, float("inf")]), st.booleans(), st.none(),
    st.sampled_from([Decimal("1"), Decimal("1.0"), Decimal("1.00"), Decimal("0.5"), Decimal("-0")]),
)
JSONISH = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(["a", "b", "system", "code", "resourceType"]), inner,
                                                 max_size=3)), max_leaves=6)
DATA = st.one_of(JSONISH, st.sampled_from(SHARED))
PATHS = st.sampled_from([None, "string", "Coding", "HumanName", "Patient.name", "Quantity", "System.String"])
NODES = st.builds(lambda d, p: ResourceNode.create_node(d, p), DATA, PATHS)
SPECIAL = st.sampled_from([
    FP_Quantity(Decimal("1"), "'mg'"), FP_Quantity(Decimal("1"), "day"), FP_Quantity(Decimal("24"), "hours"),
    FP_Quantity(Decimal("1"), "year"), FP_Quantity(Decimal("12"), "months"), FP_DateTime("2020"), FP_DateTime("2020-01"),
    FP_Time("10:00")])


def _same(mine: Any, theirs: Any) -> None:
    assert describe(mine) == describe(theirs)


def _outcome(fn: Any, items: list[Any]) -> Any:
    try:
        return ("ok", describe(fn(list(items))))
    except Exception as exc:  # noqa: BLE001 - an error both must raise alike
        return ("error", type(exc).__name__, str(exc))


def _agree(items: list[Any]) -> None:
    assert _outcome(distinct.distinct, items) == _outcome(lambda x: existence.distinct_fn({}, x), items)
    assert _outcome(lambda x: [distinct.is_distinct(x)], items) == _outcome(lambda x: existence.isdistinct_fn({}, x), items)


@settings(max_examples=300, deadline=None)
@given(st.lists(NODES, max_size=6))
def test_nodes_only(items: list[Any]) -> None:
    _agree(items + items[:2])  # the same node objects twice, too


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(DATA, NODES, SPECIAL), max_size=6))
def test_mixed_collections(items: list[Any]) -> None:
    _agree(items + items[-1:])


@settings(max_examples=100, deadline=None)
@given(st.lists(SPECIAL.filter(lambda v: isinstance(v, FP_Quantity)), min_size=1, max_size=4))
def test_quantities_only(items: list[Any]) -> None:
    _agree(items)


@pytest.mark.parametrize("items", [
    [], ["a", "a", "b"], [1, True, 1.0, Decimal("1"), "1"], [{"a": 1, "b": 2}, {"b": 2, "a": 1}],
    [{"a": Decimal("1")}, {"a": Decimal("1")}], [{1: "x", "a": "y"}, {1: "x", "a": "y"}],
])
def test_examples(items: list[Any]) -> None:
    _agree(items)
    _agree([ResourceNode.create_node(v, "string") for v in items])


def test_the_last_equal_item_is_kept_at_the_first_place() -> None:
    first, second = {"a": 1}, {"a": 1}
    nodes = [ResourceNode.create_node(first, "Coding"), ResourceNode.create_node("x", "string"),
             ResourceNode.create_node(second, "Coding")]
    out = distinct.distinct(nodes)
    assert [n.data for n in out] == [second, "x"] and out[0].data is second
    assert [n.path for n in out] == [None, None]  # fhirpathpy's union retypes nodes
    _same(out, existence.distinct_fn({}, nodes))


def test_a_wrong_key_would_be_caught() -> None:
    """The comparison can fail: deduplicating by Python equality merges ``1`` and ``1.0``; fhirpathpy does not."""
    items = [1, 1.0, True]
    assert describe(list(dict.fromkeys(items))) != describe(existence.distinct_fn({}, items))
    _agree(items)


def _examples() -> list[Path]:
    return sorted((ROOT / "profiles" / "examples").glob("*.json"))


def test_mapping_and_example_validation_use_the_compiled_union(monkeypatch: pytest.MonkeyPatch) -> None:
    """Validating and rendering the examples: no fallback, and fhirpathpy's ``uniq`` never called."""
    from adapter.outbound import render_municipal_xml
    from adapter.validation import validate_bytes

    calls: list[Any] = []
    real = util.uniq
    monkeypatch.setattr(util, "uniq", lambda arr: calls.append(arr) or real(arr))
    before = dict(fhirpath.fallbacks())
    rendered = 0
    for path in _examples():
        validate_bytes(path.read_bytes())
        document = json.loads(path.read_text(encoding="utf-8"))
        if document.get("resourceType") == "Bundle":
            render_municipal_xml(document)
            rendered += 1
    assert rendered >= 3
    assert fhirpath.fallbacks() == before
    assert calls == []
    compiled = fhirpath.compile("name.first().select((given.join(' ') | family).join(' '))")
    assert compiled.compiled is not None
    assert compiled({"resourceType": "Patient", "name": [{"given": ["A", "B"], "family": "A"}]}, {}) == ["A B A"]
    assert calls == []  # the mapping's union, compiled: fhirpathpy's uniq is not used
