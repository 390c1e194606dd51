"""``invariants.evaluate``'s data-only path gives what its general steps give.

An expression evaluated by its direct form reading no ``%`` variable is handed the data at once
(``_data_only``), skipping the pruning and variable steps, which leave it as it is. Every example,
every case of ``tests/cases/validation`` and of the HL7 corpora (JSON ones), and hypothesis-mutated
submissions are validated with that path and with it turned off: the OperationOutcomes must be
equal. A deliberately wrong decision (node forms too) is caught (the negative control).
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapter import fhirpath
from adapter.fhir.registry import Registry, default_registry
from adapter.validation import invariants, validate

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = sorted((ROOT / "profiles" / "examples").glob("*.json"))
CASES_DIR = ROOT / "tests" / "cases" / "validation"
CORPUS = Path(os.environ.get("ADAPTER_CONFORMANCE_DIR") or ROOT.parent / "shared" / "conformance")
_REGISTRY = default_registry()


def _outcome(resource: Any, registry: Registry, *, data_only: Any = None) -> Any:
    invariants.forget_compiled()
    real = invariants._data_only
    try:
        if data_only is not None:
            invariants._data_only = data_only  # type: ignore[assignment]
        return validate(copy.deepcopy(resource), registry)
    finally:
        invariants._data_only = real  # type: ignore[assignment]
        invariants.forget_compiled()


def _never(fn: Any) -> bool:
    return False


def _inputs() -> Iterator[Any]:
    for path in EXAMPLES:
        yield pytest.param(path, None, id=path.name)
    for case in yaml.safe_load((CASES_DIR / "manifest.yaml").read_text(encoding="utf-8"))["cases"]:
        yield pytest.param(CASES_DIR / case["input"], tuple(case.get("ig") or ()), id=case["name"])
    for path in sorted((CORPUS / "hl7-base" / "cases").glob("*.json")) + \
            sorted((CORPUS / "hl7-questionnaire" / "cases").glob("*.json")):
        yield pytest.param(path, None, id=f"corpus-{path.name}")


def _registry(igs: tuple[str, ...] | None) -> Registry:
    if igs is None:
        return _REGISTRY
    registry = Registry()
    for ig in igs:
        registry.load_path(CASES_DIR / ig)
    return registry


@pytest.mark.parametrize(("path", "igs"), list(_inputs()))
def test_data_only_path_equals_general_steps(path: Path, igs: tuple[str, ...] | None) -> None:
    try:
        resource = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError):
        pytest.skip("not JSON")
    if not isinstance(resource, dict):
        pytest.skip("not a JSON object")
    registry = _registry(igs)
    assert _outcome(resource, registry) == _outcome(resource, registry, data_only=_never)


_BUNDLE = json.loads((ROOT / "profiles" / "examples" / "Bundle-lisn-example-submission.json").read_text(encoding="utf-8"))
_leaf = st.one_of(st.none(), st.booleans(), st.integers(-2, 2), st.text(max_size=3),
                  st.sampled_from(["urn:uuid:nope", "history", "message", "x/_history/1"]))
_value = st.recursive(_leaf, lambda inner: st.one_of(
    st.lists(inner, max_size=2),
    st.dictionaries(st.sampled_from(["answer", "item", "linkId", "valueString", "reference", "_x", "resource",
                                     "request", "response", "fullUrl"]), inner, max_size=3)), max_leaves=6)
_KEYS = ["answer", "item", "linkId", "fullUrl", "request", "response", "contained", "identifier", "meta", "text"]


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, len(_BUNDLE["entry"]) - 1), st.booleans(), st.sampled_from(_KEYS), _value),
                max_size=3))
def test_data_only_path_equals_general_steps_on_mutated_submissions(mutations: list[Any]) -> None:
    bundle = copy.deepcopy(_BUNDLE)
    for index, in_entry, key, value in mutations:
        target = bundle["entry"][index] if in_entry else bundle["entry"][index]["resource"]
        target[key] = copy.deepcopy(value)
    assert _outcome(bundle, _REGISTRY) == _outcome(bundle, _REGISTRY, data_only=_never)


@pytest.mark.pure_python  # patches a module function: compiled callers do not see it (tests/conftest.py)
def test_a_wrong_decision_is_caught() -> None:
    """Negative control: handing node-form expressions (which may read ``%resource``) the data
    alone changes outcomes, and the comparison above sees it."""
    def wrong(fn: Any) -> bool:
        return type(fn) is fhirpath.Expression

    bundle = copy.deepcopy(_BUNDLE)
    assert _outcome(bundle, _REGISTRY) != _outcome(bundle, _REGISTRY, data_only=wrong)


def test_no_pruned_expression_has_a_direct_form() -> None:
    """What ``_data_only`` relies on: an expression the reference pruning applies to has no direct
    form (``descendants()``), and the item pruning leaves direct forms alone."""
    for path in sorted((ROOT / "profiles").glob("StructureDefinition-*.json")):
        for element in json.loads(path.read_text(encoding="utf-8")).get("differential", {}).get("element", []):
            for c in element.get("constraint", []):
                texts = [c["expression"]] + [e["valueString"] for e in c.get("extension", [])
                                             if e.get("url", "").endswith("constraint-location")]
                for text in texts:
                    if invariants.reference_only(text):
                        assert invariants.compiled(text).direct is None, text  # type: ignore[union-attr]
    assert invariants.reference_only("entry.resource.descendants().ofType(Reference).reference.exists()")
    assert fhirpath.compile("entry.resource.descendants().ofType(Reference).reference.exists()").direct is None
