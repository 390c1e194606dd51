"""Two short ways of the direct form (fpath), held to the general way and to fhirpathpy.

1. A direct form that reads no ``%`` variable, on a JSON object, is run by its body on the one
   item ``direct.run_typed`` would give it, and the result turned into plain data only when it is
   not one Boolean (``fhirpath.object_result``): in ``Expression.on_data`` and inlined in
   ``invariants.evaluate``. Before, only the forms that always give one Boolean took that way;
   the others (``fullUrl.exists() implies fullUrl.contains('/_history/').not()``) went through
   ``run_typed``'s nodes. Compared with ``_plain(run_typed(...))`` and with fhirpathpy.
2. The generated functions (``adapter.fhirpath.codegen``) take two Booleans found at run time by
   Python logic where an operand is not always one Boolean (``and``/``or``/``xor``/``implies``),
   compare two Booleans for ``=``/``!=`` where one side always is one, and read ``all()``'s
   criterion result ``[True]``/``[False]`` without ``_all_true``. Held by ``test_codegen``'s
   comparison (generated = closures = fhirpathpy) on the examples, the test cases, both HL7
   corpora and mutated documents; here, that each is generated where it applies, and that a
   wrong one is caught by that comparison (the negative controls).

Inputs: every resource of the examples (default run), of the test cases and the HL7 corpora (slow
tier) and hypothesis-mutated examples (slow tier), with every profile, ``semantics.json`` and R4
core expression that has such a form, on the resource and on its typed elements. fhirpathpy is
asked on the examples and the mutated documents; on the test cases and corpora the short way is
held to the general way, which ``test_oracle`` holds to fhirpathpy on those same inputs.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import fhirpath_oracle
import pytest
import test_codegen
from fhirpath_oracle import ROOT, load, outcome, resources, theirs, typed_nodes
from hypothesis import HealthCheck, Phase, given, settings
from test_oracle import PROFILE, SEMANTICS, _core_for, _files
from test_oracle_mutations import mutated

from adapter import fhirpath
from adapter.fhirpath import codegen, direct
from adapter.fhirpath.upstream import FP_Type, parse
from adapter.validation import invariants

EXAMPLE = ROOT / "profiles" / "examples" / "Bundle-lisn-example-submission.json"
_FORMS: dict[str, Any] = {}


def _data_only(text: str) -> Any:
    """The compiled expression when it has a direct form reading no ``%`` variable, else ``None``."""
    if text not in _FORMS:
        try:
            expression = fhirpath.compile(text)
        except Exception:  # noqa: BLE001 - an expression fhirpathpy cannot parse: nothing to compare
            expression = None
        form = expression.direct if expression is not None else None
        _FORMS[text] = expression if form is not None and not form.variables else None
    return _FORMS[text]


def _evaluated(text: str, data: Any, resource: Any, type_path: str | None) -> Any:
    """``invariants.evaluate`` as an outcome (a problem as the error fhirpathpy's text names)."""
    found = invariants.evaluate(text, data, resource=resource, type_path=type_path)
    if isinstance(found, invariants.FhirPathProblem):
        return ("problem", found.detail)
    return ("ok", fhirpath_oracle.describe(found))


def _as_problem(result: Any) -> Any:
    return ("problem", f"{result[1]}: {result[2]}") if result[0] == "error" else result


def disagreements(document: Any, *, stop: bool = False, typed: int = 25, oracle: bool = True) -> list[str]:
    """Where the short way, the general way, ``invariants.evaluate`` and (with ``oracle``) fhirpathpy
    disagree on ``document``."""
    problems: list[str] = []
    for resource, variables in resources(document):
        checks = [(text, resource, None) for text in dict.fromkeys(PROFILE + SEMANTICS)]
        for node in typed_nodes(resource)[:typed]:
            if isinstance(node.data, dict) and not isinstance(node.data, FP_Type):
                is_resource = "resourceType" in node.data
                checks += [(text, node, node.path) for text in dict.fromkeys(_core_for(node.path, is_resource))]
        for text, node, type_path in checks:
            expression = _data_only(text)
            data = getattr(node, "data", node)
            if expression is None or type(data) is not dict:
                continue
            form = expression.direct
            mine = outcome(lambda n, v, e=expression, d=data, t=type_path: e.on_data(d, t), node, variables)
            general = outcome(lambda n, v, f=form, d=data, t=type_path: fhirpath._plain(direct.run_typed(f, d, t)),
                              node, variables)
            reference = outcome(theirs(text, False), node, variables) if oracle else general
            evaluated = _evaluated(text, data, resource, type_path)
            if not (mine == general == reference and evaluated == _as_problem(mine)):
                problems.append(f"{text!r} on {getattr(node, 'path', 'the resource')}: on_data {str(mine)[:150]} / "
                                f"general {str(general)[:150]} / fhirpathpy {str(reference)[:150]} / "
                                f"evaluate {str(evaluated)[:150]}")
                if stop:
                    return problems
    return problems


@pytest.fixture(autouse=True, scope="module")
def _fresh() -> Any:
    """Expressions compiled afresh for this module, and forgotten after it. Once per module, not per
    test: the short ways patched by the negative controls are looked up at run time, and compiling
    every expression again for each of the ~450 inputs was most of the slow tier's time."""
    _FORMS.clear()
    invariants.forget_compiled()
    yield
    _FORMS.clear()
    invariants.forget_compiled()


def test_forms_that_are_not_always_one_boolean_take_the_short_way() -> None:
    """The short way is really taken for a form that is not always one Boolean."""
    text = "fullUrl.exists() implies fullUrl.contains('/_history/').not()"
    expression = _data_only(text)
    assert expression is not None and not expression.direct.boolean
    calls: list[int] = []
    with pytest.MonkeyPatch.context() as m:
        m.setattr(direct, "run_typed", lambda *a, **k: calls.append(1))  # (the general way: not taken)
        entry = {"fullUrl": "urn:uuid:1"}
        assert expression.on_data(entry, "Bundle.entry") == [True]
        assert invariants.evaluate(text, entry, resource={}, type_path="Bundle.entry") == [True]
        assert invariants.evaluate(text, {"fullUrl": "a/_history/1"}, resource={}, type_path="Bundle.entry") == [False]
    assert calls == []


@pytest.mark.parametrize("path", _files())
def test_object_forms_equal_the_general_run_and_fhirpathpy(path: Path) -> None:
    document = load(path)
    if not isinstance(document, dict):
        pytest.skip("not a JSON object (a malformed-input case)")
    # fhirpathpy is asked on the examples only: on the ~400 slow-tier inputs it took some 35 minutes of
    # CPU, and test_oracle already holds the general way to fhirpathpy on those same inputs.
    problems = disagreements(document, oracle=path.parent.name == "examples")
    assert not problems, f"{len(problems)} disagreements, first: " + "\n".join(problems[:5])


@pytest.mark.slow  # 30 generated documents through every expression
@settings(max_examples=30, deadline=None, phases=[Phase.explicit, Phase.reuse, Phase.generate],
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(mutated())
def test_object_forms_on_mutated_resources(doc: Any) -> None:
    problems = disagreements(doc, typed=8)
    assert not problems, "\n".join(problems[:5])


def _negated(found: list[Any]) -> list[Any]:
    return [not found[0]] if len(found) == 1 and type(found[0]) is bool else found


def _last_dropped(found: list[Any]) -> list[Any]:
    return fhirpath._plain(direct.nodes(found))[:-1] if found else found


@pytest.mark.parametrize("wrong", [_negated, _last_dropped])
def test_a_wrong_object_result_is_caught(wrong: Callable[[list[Any]], list[Any]]) -> None:
    document = json.loads(EXAMPLE.read_text())
    with pytest.MonkeyPatch.context() as m:
        m.setattr(fhirpath, "object_result", wrong)
        assert disagreements(document, stop=True)


# -- the generated run-time Boolean paths ---------------------------------------------------------

_RUNTIME = {
    # (an expression using it, a line of its generated source)
    "logic": ("fullUrl.exists() implies fullUrl.contains('/_history/').not()",
              r"^r\d+ = \[True if r\d+ is False else a\d+\]$"),
    "equality": ("entry.all(request.exists() = (%resource.type = 'batch' or %resource.type = 'transaction'))",
                 r"^r\d+ = \[\(r\d+\[0\] == r\d+\[0\]\) is not False\]$"),
    "all": ("entry.all(request.exists() = (%resource.type = 'batch' or %resource.type = 'transaction'))",
            r"^if not \(len\(r\d+\) == 1 and \(r\d+\[0\] is True or \(r\d+\[0\] is not False and _all_true"),
}


@pytest.mark.parametrize("name", list(_RUNTIME))
def test_the_runtime_boolean_paths_are_generated(name: str) -> None:
    text, line = _RUNTIME[name]
    source = codegen.source(parse(text))[0]
    assert any(re.search(line, row.strip()) for row in source.splitlines()), source


_FAULTS = {
    "runtime implies as and": test_codegen._rewrite(r"= \[True if (\w+) is False else (\w+)\]$", r"= [\1 and \2]"),
    "runtime or as and": test_codegen._rewrite(r"= \[(\w+) or (\w+)\]$", r"= [\1 and \2]"),
    "Boolean equality negated": test_codegen._rewrite(r"= \[\((\w+)\[0\] == (\w+)\[0\]\) is not False\]$",
                                                      r"= [(\1[0] == \2[0]) is False]"),
    "all() criterion read wrong": test_codegen._rewrite(r"\((\w+)\[0\] is True or \((\w+)\[0\] is not False",
                                                        r"(\1[0] is False or (\2[0] is not False"),
}


@pytest.mark.pure_python  # patches a module function: compiled callers do not see it (tests/conftest.py)
@pytest.mark.parametrize("name", list(_FAULTS))
def test_a_wrong_runtime_boolean_path_is_caught(name: str) -> None:
    document = json.loads(EXAMPLE.read_text())
    with pytest.MonkeyPatch.context() as m:
        _FAULTS[name](m)
        test_codegen._COMPILED.clear()
        assert test_codegen.disagreements(document, stop=True), name
    test_codegen._COMPILED.clear()
