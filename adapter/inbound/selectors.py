"""Selector checks and diagnostics: say *why* a selector is wrong, when the mapping file is read.

An XPath with an undeclared prefix, a function lxml does not know, or a wrong number of
arguments is found before any document arrives, and the message names the prefix (with the
declared ones) or lxml's reason. A wrong root says what the document's root actually is.
"""

from __future__ import annotations

import re
from functools import lru_cache

from lxml import etree

# QName prefixes in an XPath, outside string literals: "gn:" but not the axis "self::".
_PREFIX = re.compile(r"(?<![\w.:-])([A-Za-z_][\w.-]*):(?!:)(?=[A-Za-z_*])")
_LITERAL = re.compile(r"'[^']*'|\"[^\"]*\"")
_JSON_STEP = re.compile(r"[^.\[\]]+(?:\[[^\]]*\])*")

# What a selector may do (issue 13): read the document it is given, in bounded time. Only XPath
# 1.0's own functions (no prefixed extension such as EXSLT's re: or str:, which sources.py does
# not register either), at most one descendant step, predicates nested at most two deep.
MAX_SELECTOR_LENGTH = 300
_CORE_FUNCTIONS = frozenset({
    "last", "position", "count", "id", "local-name", "namespace-uri", "name", "string", "concat",
    "starts-with", "contains", "substring-before", "substring-after", "substring", "string-length",
    "normalize-space", "translate", "boolean", "not", "true", "false", "lang", "number", "sum",
    "floor", "ceiling", "round",
    "text", "node", "comment", "processing-instruction"})  # node tests, written like calls
_CALL = re.compile(r"([A-Za-z_][\w.-]*(?::[A-Za-z_][\w.-]*)?)\s*\(")


def undeclared_prefixes(xpath: str, namespaces: dict[str, str]) -> list[str]:
    bare = _LITERAL.sub("''", xpath)
    return sorted({p for p in _PREFIX.findall(bare) if p not in namespaces and p != "xml"})


def check(syntax: str, selector: str, namespaces: dict[str, str], *, root: bool = False) -> str | None:
    """Why ``selector`` cannot work in ``syntax`` (None when it can)."""
    if syntax == "xml":
        return check_xpath(f"self::{selector}" if root else selector, tuple(sorted(namespaces.items())))
    if syntax in ("json", "fhir"):
        return _check_json(selector)
    return None if selector.strip() else "it is empty"


def _bounds(xpath: str) -> str | None:
    """Why ``xpath`` could read more than its document, or run unbounded (None when it cannot)."""
    if len(xpath) > MAX_SELECTOR_LENGTH:
        return f"it is longer than {MAX_SELECTOR_LENGTH} characters"
    bare = _LITERAL.sub("''", xpath)
    for name in _CALL.findall(bare):
        if name not in _CORE_FUNCTIONS:
            return (f"the function '{name}' is not allowed: a selector reads only its document "
                    f"(XPath 1.0 core functions)")
    if bare.count("//") + bare.count("descendant") > 1:
        return "it has more than one descendant step ('//'): its cost would grow with the document's size"
    depth = deepest = 0
    for ch in bare:
        depth += (ch == "[") - (ch == "]")
        deepest = max(deepest, depth)
    if deepest > 2:
        return "its predicates are nested more than two deep"
    return None


@lru_cache(maxsize=1024)
def check_xpath(xpath: str, namespaces: tuple[tuple[str, str], ...]) -> str | None:
    bounded = _bounds(xpath)
    if bounded:
        return bounded
    declared = dict(namespaces)
    missing = undeclared_prefixes(xpath, declared)
    if missing:
        return (f"the prefix {', '.join(repr(p) for p in missing)} is not declared in 'namespaces' "
                f"(declared: {', '.join(sorted(declared)) or 'none'})")
    try:
        # Evaluated once on an empty element: lxml reports unknown functions and wrong
        # argument counts only when an expression runs.
        etree.XPath(xpath, namespaces=declared, regexp=False)(etree.Element("probe"))
    except etree.XPathError as exc:
        return f"XPath 1.0 says: {exc}"
    return None


def _check_json(selector: str) -> str | None:
    if len(selector) > MAX_SELECTOR_LENGTH:
        return f"it is longer than {MAX_SELECTOR_LENGTH} characters"
    pos = 0
    while pos < len(selector):
        m = _JSON_STEP.match(selector, pos)
        if not m:
            return f"cannot read the path at position {pos}"
        for f in re.findall(r"\[([^\]]*)\]", m.group(0)):
            if f not in ("", "*") and not f.lstrip("-").isdigit() and "=" not in f:
                return f"the filter [{f}] must be [n], [*] or [key=value]"
        pos = m.end()
        if pos < len(selector):
            if selector[pos] != ".":
                return f"expected '.' at position {pos}"
            pos += 1
    if selector.count("[") != selector.count("]"):
        return "unbalanced brackets"
    return None


def describe_root(root: etree._Element, expected: str, namespaces: dict[str, str]) -> dict[str, str]:
    """What a document's root is, against what the mapping expects (for LISN_MAP_ROOT_UNEXPECTED)."""
    found = etree.QName(root)
    prefix, _, local = expected.rpartition(":")
    return {"expected": expected, "expectedNamespace": namespaces.get(prefix, "-") if prefix else "-",
            "found": found.localname, "foundNamespace": found.namespace or "-",
            "hint": _hint(found, local, namespaces.get(prefix))}


def _hint(found: etree.QName, local: str, namespace: str | None) -> str:
    if found.localname == local and found.namespace != namespace:
        return "same element name, another namespace (another version of the schema?)"
    if found.localname != local and found.namespace == namespace:
        return "another element of the same namespace"
    return "another kind of document"
