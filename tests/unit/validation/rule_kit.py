"""What the tests of the LISN and core rules' short ways share (``test_rules_fast_*.py``,
``test_rules2_*.py``, ``test_subset_of_full_urls.py``): fhirpathpy as the oracle, the objects of a
document, and the whole outcome with a short way's switch on or off."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from adapter.fhir.registry import Registry
from adapter.validation import invariants, validate


def oracle(compiled: Callable[..., Any], node: Any) -> tuple[str, Any]:
    """fhirpathpy's result on ``node`` as ``%resource`` and ``%rootResource`` too; an error is an
    outcome as well (its type's name)."""
    try:
        return ("ok", compiled(node, {"resource": node, "rootResource": node}))
    except Exception as exc:  # noqa: BLE001 - an error is an outcome too
        return ("error", type(exc).__name__)


def objects(node: Any, *, having: str | None = None) -> Iterator[dict[str, Any]]:
    """Every object at any depth (only those with the key ``having``, when given)."""
    if isinstance(node, dict):
        if having is None or having in node:
            yield node
        for v in node.values():
            yield from objects(v, having=having)
    elif isinstance(node, list):
        for v in node:
            yield from objects(v, having=having)


def outcome(resource: Any, registry: Registry | None, monkeypatch: pytest.MonkeyPatch, module: Any, switch: str,
            on: bool) -> str:
    """The whole OperationOutcome of ``resource`` with ``module.switch`` set to ``on``, as sorted JSON.
    A crash is not caught: bad input gets an outcome, never an exception, on either way."""
    with monkeypatch.context() as m:
        m.setattr(module, switch, on)
        found = validate(resource, registry)
    return json.dumps(found, sort_keys=True, default=str)


def disagreement(rule: str, short: Callable[[dict[str, Any]], bool], compiled: Callable[..., Any], node: Any,
                 monkeypatch: pytest.MonkeyPatch) -> str | None:
    """``None`` where the short way ``short`` of ``rule`` (an entry of ``invariants._SHORT_RULES``)
    declines, or answers as fhirpathpy and the general way (``RULES_SHORT`` off) do; else what differs."""
    if type(node) is not dict or not short(node):
        return None
    found = oracle(compiled, node)
    with monkeypatch.context() as m:
        m.setattr(invariants, "RULES_SHORT", False)
        general = invariants.holds(rule, node, resource=node)
    fast = invariants.holds(rule, node, resource=node)
    if found == ("ok", [True]) and general is True and fast is True:
        return None
    return f"short way True, fhirpathpy {found}, general {general}, holds {fast}: {json.dumps(node)[:300]}"
