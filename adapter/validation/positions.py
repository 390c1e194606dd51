"""Line and column for issue expressions, from the JSON text the resource was parsed from.

A second, cheap scan of the text (only on the error path) records where every value starts,
keyed by its FHIRPath-like location (``Bundle.entry[1].resource.item[0].answer[0].valueCoding``).
An expression is looked up as is, then with ``value.ofType(X)`` written as ``valueX``, then
by dropping trailing steps until a known location is found.
"""

from __future__ import annotations

import bisect
import re
from typing import Any

from adapter.errors import OperationOutcome

_OFTYPE = re.compile(r"\.value\.ofType\((\w)(\w*)\)")
_WS = " \t\r\n"
_LINE = "http://hl7.org/fhir/StructureDefinition/operationoutcome-issue-line"
_COL = "http://hl7.org/fhir/StructureDefinition/operationoutcome-issue-col"


def add_positions(oo: OperationOutcome, raw: bytes) -> None:
    """Add line/col extensions to every issue whose expression can be found in ``raw``."""
    try:
        text = raw.decode("utf-8-sig")
        spots, root = _Scanner(text).scan()
    except (UnicodeDecodeError, ValueError, IndexError, RecursionError):
        return  # positions are a courtesy; the issues stand without them
    starts = [0] + [i + 1 for i, ch in enumerate(text) if ch == "\n"]
    lines: dict[str, tuple[int, int | None]] = {}
    for path, offset in spots.items():
        line = bisect.bisect_right(starts, offset)
        lines[path] = (line, offset - starts[line - 1] + 1)
    apply_positions(oo, lines, root)


def apply_positions(oo: OperationOutcome, spots: dict[str, tuple[int, int | None]], root: str) -> None:
    """Add line (and column, when known) to each issue from a map of locations (``.item[0]``…)."""
    for iss in oo.get("issue", []):
        for expr in iss.get("expression") or []:
            spot = _lookup(spots, root, expr)
            if spot is not None:
                ext = [{"url": _LINE, "valueInteger": spot[0]}]
                if spot[1] is not None:
                    ext.append({"url": _COL, "valueInteger": spot[1]})
                iss.setdefault("extension", []).extend(ext)
                break


def _lookup(spots: dict[str, Any], root: str, expr: str) -> Any:
    path = _OFTYPE.sub(lambda m: f".value{m.group(1).upper()}{m.group(2)}", expr)
    if not path.startswith(root):
        return None
    path = path[len(root):]
    while True:
        if path in spots:
            return spots[path]
        if not path:
            return None
        cut = max(path.rfind("."), path.rfind("["))
        path = path[:max(cut, 0)]


class _Scanner:
    """Records the offset of every value; the text is already known to be valid JSON."""

    def __init__(self, text: str) -> None:
        self.text, self.i = text, 0
        self.spots: dict[str, int] = {}

    def scan(self) -> tuple[dict[str, int], str]:
        self._skip()
        start = self.i
        root = self._value("")
        self.spots[""] = start
        rtype = root.get("resourceType") if isinstance(root, dict) else None
        return self.spots, str(rtype or "")

    def _skip(self) -> None:
        while self.i < len(self.text) and self.text[self.i] in _WS:
            self.i += 1

    def _value(self, path: str) -> Any:
        self.spots.setdefault(path, self.i)
        ch = self.text[self.i]
        if ch == "{":
            return self._object(path)
        if ch == "[":
            return self._array(path)
        if ch == '"':
            return self._string()
        m = re.compile(r"-?[0-9.eE+\-]+|true|false|null").match(self.text, self.i)
        if not m:
            raise ValueError("not JSON")
        self.i = m.end()
        return m.group(0)

    def _object(self, path: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        self.i += 1
        self._skip()
        while self.text[self.i] != "}":
            key = self._string()
            self._skip()
            self.i += 1  # the colon
            self._skip()
            out[key] = self._value(f"{path}.{key}")
            self._skip()
            if self.text[self.i] == ",":
                self.i += 1
                self._skip()
        self.i += 1
        return {k: v for k, v in out.items() if k == "resourceType"}

    def _array(self, path: str) -> list[Any]:
        self.i += 1
        self._skip()
        n = 0
        while self.text[self.i] != "]":
            self._value(f"{path}[{n}]")
            n += 1
            self._skip()
            if self.text[self.i] == ",":
                self.i += 1
                self._skip()
        self.i += 1
        return []

    def _string(self) -> str:
        m = re.compile(r'"((?:[^"\\]|\\.)*)"', re.S).match(self.text, self.i)
        if not m:
            raise ValueError("not JSON")
        self.i = m.end()
        return m.group(1)
