"""Line and column for issue expressions, from the JSON text the resource was parsed from.

Only on the error path, and in one forward scan of the text: the locations the issues name
(``Bundle.entry[1].resource.item[0].answer[0].valueCoding``, and each shorter location the
look-up may fall back to) are collected first, and the scan records the line and column of those
values only. An expression is looked up as is, then with ``value.ofType(X)`` written as
``valueX``, then by dropping trailing steps until a known location is found.

The scan keeps memory flat whatever the input: no regular expression that keeps a frame per
character or per escape runs over a string value (the end of a string is found with
``str.find``; a skipped value without a backslash is matched by one possessive character class),
no value is copied but object keys, and nesting is an explicit stack, not recursion.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator
from functools import lru_cache
from typing import Any

from adapter.errors import OperationOutcome
from adapter.fhir.parse import decode_utf8_sig

_OFTYPE = re.compile(r"\.value\.ofType\((\w)(\w*)\)")
_CUT = re.compile(r"[.\[]")
# A string (unrolled: no backtracking frame per character) or a bracket.
_STRUCTURE = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]')
# Up to this size a skipped object or array is read by the C decoder (fast; it builds the objects,
# a bounded amount); above it brackets are counted instead, so memory stays flat.
_DECODE_UP_TO = 256 * 1024
_DECODER = json.JSONDecoder()
_LITERAL = re.compile(r"-?[0-9.eE+\-]+|true|false|null")
_WS = " \t\r\n"
_BLANK = re.compile(r"[ \t\r\n]*")
# After a value: blanks, then a comma or a closing bracket. At a key: blanks, then the key (a string,
# unrolled and possessive: no backtracking, no frame per character) and its colon, or the ``}``.
_NEXT = re.compile(r"[ \t\r\n]*+([,\]}])")
_KEY = re.compile(r'[ \t\r\n]*+(?:\}|"([^"\\]*+(?:\\.[^"\\]*+)*+)"[ \t\r\n]*+:)')
# In an object, after a value: blanks, then a comma, blanks and the next key with its colon, or the ``}``.
_NEXT_KEY = re.compile(r'[ \t\r\n]*+(?:\}|,[ \t\r\n]*+"([^"\\]*+(?:\\.[^"\\]*+)*+)"[ \t\r\n]*+:)')
_BACKSLASH = "\\"
# In an object, after a key: a plain string (possessive, no backslash: no frame per character) or
# a literal, blanks, then a comma and the next key with its colon, or the ``}``.
_SKIP_TO_NEXT_KEY = re.compile(r'[ \t\r\n]*+(?:"[^"\\]*+"|[\-0-9.eE+]++|true|false|null)[ \t\r\n]*+'
                               r'(?:\}|,[ \t\r\n]*+"([^"\\]*+(?:\\.[^"\\]*+)*+)"[ \t\r\n]*+:)')
# A checked text (valid JSON, no key twice) up to this size, with up to this many issues and wanted
# locations, is searched for the wanted keys directly (_plain_offsets) instead of being scanned.
_PLAIN_UP_TO = 64 * 1024
_PLAIN_ISSUES = 32
_NOT_BRACKETS = re.compile(r"[^\[\]{}]+")
_COLON = re.compile(r"[ \t\r\n]*+:[ \t\r\n]*+")
# In a text without an escaped quote, a key with an escape: from the backslash on, the rest of its
# string (no quote), the closing quote and the colon.
_ESCAPED_KEY = re.compile(r'\\[^"]*+"[ \t\r\n]*+:')
# The usual start of a resource's root object: ``resourceType`` its first key, with a string value
# (no escaped quote in the texts read so: the value's content runs to the next quote).
_HEAD = re.compile(r'\{[ \t\r\n]*+"resourceType"[ \t\r\n]*+:[ \t\r\n]*+"([^"]*+)"')
_INDEX = re.compile(r"\[(0|[1-9][0-9]*)\]")  # an array step as the scan writes it
_BOM = b"\xef\xbb\xbf"
_LINE = "http://hl7.org/fhir/StructureDefinition/operationoutcome-issue-line"
_COL = "http://hl7.org/fhir/StructureDefinition/operationoutcome-issue-col"


def add_positions(oo: OperationOutcome, raw: bytes, *, checked: bool = False) -> None:
    """Add line/col extensions to every issue whose expression can be found in ``raw``.

    ``checked``: ``raw`` was read by :func:`adapter.fhir.parse.parse_json` (valid JSON, no key
    twice); in a small text each expression is then followed from the root (:func:`_walked`), or,
    where a key holds a step separator, the wanted keys are searched for (:func:`_plain_offsets`).
    """
    # Each issue's expressions are normalised where they are used, not kept in a list of lists: with
    # many issues (an error path) that copy was a large part of the memory positions take.
    issues = oo.get("issue", [])
    for iss in issues:  # (a loop, not any() over a generator: that costs some 4,000 instructions)
        if iss.get("expression"):
            break
    else:
        return  # no issue names a location: nothing to look up
    if checked and len(raw) <= _PLAIN_UP_TO and len(issues) <= _PLAIN_ISSUES:
        try:  # (decode_utf8_sig written out)
            text = (raw[3:] if raw.startswith(_BOM) else raw).decode("utf-8")
        except UnicodeDecodeError:
            return
        if ROUTE_SHORT and _routed(issues, text):
            return
        if _walked(issues, text):
            return
        paths = [[_normalised(expr) for expr in iss.get("expression") or ()] for iss in issues]
        found = _plain_offsets(text, paths)
        if found is not None:
            spots, root = found
            for iss, issue_paths in zip(issues, paths):  # (few issues: each line counted afresh)
                for path in issue_paths:
                    spot = _lookup(spots, root, path)
                    if spot is not None:
                        _place(iss, text, spot)
                        break
            return
    try:
        text = decode_utf8_sig(raw)
        scanner = _Scanner(text, *_wanted_inside(_paths(oo), every_split=False))
        scanner.walk()
        if "." in scanner.root or "[" in scanner.root:  # an odd root type: its name holds a step separator
            scanner = _Scanner(text, *_wanted_inside(_paths(oo), every_split=True))
            scanner.walk()
    except (UnicodeDecodeError, ValueError, IndexError, RecursionError):
        return  # positions are a courtesy; the issues stand without them
    # Line and column are worked out only for the locations an issue takes (not every prefix found).
    _apply(oo, _paths(oo), scanner.offsets, scanner.root, scanner.line_col)


def _paths(oo: OperationOutcome) -> Iterator[list[str]]:
    """Each issue's expressions, normalised (one issue at a time)."""
    return ([_normalised(expr) for expr in iss.get("expression") or []] for iss in oo.get("issue", []))


