"""Operators (FHIRPath N1 §6): equality, comparison, membership, types, Boolean logic, math.

Each operator is compiled as fhirpathpy's ``infix_invoke`` runs it: both operands evaluated on
the operator's input (``$this`` set to it), checked by the operator's parameter types, empty
operands giving an empty result for the ``nullable`` ones, then fhirpathpy's own implementation.
Fast paths skip that implementation only where its result is plainly known: ``=``, ``!=`` and
the orderings on two single strings, integers or Booleans (neither a date/time nor a
Quantity-typed node) and on two whole calendar dates (``_full_date``), ``in`` against a constant
list of strings. The union ``|`` is fhirpathpy's
``union_op`` computed by :mod:`adapter.fhirpath.distinct` (same keys, same result, cheaper).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from typing import Any

from adapter.fhirpath.distinct import union
from adapter.fhirpath.env import FP_CTX, RN, Compiled, Env, Items, arraify
from adapter.fhirpath.params import Maker, Unsupported, boolean_operand, maker_for
from adapter.fhirpath.upstream import REGISTRY, FP_DateTime, FP_Quantity, fp_equal, fp_unequal

Ast = dict[str, Any]
_PLAIN_TYPES = (str, int, bool)
_QUANTITY_PATHS = frozenset({"Quantity", "System.Quantity"})  # fhirpathpy compares those as quantities
# Typed date/time nodes compare as dates, with precision (adapter.fhirpath.fhir.compare_typed_dates)
_DATE_PATHS = frozenset({"date", "dateTime", "instant", "time"})
_FULL_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_ORDER: dict[str, Callable[[Any, Any], bool]] = {
    "<": lambda x, y: x < y, ">": lambda x, y: x > y, "<=": lambda x, y: x <= y, ">=": lambda x, y: x >= y,
}


def _plain(item: Any) -> Any:
    """The value of a single string/integer/Boolean item, or ``None`` (then: the general code)."""
    if type(item) is RN:
        if item.path in _QUANTITY_PATHS or item.path in _DATE_PATHS:
            return None
        item = item.data
    return item if type(item) in _PLAIN_TYPES else None


def _simple_pair(a: Items, b: Items) -> tuple[Any, Any] | None:
    if len(a) != 1 or len(b) != 1:
        return None
    x, y = _plain(a[0]), _plain(b[0])
    if x is None or y is None or type(x) is not type(y):
        return None
    return x, y


def _generic(fn: Callable[..., Any], left: Maker, right: Maker, nullable: bool) -> Compiled:
    def op(env: Env, data: Items) -> Items:
        a, b = left(env, data), right(env, data)
        if nullable and (a is None or b is None or (isinstance(a, list) and not a) or (isinstance(b, list) and not b)):
            return []
        return arraify(fn(FP_CTX, a, b))

    return op


def _equal(left: Compiled, right: Compiled, negate: bool) -> Compiled:
    """``=``/``!=`` on the operands' bodies (each evaluated as an ``Any`` parameter: ``$this`` set to the input)."""
    slow = fp_unequal if negate else fp_equal

    def eq(env: Env, data: Items) -> Items:
        env.this = data
        a = left(env, data)
        env.this = data
        b = right(env, data)
        if not a or not b:
            return []
        pair = _simple_pair(a, b)
        if pair is None:
            return arraify(slow(FP_CTX, a, b))
        return [(pair[0] == pair[1]) is not negate]

    return eq


def _logic(fn: Callable[..., Any], left: Compiled, right: Compiled) -> Compiled:
    """``and``, ``or``, ``xor``, ``implies`` on the operands' bodies, checked as optional Boolean parameters."""

    def logic(env: Env, data: Items) -> Items:
        env.this = data
        a: Any = left(env, data)
        a = a[0] if len(a) == 1 and (a[0] is True or a[0] is False) else boolean_operand(a)
        env.this = data
        b: Any = right(env, data)
        b = b[0] if len(b) == 1 and (b[0] is True or b[0] is False) else boolean_operand(b)
        result = fn(FP_CTX, a, b)
        return [result] if result is True or result is False else arraify(result)

    return logic


def _full_date(item: Any) -> str | None:
    """The text of a whole, valid calendar date (``2026-09-14``, year 1800–2999) that fhirpathpy's
    ordering compares as a date or as a string (a date-typed node, a date literal, a string, a node
    not typed ``time``), else ``None``. Two such dates are ordered by fhirpathpy as their texts
    are: as strings, or as ``FP_DateTime``s of one precision, whose ``compare`` orders the
    timestamps of their local midnights (dateutil parsing both each time)."""
    if type(item) is RN:
        if item.path == "time":
            return None
        item = item.data
    elif type(item) is FP_DateTime:
        item = item.asStr
    if type(item) is not str or len(item) != 10 or _FULL_DATE.fullmatch(item) is None \
            or not "1800" <= item[:4] <= "2999":
        return None
    try:
        date.fromisoformat(item)
    except ValueError:
        return None  # 2026-02-30: fhirpathpy's own code says what happens
    return item


