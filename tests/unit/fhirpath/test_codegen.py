"""The generated direct forms (adapter.fhirpath.codegen) give what the direct form's closures give,
and what fhirpathpy gives: on every expression of the profiles, ``semantics.json`` and the R4 core
invariants, on every resource of the examples (default run), of the test cases and the HL7 corpora
(slow tier) and of hypothesis-mutated examples (slow tier); both as an expression is run on a
resource and as ``adapter.validation.invariants`` runs it on an element (its JSON and type path).

Negative controls: a generator made deliberately wrong (a flipped equality, a loop that drops
items, ``exists()`` off by one, a primitive extension ignored, ``in``/``contains`` negated, ``not()``
dropped, each fast path on plain values broken: ``isDistinct()``, ``toString()``, ``length()``,
``substring()``, a sum of counts, and a step and ``where()`` in one loop: negated, an input item with
an odd item not dropped back or not handed to the general loop) is caught.
(``test_oracle.py`` also holds the generated forms to fhirpathpy: they are the direct form's body.)
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import fhirpath_oracle
import pytest
from fhirpath_oracle import ROOT, load, outcome, resources, theirs, typed_nodes
from hypothesis import HealthCheck, Phase, given, settings
from test_oracle import CORE, PROFILE, SEMANTICS, _core_for, _files
from test_oracle_can_fail import _with_linkid_extensions
from test_oracle_mutations import mutated

from adapter import fhirpath
from adapter.fhirpath import codegen, direct
from adapter.fhirpath.fhir import scope

EXAMPLE = ROOT / "profiles" / "examples" / "Bundle-lisn-example-submission.json"
_COMPILED: dict[str, Any] = {}


def _expression(text: str) -> Any:
    """``fhirpath.compile(text)`` (``None`` if it does not parse), compiled once per test run or fault."""
    if text not in _COMPILED:
        try:
            _COMPILED[text] = fhirpath.compile(text)
        except Exception:  # noqa: BLE001 - an expression fhirpathpy cannot parse: nothing to compare
            _COMPILED[text] = None
    return _COMPILED[text]


def _on_root(form: direct.Form, body: Any, node: Any, variables: dict[str, Any]) -> Any:
    """``Expression.direct_form`` with ``body`` as the form's body."""
    f = direct.Form(body, form.variables)
    if not f.variables:
        return fhirpath._plain(direct.run(f, node))
    return fhirpath._plain(direct.run(f, node, {"context": node, "ucum": "http://unitsofmeasure.org", **variables}))


def _on_data(form: direct.Form, body: Any, data: Any, type_path: str | None, variables: dict[str, Any]) -> Any:
    """``Expression.on_data`` (its general path) with ``body`` as the form's body."""
    f = direct.Form(body, form.variables)
    return fhirpath._plain(direct.run_typed(f, data, type_path, variables if f.variables else None))


def _compare(text: str, node: Any, variables: dict[str, Any]) -> str | None:
    expression = _expression(text)
    form = expression.direct if expression is not None else None
    if form is None or form.body is form.closure:
        return None
    if isinstance(node, fhirpath_oracle.ResourceNode):
        data, path = node.data, node.path
        generated = outcome(lambda n, v: _on_data(form, form.body, data, path, v), node, variables)
        closures = outcome(lambda n, v: _on_data(form, form.closure, data, path, v), node, variables)
    else:
        generated = outcome(lambda n, v: _on_root(form, form.body, n, v), node, variables)
        closures = outcome(lambda n, v: _on_root(form, form.closure, n, v), node, variables)
    with scope(variables.get("resource"), variables.get("rootResource")):
        reference = outcome(theirs(text, False), node, variables)
    if generated == closures == reference:
        return None
    return f"{text!r}: generated {str(generated)[:200]} / closures {str(closures)[:200]} / fhirpathpy {str(reference)[:200]}"


def disagreements(document: Any, *, stop: bool = False, typed: int = 25) -> list[str]:
    problems: list[str] = []
    for resource, variables in resources(document):
        checks = [(text, resource, variables) for text in dict.fromkeys(PROFILE + SEMANTICS)]
        for node in typed_nodes(resource)[:typed]:
            is_resource = isinstance(node.data, dict) and "resourceType" in node.data
            checks += [(text, node, {**variables, "context": node})
                       for text in dict.fromkeys(_core_for(node.path, is_resource))]
        for text, node, v in checks:
            found = _compare(text, node, v)
            if found:
                problems.append(found)
                if stop:
                    return problems
    return problems


@pytest.fixture(autouse=True)
def _fresh() -> Any:
    _COMPILED.clear()
    yield
    _COMPILED.clear()


def test_every_direct_form_is_generated() -> None:
    texts = list(dict.fromkeys(PROFILE + SEMANTICS + [i["expression"] for i in CORE]))
    forms = [(t, e.direct) for t in texts if (e := _expression(t)) is not None and e.direct is not None]
    kept = [t for t, form in forms if form.body is form.closure]
    assert len(forms) > 250 and not kept, (len(forms), kept)


