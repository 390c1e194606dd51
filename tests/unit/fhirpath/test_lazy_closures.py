"""An expression with a direct form gets its closures at their first use, and always gets them.

:class:`adapter.fhirpath.Expression` compiles the closures (the node form) at once only where no
direct form serves; elsewhere they are made when ``compiled`` (or ``reason``) is first read. That
is only the same as before if a direct form never stands where the compiler refuses: checked here
on every expression the package ships (the precomputed table), every R4 core invariant and every
expression of ``semantics.json``.
"""

from __future__ import annotations

import pytest
from test_oracle import CORE, SEMANTICS

from adapter import fhirpath
from adapter.fhirpath import upstream

PATIENT = {"resourceType": "Patient", "id": "p", "name": [{"given": ["A", "B"]}]}
KNOWN = sorted(set(upstream.table().trees) | {i["expression"] for i in CORE} | set(SEMANTICS))


def test_known_expressions_with_a_direct_form_all_compile_to_closures() -> None:
    with_direct = 0
    for text in KNOWN:
        expr = fhirpath.compile(text)
        if expr.direct is None:
            continue
        with_direct += 1
        assert "compiled" not in vars(expr), text  # not made yet
        assert expr.compiled is not None and expr.reason == "", (text, expr.reason)
    assert with_direct > 200, with_direct  # (the table alone has 269; most have a direct form)


def test_the_closures_are_made_at_first_use_and_give_the_same() -> None:
    expr = fhirpath.compile("name.given.count() = 2")
    assert expr.direct is not None and "compiled" not in vars(expr)
    assert expr(PATIENT, {}) == [True]  # by the direct form: still no closures
    assert "compiled" not in vars(expr)
    assert expr.node_form(PATIENT, {}) == [True]  # the node form makes them
    assert vars(expr)["compiled"] is not None and expr.reason == ""


def test_without_a_direct_form_the_closures_are_made_at_once() -> None:
    # resolve() has no direct form (it reads other resources): the closures are the form used
    expr = fhirpath.compile("name.given.exists() and resolve().empty()")
    assert expr.direct is None and vars(expr)["compiled"] is not None


@pytest.mark.parametrize("expression", ["name.exists(given, family)", "name.given.trace()",
                                        "name.where(((",  # a broken tree: the direct form's compiler raises too
                                        ])
def test_what_the_compiler_refuses_has_no_direct_form(expression: str) -> None:
    # The failing side of the rule above: refused by the compiler, so no direct form either, and
    # fhirpathpy evaluates it (test_fallback.py) - decided at once, not at first use.
    expr = fhirpath.compile(expression)
    assert expr.direct is None and vars(expr)["compiled"] is None and expr.reason


def test_an_unknown_attribute_is_still_an_attribute_error() -> None:
    expr = fhirpath.compile("name.exists()")
    with pytest.raises(AttributeError, match="no attribute 'complied'"):
        getattr(expr, "complied")  # noqa: B009 - the name is the point
