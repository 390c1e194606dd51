"""The generated root entry (``codegen.source(root=True)``, ``Form.one``) gives what the generated
function gives, and so what the closures and fhirpathpy give.

``invariants._quickly`` calls ``form.one(items, d, p, v)`` where ``items`` holds one object ``d``
of type path ``p`` (a string): the pair ``(d, p)``, or ``d`` itself with ``p`` its resourceType.
Here every generated form's body is replaced by a dispatcher taking ``one`` wherever its input is
such an item (the body elsewhere), and ``test_codegen.disagreements`` holds it to the closures and
fhirpathpy on the examples (every expression of the profiles, ``semantics.json`` and the R4 core
invariants, on each resource and its typed objects), the example with primitive extensions on
linkIds, the example with odd last items, and hypothesis-mutated examples. The root entry's own
fast paths in ``=`` (a string literal, two string pairs) and ``&`` (two strings) are held the same way
(the general function has them too).

Negative controls: a root entry made deliberately wrong (a member step on the root reading
another key, ``exists()`` on the root off by one, the step and ``where()`` on the root negated,
``= 'text'`` negated) is caught, while the general function stays right; and so are the fast paths
of both entries made wrong (``=`` of two string pairs negated, ``&`` of two strings reversed).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import test_codegen
from fhirpath_oracle import load, resources
from hypothesis import HealthCheck, Phase, given, settings
from test_oracle import _files
from test_oracle_can_fail import _with_linkid_extensions
from test_oracle_mutations import mutated

from adapter import fhirpath
from adapter.fhirpath import codegen
from adapter.validation import invariants

EXAMPLE = test_codegen.EXAMPLE
# Expressions the profiles and semantics.json have few or none of, for the fast paths of ``&`` and
# ``=`` of two string pairs: held to the closures and fhirpathpy on every resource as well.
_EXTRA = ["entry.select(fullUrl & resource.meta.versionId)", "entry.select(resource.meta.versionId & fullUrl)",
          "entry.select(fullUrl & '|' & resource.id)", "item.select(linkId & text)", "identifier.select(system & value)",
          "entry.where(fullUrl = resource.id).count()", "entry.select(resource.id = fullUrl)",
          "identifier.where(system = value).exists()", "item.where(linkId != text).count()",
          "name.select(family & given.first())"]


def disagreements(document: Any, **kw: Any) -> list[str]:
    """``test_codegen.disagreements`` and the same comparison of :data:`_EXTRA` on each resource."""
    problems = test_codegen.disagreements(document, **kw)
    for resource, variables in resources(document):
        for text in _EXTRA:
            found = test_codegen._compare(text, resource, variables)
            if found:
                problems.append(found)
    return problems


def _through_one(fn: Any) -> Any:
    """``fn`` (a generated function) taking its root entry wherever ``invariants._quickly`` would."""
    one = fn.make_one()
    assert one is not None, fn.source

    def dispatch(items: list[Any], v: dict[str, Any]) -> Any:
        if len(items) == 1:
            item = items[0]
            if type(item) is tuple and type(item[0]) is dict and type(item[1]) is str:
                return one(items, item[0], item[1], v)
            if type(item) is dict and type(item.get("resourceType")) is str:
                return one(items, item, item["resourceType"], v)
        return fn(items, v)

    dispatch.make_one = lambda: one  # type: ignore[attr-defined]
    dispatch.source = fn.source  # type: ignore[attr-defined]
    return dispatch


@pytest.fixture(autouse=True)
def _root_entries(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    real = codegen.generate

    def generate(tree: Any) -> Any:
        fn = real(tree)
        return None if fn is None else _through_one(fn)

    monkeypatch.setattr(codegen, "generate", generate)
    test_codegen._COMPILED.clear()
    yield
    test_codegen._COMPILED.clear()


def test_every_generated_form_has_a_root_entry() -> None:
    texts = list(dict.fromkeys(test_codegen.PROFILE + test_codegen.SEMANTICS))
    forms = [e.direct for t in texts if (e := test_codegen._expression(t)) is not None and e.direct is not None]
    assert len(forms) > 150 and all(f.one is not None for f in forms if f.body is not f.closure)


def test_the_quick_plans_take_the_root_entry(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[Any] = []
    form = fhirpath.compile("(answer.exists() and item.exists()).not()").direct
    assert form is not None and form.one is not None
    real = form.one
    assert real([({}, "QuestionnaireResponse.item")], {}, "QuestionnaireResponse.item", {}) == [True]
    assert form.one is not real  # (made at its first call)
    real = form.one
    monkeypatch.setattr(form, "one", lambda *a: calls.append(a) or real(*a))
    quick = (None, (), [], form)
    node = {"linkId": "a", "answer": [{"valueString": "x"}]}
    assert invariants._quickly(quick, "x", node, "QuestionnaireResponse.item") == [True]
    assert invariants._quickly(quick, "x", {"resourceType": "Patient"}, None) == [True]
    assert invariants._quickly(quick, "x", {"resourceType": 5, "item": [{}]}, None) == [True]  # (no path: the body)
    assert [a[2] for a in calls] == ["QuestionnaireResponse.item", "Patient"]


@pytest.mark.parametrize("path", _files())
def test_root_entry_equals_closures_and_fhirpathpy(path: Path) -> None:
    document = load(path)
    if not isinstance(document, dict):
        pytest.skip("not a JSON object (a malformed-input case)")
    problems = disagreements(document)
    assert not problems, f"{len(problems)} disagreements, first: " + "\n".join(problems[:5])


def test_on_primitive_extensions(tmp_path: Path) -> None:
    problems = disagreements(load(_with_linkid_extensions(tmp_path)))
    assert not problems, "\n".join(problems[:5])


def test_on_primitive_extensions_of_some_items() -> None:
    problems = disagreements(test_codegen._with_last_items_extended())
    assert not problems, "\n".join(problems[:5])


@pytest.mark.slow  # 30 generated documents through every expression
@settings(max_examples=30, deadline=None, phases=[Phase.explicit, Phase.reuse, Phase.generate],
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(mutated())
def test_mutated_resources_agree(doc: Any) -> None:
    problems = disagreements(doc, typed=8)
    assert not problems, "\n".join(problems[:5])


# -- negative controls: a wrong root entry is caught ---------------------------------------------

def _rewrite_root(pattern: str, replacement: str) -> Callable[[pytest.MonkeyPatch], None]:
    """A fault in the root entry's source only (the general function is generated right)."""
    def fault(m: pytest.MonkeyPatch) -> None:
        real = codegen._Gen.emit

        def emit(self: codegen._Gen, depth: int, line: str) -> None:
            real(self, depth, re.sub(pattern, replacement, line) if self.root is not None else line)

        m.setattr(codegen._Gen, "emit", emit)

    return fault


