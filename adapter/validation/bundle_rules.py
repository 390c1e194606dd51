"""Base R4 rules of a Bundle's entries that the definitions state in prose (https://hl7.org/fhir/R4/bundle.html).

As the HL7 validator's ``BundleValidator``: every entry has a ``fullUrl`` except in transactions
and batches (and their responses); a ``fullUrl`` is absolute; one that looks like a RESTful URL
(``…/Type/id``, with an optional ``/_history/v``) names the entry resource's type and id. A
document starts with a Composition, and every entry is reachable from it by following references
forwards, or backwards from an entry that is (https://hl7.org/fhir/R4/documents.html#bundle).
References resolve inside a Bundle by the R4 rules (:func:`resolve_reference`).
"""

from __future__ import annotations

import re
from typing import Any

from adapter.fhir import definitions as defs
from adapter.issues import Issues
from adapter.validation import scan

_OPTIONAL = frozenset({"transaction", "transaction-response", "batch", "batch-response"})
_ABSOLUTE = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:\S")


# R4's RESTful URL (https://hl7.org/fhir/R4/references.html#regex) with any name where the resource
# type goes: the type can only be one segment of a URL (the segments before it hold no "_" or "-",
# a type no digit), so looking the name up among the R4 resource types afterwards gives what the
# pattern with every type's name in that group gave, without building and compiling that one
# (10-14 ms on the first use). The class [...\\.:%$] holds a backslash, as R4's does.
_RESTFUL = re.compile(r"(?:(?:http|https)://(?:[A-Za-z0-9\\.:%$]*/)*)?([A-Za-z]+)/[A-Za-z0-9\-.]{1,64}"
                      r"(?:/_history/[A-Za-z0-9\-.]{1,64})?")


def is_restful(url: str) -> bool:
    """``url`` is a RESTful reference to an R4 resource type: ``[http(s)://base/]Type/id[/_history/vid]``."""
    if "/" not in url:  # (the pattern needs one: ``Type/id``; a ``urn:uuid:`` fullUrl has none)
        return False
    found = _RESTFUL.fullmatch(url)
    return found is not None and found.group(1) in defs.resource_type_names()


def bundle_type(bundle: dict[str, Any]) -> str | None:
    """``Bundle.type`` when it is a code (a wrong JSON type is reported by the structure checks)."""
    found = bundle.get("type")
    return found if isinstance(found, str) else None


def check_bundle(bundle: dict[str, Any], path: str, issues: Issues) -> None:
    if bundle.get("type") in ("searchset", "history"):
        _search_links(bundle, path, issues)
    entries = bundle.get("entry")
    if not isinstance(entries, list):
        return
    scan.drop(issues, entries)  # the walk of the Bundle is over
    optional = bundle_type(bundle) in _OPTIONAL
    for i, entry in enumerate(entries):
        if isinstance(entry, dict):
            _entry(entry, f"{path}.entry[{i}]", optional, issues)
    if bundle.get("type") == "document" and entries:
        _document(bundle, entries, path, issues)


def _search_links(bundle: dict[str, Any], path: str, issues: Issues) -> None:
    """A search set or history names each paging relation at most once."""
    seen: set[str] = set()
    links = bundle.get("link")
    for j, link in enumerate(links if isinstance(links, list) else []):
        rel = link.get("relation") if isinstance(link, dict) else None
        if rel in ("self", "first", "previous", "next", "last"):
            issues.check(rel not in seen, "BUNDLE_LINK_SEARCH_NO_DUPLICATES", expression=f"{path}.link[{j}]",
                         code="invalid", relation=rel)
            seen.add(str(rel))


