"""Evaluating value expressions (:mod:`adapter.inbound.expressions`) over any source reader.

An expression gives a list of :class:`Item` (a value, where it came from, and the source node
when the value is one, so that a coding or identifier can still read its parts). A function
reads its arguments' values and marks their nodes as read: a value used only through a
function still counts as mapped. Every function is total over its input or raises
:class:`FunctionError` with a short English reason; the engine turns that into
``LISN_MAP_VALUE_INVALID`` at the rule's line.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from adapter.inbound import values
from adapter.inbound.expressions import Expr
from adapter.inbound.sources import Source

_NUMBER = re.compile(r"[-+]?\d+(?:[.,]\d+)?")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class FunctionError(ValueError):
    """A function cannot compute its value from what the source holds."""


class InputMissing(Exception):
    """An expression reads a side input that was not given (already reported once)."""


class Item:
    """A value, where it came from, and the source node when the value is one (a coding or an
    identifier still reads its parts from it). A node's location is worked out only when asked:
    most values are never reported, and an XML path costs more than the value."""

    __slots__ = ("value", "node", "computed", "_location", "_source")

    def __init__(self, value: Any, location: str | None = None, node: Any = None, computed: bool = False,
                 source: Source | None = None) -> None:
        self.value, self.node, self.computed = value, node, computed
        self._location, self._source = location, source

    @property
    def location(self) -> str:
        if self._location is None:
            self._location = self._source.location(self.node) if self._source is not None else ""
        return self._location

    def __repr__(self) -> str:
        return f"Item({self.value!r}, {self.location!r})"


@dataclass
class Evaluator:
    source: Source
    inputs: Mapping[str, Any]
    failed_inputs: frozenset[str]
    """Inputs that were required or invalid and are already reported."""
    timezone: str
    translate: Callable[[str, Any], str | None]
    """``(table, code) -> target code``; None when the table says the code has no counterpart."""

    def items(self, expr: Expr, ctx: Any) -> list[Item]:
        if expr.selector is not None:
            return [Item(self.source.value(n), None, n, source=self.source)
                    for n in self.source.select(ctx, expr.selector)]
        if expr.fn == "input":
            if expr.value in self.failed_inputs:
                raise InputMissing(expr.value)
            if expr.value not in self.inputs:
                return []
            return [Item(self.inputs[expr.value], f"input:{expr.value}", computed=True)]
        if expr.fn == "const":
            return [Item(expr.value, "const", computed=True)]
        return _FUNCTIONS[expr.fn](self, expr, ctx)

    def read(self, expr: Expr, ctx: Any, *, contexts: bool = False) -> list[Item]:
        """The argument's items, their nodes marked as read, blanks left out (a literal is kept
        as written: ``{const: " "}`` is a separator). ``contexts`` keeps nodes without a value of
        their own (a JSON object, a FLAT prefix, an XML element with children) to pick among."""
        found = self.items(expr, ctx)
        for item in found:
            if item.node is not None:
                self.source.mark(item.node)
        return [i for i in found if (i.value is not None and (_text(i.value) != "" or i.location == "const"))
                or (contexts and i.node is not None)]

    def arg(self, expr: Expr, ctx: Any) -> list[Item]:
        return self.read(expr.args[0], ctx)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value).strip()


def _each(fn: Callable[[Evaluator, Expr, Any], Any]) -> Callable[[Evaluator, Expr, Any], list[Item]]:
    """A function applied to every value of its argument, one result each."""
    def run(ev: Evaluator, expr: Expr, ctx: Any) -> list[Item]:
        return [Item(fn(ev, expr, i.value), i.location, computed=True) for i in ev.arg(expr, ctx)]
    return run


# -- dates ---------------------------------------------------------------------------------------

def _moment(ev: Evaluator, raw: Any, fmt: str | None) -> dt.datetime | dt.date:
    text = _text(raw)
    if fmt:
        try:
            parsed = dt.datetime.strptime(text, fmt)
        except ValueError:
            raise FunctionError(f"'{text}' does not match the format '{fmt}'") from None
        return parsed if ("%H" in fmt or "%I" in fmt) else parsed.date()
    if len(text) in (8, 10) and "T" not in text:
        return dt.date.fromisoformat(values.to_date(text))
    return dt.datetime.fromisoformat(values.to_datetime(text, timezone=ev.timezone).replace("Z", "+00:00"))


def _local_date(ev: Evaluator, moment: dt.datetime | dt.date) -> dt.date:
    if isinstance(moment, dt.datetime):
        # The date in the mapping's zone: 23:30Z on the 13th is the 14th in Stockholm.
        zone = ZoneInfo(ev.timezone)
        local = moment.astimezone(zone) if moment.tzinfo else moment
        return local.date()
    return moment


def _date(ev: Evaluator, expr: Expr, raw: Any) -> str:
    try:
        return _local_date(ev, _moment(ev, raw, expr.options.get("format"))).isoformat()
    except values.ConversionError as exc:
        raise FunctionError(str(exc)) from None


def _datetime(ev: Evaluator, expr: Expr, raw: Any) -> str:
    try:
        moment = _moment(ev, raw, expr.options.get("format"))
    except values.ConversionError as exc:
        raise FunctionError(str(exc)) from None
    if not isinstance(moment, dt.datetime):
        moment = dt.datetime.combine(moment, dt.time())
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(ev.timezone))
    return values.to_datetime(moment.isoformat(), timezone=ev.timezone)


def _truncate(ev: Evaluator, expr: Expr, raw: Any) -> str:
    day = _date(ev, Expr("date"), raw)
    return day[:{"year": 4, "month": 7, "day": 10}[expr.options["to"]]]


# -- text ----------------------------------------------------------------------------------------

def _concat(ev: Evaluator, expr: Expr, ctx: Any) -> list[Item]:
    parts = [i for arg in expr.args for i in ev.read(arg, ctx)]
    if not parts:
        return []
    text = str(expr.options.get("separator", "")).join(str(p.value) if not isinstance(p.value, bool)
                                                      else _text(p.value) for p in parts)
    return [Item(text, _first_location(parts), computed=True)] if text.strip() else []


def _join(ev: Evaluator, expr: Expr, ctx: Any) -> list[Item]:
    parts = ev.arg(expr, ctx)
    if not parts:
        return []
    text = str(expr.options.get("separator", ", ")).join(_text(p.value) for p in parts)
    return [Item(text, _first_location(parts), computed=True)]


def _first_location(items: list[Item]) -> str:
    return next((i.location for i in items if i.node is not None), items[0].location)


def _substring(ev: Evaluator, expr: Expr, raw: Any) -> str:
    start = int(expr.options["start"])
    length = expr.options.get("length")
    text = _text(raw)
    return text[start:] if length is None else text[start:start + int(length)]


@lru_cache(maxsize=256)
def _pattern(text: str) -> Any:
    import re2  # google-re2: linear-time matching, no backtracking

    return re2.compile(text)


def _replace(ev: Evaluator, expr: Expr, raw: Any) -> str:
    return str(_pattern(expr.options["pattern"]).sub(expr.options.get("with", ""), _text(raw)))


def _number(ev: Evaluator, expr: Expr, raw: Any) -> int | float:
    if isinstance(raw, (int, float)) and not isinstance(raw, bool):
        return raw
    found = _NUMBER.search(_text(raw))
    if not found:
        raise FunctionError(f"no number in '{_text(raw)[:40]}'")
    token = found.group(0).replace(",", ".")
    return int(token) if "." not in token else float(token)


# -- aggregations ------------------------------------------------------------------------------

def order_key(value: Any, timezone: str) -> tuple[int, float]:
    """A sort key: numbers by size, dates and dateTimes by time; anything else cannot be ordered."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (0, float(value))
    text = _text(value)
    try:
        return (0, float(Decimal(text.replace(",", "."))))
    except (InvalidOperation, ValueError):
        pass
    try:
        if _DATE.match(text) or (len(text) == 8 and text.isdigit()):
            day = dt.date.fromisoformat(values.to_date(text))
            moment = dt.datetime.combine(day, dt.time(), tzinfo=ZoneInfo(timezone))
        else:
            moment = dt.datetime.fromisoformat(values.to_datetime(text, timezone=timezone).replace("Z", "+00:00"))
    except (values.ConversionError, ValueError):
        raise FunctionError(f"'{text[:40]}' is neither a number nor a date, so it cannot be ordered") from None
    return (1, moment.timestamp())


