"""``X.descendants().ofType(T).key`` in one walk (``navigation.descendants_of_type_member``).

Held to fhirpathpy (the oracle: raw nodes by type path and identity, plain data, errors) on every
resource of the examples, the validation cases and the HL7 corpora, and on hypothesis-made
resources (References at any depth, primitive extensions, nested arrays, odd ``resourceType``s,
non-JSON values), with and without fhirpathpy's type model set (``is``/``as`` set it). On the
examples the walk itself must give the result (no fallback to the three steps); a wrong walk is
caught (the negative controls).
"""

from __future__ import annotations

import copy
from decimal import Decimal
from pathlib import Path
from typing import Any

import fhirpath_oracle
import pytest
from fhirpath_oracle import ROOT, disagreement, input_files, load, resources
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapter.fhirpath import compiler, navigation
from adapter.fhirpath.env import MODEL
from adapter.fhirpath.upstream import TypeInfo

EXPRESSIONS = [
    "entry.resource.descendants().ofType(Reference).reference",
    "entry.resource.descendants().ofType(Reference).reference.subsetOf(%context.entry.fullUrl)",
    "entry.resource.descendants().ofType(Reference).display",
    "entry.resource.descendants().ofType(Coding).code",
    "entry.resource.descendants().ofType(Resource).id",
    "entry.resource.descendants().ofType(Extension).value",
    "item.descendants().ofType(Coding).system",
    "contained.descendants().ofType(Identifier).value",
    "entry.descendants().ofType(string).extension",
    "entry.descendants().ofType(BackboneElement).linkId",
    "subject.descendants().ofType(Reference).reference.exists()",
]


def test_compiled_to_the_walk() -> None:
    from adapter.fhirpath.upstream import parse

    def fused(text: str) -> bool:
        top = compiler._children(parse(text), 1)[0]
        while top.get("type") != "InvocationExpression":
            top = compiler._children(top, 1)[0]
        return any(compiler._descendants_of_type_member(compiler._children(n)) is not None for n in _walk(top))

    assert all(fused(text) for text in EXPRESSIONS)
    for text in ("descendants().ofType(Reference).reference", "entry.descendants().ofType(Reference).length",
                 "entry.descendants().ofType(Reference).Patient", "entry.descendants().reference",
                 "entry.descendants().ofType(Reference).first()"):
        assert not fused(text), text


def _walk(ast: dict[str, Any]) -> list[dict[str, Any]]:
    out = [ast] if ast.get("type") == "InvocationExpression" else []
    for child in ast.get("children") or []:
        out += _walk(child)
    return out
EXAMPLE = ROOT / "profiles" / "examples" / "Bundle-lisn-example-submission.json"


def _problems(document: Any) -> list[str]:
    problems = []
    for resource, variables in resources(document):
        for text in EXPRESSIONS:
            for raw in (True, False):
                found = disagreement(text, resource, {**variables, "context": resource}, raw)
                if found:
                    problems.append(found)
    return problems


def _files() -> list[Path]:
    import os

    env = os.environ.get("ADAPTER_CONFORMANCE_DIR")
    corpus = Path(env) if env else ROOT.parent / "shared" / "conformance"
    return input_files(corpus if corpus.is_dir() else None)


def test_fused_walk_equals_fhirpathpy_on_the_inputs() -> None:
    problems = []
    for path in _files():
        document = load(path)
        if isinstance(document, dict):
            problems += [f"{path.name}: {p}" for p in _problems(document)]
    assert not problems, f"{len(problems)} disagreements, first: " + "\n".join(problems[:3])


def test_fused_walk_equals_fhirpathpy_with_the_type_model_set() -> None:
    """``TypeInfo.model`` set (as fhirpathpy's is/as set it): typed by the model, primitives too."""
    document = load(EXAMPLE)
    previous = TypeInfo.model
    try:
        TypeInfo.model = MODEL
        assert not _problems(document)
        TypeInfo.model = {"type2Parent": {}, "path2Type": {}, "choiceTypePaths": {}, "pathsDefinedElsewhere": {}}
        assert not _problems(document)  # another model: primitives typed as well
    finally:
        TypeInfo.model = previous


