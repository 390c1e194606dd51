"""FHIR's additions to FHIRPath (R4 §2.28.3 "Additional functions") that fhirpathpy lacks.

``hasValue()`` (used by ele-1 and bdl-10 of the R4 core) and ``resolve()`` (ctm-1; resolved
within the Bundle being validated, or among the resource's contained resources, and never over
the network). The same functions are given to fhirpathpy as its ``userInvocationTable``, so the
fallback and the oracle tests see them too and the two engines agree on them by construction.

``resolve()`` needs to know the resource being validated; the caller sets it for the duration of
an evaluation with :func:`scope` (a context variable: safe with threads).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from adapter.fhirpath.env import node

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


# fhirpathpy's user table: each ``fn`` receives the input's data (fhirpathpy unwraps the nodes).
USER_FUNCTIONS: dict[str, dict[str, Any]] = {
    "hasValue": {"fn": has_value},
    "resolve": {"fn": resolve},
}