def _rewrite(pattern: str, replacement: str) -> Callable[[pytest.MonkeyPatch], None]:
    """A fault in both entries' source."""
    def fault(m: pytest.MonkeyPatch) -> None:
        real = codegen._Gen.emit
        m.setattr(codegen._Gen, "emit", lambda self, depth, line: real(self, depth, re.sub(pattern, replacement, line)))

    return fault


_FAULTS = {
    "a member step on the root reads another key": _rewrite_root(r"^(x\d+) = d0\.get\('(\w+)'\)$", r"\1 = d0.get('\2_')"),
    "exists() on the root off by one": _rewrite_root(r"^(n\d+) \+= len\((x\d+)\) if type\(\2\) is _list else 1$",
                                                     r"\1 += len(\2) + 1 if type(\2) is _list else 2"),
    "a step and where() on the root, negated": _rewrite_root(r"^if (z\d+) == ", r"if \1 != "),
    "= 'text' negated": _rewrite_root(r"\[\((z\d+)\[0\] == (.*)\) is not (True|False)\]$", r"[(\1[0] != \2) is not \3]"),
    "= of two string pairs negated": _rewrite(r"= \[\((z\d+)\[0\] == (z\d+)\[0\]\) is not", r"= [(\1[0] != \2[0]) is not"),
    "& of two strings reversed": _rewrite(r"= \[(x\d+) \+ (y\d+)\]$", r"= [\2 + \1]"),
}


@pytest.mark.pure_python  # patches a module function: compiled callers do not see it (tests/conftest.py)
@pytest.mark.parametrize("name", list(_FAULTS))
def test_a_wrong_root_entry_is_caught(name: str) -> None:
    document = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    with pytest.MonkeyPatch.context() as m:
        _FAULTS[name](m)
        test_codegen._COMPILED.clear()
        found = disagreements(document)
        assert found, name
    test_codegen._COMPILED.clear()
    assert not disagreements(document, stop=True)