def _pick(which: str) -> Callable[[Evaluator, Expr, Any], list[Item]]:
    def run(ev: Evaluator, expr: Expr, ctx: Any) -> list[Item]:
        by: Expr | None = expr.options.get("by")
        found = ev.read(expr.args[0], ctx, contexts=by is not None or "value" in expr.options)
        if not found:
            return []
        if by is None and which in ("first", "last"):
            chosen = found[0] if which == "first" else found[-1]
        else:
            keyed = [(_key(ev, by, i), n, i) for n, i in enumerate(found)]
            if len({k[0][0] for k in keyed}) > 1:
                raise FunctionError("the values mix numbers and dates")
            smallest = which in ("min", "first")
            best = min(keyed, key=lambda k: (k[0], k[1])) if smallest else max(keyed, key=lambda k: (k[0], -k[1]))
            chosen = best[2]
        value: Expr | None = expr.options.get("value")
        if value is None:
            return [chosen]
        if chosen.node is None:
            raise FunctionError(f"'{expr.fn}' with 'value' needs source nodes, not computed values")
        return ev.read(value, chosen.node)
    return run


def _key(ev: Evaluator, by: Expr | None, item: Item) -> tuple[int, float]:
    if by is None:
        return order_key(item.value, ev.timezone)
    if item.node is None:
        raise FunctionError("'by' needs source nodes, not computed values")
    keys = ev.read(by, item.node)
    if not keys:
        raise FunctionError(f"no value for 'by' at {item.location}")
    return order_key(keys[0].value, ev.timezone)