def _wanted(oo: OperationOutcome, *, every_split: bool) -> set[str]:
    """Every location the look-up may try, relative to the root (and each shorter one).

    The root's ``resourceType`` is read by the scan itself. A type without ``.`` or ``[`` (every
    real one) is an expression's first step, so the rest of the expression is what is looked up
    (a root that matches only part of the first step finds nothing but the root itself, ``""``).
    For any other root the scan is repeated with the expressions split at each of their steps.
    """
    return set(_wanted_inside(_paths(oo), every_split=every_split)[0])


def _wanted_inside(paths: Iterable[list[str]], *, every_split: bool) -> tuple[dict[str, str], set[str]]:
    """:func:`_wanted` (of each issue's normalised expressions), and those of its locations that
    hold another wanted one (the scan enters only these).

    The wanted locations are a dict of each to itself: the scan files its finds under these very
    strings (one copy of each location, not the scan's own as well)."""
    wanted, inside = {"": ""}, {""}
    for issue_paths in paths:
        for path in issue_paths:
            for part, holds in _locations(path, every_split):
                part = wanted.setdefault(part, part)  # one string for both sets
                if holds:
                    inside.add(part)
    return wanted, inside


@lru_cache(maxsize=4096)
def _locations(path: str, every_split: bool) -> tuple[tuple[str, bool], ...]:
    """The locations :func:`_wanted_inside` takes from one normalised expression, each with whether
    it holds another of them (remembered: the same expressions come back from one validation to
    the next). In the order they were always added, so that the first string of each is kept."""
    cuts = [m.start() for m in _CUT.finditer(path)]
    cuts.append(len(path))
    out: list[tuple[str, bool]] = []
    for i, start in enumerate(cuts if every_split else cuts[:1]):
        ends = cuts[i:]
        last = len(ends) - 1
        for n, end in enumerate(ends):
            out.append((path[start:end], n < last))
    return tuple(out)


def _normalised(expr: str) -> str:
    if ".ofType(" not in expr:
        return expr
    return _choice_written_out(expr)


@lru_cache(maxsize=4096)
def _choice_written_out(expr: str) -> str:
    """``value.ofType(X)`` written as ``valueX`` (remembered: the same expressions come back from
    one validation to the next, and each is normalised twice, for the scan and for the look-up)."""
    return _OFTYPE.sub(lambda m: f".value{m.group(1).upper()}{m.group(2)}", expr)


def apply_positions(oo: OperationOutcome, spots: dict[str, tuple[int, int | None]], root: str) -> None:
    """Add line (and column, when known) to each issue from a map of locations (``.item[0]``…)."""
    _apply(oo, [[_normalised(expr) for expr in iss.get("expression") or []] for iss in oo.get("issue", [])],
           spots, root)


