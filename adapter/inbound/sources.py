"""Source readers, one per syntax: XML (XPath), nested JSON (dotted paths), openEHR FLAT.

A reader answers four questions for the engine: which nodes a selector finds under a
context (``select``), the scalar value of a node (``value``), where a node is, written
the way the integrator writes selectors (``location``), and which leaves no rule ever
read (``unread``) — the "not mapped" report. Reading a node marks it and everything
below it as read.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Protocol, cast

from lxml import etree

Scalar = str | int | float | bool


class SelectorError(ValueError):
    """A selector is not valid in its syntax (a bad XPath, an unbalanced bracket)."""


class Source(Protocol):
    root: Any

    def select(self, ctx: Any, selector: str) -> list[Any]: ...

    def value(self, node: Any) -> Scalar | None: ...

    def location(self, node: Any) -> str: ...

    def mark(self, node: Any) -> None: ...

    def unread(self, ignore: Iterable[str]) -> list[str]: ...

    def describe(self, ctx: Any, selector: str) -> str: ...


@lru_cache(maxsize=512)
def _ignore_pattern(pattern: str, separator: str) -> re.Pattern[str]:
    # ``**`` first: escaped it is ``\*\*``, which must not become two single stars.
    parts = [re.escape(chunk).replace(r"\*", f"[^{re.escape(separator)}]*") for chunk in pattern.split("**")]
    return re.compile(".*".join(parts))


def _ignored(location: str, patterns: Iterable[str], separator: str = "/") -> bool:
    """``*`` matches a run of characters within one step (never ``separator``), ``**`` any run
    across steps; everything else, brackets included, is literal."""
    return any(_ignore_pattern(p, separator).fullmatch(location) for p in patterns)


# -- XML ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class XPathValue:
    """The result of an XPath that is not a node-set, with the nodes it was computed from."""

    text: str
    reads: tuple[Any, ...]
    selector: str


_CALL = re.compile(r"^\s*([A-Za-z_][\w.-]*(?::[A-Za-z_][\w.-]*)?)\s*\((.*)\)\s*$", re.S)


def _function_args(xpath: str) -> list[str]:
    """The top-level arguments of ``f(a, b, ...)`` (strings and brackets respected); [] otherwise."""
    m = _CALL.match(xpath)
    if not m:
        return []
    args, depth, quote, start, body = [], 0, "", 0, m.group(2)
    for i, ch in enumerate(body):
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        elif ch == "," and depth == 0:
            args.append(body[start:i])
            start = i + 1
    args.append(body[start:])
    return [a.strip() for a in args if a.strip() and a.strip()[0] not in "'\"0123456789"]


class XmlSource:
    """XPath 1.0 over a parsed document; namespaces come from the mapping file."""

    def __init__(self, root: etree._Element, namespaces: dict[str, str]) -> None:
        self.root = root
        self.namespaces = namespaces
        self._tree = root.getroottree()
        self._prefix = {uri: p for p, uri in reversed(list(namespaces.items()))}
        self._read: set[str] = set()
        self._compiled: dict[str, etree.XPath] = {}
        self._paths: dict[str, str] = {}

    def select(self, ctx: Any, selector: str) -> list[Any]:
        try:
            if selector not in self._compiled:
                # Compiled once per document: a mapping runs the same selector in every repeat.
                self._compiled[selector] = etree.XPath(selector, namespaces=self.namespaces, regexp=False)
            found = self._compiled[selector](ctx)
        except (etree.XPathError, TypeError, ValueError) as exc:
            raise SelectorError(str(exc)) from None
        if isinstance(found, list):
            return list(found)
        if found in ("", None):
            return []
        # A string, number or boolean (concat(), normalize-space(), ...): remember the nodes it
        # read, so that they count as mapped and the value has a location.
        text = str(int(found)) if isinstance(found, float) and found.is_integer() else str(found)
        return [XPathValue(text, self._reads(ctx, selector), selector)]

    def _reads(self, ctx: Any, selector: str) -> tuple[Any, ...]:
        """The nodes the location paths among a function's arguments select (XPath 1.0 §3.2)."""
        out: list[Any] = []
        for arg in _function_args(selector):
            try:
                got = etree.XPath(arg, namespaces=self.namespaces, regexp=False)(ctx)
            except (etree.XPathError, TypeError, ValueError):
                continue
            if isinstance(got, list):
                out.extend(got)
            else:
                out.extend(self._reads(ctx, arg))
        return tuple(out)

    def value(self, node: Any) -> Scalar | None:
        if isinstance(node, XPathValue):
            return node.text.strip() or None
        if isinstance(node, etree._Element):
            # lxml-stubs allow bytes; a parsed tree always yields str.
            text = "".join(cast("Iterator[str]", node.itertext())).strip()
        else:
            text = str(node).strip()
        return text or None

    def location(self, node: Any) -> str:
        if isinstance(node, XPathValue):
            return self.location(node.reads[0]) if node.reads else node.selector
        if isinstance(node, etree._Element):
            return self._path(node)
        parent = getattr(node, "getparent", lambda: None)()
        if parent is None:
            return str(node)
        if getattr(node, "is_attribute", False):
            return f"{self._path(parent)}/@{self._qname(str(node.attrname))}"
        return f"{self._path(parent)}/text()"

    def describe(self, ctx: Any, selector: str) -> str:
        """Where ``selector`` looks from ``ctx``, for an error about a value that is not there."""
        return f"{self.location(ctx)}/{selector}"

    def mark(self, node: Any) -> None:
        if isinstance(node, XPathValue):
            for read in node.reads:
                self.mark(read)
            return
        if isinstance(node, etree._Element):
            self._read.add(self._tree.getpath(node))
            return
        parent = getattr(node, "getparent", lambda: None)()
        if parent is not None:
            suffix = f"/@{node.attrname}" if getattr(node, "is_attribute", False) else ""
            self._read.add(self._tree.getpath(parent) + suffix)

    def unread(self, ignore: Iterable[str]) -> list[str]:
        patterns = list(ignore)
        out = []
        for el, attr in self._leaves():
            if self._is_read(el, attr):
                continue
            where = self._path(el) + (f"/@{self._qname(attr)}" if attr else "")
            if not _ignored(where, patterns):
                out.append(where)
        return out

    def _leaves(self) -> Iterator[tuple[etree._Element, str | None]]:
        for el in self.root.iter():
            if not isinstance(el.tag, str):
                continue  # comments carry no data
            if len(el) == 0 and (el.text or "").strip():
                yield el, None
            for attr in el.attrib:
                yield el, str(attr)

    def _is_read(self, el: etree._Element, attr: str | None) -> bool:
        path = self._tree.getpath(el)
        if attr and f"{path}/@{attr}" in self._read:
            return True
        if path in self._read:
            return True
        return any(self._tree.getpath(a) in self._read for a in el.iterancestors())

    def _qname(self, tag: str) -> str:
        q = etree.QName(tag)
        if q.namespace is None:
            return q.localname
        prefix = self._prefix.get(q.namespace)
        return f"{prefix}:{q.localname}" if prefix else f"*[local-name()='{q.localname}']"

    def _path(self, el: etree._Element) -> str:
        key = self._tree.getpath(el)
        if key not in self._paths:
            self._paths[key] = self._build_path(el)
        return self._paths[key]

    def _build_path(self, el: etree._Element) -> str:
        steps = []
        node: etree._Element | None = el
        while node is not None:
            step = self._qname(node.tag)
            parent = node.getparent()
            ident = node.get("id")
            if ident is not None and "'" not in ident:
                # svar/delsvar are known by their id: the path reads as the integrator wrote it.
                step += f"[@id='{ident}']"
            if parent is not None:
                same = [s for s in parent if s.tag == node.tag and s.get("id") == ident]
                if len(same) > 1:
                    step += f"[{same.index(node) + 1}]"
            steps.append(step)
            node = parent
        return "/" + "/".join(reversed(steps))


