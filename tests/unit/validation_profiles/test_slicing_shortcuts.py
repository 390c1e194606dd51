"""The profile walk's shortcuts give what the general rules give.

Slices told apart only by ``type`` discriminators are matched by the resource types found once per
value (``profiles._type_slices``); here every entry the example Bundle has, and odd ones (no
resource, a resource type that is no text, an unknown type, no object at all), are matched both
ways against the submission profile's ``Bundle.entry`` slices and must land in the same slices.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from adapter.fhir.registry import default_registry
from adapter.issues import Issues
from adapter.validation import profiles

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = json.loads((ROOT / "profiles/examples/Bundle-lisn-example-submission.json").read_text(encoding="utf-8"))
SUBMISSION = "https://lisn.se/fhir/StructureDefinition/lisn-submission"

ODD: list[Any] = [
    {"fullUrl": "urn:uuid:x"},
    {"resource": {"resourceType": ["Patient"]}},
    {"resource": {"resourceType": None}},
    {"resource": {"resourceType": "None"}},
    {"resource": {"resourceType": "Basic"}},
    {"resource": "Patient"},
    "entry",
    None,
]


def _slices(values: list[tuple[Any, str]]) -> tuple[list[tuple[str | None, list[str]]], list[dict[str, Any]]]:
    """Each slice of ``Bundle.entry`` with the locations matched to it, and the issues."""
    registry = default_registry()
    sd = registry.resolve(SUBMISSION, "StructureDefinition")
    assert sd is not None
    profile = profiles.compile_profile(sd)
    entry = profile.root.children["entry"]
    issues = Issues()
    walk = profiles.Walk(profile, registry, issues, EXAMPLE)
    matched = walk.slice(entry, values)
    return [(sl.slice_name, [p for _, p in found]) for sl, found in matched.items()], issues.items


@pytest.mark.pure_python  # patches a module function: compiled callers do not see it (tests/conftest.py)
@pytest.mark.parametrize("odd", [None, *ODD], ids=lambda o: "example" if o is None else json.dumps(o))
def test_type_slices_match_as_the_general_rules(odd: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    entries = copy.deepcopy(EXAMPLE["entry"]) + ([] if odd is None else [odd])
    values = [(e, f"Bundle.entry[{i}]") for i, e in enumerate(entries)]
    taken: list[bool] = []
    shortcut = profiles._type_slices

    def watched(node: profiles.Node, discriminators: list[dict[str, Any]]) -> Any:
        found = shortcut(node, discriminators)
        taken.append(found is not None)
        return found

    monkeypatch.setattr(profiles, "_type_slices", watched)
    quick = _slices(values)
    assert taken and all(taken)  # the shortcut was taken for every value
    monkeypatch.setattr(profiles, "_type_slices", lambda node, discriminators: None)
    general = _slices(values)
    assert quick == general
    assert sum(len(paths) for _, paths in quick[0]) >= len(EXAMPLE["entry"])