def _apply(oo: OperationOutcome, paths: Iterable[list[str]], spots: dict[str, Any], root: str,
           line_col: Callable[[int], tuple[int, int | None]] | None = None) -> None:
    """:func:`apply_positions` with each issue's expressions already normalised (``paths``); with
    ``line_col``, ``spots`` holds offsets in the text, and those the issues take are turned into
    line and column in increasing order (each newline counted once, however the issues are ordered)."""
    issues = oo.get("issue", [])
    taken = [next((spot for spot in (_lookup(spots, root, path) for path in issue_paths) if spot is not None), None)
             for issue_paths in paths]
    if line_col is not None:
        at = {offset: line_col(offset) for offset in sorted({spot for spot in taken if spot is not None})}
        taken = [None if spot is None else at[spot] for spot in taken]
    for iss, spot in zip(issues, taken):
        if spot is not None:
            ext = [{"url": _LINE, "valueInteger": spot[0]}]
            if spot[1] is not None:
                ext.append({"url": _COL, "valueInteger": spot[1]})
            iss.setdefault("extension", []).extend(ext)


def _lookup(spots: dict[str, Any], root: str, path: str) -> Any:
    """The spot of a normalised expression, or of the nearest location holding it."""
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


def _unescaped(key: str) -> str:
    """A key as written between its quotes, unescaped: expressions name it so."""
    return json.loads(f'"{key}"') if "\\" in key else key


def _ancestors(wanted: Iterable[str]) -> set[str]:
    """Every path that may hold a wanted location: each wanted path cut before one of its steps.

    A location's parent is the location cut before its last ``.`` or ``[``; cutting at every
    separator (those inside odd keys too) can only add paths, never miss a parent.
    """
    out: set[str] = set()
    for path in wanted:
        out.update(path[:m.start()] for m in _CUT.finditer(path))
    return out


