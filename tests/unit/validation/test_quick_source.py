"""The quick tests written without their regular expression pass only what the expression passes.

``primitives.quick_source`` tests ``string``/``markdown`` (``[ \\r\\n\\t\\S]+``), ``uri``/``url``/
``canonical`` (``\\S*``) and ``code`` (``[^\\s]+(\\s[^\\s]+)*``) by string methods. For every
character up to U+3000 alone, between two letters and doubled, and for texts of every kind, a value
the quick test passes must get no issue from ``check_primitive``; the usual values must pass it.
A quick test that forgets a character (negative control) is caught by the same comparison.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapter.issues import Issues
from adapter.validation import primitives

TYPES = ["string", "markdown", "uri", "url", "canonical", "code"]
TEXTS = [t for c in map(chr, range(0x3001)) for t in (c, f"a{c}b", c + c, f"a{c}{c}b", f"{c}a", f"a{c}")]


def _clean(value: Any, type_name: str) -> bool:
    issues = Issues()
    primitives.check_primitive(value, type_name, "X.y", issues)
    return not issues.items


def _unsound(quick: Callable[[Any], bool], type_name: str) -> list[Any]:
    return [v for v in TEXTS if quick(v) and not _clean(v, type_name)]


@pytest.mark.parametrize("type_name", TYPES)
def test_no_character_passes_that_the_expression_refuses(type_name: str) -> None:
    quick = primitives.quick_check(type_name)
    assert quick is not None
    assert "fullmatch" not in (primitives.quick_source(type_name, "v") or "")
    assert not _unsound(quick, type_name)


@pytest.mark.parametrize(("type_name", "usual"), [
    ("string", ["Hur länge?", "a\nb", "x\ty"]), ("markdown", ["*a* b\n\nc"]), ("code", ["final", "in-progress"]),
    ("uri", ["http://snomed.info/sct", "urn:oid:1.2.3"]), ("canonical", ["https://lisn.se/fhir/Q|1.0"]),
])
def test_the_usual_values_pass(type_name: str, usual: list[str]) -> None:
    quick = primitives.quick_check(type_name)
    assert quick is not None and all(quick(v) for v in usual)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(TYPES), st.text())
def test_what_the_quick_test_passes_the_expression_passes(type_name: str, value: str) -> None:
    quick = primitives.quick_check(type_name)
    assert quick is not None
    if quick(value):
        assert _clean(value, type_name)


def test_a_quick_test_that_forgets_a_character_is_caught() -> None:
    """Negative control: ``string`` without the form feed test passes a text the expression refuses."""
    def forgetful(v: Any) -> bool:
        return type(v) is str and len(v) > 0 and "\x0b" not in v
    assert _unsound(forgetful, "string")
