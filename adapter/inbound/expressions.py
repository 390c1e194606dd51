"""Value expressions of a mapping file: a selector, a side input, a literal, or a function of them.

The same small, closed set of functions works over every source syntax (XML, JSON, FLAT,
FHIR), because a function only ever sees the values a selector found: no eval, no general
code, and every function's cost is bounded by the number and length of those values (regular
expressions run on RE2, linear in the text). docs/mappings.md ("Value functions") lists each
function with an example; :mod:`adapter.inbound.functions` evaluates them.

In YAML an expression is a string (a selector) or a mapping with one function key::

    from: "lisn/context/start_time"                          # a selector
    from: {date: "lisn/context/start_time"}                  # a function of a selector
    from: {concat: ["gn:fornamn", {const: " "}, "gn:efternamn"]}
    from: {input: kommun}                                    # a side input
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

# name -> (how the function key's value is read, the options it takes)
#   "one": one sub-expression; "many": a list of sub-expressions; "name"/"literal": a plain value
FUNCTIONS: dict[str, tuple[str, frozenset[str]]] = {
    "input": ("name", frozenset()),
    "const": ("literal", frozenset()),
    "date": ("one", frozenset({"format"})),
    "dateTime": ("one", frozenset({"format"})),
    "truncate": ("one", frozenset({"to"})),
    "concat": ("many", frozenset({"separator"})),
    "join": ("one", frozenset({"separator"})),
    "substring": ("one", frozenset({"start", "length"})),
    "normalize-space": ("one", frozenset()),
    "upper": ("one", frozenset()),
    "lower": ("one", frozenset()),
    "replace": ("one", frozenset({"pattern", "with"})),
    "number": ("one", frozenset()),
    "max": ("one", frozenset({"by", "value"})),
    "min": ("one", frozenset({"by", "value"})),
    "first": ("one", frozenset({"by", "value"})),
    "last": ("one", frozenset({"by", "value"})),
    "distinct": ("one", frozenset()),
    "count": ("one", frozenset()),
    "translate": ("one", frozenset({"table"})),
}
# Options that are themselves expressions (relative to each value the function picks among).
EXPR_OPTIONS = frozenset({"by", "value"})
REQUIRED_OPTIONS = {"replace": ("pattern",), "substring": ("start",), "truncate": ("to",),
                    "translate": ("table",)}
TRUNCATE_TO = ("year", "month", "day")
MAX_PATTERN = 500  # characters: a pattern is configuration, not data


class ExpressionError(ValueError):
    """The expression is not well formed; ``args[0]`` says why (for the mapping-file report)."""


@dataclass(frozen=True)
class Expr:
    """One node of an expression tree."""

    fn: str
    """``select`` for a selector, else a key of :data:`FUNCTIONS`."""
    selector: str | None = None
    value: Any = None
    """The literal of ``const`` and the input name of ``input``."""
    args: tuple[Expr, ...] = ()
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def is_selector(self) -> bool:
        return self.fn == "select"

    def walk(self) -> Iterator[Expr]:
        yield self
        for arg in self.args:
            yield from arg.walk()
        for opt in EXPR_OPTIONS:
            sub = self.options.get(opt)
            if isinstance(sub, Expr):
                yield from sub.walk()

    def selectors(self) -> list[str]:
        return [e.selector for e in self.walk() if e.selector is not None]

    def inputs(self) -> list[str]:
        return [str(e.value) for e in self.walk() if e.fn == "input"]

    def tables(self) -> list[str]:
        return [str(e.options["table"]) for e in self.walk() if e.fn == "translate"]

    def describe(self) -> str:
        """A short form for reports: the selector, or ``fn(...)``."""
        if self.selector is not None:
            return self.selector
        if self.fn == "input":
            return f"input:{self.value}"
        if self.fn == "const":
            return "const"
        return f"{self.fn}({', '.join(a.describe() for a in self.args)})"


def selector(text: str) -> Expr:
    return Expr("select", selector=text)


def parse(raw: Any) -> Expr:
    """An expression from its YAML form; raises ExpressionError naming what is wrong."""
    if isinstance(raw, str):
        if not raw.strip():
            raise ExpressionError("an empty selector")
        return selector(raw)
    if not isinstance(raw, dict):
        raise ExpressionError(f"an expression is a selector or a mapping with one function, not {raw!r}")
    keys = [k for k in raw if k not in ("__line__", "__lines__")]
    found = [k for k in keys if k in FUNCTIONS]
    if len(found) != 1:
        raise ExpressionError(f"an expression needs exactly one function of {sorted(FUNCTIONS)}, got {keys}")
    fn = found[0]
    kind, allowed = FUNCTIONS[fn]
    extra = sorted(set(keys) - {fn} - allowed)
    if extra:
        raise ExpressionError(f"'{fn}' takes no option(s) {extra} (it takes {sorted(allowed) or 'none'})")
    missing = [o for o in REQUIRED_OPTIONS.get(fn, ()) if o not in raw]
    if missing:
        raise ExpressionError(f"'{fn}' needs the option(s) {missing}")
    options = {k: _option(fn, k, raw[k]) for k in keys if k != fn}
    body = raw[fn]
    if kind == "literal":
        if isinstance(body, (dict, list)):
            raise ExpressionError("'const' takes a scalar")
        return Expr(fn, value=body, options=options)
    if kind == "name":
        if not isinstance(body, str) or not body:
            raise ExpressionError("'input' takes the name of a declared input")
        return Expr(fn, value=body, options=options)
    if kind == "many":
        if not isinstance(body, list) or not body:
            raise ExpressionError(f"'{fn}' takes a list of expressions")
        return Expr(fn, args=tuple(parse(b) for b in body), options=options)
    return Expr(fn, args=(parse(body),), options=options)


def _option(fn: str, key: str, value: Any) -> Any:
    if key in EXPR_OPTIONS:
        return parse(value)
    if key in ("start", "length"):
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ExpressionError(f"'{fn}.{key}' must be a whole number >= 0")
        return value
    if key == "to" and value not in TRUNCATE_TO:
        raise ExpressionError(f"'truncate.to' must be one of {list(TRUNCATE_TO)}")
    if key == "pattern":
        text = str(value)
        if len(text) > MAX_PATTERN:
            raise ExpressionError(f"'replace.pattern' is longer than {MAX_PATTERN} characters")
        _compile(text)
    if not isinstance(value, str):
        raise ExpressionError(f"'{fn}.{key}' must be a text")
    return value


def _compile(pattern: str) -> Any:
    import re2  # google-re2: linear-time matching (pyproject: untyped, ignore_missing_imports)

    try:
        return re2.compile(pattern)
    except re2.error as exc:
        raise ExpressionError(f"'replace.pattern' is not a valid RE2 expression: {exc}") from None