class _Lines:
    """Line and column of offsets in a text (each newline counted once when asked in increasing order)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.line, self.counted = 1, 0  # the line of offset ``counted``

    def line_col(self, offset: int) -> tuple[int, int | None]:
        """Line and column of ``offset``; called with increasing offsets (counts newlines once)."""
        if offset < self.counted:
            self.line, self.counted = 1, 0
        self.line += self.text.count("\n", self.counted, offset)
        self.counted = offset
        return self.line, offset - self.text.rfind("\n", 0, offset)


class _Scanner(_Lines):
    """Finds where the wanted values start; the text is already known to be valid JSON."""

    def __init__(self, text: str, wanted: set[str] | dict[str, str], inside: set[str] | None = None) -> None:
        """``inside``: the wanted locations that hold another one (worked out when not given).
        ``wanted`` as a dict of each location to itself: the finds are filed under its strings."""
        super().__init__(text)
        self.i = 0
        self.wanted = wanted if isinstance(wanted, dict) else {path: path for path in wanted}
        holders = inside if inside is not None else _ancestors(wanted)
        self.enter = {path for path in wanted if path == "" or path in holders}
        self.offsets: dict[str, Any] = {}  # location -> offset; line and column once the scan is done
        self.root = ""
        self.root_seen = False

    def scan(self) -> tuple[dict[str, tuple[int, int | None]], str]:
        """Line and column of each wanted location found, and the root's ``resourceType``."""
        self.walk()
        # The scan only moves forward: the offsets were found (and are held) in increasing order.
        # Each is replaced by its line and column in place (no second dict, no sorted copy).
        offsets = self.offsets
        for path, offset in offsets.items():
            offsets[path] = self.line_col(offset)
        return offsets, self.root

    def walk(self) -> None:
        """Find the offset of each wanted location (``offsets``) and the root's type (``root``)."""
        text, wanted, offsets = self.text, self.wanted, self.offsets
        # Entered: the root (its ``resourceType`` is read) and the wanted locations with a wanted
        # location inside. A wanted location with nothing wanted inside is recorded and skipped whole.
        enter, count = self.enter, len(wanted)
        small = len(text) <= _DECODE_UP_TO
        # Each frame: [path of the object or array, next array index or None for an object].
        stack: list[list[Any]] = []
        path: str | None = ""
        i = 0
        while path is not None:
            if len(offsets) == count and self.root_seen:
                break  # every wanted location found: the rest of the (valid) text cannot add one
            if text[i] in _WS:
                i = _BLANK.match(text, i).end()  # type: ignore[union-attr]  # ``*`` matches the empty string too
            ch = text[i]
            if path not in enter:  # nothing wanted inside (the wanted set holds every prefix)
                if path in wanted:
                    offsets.setdefault(wanted[path], i)
                if len(stack) == 1 and path == ".resourceType" and ch not in "{[":
                    self.i = i
                    self._scalar(True)
                    i = self.i
                elif ch == '"':  # the commonest value skipped: a string (as _skip_value, without the calls)
                    quote = text.index('"', i + 1)  # most strings hold no escaped quote: their end, at once
                    i = quote + 1 if text[quote - 1] != "\\" else self._string_end(i + 1)
                elif ch in "{[" and small:
                    i = _DECODER.raw_decode(text, i)[1]
                else:
                    self.i = i
                    self._skip_value(ch)
                    i = self.i
            elif ch == "{":
                offsets.setdefault(wanted[path], i)
                m = _KEY.match(text, i + 1)
                if m is None:
                    raise ValueError("not JSON")
                i = m.end()
                key = m.group(1)
                parent = path
                while key is not None:  # the first keys wanted nowhere skipped as below, after a value
                    path = f"{parent}.{_unescaped(key) if _BACKSLASH in key else key}"
                    if path in wanted or path == ".resourceType":
                        break
                    m = _SKIP_TO_NEXT_KEY.match(text, i)
                    if m is None:
                        break
                    i = m.end()
                    key = m.group(1)
                if key is not None:
                    stack.append([parent, None])
                    continue
                # an empty object, or one whose values were all skipped here
            elif ch == "[":
                offsets.setdefault(wanted[path], i)
                i += 1
                if text[i] in _WS:
                    i = _BLANK.match(text, i).end()  # type: ignore[union-attr]
                if text[i] != "]":
                    stack.append([path, 0])
                    path = f"{path}[0]"
                    continue
                i += 1  # an empty array
            else:
                offsets.setdefault(wanted[path], i)
                self.i = i
                self._scalar(len(stack) == 1 and path == ".resourceType")
                i = self.i
            if len(offsets) == count and self.root_seen:
                break  # (as above: the brackets closing here need not be read)
            # After a value: the next one's path, closing the objects and arrays that end here; None at the end.
            path = None
            while stack:
                frame = stack[-1]
                if frame[1] is None:
                    m = _NEXT_KEY.match(text, i)
                    if m is None:
                        raise ValueError("not JSON")
                    i = m.end()
                    key = m.group(1)
                    # A key wanted nowhere with a plain string (no backslash) or a literal for value:
                    # that value and the next key are read in one match, without a turn of the loop.
                    while key is not None:
                        path = f"{frame[0]}.{_unescaped(key) if _BACKSLASH in key else key}"
                        if path in wanted or path == ".resourceType":
                            break
                        m = _SKIP_TO_NEXT_KEY.match(text, i)
                        if m is None:
                            break  # another value: the loop above skips it
                        i = m.end()
                        key = m.group(1)
                    if key is not None:
                        break
                    path = None  # the object ended after values skipped here
                else:
                    m = _NEXT.match(text, i)
                    if m is None:
                        raise ValueError("not JSON")
                    i = m.end()
                    if m.group(1) == ",":
                        frame[1] += 1
                        path = f"{frame[0]}[{frame[1]}]"
                        break
                stack.pop()  # the closing bracket
        self.i = i

    def _scalar(self, is_root_type: bool) -> None:
        if self.text[self.i] == '"':
            start = self.i + 1
            self.i = self._string_end(start)
            if is_root_type:
                self.root, self.root_seen = self.text[start:self.i - 1], True
            return
        m = _LITERAL.match(self.text, self.i)
        if not m:
            raise ValueError("not JSON")
        self.i = m.end()
        if is_root_type:
            self.root, self.root_seen = m.group(0), True

    def _skip_value(self, ch: str) -> None:
        """Past an object or array (strings inside skipped whole, brackets counted) or a scalar."""
        if ch not in "{[":
            self._scalar(False)
            return
        if len(self.text) <= _DECODE_UP_TO:
            self.i = _DECODER.raw_decode(self.text, self.i)[1]  # in C; the objects made are small here
            return
        depth = 0
        text = self.text
        for m in _STRUCTURE.finditer(text, self.i):
            bracket = text[m.start()]  # not m.group(0): that would copy every string skipped
            if bracket in "{[":
                depth += 1
            elif bracket in "}]":
                depth -= 1
                if depth == 0:
                    self.i = m.end()
                    return
        raise ValueError("not JSON")

    def _string_end(self, i: int) -> int:
        """The offset after the closing quote of a string whose content starts at ``i``."""
        text = self.text
        while True:
            quote = text.index('"', i)
            backslashes = quote - 1
            while text[backslashes] == "\\":
                backslashes -= 1
            if (quote - 1 - backslashes) % 2 == 0:
                return quote + 1
            i = quote + 1


# -- a small checked text: the wanted keys searched for -------------------------------------------

# A location's steps to the wanted locations it holds: for each, the key's needle (``"key"``) and
# whether the key holds a step separator, or the array index.
_Keys = tuple[tuple[str, str, bool], ...]
_Indices = tuple[tuple[int, str], ...]


