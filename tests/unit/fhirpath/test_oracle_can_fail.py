"""The oracle tests can fail: with a deliberately wrong semantics compiled in, they do.

Each fault below breaks one rule in the compiler only (fhirpathpy is untouched); the oracle test
of ``test_oracle.py`` is then run on the example submission and must report disagreements.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import pytest

import fhirpath_oracle
import test_oracle
from adapter.fhirpath import functions, operators
from fhirpath_oracle import ROOT

EXAMPLE = ROOT / "profiles" / "examples" / "Bundle-lisn-example-submission.json"


def _case_blind_equality(m: pytest.MonkeyPatch) -> None:
    real = operators._simple_pair

    def pair(a: Any, b: Any) -> Any:
        found = real(a, b)
        return found if found is None or type(found[0]) is not str else (found[0].lower(), found[1].lower())

    m.setattr(operators, "_simple_pair", pair)


def _empty_is_false(m: pytest.MonkeyPatch) -> None:
    m.setattr(operators, "_equal", lambda left, right, negate: lambda env, data: [
        (left(env, data) == right(env, data)) is not negate])


def _where_keeps_all(m: pytest.MonkeyPatch) -> None:
    m.setattr(functions, "_where", lambda crit: lambda env, data: list(data))


def _ordering_inclusive(m: pytest.MonkeyPatch) -> None:
    m.setitem(operators._ORDER, ">", lambda x, y: x >= y)


@pytest.mark.parametrize("fault", [_case_blind_equality, _empty_is_false, _where_keeps_all, _ordering_inclusive])
def test_a_wrong_semantics_is_caught(fault: Callable[[pytest.MonkeyPatch], None]) -> None:
    with pytest.MonkeyPatch.context() as m:
        fault(m)
        fhirpath_oracle.ours.cache_clear()  # compile afresh, with the fault
        try:
            with pytest.raises(AssertionError, match="disagreements"):
                test_oracle.test_compiled_equals_fhirpathpy(Path(EXAMPLE))
        finally:
            fhirpath_oracle.ours.cache_clear()
