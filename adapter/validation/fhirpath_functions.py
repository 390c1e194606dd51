"""FHIR's additions to FHIRPath that the R4 core invariants use and fhirpathpy lacks.

https://hl7.org/fhir/R4/fhirpath.html#functions: ``hasValue()`` (a single primitive with a value:
``per-1``, ``bdl-10``, ``ele-1``…) and ``htmlChecks()`` (the narrative rules of ``txt-1``, the same
check as :func:`adapter.validation.core_rules.xhtml_problems`); ``htmlChecks2()`` is the HL7
validator's name for ``txt-2``'s rule (some non-whitespace content), which R4 publishes as
``htmlChecks()`` by mistake. ``trace()`` goes nowhere instead
of to standard output (``dom-3`` and ``ref-1`` trace their work). Handed to the FHIRPath engine
by :mod:`adapter.validation.invariants`.

:func:`compare_typed_dates` mends one gap of fhirpathpy 2.2.4 against FHIRPath (and against
fhirpath.js, which it ports): its ``<``, ``<=``, ``>``, ``>=`` compare FHIR ``date``/``dateTime``/
``instant``/``time`` elements as text, so ``2023-06-21 <= 2023-06-21T06:20:00Z`` is true where
FHIRPath says empty (the precisions differ) and ``per-1`` lets such a Period pass. fhirpath.js
converts typed nodes first (``valDataConverted``); the wrapper does the same before fhirpathpy's
own comparison.
"""

from __future__ import annotations

from typing import Any, Callable

from fhirpathpy.engine import nodes
from fhirpathpy.engine.invocations import equality

_DATE_TYPES: dict[str, Any] = {"date": nodes.FP_DateTime, "dateTime": nodes.FP_DateTime, "instant": nodes.FP_DateTime,
               "time": nodes.FP_Time}


def _has_value(inputs: list[Any]) -> list[bool]:
    return [len(inputs) == 1 and inputs[0] is not None and not isinstance(inputs[0], (dict, list))]


def _html_checks(inputs: list[Any]) -> list[bool]:
    from adapter.validation.core_rules import xhtml_problems

    return [all(isinstance(i, str) and not xhtml_problems(i) for i in inputs)]


def _html_checks2(inputs: list[Any]) -> list[bool]:
    from adapter.validation.core_rules import xhtml_has_content

    return [all(isinstance(i, str) and xhtml_has_content(i) for i in inputs)]


def _no_trace(label: str, value: Any) -> None:
    return None


OPTIONS: dict[str, Any] = {
    "userInvocationTable": {
        "hasValue": {"fn": _has_value, "arity": {0: []}},
        "htmlChecks": {"fn": _html_checks, "arity": {0: []}},
        "htmlChecks2": {"fn": _html_checks2, "arity": {0: []}},
    },
    "traceFn": _no_trace,
}


def _converted(items: list[Any]) -> list[Any]:
    out = []
    for item in items:
        cls = _DATE_TYPES.get(getattr(item, "path", None) or "")
        data = getattr(item, "data", None)
        if cls is not None and isinstance(data, str):
            converted = cls(data)
            if converted._precision:  # parsed: compare as a date; otherwise leave the text to fail as before
                item = converted
        out.append(item)
    return out


def compare_typed_dates() -> None:
    """Make fhirpathpy's inequalities convert typed date/time nodes first (idempotent)."""
    original: Callable[..., Any] = equality.typecheck
    if getattr(original, "_typed_dates", False):
        return

    def typecheck(a: list[Any], b: list[Any]) -> Any:
        return original(_converted(a), _converted(b))

    setattr(typecheck, "_typed_dates", True)
    equality.typecheck = typecheck