def _walked(issues: list[dict[str, Any]], text: str) -> bool:
    """Add the positions the scan would give to ``issues`` in a small checked ``text`` (valid JSON,
    no key twice), each expression followed from the root one step at a time (:func:`_route`), its
    first steps read in one match where they can be (:func:`_quick_route`); False, with nothing
    added, where this way does not apply: :func:`_plain_offsets`, or the scan, then runs.

    Each issue takes the location of its first expression found, or the nearest location holding
    it (:func:`_lookup`). Where no key of the text holds a step separator that an expression's
    steps could be read across (:func:`_route`'s odd keys), a location is found only from the one
    holding it, so one issue's location does not depend on the others: following each expression
    alone finds what the search for all of them at once (:func:`_plain_offsets`) finds. The usual
    error path of a small document is one to three issues, each with one expression.
    """
    head = _plain_root(text)
    if head is None:
        return False
    start, root = head
    spots: list[int | None] = []
    for iss in issues:
        spot = None
        for expr in iss.get("expression") or ():
            route = _route_from(expr, root)
            if route is None:
                continue
            steps, odd, quick, after = route
            for needle in odd:  # (each looked for as it is: a search of the pattern of them all cost more)
                if needle in text:
                    return False  # a key that holds a separator: the search for every location at once
            spot = start
            if quick is not None:  # the first steps in one match, where the members before each key are plain
                read = quick.match(text, start)
                if read is not None:
                    spot, steps = read.end(), after
            for key, index in steps:
                if key is not None:
                    if text[spot] != "{":
                        break
                    at = _member(text, spot, key)
                elif text[spot] == "[":
                    if index:
                        found = _elements(text, spot, ((index, ""),))
                        at = found[0][1] if found else None
                    else:  # (the usual index: the first element, where the array has one)
                        at = spot + 1
                        if text[at] in _WS:
                            at = _BLANK.match(text, at).end()  # type: ignore[union-attr]
                        if text[at] == "]":
                            at = None
                else:
                    break
                if at is None:
                    break
                spot = at
            break
        spots.append(spot)
    _place_each(issues, spots, text)
    return True


def _place_each(issues: list[Any], spots: list[int | None], text: str) -> None:
    """Line and column of each issue's spot, where it has one (few issues: each line counted afresh;
    :func:`_place` written out)."""
    for iss, spot in zip(issues, spots):
        if spot is not None:
            iss.setdefault("extension", []).extend((
                {"url": _LINE, "valueInteger": text.count("\n", 0, spot) + 1},
                {"url": _COL, "valueInteger": spot - text.rfind("\n", 0, spot)}))


def _place(iss: dict[str, Any], text: str, spot: int) -> None:
    """Give ``iss`` the line and column of offset ``spot`` in ``text`` (each counted afresh: few issues)."""
    iss.setdefault("extension", []).extend((
        {"url": _LINE, "valueInteger": text.count("\n", 0, spot) + 1},
        {"url": _COL, "valueInteger": spot - text.rfind("\n", 0, spot)}))


_Steps = tuple[tuple[str | None, int], ...]


@lru_cache(maxsize=4096)
def _route_from(expr: str, root: str) -> tuple[_Steps, tuple[str, ...], re.Pattern[str] | None, _Steps] | None:
    """:func:`_route` of an issue's expression (as written: normalised here) from a root of type
    ``root``, with :func:`_quick_route` of its steps; None where the normalised expression does
    not start with ``root`` (the scan finds nothing of it). (Remembered as :func:`_route`: one
    look-up per expression instead of the normalisation, the root's removal and that look-up.)"""
    path = _normalised(expr)
    if not path.startswith(root):
        return None
    steps, odd = _route(path[len(root):])
    quick, covered = _quick_route(steps)
    return steps, odd, quick, steps[covered:]


# Blanks, and a member of an object whose value is a string or a literal (no object, no array), with
# the comma after it: in a text without an escaped quote every ``"`` opens or closes a string, so
# these possessive classes read the tokens as they are (no backtracking into a string, no frame
# per character; one per member passed).
_BLANKS_PATTERN = r"[ \t\r\n]*+"
_PLAIN_MEMBER = rf'{_BLANKS_PATTERN}"[^"]*+"{_BLANKS_PATTERN}:{_BLANKS_PATTERN}(?:"[^"]*+"|[-+.0-9A-Za-z]++){_BLANKS_PATTERN},'


def _quick_route(steps: _Steps) -> tuple[re.Pattern[str] | None, int]:
    """A pattern that, matched at the root object, ends where the walk of the first ``covered``
    steps of ``steps`` ends, and that matches only where each key is found after plain members
    (:data:`_PLAIN_MEMBER`) and each index is 0; with ``covered``, the number of steps it reads
    (None, 0: the first step is none of those).

    A key step is the object's opening brace, the plain members before the key (as few as
    needed: no key is in an object twice, so the first such key is the walk's), the key, its colon
    and the blanks up to its value; an index 0 is the opening bracket and the blanks up to a first
    element. Where the members before a key are not all plain the pattern does not match and the
    walk (:func:`_member`, :func:`_elements`) reads every step; a needle with a quote inside
    (never a key of such a text: :func:`_member` finds nothing) ends the pattern before it."""
    parts = []
    for key, index in steps:
        if key is not None and '"' not in key[1:-1]:
            parts.append(rf"\{{(?:{_PLAIN_MEMBER})*?{_BLANKS_PATTERN}{re.escape(key)}{_BLANKS_PATTERN}:{_BLANKS_PATTERN}")
        elif key is None and index == 0:
            parts.append(rf"\[{_BLANKS_PATTERN}(?!\])")
        else:
            break
    return (re.compile("".join(parts)), len(parts)) if parts else (None, 0)


