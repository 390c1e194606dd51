"""Bundle-level checks: entries present, MessageHeader first, fullUrl unique, references resolve.

FHIR R4 Bundle (https://hl7.org/fhir/R4/bundle.html#references, invariants bdl-7, and the
messaging rule of https://hl7.org/fhir/R4/messaging.html). In a document or message Bundle, every
``Reference.reference`` inside an entry must resolve to exactly one entry of the same Bundle by the R4
resolution rules (:func:`adapter.validation.bundle_rules.resolve_reference`);
the referenced resource's type is then checked against the profiles' ``targetProfile``s.
Each entry's own resource is validated against its profiles by the dispatcher, not here.
"""

from __future__ import annotations

import json
from typing import Any

from adapter.fhir.registry import Registry
from adapter.issues import Issues
from adapter.validation import bundle_rules, profiles, scan

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
        issues.check(bundle_rules.bundle_type(bundle) in _MAY_BE_EMPTY, "Bundle_BUNDLE_Entry_NoFirst",
                     expression=f"{path}.entry", code="structure")
        return
    if bundle.get("type") == "message":
        first = entries[0].get("resource") if isinstance(entries[0], dict) else None
        issues.check(isinstance(first, dict) and first.get("resourceType") == "MessageHeader",
                     "Validation_BUNDLE_Message", expression=f"{path}.entry[0].resource", code="structure")
    if bundle.get("type") != "history":  # a history holds versions of one resource under one fullUrl
        _check_full_urls(entries, issues, path)
    resolve = profiles.bundle_resolver(bundle)
    self_contained = bundle_rules.bundle_type(bundle) in _SELF_CONTAINED
    by_url = bundle_rules.full_url_index(entries, issues) if self_contained else None
    for i, entry in enumerate(entries):
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(resource, dict):
            continue
        where = f"{path}.entry[{i}].resource"
        listed = None
        if self_contained:
            # One walk for the references, for the entry's identifier check, which follows soon, and
            # for the targetProfile checks below (every reference listed, when nothing was passed over)
            refs, marks, skipped = scan.references_marks_and_skipped(resource)
            listed = None if skipped else refs
            scan.keep(issues, resource, where, marks)
            for reference, node in refs:
                found = bundle_rules.resolve_reference(entries, reference, entry.get("fullUrl"), by_url)
                if len(found) == 1:
                    continue
                at = scan.where(where, node)
                issues.check(found, "Reference_REF_CantResolve", expression=f"{at}.reference", code="not-found",
                             reference=reference)
                issues.check(len(found) < 2, "Bundle_BUNDLE_MultipleMatches", expression=f"{at}.reference",
                             code="invalid", reference=reference)
        profiles.check_reference_targets(resource, registry, issues, path=where, resolver=resolve, refs=listed)


def _check_full_urls(entries: list[Any], issues: Issues, path: str) -> None:
    # bdl-7: one fullUrl per entry, unless the entries are different versions (meta.versionId)
    seen: dict[tuple[str, Any], int] = {}
    for i, entry in enumerate(entries):
        url = entry.get("fullUrl") if isinstance(entry, dict) else None
        if not isinstance(url, str):
            continue
        version = bundle_rules.version_of(entry.get("resource"))
        if not isinstance(version, (str, int, float, bool, type(None))):
            # a versionId of the wrong type (an array, an object: the structure walk reports it) is
            # still told apart by its content, as text in a tuple (a list or dict cannot be a dict key;
            # the tuple keeps it apart from a string versionId of the same text)
            version = ("json", json.dumps(version, sort_keys=True, default=str))
        key = (url, version)
        if key in seen:
            issues.add("LISN_BUNDLE_FULLURL_DUPLICATE", expression=f"{path}.entry[{i}].fullUrl",
                       code="duplicate", first=seen[key])
        else:
            seen[key] = i


def references(resource: Any, path: str) -> list[tuple[str, str]]:
    """Every ``Reference.reference`` string in ``resource`` (not in contained resources) with its location.

    Local fragment references (``#id``) point into ``contained`` and are not Bundle references.
    In document order; a location is written out only for a reference found.
    """
    return [(ref, scan.where(path, node)) for ref, node in scan.references(resource)]
