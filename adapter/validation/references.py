"""A Reference's target type against the core definitions (https://hl7.org/fhir/R4/references.html).

Each Reference element names the resource types it may point to (``targetProfile`` of the R4
definitions: ``Patient.generalPractitioner`` -> Organization, Practitioner, PractitionerRole).
The type a literal reference names (``Practitioner/1``, ``http://x/fhir/Practitioner/1``) must be
one of them; inside a Bundle, the entry it resolves to (R4 rules,
:func:`adapter.validation.bundle_rules.resolve_reference`) must be of that type, and allowed.
"""

from __future__ import annotations

import re
from typing import Any

from adapter.issues import Issues
from adapter.validation import bundle_rules

_TYPED = re.compile(r"(?:^|/)([A-Z][A-Za-z]+)/[A-Za-z0-9\-.]{1,64}(?:/_history/[A-Za-z0-9\-.]{1,64})?$")


def check_reference(ref: dict[str, Any], path: str, targets: tuple[str, ...],
                    entry: tuple[list[Any], Any] | None, issues: Issues) -> None:
    """``entry``: the Bundle entries and the referencing entry's fullUrl, when inside a Bundle."""
    reference = ref.get("reference")
    if not isinstance(reference, str) or reference.startswith(("#", "urn:")):
        named = None
    else:
        m = _TYPED.search(reference)
        named = m.group(1) if m else None
    any_type = "Resource" in targets
    if named is not None and not any_type and named not in targets:
        issues.add("Reference_REF_BadTargetType2", expression=path, code="structure", type=named,
                   reference=reference, allowed=", ".join(targets))
        return
    if entry is None or not isinstance(reference, str) or reference.startswith("#"):
        return
    entries, full_url = entry
    found = bundle_rules.resolve_reference(entries, reference, full_url, bundle_rules.full_url_index(entries, issues))
    if len(found) != 1:
        return  # unresolved or ambiguous: the Bundle rules of documents and messages say so
    target = entries[found[0]].get("resource")
    rtype = target.get("resourceType") if isinstance(target, dict) else None
    if not isinstance(rtype, str):
        return
    if named is not None and rtype != named:
        issues.add("Reference_REF_ResourceType", expression=path, code="structure", reference=reference, type=rtype)
    elif not any_type and rtype not in targets:
        issues.add("Reference_REF_BadTargetType", expression=path, code="structure", found=rtype,
                   allowed=", ".join(targets))
