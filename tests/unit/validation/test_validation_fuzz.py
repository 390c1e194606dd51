"""Property: random mutations of the valid example submission never crash the validator.

The same for the template: a mutated Questionnaire, and the example response against it.
Mutations (hypothesis): delete a member or an array element, duplicate an array element,
retype a value (string <-> number <-> bool <-> object <-> array <-> null), replace a value with a
random primitive, and shuffle an item list. Whatever happens, ``validate`` returns an
OperationOutcome whose every issue has a severity, a code, a text and a message id; the
same mutation of the serialised JSON through ``validate_bytes`` does too.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapter import errors
from adapter.fhir.registry import Registry, default_registry
from adapter.issues import Issues
from adapter.validation import validate, validate_bytes
from adapter.validation.questionnaire import check_questionnaire
from adapter.validation.questionnaire_response import validate_response

EXAMPLE = json.loads((Path(__file__).resolve().parents[3] / "profiles" / "examples"
                      / "Bundle-lisn-example-submission.json").read_text(encoding="utf-8"))
REGISTRY = default_registry()
PRIMITIVES = st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12), st.floats(allow_nan=False, allow_infinity=False),
                       st.text(max_size=30), st.sampled_from(["", "urn:uuid:x", "2026-02-30", "grund", "1.0", "#", "Patient/x"]))


def containers(node: Any, out: list[Any]) -> list[Any]:
    if isinstance(node, (dict, list)):
        out.append(node)
        for child in (node.values() if isinstance(node, dict) else node):
            containers(child, out)
    return out


QUESTIONNAIRE = REGISTRY.resolve("https://lisn.se/fhir/Questionnaire/lisn|1.0", "Questionnaire")


@st.composite
def mutated(draw: st.DrawFn, original: dict[str, Any] = EXAMPLE) -> dict[str, Any]:
    doc = copy.deepcopy(original)
    for _ in range(draw(st.integers(1, 6))):
        nodes = containers(doc, [])
        target = nodes[draw(st.integers(0, len(nodes) - 1))]
        keys = list(target.keys()) if isinstance(target, dict) else list(range(len(target)))
        if not keys:
            continue
        key = keys[draw(st.integers(0, len(keys) - 1))]
        op = draw(st.sampled_from(["delete", "duplicate", "retype", "replace", "shuffle"]))
        if op == "delete":
            del target[key]
        elif op == "duplicate" and isinstance(target, list):
            target.insert(key, copy.deepcopy(target[key]))
        elif op == "retype":
            target[key] = draw(st.sampled_from([[target[key]], {"x": target[key]}, str(target[key])[:20], 7, True, None]))
        elif op == "shuffle" and isinstance(target, list):
            target[:] = draw(st.permutations(target))
        else:
            target[key] = draw(PRIMITIVES)
    return doc


def well_formed(oo: Any) -> None:
    assert isinstance(oo, dict) and oo["resourceType"] == "OperationOutcome"
    assert oo["issue"]
    for iss in oo["issue"]:
        assert iss["severity"] in ("fatal", "error", "warning", "information")
        assert iss["code"] and iss["details"]["text"] and errors.message_id_of(iss)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutated_submission_never_crashes(doc: dict[str, Any]) -> None:
    well_formed(validate(doc, REGISTRY))


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated(), st.integers(0, 2000))
def test_mutated_and_truncated_text_never_crashes(doc: dict[str, Any], cut: int) -> None:
    raw = json.dumps(doc, ensure_ascii=False).encode("utf-8")
    well_formed(validate_bytes(raw, REGISTRY))
    well_formed(validate_bytes(raw[:-cut] if cut else raw, REGISTRY))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated(original=QUESTIONNAIRE or {}))
def test_mutated_questionnaire_never_crashes(questionnaire: dict[str, Any]) -> None:
    """A broken template (from --ig) is reported, and responses to it are still checked safely.

    Only this area's checks are called here (definition checks, response vs Questionnaire): a
    mutated template through ``validate`` also reaches the profile checks, whose own robustness
    is theirs to test (see the report of this part).
    """
    issues = Issues()
    check_questionnaire(questionnaire, issues)
    well_formed(issues.outcome())
    if not all(isinstance(questionnaire.get(k), (str, type(None))) for k in ("resourceType", "url", "version", "id")):
        return  # adapter.fhir.registry.Registry.add indexes these as given (reported to its owner)
    issues = Issues()
    validate_response(EXAMPLE["entry"][1]["resource"], Registry([questionnaire]), issues)
    well_formed(issues.outcome())
