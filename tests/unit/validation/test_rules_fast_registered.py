"""The rules answered by a short way of their own (``invariants._SHORT_RULES``, lisn-sub-2's
``_SUBSET_OF_FULL_URLS`` among them) are matched by their exact text: each must still be a constraint of a
shipped profile, or its short way would be code that no rule reaches (a profile edited, the short
way orphaned without any test failing)."""

from __future__ import annotations

import json
from pathlib import Path

from adapter.validation import invariants

PROFILES = Path(__file__).resolve().parents[3] / "profiles"


def _shipped_constraints() -> set[str]:
    found: set[str] = set()
    for path in PROFILES.glob("StructureDefinition-*.json"):
        definition = json.loads(path.read_text(encoding="utf-8"))
        for part in ("snapshot", "differential"):
            for element in definition.get(part, {}).get("element", []):
                found.update(c["expression"] for c in element.get("constraint", []) if "expression" in c)
    return found


def test_every_rule_with_a_short_way_is_a_shipped_constraint() -> None:
    shipped = _shipped_constraints()
    assert len(invariants._SHORT_RULES) == 6
    missing = [text for text in invariants._SHORT_RULES if text not in shipped]
    assert not missing, f"short ways for rules no shipped profile has: {missing}"


def test_a_rule_text_edited_by_one_character_is_not_found() -> None:
    """The check above can fail: the same look-up misses a rule whose text differs slightly."""
    shipped = _shipped_constraints()
    edited = next(iter(invariants._SHORT_RULES)).replace("7 days", "8 days")
    assert edited not in shipped