def _document(bundle: dict[str, Any], entries: list[Any], path: str, issues: Issues) -> None:
    resources = [e.get("resource") if isinstance(e, dict) and isinstance(e.get("resource"), dict) else None
                 for e in entries]
    first = resources[0]
    if not issues.check(first is not None and first.get("resourceType") == "Composition",
                        "Bundle_BUNDLE_Entry_Document", expression=f"{path}.entry[0]", code="invalid"):
        return
    styled = _document_links(bundle, resources, path, issues)
    targets: dict[int, set[int]] = {i: set() for i, r in enumerate(resources) if r is not None}
    by_url = entries_by_full_url(entries)
    for i, res in enumerate(resources):
        for ref, _ in scan.references(res) if res is not None else ():
            targets[i].update(t for t in resolve_reference(entries, ref, entries[i].get("fullUrl"), by_url)
                              if t != i and t in targets)
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
    if not isinstance(rtype, str) or not is_restful(full_url):
        return
    rid = resource.get("id") if resource else None
    if not isinstance(rid, str):
        issues.add("BUNDLE_ENTRY_URL_MATCHES_NO_ID", expression=f"{where}.fullUrl", code="invalid", url=full_url)
    else:
        issues.check(full_url.endswith(f"/{rtype}/{rid}"), "BUNDLE_ENTRY_URL_MATCHES_TYPE_ID",
                     expression=f"{where}.fullUrl", code="invalid", url=full_url, type=rtype, id=rid)


_VERSIONED = re.compile(r"^(.*?)/_history/([^/]+)$")


def version_of(resource: Any) -> Any:
    meta = resource.get("meta") if isinstance(resource, dict) else None
    return meta.get("versionId") if isinstance(meta, dict) else None


def entries_by_full_url(entries: list[Any]) -> dict[str, list[int]]:
    """The entries with each (string) fullUrl, in order: :func:`resolve_reference`'s look-up."""
    by_url: dict[str, list[int]] = {}
    for i, e in enumerate(entries):
        url = e.get("fullUrl") if isinstance(e, dict) else None
        if isinstance(url, str):
            by_url.setdefault(url, []).append(i)
    return by_url


def full_url_index(entries: list[Any], issues: Issues) -> dict[str, list[int]]:
    """:func:`entries_by_full_url` of a Bundle's ``entries``, made once per validation (``issues``)."""
    return scan.made_once(issues, entries, entries_by_full_url)


def resolve_reference(entries: list[Any], reference: str, from_full_url: Any,
                      by_url: dict[str, list[int]] | None = None) -> list[int]:
    """The entries a reference inside a Bundle points at, by the R4 rules (https://hl7.org/fhir/R4/bundle.html#references).

    An absolute reference is a fullUrl; a relative ``Type/id`` is appended to the root of the
    referencing entry's fullUrl when that is a RESTful URL, and cannot be resolved inside the
    Bundle otherwise (a ``urn:uuid:`` fullUrl has no root). ``/_history/v`` selects the entry
    whose ``meta.versionId`` is ``v``. ``by_url``: :func:`entries_by_full_url` of ``entries``, when
    many references are resolved (else every entry is looked at).
    """
    if by_url is not None and "/_history/" not in reference:
        # (the usual reference: no version, and absolute; as below, without the copies and the loop)
        hit = by_url.get(reference)
        if hit is not None and _ABSOLUTE.match(reference):
            return hit.copy()
    versioned = _VERSIONED.match(reference) if "/_history/" in reference else None
    target, version = (versioned.group(1), versioned.group(2)) if versioned else (reference, None)
    if not _ABSOLUTE.match(target):
        root = _root(from_full_url)
        if root is None:
            return []
        target = root + target
    if by_url is not None:
        return [i for i in by_url.get(target, ())
                if version is None or version_of(entries[i].get("resource")) == version]
    return [i for i, e in enumerate(entries)
            if isinstance(e, dict) and e.get("fullUrl") == target
            and (version is None or version_of(e.get("resource")) == version)]


def _root(full_url: Any) -> str | None:
    """``http://x/fhir/`` for ``http://x/fhir/Patient/1``; None when the fullUrl is not RESTful."""
    if not isinstance(full_url, str) or not is_restful(full_url) or not full_url.startswith("http"):
        return None
    parts = _VERSIONED.sub(r"\1", full_url).rstrip("/").split("/")
    return "/".join(parts[:-2]) + "/"
