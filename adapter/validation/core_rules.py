"""Rules of the R4 data types that the definitions state in prose, not as FHIRPath.

Checked natively, as the HL7 validator does (its message ids): Extension.url present and
absolute (https://hl7.org/fhir/R4/extensibility.html#extension), Coding.system and
Identifier.system absolute and not a ValueSet (https://hl7.org/fhir/R4/datatypes.html#Coding),
Attachment.size agreeing with the data, the narrative's XHTML (https://hl7.org/fhir/R4/narrative.html#xhtml),
``uri`` values that are not ``oid:``/``uuid:`` shorthands, contained resources that are referenced
(dom-3, :func:`check_contained`), MIME types by their grammar (BCP-13), and required bindings to the core
ValueSets that can be expanded without a terminology server (:func:`check_binding`).
"""

from __future__ import annotations

import base64
import binascii
import re
from functools import cache
from typing import Any

from adapter.fhir import definitions as defs
from adapter.fhir.xhtml import xhtml_problems
from adapter.issues import Issues
from adapter.validation import bundle_rules

# BCP-13 (RFC 6838 §4.2 names, RFC 2045 parameters): the MIME types ValueSet is a grammar, not a
# list, so a code that does not parse cannot be a member; one that parses is accepted.
MIME_TYPES = "http://hl7.org/fhir/ValueSet/mimetypes"
_TOKEN = r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+\-]{0,126}"
_MIME = re.compile(rf"{_TOKEN}/{_TOKEN}(\s*;\s*[A-Za-z0-9!#$&^_.+\-]+=(\"[^\"]*\"|[A-Za-z0-9!#$&^_.+\-]+))*")
_ABSOLUTE = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:\S")
_VALUESET_BASES = ("http://hl7.org/fhir/ValueSet/", "http://terminology.hl7.org/ValueSet/")


# The types :func:`check_type` has rules for.
TYPES_WITH_RULES = frozenset({"Extension", "Coding", "Identifier", "Attachment", "Narrative", "Bundle"})


def check_type(type_name: str | None, obj: dict[str, Any], path: str, issues: Issues, *, nested: bool) -> None:
    """The prose rules of ``type_name`` on one value of it (``nested``: an extension inside an extension)."""
    if type_name == "Extension":
        _extension(obj, path, issues, nested)
    elif type_name == "Coding":
        _system(obj.get("system"), f"{path}.system", issues, "Terminology_TX_System_Relative", coding=True)
    elif type_name == "Identifier":
        _system(obj.get("system"), f"{path}.system", issues, "Type_Specific_Checks_DT_Identifier_System",
                coding=False)
    elif type_name == "Attachment":
        _attachment(obj, path, issues)
    elif type_name == "Narrative":
        check_xhtml(obj.get("div"), f"{path}.div", issues)
    elif type_name == "Bundle":
        bundle_rules.check_bundle(obj, path, issues)


def quiet_source(type_name: str | None, keys: tuple[str, ...], nested: bool) -> str | None:
    """A Python condition on ``obj``, an object of ``type_name`` with the keys ``keys``, under which
    :func:`check_type` reports nothing; ``"True"`` when it never does on such an object, None when
    no condition is known (the call is made). For the generated visits (adapter.validation.walkgen),
    which then call :func:`check_type` only when the condition fails: a system or url that starts
    with a usual scheme is absolute (:func:`absolute`), and without a ``system`` key there is
    nothing to check."""
    if type_name in ("Coding", "Identifier"):
        if "system" not in keys:
            return "True"  # (_system of None: nothing)
        test = f"type(obj['system']) is str and obj['system'].startswith({_USUAL_SCHEMES!r})"
        return f"{test} and not obj['system'].startswith({_VALUESET_BASES!r})" if type_name == "Coding" else test
    if type_name == "Extension" and "url" in keys:
        test = "type(obj['url']) is str"
        return test if nested else f"{test} and obj['url'].startswith({_USUAL_SCHEMES!r})"
    return None


def absolute(url: str) -> bool:
    # (the usual schemes first: each is a scheme, a colon and a character that is no space)
    return url.startswith(_USUAL_SCHEMES) or bool(_ABSOLUTE.match(url))


_USUAL_SCHEMES = ("http://", "https://", "urn:oid:", "urn:uuid:")


def _extension(obj: dict[str, Any], path: str, issues: Issues, nested: bool) -> None:
    url = obj.get("url")
    if not isinstance(url, str):
        issues.add("Extension_EXT_Url_NotFound", expression=path, code="structure")
    elif not nested:  # a complex extension's parts are named by relative urls ("species")
        issues.check(absolute(url), "Extension_EXT_URL_Absolute", expression=path, code="value")


def _system(system: Any, where: str, issues: Issues, message_id: str, *, coding: bool) -> None:
    if not isinstance(system, str) or not system:
        return
    if not absolute(system):
        issues.add(message_id, expression=where, code="value")
    elif coding and system.startswith(_VALUESET_BASES):
        issues.add("Terminology_TX_System_ValueSet2", expression=where, code="value", system=system)