@pytest.mark.pure_python  # patches a module function: compiled callers do not see it (tests/conftest.py)
def test_the_walk_gives_the_result_on_the_examples(monkeypatch: pytest.MonkeyPatch) -> None:
    """No fallback to the three steps on well-formed data (the speed-up is really taken)."""
    calls: list[int] = []
    real = navigation.descendants_of_type

    def counted(info: Any) -> Any:
        general = real(info)

        def run(env: Any, data: Any) -> Any:
            calls.append(1)
            return general(env, data)

        return run

    monkeypatch.setattr(navigation, "descendants_of_type", counted)
    fhirpath_oracle.ours.cache_clear()
    try:
        assert not _problems(load(EXAMPLE))
        assert calls == []
        odd = copy.deepcopy(load(EXAMPLE))
        odd["entry"][1]["resource"]["item"][0]["answer"] = [[{"valueString": "x"}]]  # a list in a list
        assert not _problems(odd)
        assert calls  # the three steps decide
    finally:
        fhirpath_oracle.ours.cache_clear()


# -- hypothesis: resources made to meet the walk's every branch -----------------------------------

_leaf = st.one_of(st.none(), st.booleans(), st.integers(-2, 2), st.floats(allow_nan=False, allow_infinity=False),
                  st.text(max_size=2), st.sampled_from(["urn:uuid:a", "Patient/1"]), st.just(Decimal("1.5")))
_KEYS = st.sampled_from(["reference", "_reference", "display", "subject", "item", "answer", "valueReference",
                         "valueCoding", "coding", "code", "system", "extension", "contained", "resourceType",
                         "identifier", "value", "_value", "id", "linkId"])
_value = st.recursive(_leaf, lambda inner: st.one_of(
    st.lists(inner, max_size=3),
    st.dictionaries(_KEYS, inner, max_size=4),
    st.fixed_dictionaries({"resourceType": st.sampled_from(["Patient", "Observation", "Bundle"])},
                          optional={"subject": inner, "contained": inner, "id": st.text(max_size=2)}),
    st.fixed_dictionaries({"reference": st.sampled_from(["urn:uuid:a", "x"])}, optional={"_reference": inner})),
    max_leaves=10)
_resource = st.fixed_dictionaries(
    {"resourceType": st.sampled_from(["Bundle", "QuestionnaireResponse", "Observation"])},
    optional={"entry": st.lists(st.fixed_dictionaries({}, optional={"fullUrl": st.sampled_from(["urn:uuid:a", "b"]),
                                                                    "resource": _value}), max_size=3),
              "item": _value, "contained": _value, "subject": _value})


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_resource)
def test_fused_walk_equals_fhirpathpy_on_generated_resources(resource: dict[str, Any]) -> None:
    assert not _problems(resource)


# -- negative controls ------------------------------------------------------------------------------

def _drops_last(m: pytest.MonkeyPatch) -> None:
    real = navigation.descendants_of_type_member

    def wrong(info: Any, key: str) -> Any:
        run = real(info, key)
        return lambda env, data: run(env, data)[:-1]

    m.setattr(compiler, "descendants_of_type_member", wrong)


def _reversed(m: pytest.MonkeyPatch) -> None:
    real = navigation.descendants_of_type_member

    def wrong(info: Any, key: str) -> Any:
        run = real(info, key)
        return lambda env, data: list(reversed(run(env, data)))

    m.setattr(compiler, "descendants_of_type_member", wrong)


@pytest.mark.pure_python  # patches a module function: compiled callers do not see it (tests/conftest.py)
@pytest.mark.parametrize("fault", [_drops_last, _reversed])
def test_a_wrong_walk_is_caught(fault: Any) -> None:
    with pytest.MonkeyPatch.context() as m:
        fault(m)
        fhirpath_oracle.ours.cache_clear()
        try:
            assert _problems(load(EXAMPLE))
        finally:
            fhirpath_oracle.ours.cache_clear()
