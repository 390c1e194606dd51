"""The direct form's Boolean logic (``direct._logic_on_booleans``): exact, and a wrong one is caught.

Where both operands of ``and``/``or``/``xor``/``implies`` (or the input of ``not()``) always give
one Boolean (``key.exists()``, ``key.empty()``, ``all()``, ``exists(criterion)`` and such logic),
the direct form combines them in Python instead of calling fhirpathpy's operator. The oracle
tests (``test_oracle.py``) hold every direct form to fhirpathpy on every input; here: which
closures are marked, a table of all operand values, and the negative controls (a wrong
combination makes the oracle report disagreements).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import fhirpath_oracle
import pytest
import test_oracle
from fhirpath_oracle import ROOT, direct_disagreement

from adapter import fhirpath
from adapter.fhirpath import direct

EXAMPLE = ROOT / "profiles" / "examples" / "Bundle-lisn-example-submission.json"


def test_marked_closures() -> None:
    for text in ("a.exists() and b.empty()", "(a.exists() or b.x.exists()).not()", "a.all(b.exists()) xor c.exists()",
                 "a.exists(b = 'x') implies c.d.empty()", "a.exists().not() or b.exists()"):
        form = fhirpath.compile(text).direct
        assert form is not None and direct._is_boolean(form.body), text
    for text in ("a.count() > 0 and b.exists()", "a = 'x' or b.exists()", "a.exists() and b", "a.not() or b.exists()"):
        form = fhirpath.compile(text).direct
        assert form is not None and not direct._is_boolean(form.body), text


@pytest.mark.parametrize("op", ["and", "or", "xor", "implies"])
def test_every_pair_of_values_against_fhirpathpy(op: str) -> None:
    problems = []
    for left, right, negate in itertools.product((True, False), (True, False), (False, True)):
        data = {"resourceType": "Basic", **({"a": [{"x": 1}]} if left else {}), **({"b": "y"} if right else {})}
        text = f"(a.exists() {op} b.exists())" + (".not()" if negate else "")
        assert direct._is_boolean(fhirpath.compile(text).direct.body)  # type: ignore[union-attr]
        found = direct_disagreement(text, data, {"resource": data, "rootResource": data})
        if found:
            problems.append(found)
    assert not problems, problems


def _or_as_and(m: pytest.MonkeyPatch) -> None:
    real = direct._logic_on_booleans
    m.setattr(direct, "_logic_on_booleans", lambda op, left, right: real("and" if op == "or" else op, left, right))


def _not_kept(m: pytest.MonkeyPatch) -> None:
    m.setattr(direct, "_not_boolean", lambda body: direct._boolean(body))


@pytest.mark.slow  # negative controls: the oracle over the example must see each fault
@pytest.mark.parametrize("fault", [_or_as_and, _not_kept])
def test_a_wrong_boolean_logic_is_caught(fault: Callable[[pytest.MonkeyPatch], None]) -> None:
    with pytest.MonkeyPatch.context() as m:
        fault(m)
        fhirpath_oracle.ours.cache_clear()  # compile afresh, with the fault
        try:
            with pytest.raises(AssertionError, match="direct form"):
                test_oracle.test_compiled_equals_fhirpathpy(EXAMPLE)
        finally:
            fhirpath_oracle.ours.cache_clear()


@pytest.mark.parametrize("op", ["implies", "xor"])
def test_a_wrong_combination_is_caught_by_the_table(op: str) -> None:
    with pytest.MonkeyPatch.context() as m:
        m.setitem(direct._ON_BOOLEANS, op, lambda a, b: b)
        fhirpath_oracle.ours.cache_clear()
        try:
            with pytest.raises(AssertionError, match="direct form"):
                test_every_pair_of_values_against_fhirpathpy(op)
        finally:
            fhirpath_oracle.ours.cache_clear()