@lru_cache(maxsize=4096)
def _route(rest: str) -> tuple[tuple[tuple[str | None, int], ...], tuple[str, ...]]:
    """The steps from the root to a location (an expression without its root type): each a key's
    needle (``"key"``), or None and an array index; and the starts of the keys (with their opening
    quote: ``"item[``) that would hold a step separator and reach one of its locations from a holder
    further up (``"item[0].answer"``), none when there are none; a text holding one of them is not
    for :func:`_walked`. (Remembered: the same expressions come back.)

    A location the scan would not find ends the steps: ``rest`` not starting at a step separator
    (a root type that is only the start of the expression's first step) has none, and an index
    that is not one (``[01]``) ends them there."""
    if not rest or rest[0] not in ".[":
        return (), ()
    steps: list[tuple[str | None, int]] = []
    before = ""
    for part, _ in _locations(rest, False)[1:]:  # (the first: "", the root itself)
        if part[len(before)] == ".":
            steps.append((f'"{part[len(before) + 1:]}"', 0))
        else:
            index = _INDEX.fullmatch(part, len(before))
            if index is None:
                break
            steps.append((None, int(index.group(1))))
        before = part
    keys, _ = _steps(rest)
    # Each such key is a key of these steps followed by a separator: its start (``"item[``) is looked for.
    odd = {needle[:1 + len(needle[1:].replace("[", ".").split(".")[0]) + 1]
           for holder_steps in keys.values() for needle, _, is_odd in holder_steps if is_odd}
    return tuple(steps), tuple(sorted(odd))


def _plain_root(text: str) -> tuple[int, str] | None:
    """Where the root object of a small checked text starts and its ``resourceType`` as the scan
    reads it; None where the searched ways do not apply (an escaped quote or a key with an escape,
    a root that is not an object or whose type holds a step separator). Where ``resourceType`` is
    the root's first key, with a string value, it is read in one match (:data:`_HEAD`); else it is
    looked for as any key (:func:`_member`)."""
    if "\\" in text and ('\\"' in text or _ESCAPED_KEY.search(text)):
        return None
    start = 0 if text[0] == "{" else _BLANK.match(text).end()  # type: ignore[union-attr]  # (``*``: always a match)
    head = _HEAD.match(text, start)
    if head is not None:  # (the usual layout: read in one match)
        root = head.group(1)
        return None if "." in root or "[" in root else (start, root)
    if text[start] != "{":
        return None
    root = ""
    at = _member(text, start, '"resourceType"')
    if at is not None:
        first = text[at]
        if first == '"':
            root = text[at + 1:text.index('"', at + 1)]
        elif first not in "{[":
            root = _LITERAL.match(text, at).group(0)  # type: ignore[union-attr]  # (valid JSON)
        if "." in root or "[" in root:
            return None  # an odd root type: the scan's way (the expressions split at each step)
    return start, root


def _plain_offsets(text: str, paths: list[list[str]]) -> tuple[dict[str, int], str] | None:
    """The offsets of the wanted locations of ``paths`` and the root's type, as the scan
    (:meth:`_Scanner.walk`) finds them, in a valid JSON text without a key twice; None where this
    way does not apply (an escaped quote or a key with an escape, a root that is not an object or
    whose type holds a step separator): the scan then runs.

    Without an escaped quote every ``"`` opens or closes a string, so a key is found with
    ``str.find`` and told from a string value by the count of quotes before it and the colon
    after it, and from a key of a nested object by the brackets outside strings between the
    object's start and it (:func:`_member`). Each wanted location is looked for as a key (or an
    index) of each wanted location that holds it (:func:`_steps`) and was found, as the scan
    enters those; with a key that holds a step separator two of them may be the same location,
    and as in the scan the first in the text counts.
    """
    head = _plain_root(text)
    if head is None:
        return None
    start, root = head
    keys: dict[str, _Keys] | None = None
    indices: dict[str, _Indices] = {}
    for issue_paths in paths:
        for path in issue_paths:
            path_keys, path_indices = _steps(path)
            if keys is None:
                keys, indices = path_keys, path_indices  # (one expression: its own tables, as they are)
                continue
            if path_keys is keys:
                continue
            keys, indices = {**keys}, {**indices}
            for holder, steps in path_keys.items():
                keys[holder] = tuple(dict.fromkeys(keys.get(holder, ()) + steps))
            for holder, elements in path_indices.items():
                indices[holder] = tuple(sorted(set(indices.get(holder, ()) + elements)))
    if keys is None:
        keys = {}
    offsets = {"": start}
    todo = [("", start)]
    while todo:  # (loops, not comprehensions: each of those is a call)
        path, start = todo.pop()
        found: list[tuple[str, int | None]] = []
        if text[start] == "{":
            for needle, location, odd in keys.get(path, ()):
                if not odd or needle in text:
                    found.append((location, _member(text, start, needle)))
        elif path in indices:
            found.extend(_elements(text, start, indices[path]))
        for location, at in found:
            if at is not None:
                if at < offsets.get(location, at + 1):
                    offsets[location] = at
                if text[at] in "{[" and (location in keys or location in indices):
                    todo.append((location, at))
    return offsets, root


