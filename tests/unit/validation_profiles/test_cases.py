"""Every rule with a passing and a failing case, as data: ``manifest.json`` + input files.

A case names an input (a file under ``cases/`` or ``example``, the reference submission),
optional mutations (``set``/``delete``/``append`` at a key path), the registry
(``fixtures`` = the small definitions under ``fixtures/``, ``lisn`` = the LISN profiles)
and the expected issues as ``[severity, message id, expression]``. With ``"exact": true``
the issues must be exactly those, in order; otherwise each must be present (LISN cases,
so that another profile's rules do not make these tests fail).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from adapter import errors
from adapter.fhir.registry import Registry
from adapter.issues import Issues
from adapter.validation.bundle import validate_bundle
from adapter.validation.profiles import validate_against_profiles

HERE = Path(__file__).resolve().parent
EXAMPLE = HERE.parents[2] / "profiles" / "examples" / "Bundle-lisn-example-submission.json"
MANIFEST = json.loads((HERE / "manifest.json").read_text(encoding="utf-8"))


def load_input(case: dict[str, Any]) -> dict[str, Any]:
    path = EXAMPLE if case["input"] == "example" else HERE / "cases" / case["input"]
    data = json.loads(path.read_text(encoding="utf-8"))
    for mutation in case.get("mutate", []):
        apply(data, mutation)
    return data


def apply(data: Any, mutation: dict[str, Any]) -> None:
    op = next(k for k in ("set", "delete", "append") if k in mutation)
    *parents, last = mutation[op]
    target = data
    for key in parents:
        target = target[key]
    if op == "set":
        target[last] = copy.deepcopy(mutation["value"])
    elif op == "delete":
        del target[last]
    else:
        target[last].append(copy.deepcopy(mutation["value"]))


def run_like_dispatcher(resource: dict[str, Any], registry: Registry) -> Issues:
    """What ``adapter.validation.validate`` does with these functions: Bundle checks, then each resource."""
    issues = Issues()
    root = str(resource.get("resourceType"))
    if root == "Bundle":
        validate_bundle(resource, registry, issues)
    validate_against_profiles(resource, registry, issues, path=root)
    if root == "Bundle":
        for i, entry in enumerate(resource.get("entry") or []):
            if isinstance(entry, dict) and isinstance(entry.get("resource"), dict):
                validate_against_profiles(entry["resource"], registry, issues, path=f"Bundle.entry[{i}].resource")
    return issues


def triples(issues: Issues) -> list[list[str]]:
    return [[i["severity"], errors.message_id_of(i) or "", (i.get("expression") or [""])[0]] for i in issues]


@pytest.mark.parametrize("case", MANIFEST["cases"], ids=[c["name"] for c in MANIFEST["cases"]])
def test_case(case: dict[str, Any], request: pytest.FixtureRequest) -> None:
    registry = request.getfixturevalue(f"{case.get('registry', 'fixtures')}_registry")
    found = triples(run_like_dispatcher(load_input(case), registry))
    expected = case["expect"]
    if case.get("exact", True):
        assert found == expected
    else:
        missing = [e for e in expected if e not in found]
        assert not missing, f"missing {missing}; found {found}"
        for message_id in {e[1] for e in expected}:  # and nowhere else for the same rule
            assert [f for f in found if f[1] == message_id] == [e for e in expected if e[1] == message_id]
        if not expected:
            assert [t for t in found if t[0] in ("error", "fatal")] == []


def test_manifest_covers_pass_and_fail() -> None:
    names = [c["name"] for c in MANIFEST["cases"]]
    assert len(names) == len(set(names))
    assert any(not c["expect"] for c in MANIFEST["cases"])
