"""ValueSet and CodeSystem membership, from the conformance registry only (no terminology server).

FHIR R4 terminology: https://hl7.org/fhir/R4/valueset.html#compositions and
https://hl7.org/fhir/R4/codesystem.html. A ValueSet is expanded locally from its
``expansion.contains`` or its ``compose``: ``include``/``exclude`` with ``system`` (whole
system), ``concept`` lists, ``filter`` (``is-a``, ``descendent-of``, ``is-not-a``, ``=`` on
``concept``/a property, ``regex``) and ``valueSet`` imports. A system with no usable
CodeSystem resource can still be included whole: then any code of that system is accepted
(its form is for the profile checks). A ValueSet that is not found, or imports one that is
not, cannot be expanded: the caller reports that, since membership cannot be shown.

A few small R4 core definitions the HL7 corpus relies on (item-type, jurisdiction, ISO 3166)
are shipped as data in ``adapter/fhir/models/r4/terminology.json`` and used when the
registry does not have them.
"""

from __future__ import annotations

import json
import re
import weakref
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from adapter.fhir.identifiers import normalise_system
from adapter.fhir.registry import Registry
from adapter.validation.questionnaire import as_dict, as_list

Resource = dict[str, Any]


@dataclass
class Expansion:
    """The codes of one expanded ValueSet."""

    codes: dict[tuple[str, str], str | None] = field(default_factory=dict)
    """(system, code) -> display."""
    whole_systems: set[str] = field(default_factory=set)
    """Systems included whole whose codes cannot be listed: any code of them is a member."""

    def contains(self, system: str | None, code: str | None) -> bool:
        sys_ = normalise_system(system) or ""
        return (sys_, code or "") in self.codes or (bool(code) and sys_ in self.whole_systems)


@lru_cache(maxsize=1)
def core_registry() -> Registry:
    """R4 core terminology shipped with the adapter (a fallback behind the given registry)."""
    text = (Path(__file__).parent.parent / "fhir" / "models" / "r4" / "terminology.json").read_text("utf-8")
    return Registry(json.loads(text))


_CACHES: weakref.WeakKeyDictionary[Registry, dict[str, Expansion | None]] = weakref.WeakKeyDictionary()


def resolve(registry: Registry, canonical: str, resource_type: str) -> Resource | None:
    """A definition from the registry, else from the shipped core terminology."""
    return registry.resolve(canonical, resource_type) or core_registry().resolve(canonical, resource_type)


def expand(registry: Registry, canonical: str, *, contained: Iterable[Resource] = ()) -> Expansion | None:
    """The expansion of a ValueSet (``url``, ``url|version`` or ``#id`` of a contained one), or None."""
    if canonical.startswith("#"):
        for res in contained:
            if res.get("resourceType") == "ValueSet" and res.get("id") == canonical[1:]:
                return _Expander(registry).expand_resource(res, set())
        return None
    cache = _CACHES.setdefault(registry, {})
    if canonical not in cache:
        cache[canonical] = _Expander(registry).expand_canonical(canonical, set())
    return cache[canonical]


def concept_display(registry: Registry, system: str | None, code: str | None) -> tuple[bool, str | None, set[str]]:
    """(system known, display, every acceptable display lower-cased) for a code."""
    cache: dict[str, Any] = _CACHES.setdefault(registry, {})
    key = f"cd:{system}|{code}"
    if key not in cache:
        if len(cache) > 20_000:
            cache.clear()  # codes come from the input: keep the memory bounded
        cache[key] = _concept_display(registry, system, code)
    return cache[key]  # type: ignore[no-any-return]


def _concept_display(registry: Registry, system: str | None, code: str | None) -> tuple[bool, str | None, set[str]]:
    cs = resolve(registry, normalise_system(system) or "", "CodeSystem") if system else None
    if cs is None or cs.get("content") not in (None, "complete"):
        return False, None, set()
    concept = _concepts(cs).get(code or "")
    if concept is None:
        return True, None, set()
    names = {d.get("value", "").lower() for d in as_list(concept.get("designation")) if isinstance(d, dict)}
    display = concept.get("display")
    if isinstance(display, str):
        names.add(display.lower())
    return True, display if isinstance(display, str) else None, names


_CONCEPT_CACHE: dict[int, tuple[Resource, dict[str, Resource]]] = {}


def _concepts(cs: Resource) -> dict[str, Resource]:
    """Every concept of a CodeSystem by code, hierarchy flattened (memoised per resource object)."""
    hit = _CONCEPT_CACHE.get(id(cs))
    if hit is not None and hit[0] is cs:
        return hit[1]
    out: dict[str, Resource] = {}
    stack = list(as_list(cs.get("concept")))
    while stack:
        c = stack.pop()
        if isinstance(c, dict) and isinstance(c.get("code"), str):
            out[c["code"]] = c
            stack.extend(as_list(c.get("concept")))
    if len(_CONCEPT_CACHE) > 512:
        _CONCEPT_CACHE.clear()
    _CONCEPT_CACHE[id(cs)] = (cs, out)
    return out


