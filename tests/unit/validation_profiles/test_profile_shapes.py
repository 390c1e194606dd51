"""The profile walk's pruning (``profiles._Shape``) gives the outcomes of the walk that prunes nothing.

A walk looks only at the children of a node that can report (a minimum, a maximum that can be
passed, slices, rules at or below them) and hands on only the values with something to check at
or below them. Here every pinned input but the HL7 corpora (examples, XML, conformance and profile
cases) and the example submission with each entry's properties taken out one at a time are
validated with the pruning and with a shape that keeps every child and every value: the outcomes
(issues, order, texts, positions) must be the same; the shape that prunes nothing also has
:meth:`Walk.enter` run a node's rules and target check wherever it has an element. Negative
controls: a shape that forgets minimums, or the rules of a node, must change some outcome.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from adapter.validation import profiles
from tests.unit.validation import outcome_pin

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "profiles" / "examples" / "Bundle-lisn-example-submission.json"


def _inputs() -> Iterator[tuple[str, bytes, Any]]:
    lisn = None
    for name, raw, registry in outcome_pin.inputs():
        if not name.startswith("hl7"):
            if name == "examples/Bundle-lisn-example-submission.json":
                lisn = registry
            yield name, raw, registry
    doc = json.loads(EXAMPLE.read_bytes())
    for i, entry in enumerate(doc["entry"]):
        for key in [k for k in entry["resource"] if k != "resourceType"]:
            changed = copy.deepcopy(doc)
            del changed["entry"][i]["resource"][key]
            yield f"without entry[{i}].resource.{key}", json.dumps(changed, indent=1).encode(), lisn


INPUTS = list(_inputs())


class _Everything:
    """The shape that prunes nothing: every child looked at, every value handed on."""

    def __init__(self, node: profiles.Node) -> None:
        self.rules = self.targets = node.element is not None  # own_rules and reference_target always run
        self.walked = tuple(node.children.values())
        self.passes = True


def _outcomes(monkeypatch: pytest.MonkeyPatch, shape: Callable[[profiles.Node], Any] | None) -> list[Any]:
    with monkeypatch.context() as m:
        if shape is not None:
            m.setattr(profiles, "_shape", shape)
        return [outcome_pin.outcome(raw, registry) for _, raw, registry in INPUTS]


def test_pruned_walks_give_the_outcomes_of_the_whole_walk(monkeypatch: pytest.MonkeyPatch) -> None:
    pruned = _outcomes(monkeypatch, None)
    whole = _outcomes(monkeypatch, _Everything)
    assert len(pruned) == len(whole) > 300
    differ = [name for (name, _, _), a, b in zip(INPUTS, pruned, whole) if a != b]
    assert not differ, differ[:10]
    # the pruning is taken: the example's profiles have children that cannot report
    compiled = [p for _, p in profiles._COMPILED.values()]
    assert any(len(p.root.shape.walked) < len(p.root.children) for p in compiled if p.root.shape)  # type: ignore[union-attr]


def _forgets_minimums(node: profiles.Node) -> Any:
    shape = _Everything(node)
    shape.walked = tuple(c for c in node.children.values() if not c.min)
    return shape


def _forgets_rules(node: profiles.Node) -> Any:
    shape = _Everything(node)
    shape.passes = not profiles._Shape(node).rules
    return shape


def _skips_rules(node: profiles.Node) -> Any:
    shape = _Everything(node)
    shape.rules = False
    return shape


@pytest.mark.pure_python  # patches a module function: compiled callers do not see it (tests/conftest.py)
@pytest.mark.parametrize("wrong", [_forgets_minimums, _forgets_rules, _skips_rules])
def test_a_wrong_shape_is_caught(monkeypatch: pytest.MonkeyPatch, wrong: Callable[[profiles.Node], Any]) -> None:
    """Negative control: the comparison above catches a shape that leaves out what can report."""
    assert _outcomes(monkeypatch, wrong) != _outcomes(monkeypatch, _Everything)
