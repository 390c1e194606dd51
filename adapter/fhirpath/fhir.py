"""FHIR's additions to FHIRPath (R4 §2.28.3 "Additional functions") that fhirpathpy lacks.

``hasValue()`` (used by ele-1 and bdl-10 of the R4 core), ``resolve()`` (ctm-1; resolved
within the Bundle being validated, or among the resource's contained resources, and never over
the network), ``htmlChecks()`` (txt-1: the narrative's XHTML rules) and ``htmlChecks2()`` (the
HL7 validator's name for txt-2's rule, some non-whitespace content; R4 publishes txt-2 as
``htmlChecks()`` by mistake), both by :mod:`adapter.fhir.xhtml`. The same functions are given to
fhirpathpy as its ``userInvocationTable``, so the fallback and the oracle tests see them too and
the two engines agree on them by construction.

:func:`compare_typed_dates` mends a gap of fhirpathpy 2.2.4 against FHIRPath (and against
fhirpath.js, which it ports): its ``<``, ``<=``, ``>``, ``>=`` compare FHIR ``date``/``dateTime``/
``instant``/``time`` elements as text, so ``2023-06-21 <= 2023-06-21T06:20:00Z`` is true where
FHIRPath says empty (the precisions differ), and per-1 let such a Period pass (the HL7 validator
refuses it). fhirpath.js converts typed nodes first (``valDataConverted``); so does the wrapper,
applied once when this module is imported, for fhirpathpy and the compiled closures alike.

``resolve()`` needs to know the resource being validated; the caller sets it for the duration of
an evaluation with :func:`scope` (a context variable: safe with threads).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from adapter.fhir.xhtml import xhtml_has_content, xhtml_problems
from adapter.fhirpath.env import node
from adapter.fhirpath.upstream import FP_DateTime, FP_Time
from adapter.fhirpath.upstream import fp_equality_module as equality

_ROOTS: ContextVar[tuple[Any, Any]] = ContextVar("fhirpath_roots", default=(None, None))


@contextmanager
def scope(resource: Any, root: Any) -> Iterator[None]:
    """Within the block, ``resolve()`` looks in ``root`` (a Bundle) and ``resource``'s contained."""
    token = _ROOTS.set((resource, root))
    try:
        yield
    finally:
        _ROOTS.reset(token)


def has_value(values: list[Any]) -> bool:
    """``hasValue()``: a single primitive with a value (not only extensions, not an object)."""
    return len(values) == 1 and values[0] is not None and not isinstance(values[0], (dict, list))


def resolve(values: list[Any]) -> list[Any]:
    """``resolve()`` of References and reference strings, within the Bundle or contained."""
    resource, root = _ROOTS.get()
    out: list[Any] = []
    for value in values:
        ref = value.get("reference") if isinstance(value, dict) else value
        if isinstance(ref, str):
            target = _contained(resource, ref[1:]) if ref.startswith("#") else _in_bundle(root, ref)
            if target is not None:
                out.append(node(target, None))
    return out


def _contained(resource: Any, ident: str) -> Any:
    contained = resource.get("contained") if isinstance(resource, dict) else None
    for r in contained if isinstance(contained, list) else []:
        if isinstance(r, dict) and r.get("id") == ident:
            return r
    return None


def _in_bundle(root: Any, ref: str) -> Any:
    entries = root.get("entry") if isinstance(root, dict) and root.get("resourceType") == "Bundle" else None
    for entry in entries if isinstance(entries, list) else []:
        res = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(res, dict):
            continue
        local = f"{res.get('resourceType')}/{res.get('id')}" if "id" in res else None
        if entry.get("fullUrl") == ref or (local is not None and (local == ref or ref.endswith("/" + local))):
            return res
    return None


def html_checks(values: list[Any]) -> bool:
    """``htmlChecks()``: every narrative ``div`` given is XHTML as R4 narrative allows it."""
    return all(isinstance(v, str) and not xhtml_problems(v) for v in values)


def html_checks2(values: list[Any]) -> bool:
    """``htmlChecks2()``: every narrative ``div`` given has some content."""
    return all(isinstance(v, str) and xhtml_has_content(v) for v in values)


# fhirpathpy's user table: each ``fn`` receives the input's data (fhirpathpy unwraps the nodes).
USER_FUNCTIONS: dict[str, dict[str, Any]] = {
    "hasValue": {"fn": has_value},
    "resolve": {"fn": resolve},
    "htmlChecks": {"fn": html_checks},
    "htmlChecks2": {"fn": html_checks2},
}


_DATE_TYPES: dict[str, Any] = {"date": FP_DateTime, "dateTime": FP_DateTime, "instant": FP_DateTime, "time": FP_Time}


def _converted(items: list[Any]) -> list[Any]:
    out = []
    for item in items:
        cls = _DATE_TYPES.get(getattr(item, "path", None) or "")
        data = getattr(item, "data", None)
        if cls is not None and isinstance(data, str):
            converted = cls(data)
            if converted._precision:  # parsed: a date; otherwise the text is left to fail as before
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

    typecheck.__dict__["_typed_dates"] = True  # marks the wrapper, so a second call keeps one layer
    equality.typecheck = typecheck


compare_typed_dates()