def _distinct(ev: Evaluator, expr: Expr, ctx: Any) -> list[Item]:
    seen: set[str] = set()
    out = []
    for item in ev.arg(expr, ctx):
        key = _text(item.value)
        if key not in seen:
            seen.add(key)
            out.append(item)
    return out


def _count(ev: Evaluator, expr: Expr, ctx: Any) -> list[Item]:
    found = ev.arg(expr, ctx)
    return [Item(len(found), _first_location(found) if found else "count", computed=True)]


def _translate(ev: Evaluator, expr: Expr, ctx: Any) -> list[Item]:
    out = []
    for item in ev.arg(expr, ctx):
        target = ev.translate(str(expr.options["table"]), _text(item.value))
        if target is not None:
            out.append(Item(target, item.location, computed=True))
    return out


_FUNCTIONS: dict[str, Callable[[Evaluator, Expr, Any], list[Item]]] = {
    "date": _each(_date), "dateTime": _each(_datetime), "truncate": _each(_truncate),
    "concat": _concat, "join": _join, "substring": _each(_substring),
    "normalize-space": _each(lambda ev, e, v: " ".join(_text(v).split())),
    "upper": _each(lambda ev, e, v: _text(v).upper()), "lower": _each(lambda ev, e, v: _text(v).lower()),
    "replace": _each(_replace), "number": _each(_number),
    "max": _pick("max"), "min": _pick("min"), "first": _pick("first"), "last": _pick("last"),
    "distinct": _distinct, "count": _count, "translate": _translate,
}
