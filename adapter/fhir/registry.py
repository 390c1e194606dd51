"""The conformance registry: definitions by canonical URL and version.

A canonical reference is ``url`` or ``url|version`` (FHIR R4 §2.1.0.14,
https://hl7.org/fhir/R4/references.html#canonical). Without a version the
newest version wins (by numeric comparison of dotted versions).

Sources (as the HL7 validator's ``-ig``): a resource file (JSON or XML; a Bundle's
entries are taken one by one), a folder, or a FHIR NPM package ``.tgz``, read by
:mod:`adapter.fhir.loader`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

from adapter.data import data_dir
from adapter.fhir.loader import CONFORMANCE_TYPES, read_definitions

Resource = dict[str, Any]

__all__ = ["CONFORMANCE_TYPES", "Registry", "default_registry", "split_canonical", "version_key"]


def version_key(version: str | None) -> tuple[Any, ...]:
    """Sort key for dotted versions: ``1.10`` after ``1.9``; non-numeric parts sort as text."""
    parts: list[tuple[int, Any]] = []
    for p in (version or "").split("."):
        parts.append((0, int(p)) if p.isdigit() else (1, p))
    return tuple(parts)


def split_canonical(canonical: str) -> tuple[str, str | None]:
    url, _, version = canonical.partition("|")
    return url, (version or None)


_UNKNOWN: Resource = {}  # (not yet in Registry._resolved: only this object is it)
_RESOLVED_KEPT = 1024


class Registry:
    """Conformance resources indexed by ``(url, version)``; also by ``resourceType/id``."""

    def __init__(self, resources: Iterable[Resource] = ()) -> None:
        self._by_url: dict[str, dict[str | None, Resource]] = {}
        self._by_id: dict[str, Resource] = {}
        # url -> the newest version's resource, worked out once per url (dropped when the url gains a version)
        self._newest: dict[str, Resource] = {}
        # (canonical, resource type) -> resolve()'s answer, remembered for the canonicals asked about
        # (a validation asks about the same few some thirty times); forgotten when a url is indexed
        self._resolved: dict[tuple[str, str | None], Resource | None] = {}
        # what other modules work out from the definitions and keep per registry (the profiles a
        # resource's declarations come to, adapter.validation.profiles), forgotten with the answers
        # above; each user bounds its own entries
        self.derived: dict[Any, Any] = {}
        self.sources: list[str] = []
        for r in resources:
            self.add(r)

    # -- loading ---------------------------------------------------------
    def add(self, resource: Resource) -> None:
        if resource.get("resourceType") == "Bundle":
            for entry in resource.get("entry") or []:
                if isinstance(entry, dict) and isinstance(entry.get("resource"), dict):
                    self.add(entry["resource"])
            return
        rtype = resource.get("resourceType")
        if not isinstance(rtype, str) or rtype not in CONFORMANCE_TYPES:
            return
        url, version, rid = resource.get("url"), resource.get("version"), resource.get("id")
        if isinstance(url, str):
            # A malformed version (not a string) is indexed as "no version": the validator reports it.
            self._by_url.setdefault(url, {})[version if isinstance(version, str) else None] = resource
            self._newest.pop(url, None)
            self._resolved.clear()
            self.derived.clear()
        if isinstance(rid, str) and rid:
            self._by_id[f"{rtype}/{rid}"] = resource

    def load_path(self, path: str | Path) -> int:
        """Load a file, folder or package (JSON or XML); returns how many resources were read.

        Raises :class:`adapter.fhir.loader.DefinitionSourceError` naming the file that cannot be used.
        """
        before = self.count()
        for resource in read_definitions(path):
            self.add(resource)
        self.sources.append(str(path))
        return self.count() - before

    # -- lookup ----------------------------------------------------------
    def resolve(self, canonical: str, resource_type: str | None = None) -> Resource | None:
        """The resource for ``url`` or ``url|version`` (newest version when none is given).

        Remembered per registry (the answers of :meth:`looked_up`), at most :data:`_RESOLVED_KEPT` of
        them: the canonicals an input makes up do not grow it without end."""
        if type(canonical) is not str:  # (a caller's wrong value fails in looked_up, as it did)
            return self.looked_up(canonical, resource_type)
        key = (canonical, resource_type)
        found = self._resolved.get(key, _UNKNOWN)
        if found is _UNKNOWN:
            found = self.looked_up(canonical, resource_type)
            if len(self._resolved) < _RESOLVED_KEPT:
                self._resolved[key] = found
        return found

    def looked_up(self, canonical: str, resource_type: str | None = None) -> Resource | None:
        """:meth:`resolve` worked out from the indexes (not remembered)."""
        url, version = split_canonical(canonical)
        versions = self._by_url.get(url)
        if not versions:
            return None
        if version is not None:
            found = versions.get(version)
            if found is None:
                # A version given as major.minor matches major.minor.patch and vice versa.
                for v, r in versions.items():
                    if v and (v.startswith(version + ".") or version.startswith(v + ".")):
                        found = r
                        break
        else:
            found = self._newest.get(url)
            if found is None:
                found = self._newest[url] = versions[max(versions, key=version_key)]
        if found is not None and resource_type and found.get("resourceType") != resource_type:
            return None
        return found

    def versions(self, url: str) -> list[str]:
        """The known versions of ``url``, oldest first."""
        return sorted((v for v in self._by_url.get(url, {}) if v), key=version_key)

    def by_id(self, resource_type: str, rid: str) -> Resource | None:
        return self._by_id.get(f"{resource_type}/{rid}")

    def all(self, resource_type: str | None = None) -> Iterator[Resource]:
        seen: set[int] = set()
        for versions in self._by_url.values():
            for r in versions.values():
                if id(r) not in seen and (resource_type is None or r.get("resourceType") == resource_type):
                    seen.add(id(r))
                    yield r
        for r in self._by_id.values():
            if id(r) not in seen and (resource_type is None or r.get("resourceType") == resource_type):
                seen.add(id(r))
                yield r

    def count(self) -> int:
        return sum(1 for _ in self.all())

    def copy(self) -> Registry:
        other = Registry(self.all())
        other.sources = list(self.sources)
        return other


@lru_cache(maxsize=1)
def _lisn_registry() -> Registry:
    reg = Registry()
    reg.load_path(data_dir("profiles"))
    return reg


def default_registry(extra: Iterable[str | Path] = ()) -> Registry:
    """The LISN profiles (always), plus any extra sources (``--ig``). Returns a fresh copy."""
    reg = _lisn_registry().copy()
    for src in extra:
        reg.load_path(src)
    return reg