# -- nested JSON -------------------------------------------------------------------------------

Path = tuple[str | int, ...]
_SEGMENT = re.compile(r"([^.\[\]]+)((?:\[[^\]]*\])*)")


def _split(selector: str) -> list[tuple[str, list[str]]]:
    segments: list[tuple[str, list[str]]] = []
    pos = 0
    while pos < len(selector):
        m = _SEGMENT.match(selector, pos)
        if not m:
            raise SelectorError(f"cannot read the path at position {pos}")
        segments.append((m.group(1), re.findall(r"\[([^\]]*)\]", m.group(2))))
        pos = m.end()
        if pos < len(selector):
            if selector[pos] != ".":
                raise SelectorError(f"expected '.' at position {pos}")
            pos += 1
    return segments


def json_location(path: Path) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (("." if out else "") + p)
    return out


class JsonSource:
    """Dotted paths over nested JSON, FHIRPath-like: arrays flatten, ``[n]`` picks, ``[key=value]`` filters."""

    def __init__(self, document: Any) -> None:
        self.root: tuple[Path, Any] = ((), document)
        self._read: set[Path] = set()

    def select(self, ctx: Any, selector: str) -> list[Any]:
        nodes: list[tuple[Path, Any]] = [ctx]
        for name, filters in _split(selector):
            step: list[tuple[Path, Any]] = []
            for path, value in nodes:
                if isinstance(value, dict) and name in value:
                    child = value[name]
                    items = ([(path + (name, i), x) for i, x in enumerate(child)]
                             if isinstance(child, list) else [(path + (name,), child)])
                    step.extend(self._filter(items, filters))
            nodes = step
        return nodes

    def _filter(self, items: list[tuple[Path, Any]], filters: list[str]) -> list[tuple[Path, Any]]:
        for f in filters:
            if f in ("", "*"):
                continue
            if f.lstrip("-").isdigit():
                items = items[int(f):int(f) + 1] if int(f) >= 0 else items[int(f):][:1]
                continue
            key, sep, want = f.partition("=")
            if not sep:
                raise SelectorError(f"filter [{f}] must be [n], [*] or [key=value]")
            items = [(p, v) for p, v in items if isinstance(v, dict) and str(v.get(key)) == want]
            # The filter key is structure, not data: reading through it counts as reading it.
            self._read.update(p + (key,) for p, _ in items)
        return items

    def value(self, node: Any) -> Scalar | None:
        value = node[1]
        if isinstance(value, str):
            return value if value.strip() else None
        return value if isinstance(value, (int, float, bool)) else None

    def resource(self, node: Any) -> dict[str, Any] | None:
        """A whole JSON object, for a resource carried over as it is (a Consent)."""
        return node[1] if isinstance(node[1], dict) else None

    def location(self, node: Any) -> str:
        return json_location(node[0])

    def describe(self, ctx: Any, selector: str) -> str:
        where = json_location(ctx[0])
        return f"{where}.{selector}" if where else selector

    def mark(self, node: Any) -> None:
        self._read.add(node[0])

    def unread(self, ignore: Iterable[str]) -> list[str]:
        patterns = list(ignore)
        out = []
        for path in _json_leaves((), self.root[1]):
            if any(path[:n] in self._read for n in range(len(path) + 1)):
                continue
            where = json_location(path)
            if not _ignored(where, patterns, "."):
                out.append(where)
        return out


