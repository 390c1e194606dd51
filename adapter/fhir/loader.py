"""Reading conformance resources from what users have: files, folders and FHIR packages, JSON or XML.

As the HL7 validator's ``-ig``: a single resource file (JSON or XML; a Bundle's entries are taken
one by one), a folder (every ``*.json`` and ``*.xml`` below it), or a FHIR NPM package ``.tgz``
(https://confluence.hl7.org/display/FHIR/NPM+Package+Specification: the files under ``package/``),
in any mix. XML is parsed as safely as any input (:mod:`adapter.fhir.parse`: no DTD, no entities,
no network), with a larger size limit, since definitions can be large; JSON with the standard
library, as the registry always read it.

Nothing is skipped silently: a file named on its own that cannot be read, is not FHIR, or holds no
conformance resource is a :class:`DefinitionSourceError` naming that file; inside a folder or a
package every ``.json``/``.xml`` file must be readable FHIR (the error names the file inside),
while instances that are not definitions (a package's ``example/`` folder) are left out.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from adapter import errors, messages
from adapter.fhir import parse
from adapter.settings import Limits

Resource = dict[str, Any]

CONFORMANCE_TYPES = frozenset({
    "Questionnaire", "StructureDefinition", "ValueSet", "CodeSystem", "NamingSystem",
    "ConceptMap", "ImplementationGuide", "SearchParameter", "CapabilityStatement",
    "MessageDefinition", "OperationDefinition", "Measure",
})
# Package metadata, not resources (NPM package specification).
_NOT_RESOURCES = frozenset({"package.json", ".index.json"})
_SUFFIXES = (".json", ".xml")
_DEFINITION_LIMITS = Limits(max_body_bytes=256 * 1024 * 1024, max_xml_depth=128)


class DefinitionSourceError(errors.InputRejected):
    """A definition source (``--ig``) cannot be used; ``source`` names the file."""

    message_id = "LISN_VALIDATION_IG_UNREADABLE"

    def __init__(self, source: str, reason: str) -> None:
        self.source = source
        self.reason = reason
        super().__init__(messages.bilingual("LISN_VALIDATION_IG_UNREADABLE", source=source, reason=reason))


def read_definitions(path: str | Path) -> Iterator[Resource]:
    """The conformance resources of one source: a file, a folder or a package ``.tgz``."""
    p = Path(path)
    if p.is_dir():
        for f in sorted(p.rglob("*")):
            if f.is_file() and f.suffix in _SUFFIXES and f.name not in _NOT_RESOURCES:
                yield from _resources(_read(f), str(f), alone=False)
    elif p.name.endswith((".tgz", ".tar.gz")):
        yield from _package(p)
    elif p.is_file():
        yield from _resources(_read(p), str(p), alone=True)
    else:
        raise DefinitionSourceError(str(p), "no such file or folder")


def _read(p: Path) -> bytes:
    try:
        return p.read_bytes()
    except OSError as exc:
        raise DefinitionSourceError(str(p), exc.strerror or type(exc).__name__) from None


def _package(p: Path) -> Iterator[Resource]:
    import tarfile  # here: only a package needs it (about 4 ms to import)

    try:
        with tarfile.open(p, "r:gz") as tar:
            members = [m for m in tar.getmembers() if m.isfile() and m.name.startswith("package/")
                       and m.name.endswith(_SUFFIXES) and m.name.rsplit("/", 1)[-1] not in _NOT_RESOURCES]
            files = [(m.name, tar.extractfile(m)) for m in members]
            read = [(name, fh.read()) for name, fh in files if fh is not None]
    except (OSError, tarfile.TarError, EOFError) as exc:
        raise DefinitionSourceError(str(p), f"not a readable package ({type(exc).__name__})") from None
    if not read:
        raise DefinitionSourceError(str(p), "no FHIR resources under package/")
    for name, raw in read:
        yield from _resources(raw, f"{p}:{name}", alone=False)


def _resources(raw: bytes, origin: str, *, alone: bool) -> Iterator[Resource]:
    data = _parsed(raw, origin)
    found = data.get("resourceType")
    if not isinstance(found, str):
        if alone:
            raise DefinitionSourceError(origin, "not a FHIR resource (no resourceType)")
        return  # JSON that is not a resource (a package's openapi/ or other files)
    items = [e.get("resource") for e in data.get("entry") or [] if isinstance(e, dict)] \
        if found == "Bundle" else [data]
    kept = [r for r in items if isinstance(r, dict) and r.get("resourceType") in CONFORMANCE_TYPES]
    if alone and not kept:
        raise DefinitionSourceError(origin, f"not a conformance resource ({found})")
    yield from kept


def _json(raw: bytes, origin: str) -> Any:
    # Definitions are the user's own files, read as the registry always read them (json.loads):
    # not held to the input rules of submissions (control characters in a text, nesting limits).
    try:
        return json.loads(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise DefinitionSourceError(origin, f"not valid JSON ({type(exc).__name__}: {str(exc)[:120]})") from None


def _parsed(raw: bytes, origin: str) -> Resource:
    kind = parse.sniff(raw)
    try:
        if kind == "json":
            data = _json(raw, origin)
        elif kind == "xml":
            from adapter.fhir.xmljson import xml_to_json  # only XML definitions pay for the XML reader

            data = xml_to_json(parse.parse_xml(raw, _DEFINITION_LIMITS))
        else:
            raise DefinitionSourceError(origin, "neither JSON nor XML")
    except DefinitionSourceError:
        raise
    except errors.InputRejected as exc:
        raise DefinitionSourceError(origin, str(exc)) from None
    if not isinstance(data, dict):
        raise DefinitionSourceError(origin, "not a FHIR resource (not an object)")
    return data
