"""FHIR's additions to FHIRPath that the R4 core invariants use and fhirpathpy lacks.

https://hl7.org/fhir/R4/fhirpath.html#functions: ``hasValue()`` (a single primitive with a value:
``per-1``, ``bdl-10``, ``ele-1``…) and ``htmlChecks()`` (the narrative rules of ``txt-1``, the same
check as :func:`adapter.validation.core_rules.xhtml_problems`). ``trace()`` goes nowhere instead
of to standard output (``dom-3`` and ``ref-1`` trace their work). Handed to the FHIRPath engine
by :mod:`adapter.validation.invariants`.
"""

from __future__ import annotations

from typing import Any


def _has_value(inputs: list[Any]) -> list[bool]:
    return [len(inputs) == 1 and inputs[0] is not None and not isinstance(inputs[0], (dict, list))]


def _html_checks(inputs: list[Any]) -> list[bool]:
    from adapter.validation.core_rules import xhtml_problems

    return [all(isinstance(i, str) and not xhtml_problems(i) for i in inputs)]


def _no_trace(label: str, value: Any) -> None:
    return None


OPTIONS: dict[str, Any] = {
    "userInvocationTable": {
        "hasValue": {"fn": _has_value, "arity": {0: []}},
        "htmlChecks": {"fn": _html_checks, "arity": {0: []}},
    },
    "traceFn": _no_trace,
}
