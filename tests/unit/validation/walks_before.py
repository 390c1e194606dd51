"""The resource-level walks as they were before ``adapter.validation.scan`` (commit 123d5a5): the oracle.

``test_scan_walks.py`` puts these in place of the current functions (:func:`installed`) and compares
the outcomes. Each is the old code unchanged but for its imports (the rule helpers it calls, which
did not change, are the modules' own): the identifier walk (``identifiers.validate_identifiers``
and its ``_Scan``), the Bundle's reference walk (``bundle.references``, ``bundle.validate_bundle``),
the document rule (``bundle_rules.check_bundle``/``_document``), reference resolution without an
index and with the ``/_history/`` pattern always tried (``bundle_rules.resolve_reference``), and
``references.check_reference``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from adapter.fhir import identifiers as ids
from adapter.fhir.registry import Registry
from adapter.issues import Issues
from adapter.validation import bundle, bundle_rules, identifiers, profiles, references

# -- identifiers.py ---------------------------------------------------------------------------------

_IDENTIFIER_KEYS = ("identifier", "valueIdentifier")
_CODING_KEYS = ("coding", "valueCoding")


def validate_identifiers(resource: dict[str, Any], issues: Issues, *, path: str, test_environment: bool = False) -> None:
    _Scan(issues, path, resource.get("resourceType") != "QuestionnaireResponse", test_environment).object(resource, "")


class _Scan:
    def __init__(self, issues: Issues, path: str, form: bool, test_environment: bool) -> None:
        self.issues, self.path, self.form, self.test_environment = issues, path, form, test_environment
        self.steps: list[str | int] = []

    def where(self) -> str:
        return self.path + "".join(f".{s}" if isinstance(s, str) else f"[{s}]" for s in self.steps)

    def object(self, value: dict[str, Any], key: str) -> None:
        if key in _IDENTIFIER_KEYS:
            _check_identifier(value, self, self.test_environment)
        elif key in _CODING_KEYS:
            _check_icd(value, self, self.form)
        steps = self.steps
        for child_key, child in value.items():
            if type(child) is str or child_key == "contained":
                continue
            if isinstance(child, list):
                steps.append(child_key)
                self.array(child, child_key)
                steps.pop()
            elif isinstance(child, dict) and "resourceType" not in child:
                steps.append(child_key)
                self.object(child, child_key)
                steps.pop()

    def array(self, value: list[Any], key: str) -> None:
        steps = self.steps
        for i, item in enumerate(value):
            if isinstance(item, dict):
                steps.append(i)
                self.object(item, key)
                steps.pop()
            elif isinstance(item, list):
                steps.append(i)
                self.array(item, key)
                steps.pop()


def _system(value: Any) -> str | None:
    return ids.normalise_system(value) if isinstance(value, str) else None


def _check_identifier(ident: dict[str, Any], scan: _Scan, test_environment: bool) -> None:
    system = _system(ident.get("system"))
    check = identifiers.CHECKS.get(system or "")
    value = ident.get("value")
    if check is None or not isinstance(value, str):
        return
    problem = identifiers.hsa_id_problem(value, test_environment=test_environment) if system == ids.HSA_ID \
        else check(value)
    if problem:
        current = identifiers.municipalities()[1].get(value, "") if problem == "LISN_KOMMUNKOD_RETIRED" else ""
        scan.issues.add(problem, expression=f"{scan.where()}.value", code="value", system=system, current=current)


def _check_icd(coding: dict[str, Any], scan: _Scan, form: bool) -> None:
    if _system(coding.get("system")) != ids.ICD10_SE or not isinstance(coding.get("code"), str):
        return
    problem = identifiers.icd10se_problem(coding["code"], form=form)
    if problem:
        scan.issues.add(problem, expression=f"{scan.where()}.code", code="code-invalid", code_value=coding["code"])


# -- bundle.py --------------------------------------------------------------------------------------

_SELF_CONTAINED = frozenset({"document", "message"})
_MAY_BE_EMPTY = frozenset({"searchset", "history", "batch-response", "transaction-response"})


def validate_bundle(bundle: dict[str, Any], registry: Registry, issues: Issues, *, path: str = "Bundle") -> None:
    entries = bundle.get("entry")
    if not isinstance(entries, list) or not entries:
        issues.check(bundle_rules.bundle_type(bundle) in _MAY_BE_EMPTY, "Bundle_BUNDLE_Entry_NoFirst",
                     expression=f"{path}.entry", code="structure")
        return
    if bundle.get("type") == "message":
        first = entries[0].get("resource") if isinstance(entries[0], dict) else None
        issues.check(isinstance(first, dict) and first.get("resourceType") == "MessageHeader",
                     "Validation_BUNDLE_Message", expression=f"{path}.entry[0].resource", code="structure")
    if bundle.get("type") != "history":
        _check_full_urls(entries, issues, path)
    resolve = profiles.bundle_resolver(bundle)
    by_url = bundle_rules.entries_by_full_url(entries) if bundle_rules.bundle_type(bundle) in _SELF_CONTAINED else None
    for i, entry in enumerate(entries):
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(resource, dict):
            continue
        where = f"{path}.entry[{i}].resource"
        if bundle_rules.bundle_type(bundle) in _SELF_CONTAINED:
            for reference, at in bundle_references(resource, where):
                found = resolve_reference(entries, reference, entry.get("fullUrl"), by_url)
                issues.check(found, "Reference_REF_CantResolve", expression=f"{at}.reference", code="not-found",
                             reference=reference)
                issues.check(len(found) < 2, "Bundle_BUNDLE_MultipleMatches", expression=f"{at}.reference",
                             code="invalid", reference=reference)
        profiles.check_reference_targets(resource, registry, issues, path=where, resolver=resolve)


def _check_full_urls(entries: list[Any], issues: Issues, path: str) -> None:
    seen: dict[tuple[str, Any], int] = {}
    for i, entry in enumerate(entries):
        url = entry.get("fullUrl") if isinstance(entry, dict) else None
        if not isinstance(url, str):
            continue
        key = (url, bundle_rules.version_of(entry.get("resource")))
        if key in seen:
            issues.add("LISN_BUNDLE_FULLURL_DUPLICATE", expression=f"{path}.entry[{i}].fullUrl",
                       code="duplicate", first=seen[key])
        else:
            seen[key] = i


def bundle_references(resource: Any, path: str) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    steps: list[str | int] = []

    def where() -> str:
        return path + "".join(f".{s}" if isinstance(s, str) else f"[{s}]" for s in steps)

    def in_object(value: dict[str, Any]) -> None:
        ref = value.get("reference")
        if isinstance(ref, str) and not ref.startswith("#") and steps:
            found.append((ref, where()))
        for key, child in value.items():
            if type(child) is str or key == "contained":
                continue
            if isinstance(child, dict):
                steps.append(key)
                in_object(child)
                steps.pop()
            elif isinstance(child, list):
                steps.append(key)
                in_array(child)
                steps.pop()

    def in_array(value: list[Any]) -> None:
        for i, item in enumerate(value):
            if type(item) is str:
                continue
            if isinstance(item, dict):
                steps.append(i)
                in_object(item)
                steps.pop()
            elif isinstance(item, list):
                steps.append(i)
                in_array(item)
                steps.pop()

    if isinstance(resource, dict):
        in_object(resource)
    elif isinstance(resource, list):
        in_array(resource)
    return found


# -- bundle_rules.py --------------------------------------------------------------------------------

def check_bundle(bundle: dict[str, Any], path: str, issues: Issues) -> None:
    if bundle.get("type") in ("searchset", "history"):
        bundle_rules._search_links(bundle, path, issues)
    entries = bundle.get("entry")
    if not isinstance(entries, list):
        return
    optional = bundle_rules.bundle_type(bundle) in bundle_rules._OPTIONAL
    for i, entry in enumerate(entries):
        if isinstance(entry, dict):
            bundle_rules._entry(entry, f"{path}.entry[{i}]", optional, issues)
    if bundle.get("type") == "document" and entries:
        _document(bundle, entries, path, issues)


def _document(bundle: dict[str, Any], entries: list[Any], path: str, issues: Issues) -> None:
    resources = [e.get("resource") if isinstance(e, dict) and isinstance(e.get("resource"), dict) else None
                 for e in entries]
    first = resources[0]
    if not issues.check(first is not None and first.get("resourceType") == "Composition",
                        "Bundle_BUNDLE_Entry_Document", expression=f"{path}.entry[0]", code="invalid"):
        return
    styled = bundle_rules._document_links(bundle, resources, path, issues)
    targets: dict[int, set[int]] = {i: set() for i, r in enumerate(resources) if r is not None}
    for i, res in enumerate(resources):
        for ref, _ in bundle_references(res, "") if res is not None else ():
            targets[i].update(t for t in resolve_reference(entries, ref, entries[i].get("fullUrl"))
                              if t != i and t in targets)
    reached = bundle_rules._reach({0} | styled, targets)
    grew = True
    while grew:
        grew = False
        for i, out in targets.items():
            if i not in reached and out & reached:
                reached |= bundle_rules._reach({i}, targets)
                grew = True
    for i in sorted(set(targets) - reached):
        url = entries[i].get("fullUrl") if isinstance(entries[i], dict) else None
        issues.add("Bundle_BUNDLE_Entry_Orphan_DOCUMENT", expression=f"{path}.entry[{i}]", code="invalid",
                   entry=f"'{url}'" if isinstance(url, str) else f"entry[{i}]")


def resolve_reference(entries: list[Any], reference: str, from_full_url: Any,
                      by_url: dict[str, list[int]] | None = None) -> list[int]:
    versioned = bundle_rules._VERSIONED.match(reference)
    target, version = (versioned.group(1), versioned.group(2)) if versioned else (reference, None)
    if not bundle_rules._ABSOLUTE.match(target):
        root = bundle_rules._root(from_full_url)
        if root is None:
            return []
        target = root + target
    if by_url is not None:
        return [i for i in by_url.get(target, ())
                if version is None or bundle_rules.version_of(entries[i].get("resource")) == version]
    return [i for i, e in enumerate(entries)
            if isinstance(e, dict) and e.get("fullUrl") == target
            and (version is None or bundle_rules.version_of(e.get("resource")) == version)]


# -- references.py ----------------------------------------------------------------------------------

def check_reference(ref: dict[str, Any], path: str, targets: tuple[str, ...],
                    entry: tuple[list[Any], Any] | None, issues: Issues) -> None:
    reference = ref.get("reference")
    if not isinstance(reference, str) or reference.startswith(("#", "urn:")):
        named = None
    else:
        m = references._TYPED.search(reference)
        named = m.group(1) if m else None
    allowed = ", ".join(targets)
    any_type = "Resource" in targets
    if named is not None and not any_type and named not in targets:
        issues.add("Reference_REF_BadTargetType2", expression=path, code="structure", type=named,
                   reference=reference, allowed=allowed)
        return
    if entry is None or not isinstance(reference, str) or reference.startswith("#"):
        return
    entries, full_url = entry
    found = resolve_reference(entries, reference, full_url)
    if len(found) != 1:
        return
    target = entries[found[0]].get("resource")
    rtype = target.get("resourceType") if isinstance(target, dict) else None
    if not isinstance(rtype, str):
        return
    if named is not None and rtype != named:
        issues.add("Reference_REF_ResourceType", expression=path, code="structure", reference=reference, type=rtype)
    elif not any_type and rtype not in targets:
        issues.add("Reference_REF_BadTargetType", expression=path, code="structure", found=rtype, allowed=allowed)


@contextmanager
def installed(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The old functions in place of the current ones, where the validator calls them."""
    with monkeypatch.context() as m:
        m.setattr(identifiers, "validate_identifiers", validate_identifiers)
        m.setattr(bundle, "validate_bundle", validate_bundle)
        m.setattr(bundle, "references", bundle_references)
        m.setattr(bundle_rules, "check_bundle", check_bundle)
        m.setattr(bundle_rules, "resolve_reference", resolve_reference)
        m.setattr(references, "check_reference", check_reference)
        yield