@lru_cache(maxsize=4096)
def _steps(path: str) -> tuple[dict[str, _Keys], dict[str, _Indices]]:
    """The locations :func:`_locations` takes from one normalised expression (``every_split``
    false), each with the steps from it to the others it holds: keys, and indices (increasing).

    The scan enters a location that holds another wanted one and forms each member's location
    as the location, ``.`` and the key (``[i]`` for an element); so a location is found from each
    shorter one with such a step between them (a key may hold ``.`` or ``[``)."""
    parts = [part for part, _ in _locations(path, False)]
    keys: dict[str, list[tuple[str, str, bool]]] = {}
    indices: dict[str, list[tuple[int, str]]] = {}
    for n, holder in enumerate(parts):
        for part in parts[n + 1:]:
            if part[len(holder)] == ".":
                key = part[len(holder) + 1:]
                keys.setdefault(holder, []).append((f'"{key}"', part, "." in key or "[" in key))
            else:
                index = _INDEX.fullmatch(part, len(holder))
                if index is not None:
                    indices.setdefault(holder, []).append((int(index.group(1)), part))
    return ({holder: tuple(steps) for holder, steps in keys.items()},
            {holder: tuple(sorted(elements)) for holder, elements in indices.items()})


def _member(text: str, start: int, needle: str) -> int | None:
    """Where the value of the key ``needle`` (with its quotes) starts in the object at ``start``
    (None: no such key), in a valid JSON text without an escaped quote and without a key twice."""
    if '"' in needle[1:-1]:
        return None  # (no key of such a text holds a quote)
    depth = 0  # of the brackets opened (outside strings) after the object's own, up to ``upto``
    upto = start + 1
    at = text.find(needle, upto)
    while at >= 0:
        between = text[upto:at]
        if between.count('"') % 2:  # the needle's first quote closes a string: no key
            at = text.find(needle, at + 1)
            continue
        if "{" in between or "}" in between or "[" in between or "]" in between:
            # The brackets outside strings, with the pairs opened and closed in between cancelled:
            # closing brackets are left, then opening ones (the text is valid JSON).
            brackets = _NOT_BRACKETS.sub("", "".join(between.split('"')[::2]))
            while "{}" in brackets or "[]" in brackets:
                brackets = brackets.replace("{}", "").replace("[]", "")
            closing = brackets.count("}") + brackets.count("]")
            if closing > depth:
                return None  # the object ended before
            depth += len(brackets) - 2 * closing
        upto = at
        if depth == 0:
            after = at + len(needle)
            if text[after] == ":":  # (the usual layouts without a call: no blank or one before the value)
                after += 1
                if text[after] in _WS:
                    if text[after] == " " and text[after + 1] not in _WS:
                        return after + 1
                    return _BLANK.match(text, after).end()  # type: ignore[union-attr]
                return after
            colon = _COLON.match(text, after)
            if colon is not None:
                return colon.end()
        at = text.find(needle, at + 1)
    return None


def _elements(text: str, start: int, indices: _Indices) -> list[tuple[str, int]]:
    """The location and value offset of each of ``indices`` (increasing) that the array at
    ``start`` has (in a valid JSON text without an escaped quote)."""
    i = start + 1
    if text[i] in _WS:
        i = _BLANK.match(text, i).end()  # type: ignore[union-attr]
    if text[i] == "]":
        return []
    n = 0
    found: list[tuple[str, int]] = []
    for index, location in indices:
        while n < index:
            first = text[i]
            if first == '"':
                i = text.index('"', i + 1) + 1
            elif first in "{[":
                i = _DECODER.raw_decode(text, i)[1]  # (a small text)
            else:
                i = _LITERAL.match(text, i).end()  # type: ignore[union-attr]  # (valid JSON)
            after = _NEXT.match(text, i)
            if after is None or after.group(1) != ",":
                return found
            i = _BLANK.match(text, after.end()).end()  # type: ignore[union-attr]
            n += 1
        found.append((location, i))
    return found


ROUTE_SHORT = True
"""Whether a small checked text without an escaped quote is first tried by :func:`_routed` (one match
per expression, from the root's ``{`` to the value; False: :func:`_walked`, the general way of such
a text, whose outcome ``tests/unit/validation/test_pos2_routed.py`` holds it to)."""


