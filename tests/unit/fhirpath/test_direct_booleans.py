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
from typing import Any

import fhirpath_oracle
import pytest
import test_oracle
from fhirpath_oracle import ROOT, direct_disagreement

from adapter import fhirpath
from adapter.fhirpath import codegen, direct

EXAMPLE = ROOT / "profiles" / "examples" / "Bundle-lisn-example-submission.json"


def test_marked_closures() -> None:
    for text in ("a.exists() and b.empty()", "(a.exists() or b.x.exists()).not()", "a.all(b.exists()) xor c.exists()",
                 "a.exists(b = 'x') implies c.d.empty()", "a.exists().not() or b.exists()"):
        form = fhirpath.compile(text).direct
        assert form is not None and direct._is_boolean(form.closure), text
    for text in ("a.count() > 0 and b.exists()", "a = 'x' or b.exists()", "a.exists() and b", "a.not() or b.exists()"):
        form = fhirpath.compile(text).direct
        assert form is not None and not direct._is_boolean(form.closure), text


@pytest.mark.parametrize("op", ["and", "or", "xor", "implies"])
def test_every_pair_of_values_against_fhirpathpy(op: str) -> None:
    problems = []
    for left, right, negate in itertools.product((True, False), (True, False), (False, True)):
        data = {"resourceType": "Basic", **({"a": [{"x": 1}]} if left else {}), **({"b": "y"} if right else {})}
        text = f"(a.exists() {op} b.exists())" + (".not()" if negate else "")
        assert direct._is_boolean(fhirpath.compile(text).direct.closure)  # type: ignore[union-attr]
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
        m.setattr(codegen, "ENABLED", False)  # the closures under test (codegen's own faults: test_codegen.py)
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
        m.setattr(codegen, "ENABLED", False)  # the closures under test (codegen's own faults: test_codegen.py)
        fhirpath_oracle.ours.cache_clear()
        try:
            with pytest.raises(AssertionError, match="direct form"):
                test_every_pair_of_values_against_fhirpathpy(op)
        finally:
            fhirpath_oracle.ours.cache_clear()


# -- on_data's shortcut for such forms on a JSON object (direct.test_on_object) ---------------------

def _boolean_expressions() -> list[str]:
    import test_oracle

    texts = test_oracle.PROFILE + [i["expression"] for i in test_oracle.CORE]
    out = []
    for text in dict.fromkeys(texts):
        try:
            form = fhirpath.compile(text).direct
        except Exception:  # noqa: BLE001 - a profile expression fhirpathpy cannot parse
            continue
        if form is not None and form.boolean and not form.variables:
            out.append(text)
    return out


def _test_on_object_disagreements(document: Any, *, stop: bool = False) -> list[str]:
    from fhirpath_oracle import resources, typed_nodes

    from adapter.fhirpath.upstream import FP_Type

    problems = []
    texts = _boolean_expressions()
    for resource, variables in resources(document):
        for typed in typed_nodes(resource)[:20]:
            data, path = typed.data, typed.path
            if not isinstance(data, dict) or isinstance(data, FP_Type):
                continue
            for type_path in (None, path) if "resourceType" in data else (path,):
                for text in texts:
                    expression = fhirpath.compile(text)
                    mine = fhirpath_oracle.outcome(
                        lambda d, v, e=expression, t=type_path: e.on_data(d, t), data, variables)
                    general = fhirpath_oracle.outcome(
                        lambda d, v, e=expression, t=type_path: direct.nodes(direct.run_typed(e.direct, d, t)),
                        data, variables)
                    reference = fhirpath_oracle.outcome(
                        fhirpath_oracle.theirs(text, False), data if type_path is None else typed, variables)
                    if not mine == general == reference:
                        problems.append(f"{text!r} on {path}: {mine} / {general} / fhirpathpy {reference}")
                        if stop:
                            return problems
    return problems


def test_boolean_forms_on_objects_equal_the_general_run() -> None:
    texts = _boolean_expressions()
    assert len(texts) > 50, len(texts)
    assert not _test_on_object_disagreements(fhirpath_oracle.load(EXAMPLE))


def test_a_wrong_shortcut_on_objects_is_caught() -> None:
    """Negative control: a shortcut that evaluates on an empty object instead of the data."""
    with pytest.MonkeyPatch.context() as m:
        m.setattr(direct, "test_on_object", lambda form, data, type_path: form.body([({}, type_path)], {}))
        assert _test_on_object_disagreements(fhirpath_oracle.load(EXAMPLE), stop=True)
