"""``<``, ``<=``, ``>``, ``>=`` on two whole calendar dates: the compiled shortcut gives fhirpathpy's result.

Hypothesis draws dates (valid, impossible such as 2026-02-30, years out of the shortcut's range,
partial dates, dateTimes) as strings, date literals (``FP_DateTime``) and nodes typed ``date``,
``dateTime``, ``instant``, ``time``, ``string`` or untyped, and compares both engines on
``%a op %b``: the same result or the same error.
"""

from __future__ import annotations

from typing import Any

import pytest
from fhirpath_oracle import disagreement, ours
from fhirpathpy.engine.nodes import FP_DateTime, ResourceNode
from hypothesis import given, settings
from hypothesis import strategies as st

OPS = ["<", "<=", ">", ">="]
TEXTS = st.one_of(
    st.builds(lambda y, m, d: f"{y:04d}-{m:02d}-{d:02d}", st.sampled_from([0, 1, 1799, 1800, 1969, 1970, 2026, 2999, 3000, 9999]),
              st.integers(0, 13), st.integers(0, 32)),
    st.sampled_from(["2026-09-14", "2026-09-02", "2027-09-14", "2026-02-30", "2024-02-29", "2026-09", "2026",
                     "2026-09-14T10:00:00+01:00", "2026-09-14T00:00:00Z", "T10:00", "10:00:00", "", "x", "２０２６-09-14"]),
)
PATHS = st.sampled_from(["date", "dateTime", "instant", "time", "string", None])


@st.composite
def operand(draw: st.DrawFn) -> Any:
    text = draw(TEXTS)
    how = draw(st.sampled_from(["str", "literal", "node"]))
    if how == "str":
        return text
    if how == "literal":
        value = FP_DateTime(text)
        return value if value is not None else text
    return ResourceNode.create_node(text, draw(PATHS))


@settings(max_examples=400, deadline=None)
@given(operand(), operand(), st.sampled_from(OPS))
def test_ordering_of_dates_agrees(a: Any, b: Any, op: str) -> None:
    expression = f"%a {op} %b"
    assert ours(expression, True).compiled is not None
    problem = disagreement(expression, {"resourceType": "Basic"}, {"a": a, "b": b}, True)
    assert problem is None, problem


@pytest.mark.parametrize(("a", "op", "b", "expected"), [
    (ResourceNode.create_node("2026-09-02", "date"), "<", ResourceNode.create_node("2026-09-14", "date"), [True]),
    ("2026-09-21", "<", ResourceNode.create_node("2026-09-02", "date"), [False]),
    (ResourceNode.create_node("2026-09-14", "dateTime"), "<=", ResourceNode.create_node("2026-09-14", "dateTime"), [True]),
    (FP_DateTime("2026-09-14"), ">", "2026-09-13", [True]),
])
def test_examples(a: Any, op: str, b: Any, expected: list[Any]) -> None:
    assert ours(f"%a {op} %b", True)({"resourceType": "Basic"}, {"a": a, "b": b}) == expected
    assert disagreement(f"%a {op} %b", {"resourceType": "Basic"}, {"a": a, "b": b}, True) is None
