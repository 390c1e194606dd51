"""fhirpathpy's parse trees of the FHIRPath expressions the package ships, precomputed (``trees.json``).

fhirpathpy parses with an ANTLR parser: some 2 ms per expression, and importing it (the antlr4
runtime) some 20 ms more. The expressions this package meets on every validation are fixed
(the ``constraint.expression`` and constraint locations of the R4 core definitions and the
profiles, the FHIRPath of the Questionnaires), so ``tools/gen_fhirpath_trees.py`` parses them once
with fhirpathpy and writes the trees here; :func:`adapter.fhirpath.upstream.parse` takes a tree
from this table and parses with fhirpathpy only an expression that is not in it (a user's, an
extra IG's). ``tests/unit/fhirpath/test_trees.py`` parses every entry again and compares, so a
table that is not what fhirpathpy gives fails there.

A tree is plain data (dicts, lists and strings, as fhirpathpy's ``ASTPathListener`` builds
it); in the file each node is a list ``[type, terminalNodeText, text or null, *children]`` with
``type`` an index into ``types``, and each expression maps to the list of its root's children.
Every lookup decodes afresh, so no two callers share a tree. A table written under another
fhirpathpy version (or unreadable) is refused with a warning, and every expression is then parsed
by fhirpathpy: slower, never different.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import logging

FILE = Path(__file__).with_name("trees.json")
FORMAT = 1


def _log() -> logging.Logger:
    import logging  # here: only a warning needs it (about 3 ms to import; issue 15's CLI start)

    return logging.getLogger(__name__)


def encode(tree: dict[str, Any], types: dict[str, int]) -> list[Any]:
    """fhirpathpy's tree (its root: ``{"children": [...]}``) as the table stores it; ``types`` grows."""
    if set(tree) - {"children"}:
        raise ValueError(f"not a parse tree's root: {sorted(tree)}")
    return [_encode_node(child, types) for child in tree.get("children", [])]


def _encode_node(node: dict[str, Any], types: dict[str, int]) -> list[Any]:
    if set(node) - {"type", "terminalNodeText", "text", "children"} or not isinstance(node.get("type"), str):
        raise ValueError(f"not a parse tree node: {sorted(node)}")
    text = node.get("text")
    if "text" in node and not isinstance(text, str):
        raise ValueError(f"a node's text that is not a string: {text!r}")
    index = types.setdefault(node["type"], len(types))
    children = [_encode_node(child, types) for child in node.get("children", [])]
    if "children" in node and not children:
        raise ValueError("a node with an empty list of children")
    return [index, list(node["terminalNodeText"]), text, *children]


def decode(encoded: list[Any], types: list[str]) -> dict[str, Any]:
    """The tree :func:`encode` was given (keys in the order fhirpathpy makes them); its lists of
    terminal texts are those of ``encoded`` (:meth:`Table.get` decodes a freshly read one)."""
    return {"children": [_decode_node(node, types) for node in encoded]} if encoded else {}


def _decode_node(node: list[Any], types: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {"type": types[node[0]], "terminalNodeText": node[1]}
    if node[2] is not None:
        out["text"] = node[2]
    if len(node) > 3:
        out["children"] = [_decode_node(child, types) for child in node[3:]]
    return out


class Table:
    """The precomputed trees by expression text; :meth:`get` gives a fresh tree or None.

    ``trees`` maps an expression to its encoded tree as JSON text, decoded on request: a
    validation meets a fifth of the table, and decoding all of it would cost more than the rest.
    """

    def __init__(self, types: list[str], trees: dict[str, str]) -> None:
        self.types, self.trees = types, trees

    def __contains__(self, text: object) -> bool:
        return text in self.trees

    def __len__(self) -> int:
        return len(self.trees)

    def get(self, text: str) -> dict[str, Any] | None:
        encoded = self.trees.get(text)
        return None if encoded is None else decode(json.loads(encoded), self.types)


EMPTY = Table([], {})
_OPEN = ',"trees":{'
_CLOSE = "}}"


def read(text: str) -> tuple[dict[str, Any], dict[str, str]]:
    """The header and the entries (expression -> encoded tree as JSON text) of the file's text.

    The file is one JSON object written a line per entry (``tools/gen_fhirpath_trees.py``); it is
    read by line so that only the keys are decoded here. Anything else is a ``ValueError``.
    """
    lines = text.split("\n")
    if len(lines) < 3 or not lines[0].endswith(_OPEN) or lines[-2:] != [_CLOSE, ""]:
        raise ValueError("not the generated form (a header line, a line per entry, '}}')")
    header = json.loads(lines[0][:-len(_OPEN)] + "}")
    if not isinstance(header, dict):
        raise ValueError("no header object")
    entries: dict[str, str] = {}
    body = lines[1:-2]
    for number, line in enumerate(body, start=2):
        if number <= len(body):
            if not line.endswith(","):
                raise ValueError(f"line {number}: no ',' after the entry")
            line = line[:-1]
        key, end = _DECODER.raw_decode(line)
        if not isinstance(key, str) or line[end:end + 2] != ":[":
            raise ValueError(f"line {number}: not an expression and its tree")
        entries[key] = line[end + 1:]
    return header, entries


_DECODER = json.JSONDecoder()


def load(version: str, path: Path = FILE) -> Table:
    """The table at ``path`` when it was generated under fhirpathpy ``version``; else, with a
    warning naming the reason, the empty table (every expression then parsed by fhirpathpy)."""
    try:
        header, entries = read(path.read_text(encoding="utf-8"))
        made = header["fhirpathpy"]
        if header.get("format") != FORMAT:
            raise ValueError(f"format {header.get('format')!r}, this adapter reads {FORMAT}")
        types = header["types"]
        if not isinstance(types, list) or header.get("count") != len(entries):
            raise ValueError("no list of types, or not as many entries as the header counts")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        _log().warning("FHIRPath tree table %s not used (%s): every expression is parsed by fhirpathpy", path, exc)
        return EMPTY
    if made != version:
        _log().warning("FHIRPath tree table %s not used: generated under fhirpathpy %s, installed is %s; "
                       "every expression is parsed by fhirpathpy (regenerate: python tools/gen_fhirpath_trees.py)",
                       path, made, version)
        return EMPTY
    return Table([str(t) for t in types], entries)
