"""Bundle-level checks: entries present, MessageHeader first, fullUrl unique, references resolve.

FHIR R4 Bundle (https://hl7.org/fhir/R4/bundle.html#references, invariants bdl-7, and the
messaging rule of https://hl7.org/fhir/R4/messaging.html). In a document or message Bundle, every
``Reference.reference`` inside an entry must resolve to an entry of the same Bundle, by ``fullUrl`` or ``Type/id``;
the referenced resource's type is then checked against the profiles' ``targetProfile``s.
Each entry's own resource is validated against its profiles by the dispatcher, not here.
"""

from __future__ import annotations

from typing import Any, Iterator

from adapter.fhir.registry import Registry
from adapter.issues import Issues
from adapter.validation import profiles

# Bundle types whose references must resolve inside the Bundle (R4 documents and messages: a
# receiver reads them without the sender's server); in a collection, search set or transaction a
# reference may point to a server.
_SELF_CONTAINED = frozenset({"document", "message"})
# Bundle types whose entry list may legitimately be empty.
_MAY_BE_EMPTY = frozenset({"searchset", "history", "batch-response", "transaction-response"})


def validate_bundle(bundle: dict[str, Any], registry: Registry, issues: Issues, *, path: str = "Bundle") -> None:
    """Bundle-level checks of ``bundle`` (found at ``path``; a nested Bundle passes its own)."""
    entries = bundle.get("entry")
    if not isinstance(entries, list) or not entries:
        issues.check(bundle.get("type") in _MAY_BE_EMPTY, "Bundle_BUNDLE_Entry_NoFirst",
                     expression=f"{path}.entry", code="structure")
        return
    if bundle.get("type") == "message":
        first = entries[0].get("resource") if isinstance(entries[0], dict) else None
        issues.check(isinstance(first, dict) and first.get("resourceType") == "MessageHeader",
                     "Validation_BUNDLE_Message", expression=f"{path}.entry[0].resource", code="structure")
    _check_full_urls(entries, issues, path)
    resolve = profiles.bundle_resolver(bundle)
    for i, entry in enumerate(entries):
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(resource, dict):
            continue
        where = f"{path}.entry[{i}].resource"
        if bundle.get("type") in _SELF_CONTAINED:
            for reference, at in references(resource, where):
                issues.check(resolve(reference) is not None, "Reference_REF_CantResolve",
                             expression=f"{at}.reference", code="not-found", reference=reference)
        profiles.check_reference_targets(resource, registry, issues, path=where, resolver=resolve)


def _check_full_urls(entries: list[Any], issues: Issues, path: str) -> None:
    seen: dict[str, int] = {}
    for i, entry in enumerate(entries):
        url = entry.get("fullUrl") if isinstance(entry, dict) else None
        if not isinstance(url, str):
            continue
        if url in seen:
            issues.add("LISN_BUNDLE_FULLURL_DUPLICATE", expression=f"{path}.entry[{i}].fullUrl",
                       code="duplicate", first=seen[url])
        else:
            seen[url] = i


def references(resource: Any, path: str) -> Iterator[tuple[str, str]]:
    """Every ``Reference.reference`` string in ``resource`` (not in contained resources) with its location.

    Local fragment references (``#id``) point into ``contained`` and are not Bundle references.
    """
    stack: list[tuple[Any, str]] = [(resource, path)]
    while stack:
        value, where = stack.pop()
        if isinstance(value, list):
            stack.extend((v, f"{where}[{i}]") for i, v in reversed(list(enumerate(value))))
        elif isinstance(value, dict):
            ref = value.get("reference")
            if isinstance(ref, str) and not ref.startswith("#") and where != path:
                yield ref, where
            for key, child in reversed(list(value.items())):
                if key != "contained" and isinstance(child, (dict, list)):
                    stack.append((child, f"{where}.{key}"))
