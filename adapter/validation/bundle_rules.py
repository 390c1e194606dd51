"""Base R4 rules of a Bundle's entries that the definitions state in prose (https://hl7.org/fhir/R4/bundle.html).

As the HL7 validator's ``BundleValidator``: every entry has a ``fullUrl`` except in transactions
and batches (and their responses); a ``fullUrl`` is absolute; one that looks like a RESTful URL
(``…/Type/id``, with an optional ``/_history/v``) names the entry resource's type and id. A
document starts with a Composition, and every entry is reachable from it by following references
forwards, or backwards from an entry that is (https://hl7.org/fhir/R4/documents.html#bundle).
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from adapter.fhir import definitions as defs
from adapter.issues import Issues

_OPTIONAL = frozenset({"transaction", "transaction-response", "batch", "batch-response"})
_ABSOLUTE = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:\S")


@lru_cache(maxsize=1)
def _restful() -> re.Pattern[str]:
    names = "|".join(sorted(defs.resource_type_names()))
    return re.compile(rf"((http|https)://([A-Za-z0-9\\.:%$]*/)*)?({names})/[A-Za-z0-9\-.]{{1,64}}"
                      rf"(/_history/[A-Za-z0-9\-.]{{1,64}})?")


def check_bundle(bundle: dict[str, Any], path: str, issues: Issues) -> None:
    entries = bundle.get("entry")
    if not isinstance(entries, list):
        return
    optional = bundle.get("type") in _OPTIONAL
    for i, entry in enumerate(entries):
        if isinstance(entry, dict):
            _entry(entry, f"{path}.entry[{i}]", optional, issues)
    if bundle.get("type") == "document" and entries:
        _document(bundle, entries, path, issues)


def _document(bundle: dict[str, Any], entries: list[Any], path: str, issues: Issues) -> None:
    from adapter.validation.bundle import references
    from adapter.validation.profiles import bundle_resolver

    resources = [e.get("resource") if isinstance(e, dict) and isinstance(e.get("resource"), dict) else None
                 for e in entries]
    first = resources[0]
    if not issues.check(first is not None and first.get("resourceType") == "Composition",
                        "Bundle_BUNDLE_Entry_Document", expression=f"{path}.entry[0]", code="invalid"):
        return
    styled = _document_links(bundle, resources, path, issues)
    resolve = bundle_resolver(bundle)
    index = {id(r): i for i, r in enumerate(resources) if r is not None}
    targets: dict[int, set[int]] = {i: set() for i in index.values()}
    for i, res in enumerate(resources):
        for ref, _ in references(res, "") if res is not None else ():
            found = resolve(ref)
            if found is not None and id(found) in index and index[id(found)] != i:
                targets[i].add(index[id(found)])
    reached = _reach({0} | styled, targets)
    grew = True
    while grew:  # an entry that points into the document (a Provenance) is part of it
        grew = False
        for i, out in targets.items():
            if i not in reached and out & reached:
                reached |= _reach({i}, targets)
                grew = True
    for i in sorted(set(targets) - reached):
        url = entries[i].get("fullUrl") if isinstance(entries[i], dict) else None
        issues.add("Bundle_BUNDLE_Entry_Orphan_DOCUMENT", expression=f"{path}.entry[{i}]", code="invalid",
                   entry=f"'{url}'" if isinstance(url, str) else f"entry[{i}]")


def _document_links(bundle: dict[str, Any], resources: list[Any], path: str, issues: Issues) -> set[int]:
    """A document's links: no paging relations; a local stylesheet names an entry (returned, reached)."""
    names = {f"{r.get('resourceType')}/{r.get('id')}": i for i, r in enumerate(resources) if r is not None}
    styled: set[int] = set()
    links = bundle.get("link")
    for j, link in enumerate(links if isinstance(links, list) else []):
        if not isinstance(link, dict):
            continue
        rel, url = link.get("relation"), link.get("url")
        issues.check(rel not in ("first", "previous", "next", "last"), "BUNDLE_LINK_SEARCH_PROHIBITED",
                     expression=f"{path}.link[{j}].relation", code="invalid", relation=rel)
        if rel == "stylesheet" and isinstance(url, str) and not _ABSOLUTE.match(url):
            if issues.check(url in names, "BUNDLE_LINK_STYELSHEET_NOT_FOUND", expression=f"{path}.link[{j}].url",
                            code="not-found"):
                styled.add(names[url])
    return styled


def _reach(start: set[int], targets: dict[int, set[int]]) -> set[int]:
    seen, todo = set(start), list(start)
    while todo:
        for t in targets.get(todo.pop(), ()):
            if t not in seen:
                seen.add(t)
                todo.append(t)
    return seen


def _entry(entry: dict[str, Any], where: str, optional: bool, issues: Issues) -> None:
    full_url = entry.get("fullUrl")
    resource = entry.get("resource") if isinstance(entry.get("resource"), dict) else None
    if not isinstance(full_url, str) or not full_url:
        issues.check(optional or full_url is not None, "BUNDLE_BUNDLE_ENTRY_FULLURL_REQUIRED",
                     expression=f"{where}.fullUrl", code="invalid")
        return
    if not _ABSOLUTE.match(full_url):
        issues.add("BUNDLE_ENTRY_URL_ABSOLUTE", expression=f"{where}.fullUrl", code="invalid", url=full_url)
        return
    rtype = resource.get("resourceType") if resource else None
    if not isinstance(rtype, str) or not _restful().fullmatch(full_url):
        return
    rid = resource.get("id") if resource else None
    if not isinstance(rid, str):
        issues.add("BUNDLE_ENTRY_URL_MATCHES_NO_ID", expression=f"{where}.fullUrl", code="invalid", url=full_url)
    else:
        issues.check(full_url.endswith(f"/{rtype}/{rid}"), "BUNDLE_ENTRY_URL_MATCHES_TYPE_ID",
                     expression=f"{where}.fullUrl", code="invalid", url=full_url, type=rtype, id=rid)
