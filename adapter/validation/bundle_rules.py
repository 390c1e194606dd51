"""Base R4 rules of a Bundle's entries that the definitions state in prose (https://hl7.org/fhir/R4/bundle.html).

As the HL7 validator's ``BundleValidator``: every entry has a ``fullUrl`` except in transactions
and batches (and their responses); a ``fullUrl`` is absolute; one that looks like a RESTful URL
(``…/Type/id``, with an optional ``/_history/v``) names the entry resource's type and id.
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
