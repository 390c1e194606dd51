"""Code translation through FHIR R4 ConceptMaps (https://hl7.org/fhir/R4/conceptmap.html).

A mapping rule names a ConceptMap (by canonical URL or id); the source code is looked up in
the group whose ``source`` is the source code system (or any group when the source gives
no system). A code without an entry is an error for the caller to report, never dropped.
Displays come from our own CodeSystems, so the Swedish text is always the template's.
"""

from __future__ import annotations

from typing import Any

from adapter.fhir import identifiers
from adapter.fhir.registry import Registry

# R4 equivalences that do not give a usable target.
_NO_TARGET = frozenset({"unmatched", "disjoint"})


def find_conceptmap(registry: Registry, ref: str) -> dict[str, Any] | None:
    """A ConceptMap by canonical URL (``url`` or ``url|version``) or by id."""
    return registry.resolve(ref, "ConceptMap") or registry.by_id("ConceptMap", ref)


def translate(conceptmap: dict[str, Any], system: str | None, code: str,
              targets: frozenset[str] = frozenset()) -> tuple[str, str] | None:
    """``(target system, target code)`` for ``code``, or None when the map has no entry.

    ``targets`` (the code systems of the item's ValueSet) picks the group when one map
    holds several lists whose source codes overlap (openEHR local at-codes do).
    """
    wanted = identifiers.normalise_system(system)
    for group in conceptmap.get("group") or []:
        source = identifiers.normalise_system(group.get("source"))
        if wanted and source and source != wanted:
            continue
        if targets and group.get("target") not in targets:
            continue
        for element in group.get("element") or []:
            if element.get("code") != code:
                continue
            for target in element.get("target") or []:
                if target.get("equivalence") not in _NO_TARGET and target.get("code"):
                    return str(group.get("target") or ""), str(target["code"])
    return None


def value_set_systems(registry: Registry, value_set: str | None) -> frozenset[str]:
    """The code systems a ValueSet includes (empty when unknown)."""
    vs = registry.resolve(value_set, "ValueSet") if value_set else None
    include = ((vs or {}).get("compose") or {}).get("include") or []
    return frozenset(str(i["system"]) for i in include if isinstance(i, dict) and i.get("system"))


def display_for(registry: Registry, system: str, code: str) -> str | None:
    """The display of ``code`` in our CodeSystem ``system``, if we hold that CodeSystem."""
    cs = registry.resolve(system, "CodeSystem")
    if cs is None:
        return None
    stack = list(cs.get("concept") or [])
    while stack:
        concept = stack.pop()
        if concept.get("code") == code:
            display = concept.get("display")
            return str(display) if display else None
        stack.extend(concept.get("concept") or [])
    return None


def known_code(registry: Registry, system: str, code: str) -> bool | None:
    """True/False when we hold the CodeSystem (complete content); None when we cannot tell."""
    cs = registry.resolve(system, "CodeSystem")
    if cs is None or cs.get("content") != "complete":
        return None
    return display_for(registry, system, code) is not None or _has_code(cs, code)


def _has_code(cs: dict[str, Any], code: str) -> bool:
    stack = list(cs.get("concept") or [])
    while stack:
        concept = stack.pop()
        if concept.get("code") == code:
            return True
        stack.extend(concept.get("concept") or [])
    return False
