"""Code translation through FHIR R4 ConceptMaps (https://hl7.org/fhir/R4/conceptmap.html).

A mapping rule names a ConceptMap (by canonical URL or id); the source code is looked up in
the group whose ``source`` is the source code system (or any group when the source gives
no system). A code without an entry is an error for the caller to report, never dropped.
Displays come from our own CodeSystems, so the Swedish text is always the template's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from adapter.fhir import identifiers
from adapter.fhir.registry import Registry

# R4 equivalences that do not give a usable target.
_NO_TARGET = frozenset({"unmatched", "disjoint"})


def find_conceptmap(registry: Registry, ref: str) -> dict[str, Any] | None:
    """A ConceptMap by canonical URL (``url`` or ``url|version``) or by id."""
    return registry.resolve(ref, "ConceptMap") or registry.by_id("ConceptMap", ref)


@dataclass(frozen=True)
class Translation:
    """Where a source code goes: ``code`` None means the map says it has no counterpart (``unmatched``)."""

    system: str | None
    code: str | None
    display: str | None = None
    """The map's own display for the target (used when we hold no CodeSystem for it)."""


def translate(conceptmap: dict[str, Any], system: str | None, code: str,
              targets: frozenset[str] = frozenset(),
              resolve: Callable[[str], dict[str, Any] | None] | None = None,
              _depth: int = 0) -> Translation | None:
    """Where ``code`` goes through ``conceptmap``, or None when the map has no entry for it.

    ``targets`` (the code systems of the item's ValueSet) picks the group when one map
    holds several lists whose source codes overlap (openEHR local at-codes do). A code with
    no element falls back on the group's ``unmapped`` (R4: ``provided`` keeps the code,
    ``fixed`` gives the stated code, ``other-map`` asks the map at ``url``, found by ``resolve``).
    """
    groups = [g for g in conceptmap.get("group") or [] if _group_fits(g, system, targets)]
    for group in groups:
        for element in group.get("element") or []:
            if element.get("code") == code:
                return _target(group, element)
    for group in groups:
        unmapped = group.get("unmapped")
        if isinstance(unmapped, dict) and _depth < _MAX_CHAIN:
            found = _unmapped(group, unmapped, system, code, targets, resolve, _depth)
            if found is not None:
                return found
    return None


_MAX_CHAIN = 5  # other-map chains deeper than this are a loop


def _group_fits(group: dict[str, Any], system: str | None, targets: frozenset[str]) -> bool:
    wanted = identifiers.normalise_system(system)
    source = identifiers.normalise_system(group.get("source"))
    if wanted and source and source != wanted:
        return False
    return not targets or group.get("target") in targets


def _target(group: dict[str, Any], element: dict[str, Any]) -> Translation:
    for target in element.get("target") or []:
        if target.get("equivalence") not in _NO_TARGET and target.get("code"):
            return Translation(str(group.get("target") or ""), str(target["code"]), target.get("display"))
    # Every target is unmatched/disjoint (or there is none): the map says "no counterpart".
    return Translation(str(group.get("target") or "") or None, None)


def _unmapped(group: dict[str, Any], unmapped: dict[str, Any], system: str | None, code: str,
              targets: frozenset[str], resolve: Callable[[str], dict[str, Any] | None] | None,
              depth: int) -> Translation | None:
    mode = unmapped.get("mode")
    target_system = str(group.get("target") or "") or None
    if mode == "provided":
        return Translation(target_system, code)
    if mode == "fixed" and unmapped.get("code"):
        return Translation(target_system, str(unmapped["code"]), unmapped.get("display"))
    if mode == "other-map" and unmapped.get("url") and resolve is not None:
        other = resolve(str(unmapped["url"]))
        if other is not None:
            return translate(other, system, code, targets, resolve, depth + 1)
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


def conceptmap_from_table(name: str, url: str, *, source: str | None, target: str | None,
                          entries: dict[str, Any], unmapped: dict[str, Any] | None) -> dict[str, Any]:
    """An inline code table of a mapping file as an R4 ConceptMap, so one translator serves both.

    ``entries`` maps a source code to a target code, to ``{code, display}``, or to None
    (``unmatched``: the code deliberately has no counterpart).
    """
    elements = []
    for code, to in entries.items():
        if to is None:
            elements.append({"code": str(code), "target": [{"equivalence": "unmatched"}]})
            continue
        out = {"code": str(to["code"]), "display": to.get("display")} if isinstance(to, dict) else {"code": str(to)}
        elements.append({"code": str(code), "target": [{**{k: v for k, v in out.items() if v}, "equivalence": "equivalent"}]})
    group = {"source": source, "target": target, "element": elements, "unmapped": unmapped}
    return {"resourceType": "ConceptMap", "id": name, "url": url, "status": "active",
            "group": [{k: v for k, v in group.items() if v is not None}]}
