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


@lru_cache(maxsize=1024)
def check_xpath(xpath: str, namespaces: tuple[tuple[str, str], ...]) -> str | None:
    declared = dict(namespaces)
    missing = undeclared_prefixes(xpath, declared)
    if missing:
        return (f"the prefix {', '.join(repr(p) for p in missing)} is not declared in 'namespaces' "
                f"(declared: {', '.join(sorted(declared)) or 'none'})")
    try:
        # Evaluated once on an empty element: lxml reports unknown functions and wrong
        # argument counts only when an expression runs.
        etree.XPath(xpath, namespaces=declared)(etree.Element("probe"))
    except etree.XPathError as exc:
        return f"XPath 1.0 says: {exc}"
    return None


def _check_json(selector: str) -> str | None:
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