def _json_leaves(path: Path, value: Any) -> Iterator[Path]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _json_leaves(path + (k,), v)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _json_leaves(path + (i,), v)
    elif value is not None and value != "":
        yield path


# -- openEHR FLAT ------------------------------------------------------------------------------

class FlatSource:
    """openEHR FLAT JSON (``path → value``). Contexts are path prefixes; ``{i}`` enumerates indexes."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.root = ""
        self.doc = document
        self._read: set[str] = set()

    @staticmethod
    def join(ctx: str, selector: str) -> str:
        if not ctx:
            return selector.lstrip("/")
        return ctx + selector if selector.startswith("|") else f"{ctx}/{selector}"

    def select(self, ctx: Any, selector: str) -> list[Any]:
        full = self.join(ctx, selector)
        if "{i}" not in full:
            return [full] if any(_under(k, full) for k in self.doc) else []
        # ``name:{i}`` also matches ``name`` written without an index (FLAT's index 0 may be left out).
        pattern = re.compile("^" + re.escape(full).replace(r":\{i\}", r"(?::(\d+))?").replace(r"\{i\}", r"(\d+)")
                             + r"(?=$|[/|:])")
        found: dict[str, tuple[int, ...]] = {}
        for key in self.doc:
            m = pattern.match(key)
            if m:
                found[m.group(0)] = tuple(int(g or 0) for g in m.groups())
        return sorted(found, key=lambda k: (found[k], k))

    def value(self, node: Any) -> Scalar | None:
        value = self.doc.get(node)
        if isinstance(value, str):
            return value if value.strip() else None
        return value if isinstance(value, (int, float, bool)) else None

    def location(self, node: Any) -> str:
        return str(node)

    def describe(self, ctx: Any, selector: str) -> str:
        return self.join(ctx, selector)

    def mark(self, node: Any) -> None:
        self._read.add(str(node))

    def unread(self, ignore: Iterable[str]) -> list[str]:
        patterns = list(ignore)
        return [k for k in self.doc
                if not any(_under(k, r) for r in self._read) and not _ignored(k, patterns)]


def _under(key: str, prefix: str) -> bool:
    return key == prefix or (key.startswith(prefix) and key[len(prefix)] in "/|:")