def _attachment(obj: dict[str, Any], path: str, issues: Issues) -> None:
    data, size = obj.get("data"), obj.get("size")
    if not isinstance(data, str) or not data:
        return
    try:
        decoded = base64.b64decode("".join(data.split()), validate=True)
    except (binascii.Error, ValueError):
        return  # reported at .data as a base64Binary that does not decode
    if isinstance(size, int) and not isinstance(size, bool):
        issues.check(size == len(decoded), "TYPE_SPECIFIC_CHECKS_DT_ATT_SIZE_CORRECT", expression=f"{path}.size",
                     code="value", stated=size, actual=len(decoded))


def check_xhtml(div: Any, path: str, issues: Issues) -> None:
    """The narrative ``div``: well-formed XHTML, a ``div`` in the XHTML namespace, no active content."""
    if isinstance(div, str) and div:
        for message_id, args in xhtml_problems(div):
            issues.add(message_id, expression=path, code="value", **args)


def check_primitive_rules(type_name: str, el: defs.ElementDef, value: Any, where: str, issues: Issues) -> None:
    """Rules on primitive values beyond their type's expression."""
    if type_name == "uri" and isinstance(value, str):
        issues.check(not value.startswith("oid:"), "Type_Specific_Checks_DT_URI_OID", expression=where, code="value")
        issues.check(not value.startswith("uuid:"), "Type_Specific_Checks_DT_URI_UUID", expression=where,
                     code="value")


def check_binding(value_set: str, value: Any, where: str, issues: Issues) -> None:
    """A required binding to a core ValueSet; one that needs a terminology server is not checked."""
    if value_set == MIME_TYPES:
        if isinstance(value, str):
            issues.check(_MIME.fullmatch(value), "Terminology_TX_NoValid_16", expression=where, code="code-invalid",
                         value=value, valueSet=value_set)
        return
    found = _expansion(value_set)
    if found is None:
        return
    expansion, every_code = found
    if isinstance(value, str):
        issues.check(value in every_code, "Terminology_TX_NoValid_16",
                     expression=where, code="code-invalid", value=value, valueSet=value_set)
    elif isinstance(value, dict) and isinstance(value.get("coding"), list):
        codings = [c for c in value["coding"] if isinstance(c, dict)]
        shown = ", ".join(f"{c.get('system')}#{c.get('code')}" for c in codings)
        issues.check(any(_member(expansion, c) for c in codings), "Terminology_TX_NoValid_1_CC",
                     expression=where, code="code-invalid", valueSet=value_set, codes=shown)
    elif isinstance(value, dict) and ("code" in value or "system" in value):
        issues.check(_member(expansion, value), "Terminology_TX_NoValid_12", expression=where,
                     code="code-invalid", valueSet=value_set, coding=f"{value.get('system')}#{value.get('code')}")


@cache
def _expansion(value_set: str) -> tuple[dict[str, frozenset[str]], frozenset[str]] | None:
    """A core ValueSet's expansion (system -> codes) and every code in it, made once per ValueSet
    (the definitions are kept for good); None when it needs a terminology server."""
    expansion = defs.expansion(value_set)
    if expansion is None:
        return None
    return expansion, frozenset().union(*expansion.values())


def _member(expansion: dict[str, frozenset[str]], coding: dict[str, Any]) -> bool:
    system, code = coding.get("system"), coding.get("code")
    return isinstance(system, str) and isinstance(code, str) and code in expansion.get(system, frozenset())


_LOCAL_LINK = re.compile(r"""\b(?:href|src)\s*=\s*["']#([^"']*)["']""")


def local_references(value: str, el: defs.ElementDef, type_name: str) -> set[str]:
    """The ids a value refers to inside its resource: ``#id`` in a Reference, uri or canonical, and
    the narrative's ``href``/``src`` links (the HL7 validator counts both for dom-3)."""
    if type_name == "xhtml":
        return set(_LOCAL_LINK.findall(value))
    if type_name in ("uri", "url", "canonical") or el.path == "Reference.reference":
        return {value[1:]}
    return set()


def check_contained(resource: dict[str, Any], path: str, local_refs: dict[int, set[str]], issues: Issues) -> None:
    """dom-3, as the HL7 validator checks it (natively: the published FHIRPath is slow and wrong).

    Each contained resource is referenced (``#id``) from the container outside ``contained``, or
    refers to the container (``#``), or is referenced by a contained resource that is.
    """
    contained = resource.get("contained")
    if not isinstance(contained, list):
        return
    base = local_refs.get(id(resource), set())
    items = [c for c in contained if isinstance(c, dict)]
    # (an id that is not a string is its own error, and no reference names it: an object or array
    # there is not hashable, so it is left out before the sets are asked)
    ids = {id(c): c.get("id") if isinstance(c.get("id"), str) else None for c in items}
    reached = {id(c) for c in items if ids[id(c)] in base or "" in local_refs.get(id(c), set())}
    grew = True
    while grew:
        grew = False
        for c in items:
            if id(c) not in reached and any(ids[id(c)] in local_refs.get(id(o), set())
                                           for o in items if id(o) in reached):
                reached.add(id(c))
                grew = True
    for i, entry in enumerate(contained):
        if isinstance(entry, dict) and id(entry) not in reached:
            issues.add("CONTAINED_ORPHAN_DOM3", expression=f"{path}.contained[{i}]", code="invalid",
                       id=str(entry.get("id")))