def _routed(issues: list[dict[str, Any]], text: str) -> bool:
    """:func:`_walked`'s positions, where each issue's first expression is found whole by one match
    of its pattern (:func:`_whole_route`) in a text that starts with the root's ``{``, holds no
    escaped quote (so every ``"`` opens or closes a string) and no key with an escape (a key is
    looked for as it is written), and has the expression's first step for ``resourceType``, its
    first key; False, with nothing added, for anything else (an expression
    whose location is not there in full, a member or element nested deeper than the patterns
    read, an odd key, another root): :func:`_walked` then runs.

    A match ends where :func:`_walked` ends: it reads the same steps, each key as a member of the
    object it is in (the members before it read whole, as tokens: strings, literals, objects and
    arrays nested up to :data:`_ROUTE_DEPTH` deep), each index as that many elements read whole."""
    if text[0] != "{" or _BACKSLASH in text and ('\\"' in text or _ESCAPED_KEY.search(text)):
        return False  # (as in _plain_root: without an escaped quote every ``"`` opens or closes a string)
    spots: list[int | None] = []
    for iss in issues:
        spot = None
        for expr in iss.get("expression") or ():
            plan = _whole_route(expr)
            if plan is None:
                return False
            pattern, odd = plan
            for needle in odd:  # (as in _walked: a key holding a separator is for the search of all at once)
                if needle in text:
                    return False
            found = pattern.match(text)
            if found is None:
                return False
            spot = found.end()
            break
        spots.append(spot)
    _place_each(issues, spots, text)
    return True


# The tokens :func:`_whole_route`'s patterns read whole, in a text without an escaped quote: a string,
# a literal, and an object or array whose brackets nest up to _ROUTE_DEPTH deep (each level: runs
# of characters that are no bracket and no quote, strings, and the level below). In valid JSON the
# brackets outside strings pair up, so an opening bracket of either kind is closed by the next
# closing one at its level; a deeper value matches nothing, and the match fails.
_ROUTE_DEPTH = 6
_STRING = r'"[^"]*+"'


def _nested(depth: int) -> str:
    """An object or array whose brackets nest up to ``depth`` deep (see above)."""
    inner = "" if depth == 1 else "|" + _nested(depth - 1)
    return rf'[{{\[](?:[^"{{}}\[\]]++|{_STRING}{inner})*+[}}\]]'


_VALUE = rf"(?:{_STRING}|[-+.0-9A-Za-z]++|{_nested(_ROUTE_DEPTH)})"
_MEMBER = rf'{_BLANKS_PATTERN}{_STRING}{_BLANKS_PATTERN}:{_BLANKS_PATTERN}{_VALUE}{_BLANKS_PATTERN},'
_ELEMENT = rf'{_BLANKS_PATTERN}{_VALUE}{_BLANKS_PATTERN},'


@lru_cache(maxsize=4096)
def _whole_route(expr: str) -> tuple[re.Pattern[str], tuple[str, ...]] | None:
    """The pattern :func:`_routed` matches at the start of a text for an issue's expression (as
    written: normalised here), which ends where the expression's location starts, with the odd
    keys of :func:`_route` (each a needle that must not be in the text); None where the route
    is not for it (an expression of one step, a key with a quote, an index of the root). (Remembered: the same expressions come back.)

    The pattern reads the root's ``{`` and ``resourceType``, its first key, whose string value is
    the expression's first step (the root type :func:`_walked` reads must start the expression:
    this one matches it exactly), then each of :func:`_route`'s steps: for a key, the members
    before it in the object (as few as needed: no key is in an object twice) and the key, its
    colon and the blanks up to its value; for an index, the opening bracket and that many
    elements with their commas, then the blanks up to the element (none: no match)."""
    path = _normalised(expr)
    cut = _CUT.search(path)
    first = path[:cut.start()] if cut is not None else path
    if not first or '"' in first:
        return None
    steps, odd = _route(path[len(first):])
    if not steps:
        return None  # the root itself, or a first index the scan does not read: _walked
    root = re.escape(f'"{first}"')
    parts = [rf'\{{{_BLANKS_PATTERN}"resourceType"{_BLANKS_PATTERN}:{_BLANKS_PATTERN}{root}{_BLANKS_PATTERN},']
    head = True  # inside the root, after its first member and comma
    for key, index in steps:
        if key is not None:
            if '"' in key[1:-1]:
                return None
            parts.append(rf"(?:{_MEMBER})*?{_BLANKS_PATTERN}{re.escape(key)}{_BLANKS_PATTERN}:{_BLANKS_PATTERN}"
                         if head else
                         rf"\{{(?:{_MEMBER})*?{_BLANKS_PATTERN}{re.escape(key)}{_BLANKS_PATTERN}:{_BLANKS_PATTERN}")
        else:
            if head:
                return None  # an index of the root object: never a location
            parts.append(rf"\[(?:{_ELEMENT}){{{index}}}{_BLANKS_PATTERN}(?!\])" if index else
                         rf"\[{_BLANKS_PATTERN}(?!\])")
        head = False
    return re.compile("".join(parts)), odd
