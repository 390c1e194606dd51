"""``invariants``' quick plans give what ``evaluate``'s general steps give.

An expression evaluated by its direct form reading no ``%`` variable gets a quick plan when it is
first evaluated (``invariants._QUICK``: the shortcut's key look-ups and result, the direct form),
which ``evaluate`` and ``holds`` follow on a JSON object. Here every quick evaluation made while
validating the examples, the validation test cases and the HL7 corpora (JSON ones) is repeated by
the general steps (no quick plan: ``_lacks``, ``_pruned``, ``Expression.on_data``), and the results
must be equal; a deliberately wrong quick plan (a shortcut taken on every object) is caught.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from adapter.fhir.registry import Registry, default_registry
from adapter.validation import invariants, validate

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "profiles" / "examples" / "Bundle-lisn-example-submission.json"
CASES_DIR = ROOT / "tests" / "cases" / "validation"
CORPUS = Path(os.environ.get("ADAPTER_CONFORMANCE_DIR") or ROOT.parent / "shared" / "conformance")


def _inputs() -> Iterator[Any]:
    for path in sorted((ROOT / "profiles" / "examples").glob("*.json")):
        yield pytest.param(path, None, id=path.name)
    for case in yaml.safe_load((CASES_DIR / "manifest.yaml").read_text(encoding="utf-8"))["cases"]:
        yield pytest.param(CASES_DIR / case["input"], tuple(case.get("ig") or ()), id=case["name"])
    for path in sorted((CORPUS / "hl7-base" / "cases").glob("*.json")) + \
            sorted((CORPUS / "hl7-questionnaire" / "cases").glob("*.json")):
        yield pytest.param(path, None, id=f"corpus-{path.name}")


def _registry(igs: tuple[str, ...] | None) -> Registry:
    if igs is None:
        return default_registry()
    registry = Registry()
    for ig in igs:
        registry.load_path(CASES_DIR / ig)
    return registry


def _checked_quickly(monkeypatch: pytest.MonkeyPatch, seen: list[str], problems: list[str]) -> Callable[..., Any]:
    """``invariants._quickly``, each evaluation repeated by the general steps (added to ``seen``;
    to ``problems`` where they differ)."""
    real = invariants._quickly

    def checked(quick: Any, expression: str, node: dict[str, Any], type_path: str | None) -> Any:
        found = real(quick, expression, node, type_path)
        with monkeypatch.context() as m:
            m.setattr(invariants, "_QUICK", {})  # (the plan is made: _PLANS holds it, no quick one is made again)
            general = invariants.evaluate(expression, node, resource=node, type_path=type_path)
        seen.append(expression)
        if found != general:
            problems.append(f"{expression!r} ({type_path}) on {str(node)[:120]}: quick {found} != general {general}")
        return found

    return checked


def _validated(resource: Any, igs: tuple[str, ...] | None, monkeypatch: pytest.MonkeyPatch,
               wrong: bool = False) -> tuple[int, list[str]]:
    seen: list[str] = []
    problems: list[str] = []
    invariants.forget_compiled()
    with monkeypatch.context() as m:
        m.setattr(invariants, "_quickly", _checked_quickly(m, seen, problems))
        if wrong:
            made = invariants._plan

            def wrong_plan(expression: str, type_path: str | None) -> Any:
                plan = made(expression, type_path)
                quick = invariants._QUICK.get((expression, type_path))
                if quick is not None and quick[0] is not None:  # every object taken as lacking its names
                    invariants._QUICK[(expression, type_path)] = ((), (), quick[2], quick[3])
                return plan

            m.setattr(invariants, "_plan", wrong_plan)
        validate(resource, _registry(igs))
    invariants.forget_compiled()
    return len(seen), problems


@pytest.mark.parametrize(("path", "igs"), list(_inputs()))
def test_quick_plans_give_what_the_general_steps_give(path: Path, igs: tuple[str, ...] | None,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    try:
        resource = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError):
        pytest.skip("not JSON")
    if not isinstance(resource, dict):
        pytest.skip("not a JSON object")
    _, problems = _validated(resource, igs, monkeypatch)
    assert not problems, "\n".join(problems[:5])


@pytest.mark.pure_python  # patches a module function: compiled callers do not see it (tests/conftest.py)
def test_the_example_submission_takes_the_quick_plans(monkeypatch: pytest.MonkeyPatch) -> None:
    count, problems = _validated(json.loads(EXAMPLE.read_text(encoding="utf-8")), None, monkeypatch)
    # (50 where the structure visits of the example's shapes are generated, and leave out the
    # constraints their keys settle, walkgen.settle; more before)
    assert count > 40 and not problems


@pytest.mark.pure_python  # patches a module function: compiled callers do not see it (tests/conftest.py)
def test_a_wrong_quick_plan_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """Negative control: a shortcut taken on every object (its key look-ups emptied) is seen."""
    _, problems = _validated(json.loads(EXAMPLE.read_text(encoding="utf-8")), None, monkeypatch, wrong=True)
    assert problems
