"""A direct form runs its closures for its first ``codegen.AFTER`` evaluations, then its generated
function (``adapter.fhirpath.direct._tiered``): compiling the generated source is what made a
one-file ``adapter validate`` 1.4x slower than importing fhir.resources' Bundle (issue 15, target 3).

The counted closures give what the generated function and fhirpathpy give, before and after the
switch, and whole validations give the same outcome whichever way the forms run. Negative control:
a counted body that answers wrongly is caught by the same comparison.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from adapter import fhirpath
from adapter.fhirpath import codegen, direct
from adapter.fhirpath.fhir import scope
from adapter.validation import invariants, validate

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = sorted((ROOT / "profiles" / "examples").glob("Bundle-*.json"))
SUBMISSION = ROOT / "profiles" / "examples" / "Bundle-lisn-example-submission.json"


@pytest.fixture
def fresh() -> Iterator[None]:
    """No compiled expression kept from before (the forms are made under this test's AFTER)."""
    invariants.forget_compiled()
    fhirpath.cached.cache_clear()
    yield
    invariants.forget_compiled()
    fhirpath.cached.cache_clear()


def _outcome(bundle: dict[str, Any]) -> list[tuple[str, str, str]]:
    oo = validate(bundle)
    return [(i.get("severity", ""), str(i.get("expression")), (i.get("details") or {}).get("text", ""))
            for i in oo.get("issue", [])]


@pytest.mark.parametrize("text", [
    "entry.all(fullUrl.exists())",
    "entry.where(fullUrl.exists()).count() > 0",
    "entry.all(resource.exists() or request.exists())",
    "entry.where(fullUrl = %resource.entry.fullUrl.last()).count()",  # a per-item form until generated
])
def test_the_counted_closures_then_the_generated_function(monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    monkeypatch.setattr(codegen, "AFTER", 3)
    bundle = json.loads(SUBMISSION.read_text(encoding="utf-8"))
    expression = fhirpath.compile(text)
    form = expression.direct
    assert form is not None
    assert form.body is not form.closure and not hasattr(form.body, "source")  # counted, not yet generated
    with scope(bundle, bundle):
        reference = fhirpath.compile(text).node_form(bundle, {"resource": bundle, "rootResource": bundle})
        seen = []
        for _ in range(5):
            seen.append((hasattr(form.body, "source"),
                         expression.direct_form(bundle, {"resource": bundle, "rootResource": bundle})))
    assert [generated for generated, _ in seen] == [False, False, False, True, True]
    assert all(found == reference for _, found in seen), (seen, reference)


@pytest.mark.pure_python  # patches a module function: compiled callers do not see it (tests/conftest.py)
def test_a_one_file_validation_generates_nothing(monkeypatch: pytest.MonkeyPatch, fresh: None) -> None:
    monkeypatch.setattr(codegen, "AFTER", 64)  # as shipped
    assert codegen.AFTER == 64
    made: list[Any] = []
    generate = codegen.generate
    monkeypatch.setattr(codegen, "generate", lambda tree: made.append(tree) or generate(tree))
    _outcome(json.loads(SUBMISSION.read_text(encoding="utf-8")))
    assert made == []
    for _ in range(70):  # a service's first submissions: the forms are generated
        _outcome(json.loads(SUBMISSION.read_text(encoding="utf-8")))
    assert len(made) > 20


def _outcomes(monkeypatch: pytest.MonkeyPatch, after: int, rounds: int) -> list[Any]:
    monkeypatch.setattr(codegen, "AFTER", after)
    invariants.forget_compiled()
    fhirpath.cached.cache_clear()
    bundles = [json.loads(p.read_text(encoding="utf-8")) for p in EXAMPLES]
    return [[_outcome(b) for b in bundles] for _ in range(rounds)]


def test_validation_outcomes_are_the_same_every_way(monkeypatch: pytest.MonkeyPatch, fresh: None) -> None:
    at_once = _outcomes(monkeypatch, 0, 1)[0]
    closures_only = _outcomes(monkeypatch, 10**9, 1)[0]
    switching = _outcomes(monkeypatch, 2, 3)  # the closures, the switch, then the generated functions
    assert any(issues for issues in at_once)
    assert closures_only == at_once
    assert all(r == at_once for r in switching)


@pytest.mark.pure_python  # patches a module function: compiled callers do not see it (tests/conftest.py)
def test_a_wrong_counted_body_is_caught(monkeypatch: pytest.MonkeyPatch, fresh: None) -> None:
    at_once = _outcomes(monkeypatch, 0, 1)[0]

    def wrong(form: direct.Form, tree: Any) -> Any:
        closure = form.closure
        return lambda items, v: [not x if type(x) is bool else x for x in closure(items, v)]

    monkeypatch.setattr(direct, "_tiered", wrong)
    assert _outcomes(monkeypatch, 10**9, 1)[0] != at_once