def order_values(op: str) -> Callable[[Items, Items], Items]:
    """``<``, ``>``, ``<=``, ``>=`` on the values of the two operands (what :func:`_order`'s closure
    computes once it has evaluated them; the direct form calls it with its operands' nodes)."""
    slow, fast = REGISTRY[op]["fn"], _ORDER[op]

    def compare(a: Items, b: Items) -> Items:
        if not a or not b:
            return []
        pair = _simple_pair(a, b)
        if pair is None and len(a) == 1 and len(b) == 1:
            x = _full_date(a[0])
            y = _full_date(b[0]) if x is not None else None
            if y is not None:
                return [fast(x, y)]
        if pair is None or type(pair[0]) is bool:
            return arraify(slow(FP_CTX, a, b))
        return [fast(pair[0], pair[1])]

    return compare


def _order(op: str, left: Maker, right: Maker) -> Compiled:
    values = order_values(op)
    return lambda env, data: values(left(env, data), right(env, data))


def _in_strings(left: Maker, right: Maker, strings: frozenset[str]) -> Compiled:
    slow = REGISTRY["inOp"]["fn"]

    def in_(env: Env, data: Items) -> Items:
        a, b = left(env, data), right(env, data)
        if len(a) == 1 and b:
            x = a[0].data if type(a[0]) is RN else a[0]
            if type(x) is str:
                return [x in strings]
        return arraify(slow(FP_CTX, a, b))

    return in_


def arithmetic_values(fn: Callable[..., Any]) -> Callable[[Items, Items], Items]:
    """``+``/``-`` (fhirpathpy's ``fn``) on the values of the two operands, as fhirpathpy computes
    them, its date results remembered: a date (or dateTime) string plus a literal quantity
    (``+ 7 days``) is parsed and formatted by dateutil each time."""
    memo: dict[tuple[Any, ...], str] = {}

    def arithmetic(a: Items, b: Items) -> Items:
        if not a or not b:
            return []
        key: tuple[Any, ...] | None = None
        if len(a) == 1 and len(b) == 1 and type(b[0]) is FP_Quantity:
            x = a[0]
            if type(x) is RN and type(x.data) is str and type(x.path) is str:
                key = (x.path, x.data, str(b[0].value), b[0].unit)
            elif type(x) is str:
                key = (None, x, str(b[0].value), b[0].unit)
        if key is not None and key in memo:
            return [memo[key]]
        result = fn(FP_CTX, a, b)
        if key is not None and type(result) is str and len(memo) < 4096:
            memo[key] = result
        return arraify(result)

    return arithmetic


def _date_arithmetic(fn: Callable[..., Any], left: Maker, right: Maker) -> Compiled:
    values = arithmetic_values(fn)
    return lambda env, data: values(left(env, data), right(env, data))


def compile_operator(op: str, operands: list[Ast], compile_node: Callable[[Ast], Compiled],
                     constant: Callable[[Compiled], Items | None]) -> Compiled:
    """The closure for ``left op right`` (``op`` as fhirpathpy's registry names it)."""
    inv = REGISTRY.get(op)
    if inv is None or "fn" not in inv or len(operands) != 2 or 2 not in inv.get("arity", {}):
        raise Unsupported(f"operator {op}")
    kinds = inv["arity"][2]
    if op in ("=", "!=") and kinds == ["Any", "Any"]:
        return _equal(compile_node(operands[0]), compile_node(operands[1]), op == "!=")
    if op in ("and", "or", "xor", "implies") and kinds == [["Boolean"], ["Boolean"]]:
        return _logic(inv["fn"], compile_node(operands[0]), compile_node(operands[1]))
    left, right = (maker_for(k, p, compile_node) for k, p in zip(kinds, operands))
    if op in _ORDER:
        return _order(op, left, right)
    if op == "|":
        return lambda env, data: union(left(env, data), right(env, data))
    if op in ("+", "-"):
        return _date_arithmetic(inv["fn"], left, right)
    if op == "inOp":
        values = constant(compile_node(operands[1]))
        if values is not None and values and all(type(v) is str for v in values):
            return _in_strings(left, right, frozenset(values))
    return _generic(inv["fn"], left, right, "nullable" in inv)