def test_off_keeps_the_closures(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(codegen, "ENABLED", False)
    form = fhirpath.compile("name.where(use = 'official').exists()").direct
    assert form is not None and form.body is form.closure


@pytest.mark.parametrize("path", _files())
def test_generated_equals_closures_and_fhirpathpy(path: Path) -> None:
    document = load(path)
    if not isinstance(document, dict):
        pytest.skip("not a JSON object (a malformed-input case)")
    problems = disagreements(document)
    assert not problems, f"{len(problems)} disagreements, first: " + "\n".join(problems[:5])


def test_on_primitive_extensions(tmp_path: Path) -> None:
    problems = disagreements(load(_with_linkid_extensions(tmp_path)))
    assert not problems, "\n".join(problems[:5])


def _with_last_items_extended() -> Any:
    """The example with a ``_linkId`` on the last item of each list of two or more items only: a
    list whose first items are plain and whose last one is not (a step and ``where()`` in one loop
    give such an input item to the general loop, after keeping some of its items)."""
    def mark(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("item"), list) and len(node["item"]) > 1 and isinstance(node["item"][-1], dict):
                node["item"][-1]["_linkId"] = {"extension": [{"url": "http://example.org/x", "valueBoolean": True}]}
            for value in node.values():
                mark(value)
        elif isinstance(node, list):
            for value in node:
                mark(value)

    document = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    mark(document)
    return document


def test_on_primitive_extensions_of_some_items() -> None:
    problems = disagreements(_with_last_items_extended())
    assert not problems, "\n".join(problems[:5])


@pytest.mark.slow  # 30 generated documents through every expression
@settings(max_examples=30, deadline=None, phases=[Phase.explicit, Phase.reuse, Phase.generate],
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(mutated())
def test_mutated_resources_agree(doc: Any) -> None:
    problems = disagreements(doc, typed=8)
    assert not problems, "\n".join(problems[:5])


# -- negative controls: a wrong generator is caught ----------------------------------------------

def _rewrite(pattern: str, replacement: str) -> Callable[[pytest.MonkeyPatch], None]:
    def fault(m: pytest.MonkeyPatch) -> None:
        real = codegen._Gen.emit
        m.setattr(codegen._Gen, "emit", lambda self, depth, line: real(self, depth, re.sub(pattern, replacement, line)))

    return fault


_FAULTS = {
    "flipped equality": _rewrite(r"\) is not False\]", ") is False]"),
    "loop drops items": _rewrite(r"^for (it\d+) in (\w+):$", r"for \1 in \2[:1]:"),
    "exists off by one": _rewrite(r" > 0$", " > 1"),
    "primitive extension ignored": _rewrite(r"if '_(\w+)' in (d\d+):", r"if '_\1_never' in \2:"),
    "in negated": _rewrite(r" in (T\d+)\]", r" not in \1]"),
    "contains negated": _rewrite(r"\[(L\d+) in (x\d+)\]", r"[\1 not in \2]"),
    "not() dropped": _rewrite(r"= \[not (r\d+)\[0\]\]", r"= [\1[0]]"),
    "isDistinct() on strings negated": _rewrite(r"= \[len\(_set\((x\d+)\)\) == ", r"= [len(_set(\1)) != "),
    "toString() of a string changed": _rewrite(r"^(r\d+) = \[(x\d+)\]$", r"\1 = [\2 + '.']"),
    "length() of a string off by one": _rewrite(r"= \[len\((x\d+)\)\]$", r"= [len(\1) + 1]"),
    "substring() shifted": _rewrite(r"= \[(x\d+)\[(\d+):", r"= [\1[\2 + 1:"),
    "a sum of counts off by one": _rewrite(r"= \[(r\d+)\[0\] \+ (r\d+)\[0\]\]", r"= [\1[0] + \2[0] + 1]"),
    "a step and where() in one loop, negated": _rewrite(r"^if (z\d+) == ", r"if \1 != "),
    "a step and where() in one loop, not dropped back (last items extended)": _rewrite(r"^del r\d+\[m\d+:\]$", "pass"),
    "a step and where() in one loop, odd items not handed on (primitive extensions)": _rewrite(r"^if not k\d+:$",
                                                                                              "if False:"),
}


@pytest.mark.pure_python  # patches a module function: compiled callers do not see it (tests/conftest.py)
@pytest.mark.parametrize("name", list(_FAULTS))
def test_a_wrong_generator_is_caught(name: str, tmp_path: Path) -> None:
    document = _with_last_items_extended() if "last items" in name else \
        load(_with_linkid_extensions(tmp_path)) if "extension" in name else json.loads(EXAMPLE.read_text())
    with pytest.MonkeyPatch.context() as m:
        _FAULTS[name](m)
        _COMPILED.clear()
        generated = fhirpath.compile("item.where(linkId = 'a').answer.value.all(code in ('b' | 'c'))").direct
        assert generated is not None and generated.body is not generated.closure  # (the fault is in what it generates)
        assert disagreements(document, stop=True), name
    _COMPILED.clear()
    assert not disagreements(document, stop=True)


class _Reads(dict):  # type: ignore[type-arg]
    """Variables that count how often ``%resource`` is read."""

    reads = 0

    def __getitem__(self, key: str) -> Any:
        if key == "resource":
            self.reads += 1
        return super().__getitem__(key)


def test_a_subexpression_of_variables_in_a_criterion_is_evaluated_once() -> None:
    document = json.loads(EXAMPLE.read_text())
    assert len(document["entry"]) > 2
    for text in ("entry.where(fullUrl = %resource.entry.fullUrl.last()).count()",
                 "entry.all(request.exists() = (%resource.type = 'batch' or %resource.type = 'transaction'))"):
        form = fhirpath.compile(text).direct
        assert form is not None and form.body is not form.closure
        generated, closures = _Reads(resource=document), _Reads(resource=document)
        found = direct.run(direct.Form(form.body, True), document, generated)
        assert found == direct.run(direct.Form(form.closure, True), document, closures)
        assert generated.reads == text.count("%resource") < closures.reads, text  # (once per occurrence)