class _Expander:
    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    def expand_canonical(self, canonical: str, seen: set[str]) -> Expansion | None:
        if canonical in seen:
            return Expansion()  # an import cycle adds nothing new
        vs = resolve(self.registry, canonical, "ValueSet")
        return None if vs is None else self.expand_resource(vs, seen | {canonical})

    def expand_resource(self, vs: Resource, seen: set[str]) -> Expansion | None:
        exp = Expansion()
        contains = as_list(as_dict(vs.get("expansion")).get("contains"))
        if contains:
            self._add_contains(exp, contains)
            return exp
        compose = as_dict(vs.get("compose"))
        for inc in as_list(compose.get("include")):
            part = self._include(inc, seen)
            if part is None:
                return None
            exp.codes.update(part.codes)
            exp.whole_systems |= part.whole_systems
        for exc in as_list(compose.get("exclude")):
            part = self._include(exc, seen)
            for key in (part.codes if part else {}):
                exp.codes.pop(key, None)
        return exp

    def _add_contains(self, exp: Expansion, contains: list[Any]) -> None:
        for c in contains:
            if isinstance(c, dict):
                if c.get("code") is not None:
                    system = c.get("system") if isinstance(c.get("system"), str) else None
                    exp.codes[(normalise_system(system) or "", str(c["code"]))] = c.get("display")
                self._add_contains(exp, as_list(c.get("contains")))

    def _include(self, inc: Resource, seen: set[str]) -> Expansion | None:
        result: Expansion | None = None
        system = normalise_system(inc.get("system")) if isinstance(inc.get("system"), str) else None
        if system:
            result = self._from_system(system, inc)
        for vs_url in as_list(inc.get("valueSet")):
            other = self.expand_canonical(vs_url, seen) if isinstance(vs_url, str) else None
            if other is None:
                return None
            result = other if result is None else _intersect(result, other)
        return result or Expansion()

    def _from_system(self, system: str, inc: Resource) -> Expansion:
        exp = Expansion()
        cs = resolve(self.registry, system, "CodeSystem")
        concepts = _concepts(cs) if cs and cs.get("content") in (None, "complete", "fragment") else {}
        listed = inc.get("concept")
        if listed:
            for c in listed:
                if isinstance(c, dict) and isinstance(c.get("code"), str):
                    known = concepts.get(c["code"], {})
                    exp.codes[(system, c["code"])] = c.get("display") or known.get("display")
            return exp
        if not concepts:
            exp.whole_systems.add(system)
            return exp
        selected = {code for code in concepts if _matches_filters(cs or {}, concepts, code, as_list(inc.get("filter")))}
        for code in selected:
            exp.codes[(system, code)] = concepts[code].get("display")
        return exp


def _intersect(a: Expansion, b: Expansion) -> Expansion:
    out = Expansion(whole_systems=a.whole_systems & b.whole_systems)
    for key, disp in a.codes.items():
        if key in b.codes or key[0] in b.whole_systems:
            out.codes[key] = disp
    for key, disp in b.codes.items():
        if key[0] in a.whole_systems:
            out.codes[key] = disp
    return out


def _parents(cs: Resource, concepts: dict[str, Resource]) -> dict[str, set[str]]:
    parents: dict[str, set[str]] = {}

    def walk(items: list[Any], parent: str | None) -> None:
        for c in items:
            if isinstance(c, dict) and isinstance(c.get("code"), str):
                if parent:
                    parents.setdefault(c["code"], set()).add(parent)
                walk(as_list(c.get("concept")), c["code"])

    walk(as_list(cs.get("concept")), None)
    for code, c in concepts.items():
        for p in as_list(c.get("property")):
            if p.get("code") in ("parent", "subsumedBy") and isinstance(p.get("valueCode"), str):
                parents.setdefault(code, set()).add(p["valueCode"])
    return parents


def _ancestors(code: str, parents: dict[str, set[str]]) -> set[str]:
    out: set[str] = set()
    stack = [code]
    while stack:
        for p in parents.get(stack.pop(), ()):
            if p not in out:
                out.add(p)
                stack.append(p)
    return out


def _matches_filters(cs: Resource, concepts: dict[str, Resource], code: str, filters: list[Any]) -> bool:
    for f in filters:
        if not isinstance(f, dict):
            return False
        prop, op, value = f.get("property"), f.get("op"), str(f.get("value", ""))
        if op in ("is-a", "descendent-of", "is-not-a"):
            anc = _ancestors(code, _parents(cs, concepts))
            hit = value in anc or (op == "is-a" and code == value)
            if (op == "is-not-a") == hit:
                return False
        elif op == "=":
            if prop in ("concept", "code"):
                if code != value:
                    return False
            elif not any(p.get("code") == prop and value in (str(v) for k, v in p.items() if k.startswith("value"))
                         for p in as_list(concepts[code].get("property"))):
                return False
        elif op == "regex":
            if not re.fullmatch(value, code):
                return False
        elif op == "in":
            if code not in value.split(","):
                return False
        else:
            return False  # an operator we cannot evaluate selects nothing rather than everything
    return True
