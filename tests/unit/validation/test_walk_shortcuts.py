"""The structure walk's shortcuts, each against the long way it replaces.

- Required bindings to core ValueSets: the expansion and the set of every code in it are made once
  per ValueSet (:func:`adapter.validation.core_rules._expansion`); a code (a plain string) is a
  member when any system of the expansion has it, as before.
"""

from __future__ import annotations

from typing import Any

import pytest

from adapter.fhir import definitions as defs
from adapter.issues import Issues
from adapter.validation import core_rules

VALUE_SETS = sorted(defs._data()["expansions"])


def _long_way(value_set: str, value: Any) -> bool:
    """Membership as check_binding decided it before the cache: the expansion made anew."""
    expansion = defs.expansion(value_set)
    assert expansion is not None
    if isinstance(value, str):
        return any(value in codes for codes in expansion.values())
    system, code = value.get("system"), value.get("code")
    return isinstance(system, str) and isinstance(code, str) and code in expansion.get(system, frozenset())


def _flagged(value_set: str, value: Any) -> bool:
    issues = Issues()
    core_rules.check_binding(value_set, value, "X.y", issues)
    return len(issues) > 0


@pytest.mark.parametrize("value_set", VALUE_SETS)
def test_a_binding_from_the_cache_decides_as_the_expansion_made_anew(value_set: str) -> None:
    expansion = defs.expansion(value_set)
    assert expansion is not None
    systems = sorted(expansion)
    codes = sorted(set().union(*expansion.values()))
    others = [s for s in VALUE_SETS if s != value_set]
    foreign = sorted(set().union(*defs.expansion(others[0]).values()))[:5] if others else []  # type: ignore[union-attr]
    for code in codes[:50] + codes[-50:] + foreign + ["", "no-such-code", codes[0].upper() + "x"]:
        for _ in range(2):  # the second call is answered from the cache
            assert _flagged(value_set, code) == (not _long_way(value_set, code)), code
        for system in systems + ["http://example.org/other"]:
            coding = {"system": system, "code": code}
            assert _flagged(value_set, coding) == (not _long_way(value_set, coding)), coding
