"""From fhirpathpy's syntax tree to Python closures (FHIRPath N1 §3–§4: terms and expressions).

fhirpathpy's parser (antlr4, its grammar) gives a tree of ``{"type", "text", "children",
"terminalNodeText"}`` dicts; its interpreter walks that tree on every evaluation. Here each node
is turned once into a closure ``(env, input) -> output`` that does what fhirpathpy's evaluator
for that node does. A node type, function or operator this module does not know raises
:class:`Unsupported`, and the caller evaluates the whole expression with fhirpathpy instead.

Within a criterion (a parameter evaluated per item), a subexpression that reads only ``%``
variables is compiled as :class:`adapter.fhirpath.hoist.Hoisted`: evaluated once per evaluation;
so is such a subexpression that appears more than once in the expression (the uses share one result).
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

from adapter.fhirpath.env import UNSET, Compiled, Env, Items, arraify
from adapter.fhirpath.functions import compile_function
from adapter.fhirpath.hoist import Hoisted, hoistable, key_of, remembered
from adapter.fhirpath.navigation import Member, descendants_of_type, descendants_of_type_member
from adapter.fhirpath.operators import compile_operator
from adapter.fhirpath.params import Const, Unsupported, type_param
from adapter.fhirpath.upstream import EVALUATORS

Ast = dict[str, Any]
_LITERALS = frozenset({"NullLiteral", "BooleanLiteral", "StringLiteral", "NumberLiteral", "QuantityLiteral",
                       "DateTimeLiteral", "TimeLiteral"})
_INFIX = frozenset({"InequalityExpression", "AdditiveExpression", "MultiplicativeExpression", "EqualityExpression",
                    "OrExpression", "ImpliesExpression", "AndExpression", "XorExpression"})
_ALIASES = {"MembershipExpression": {"contains": "containsOp", "in": "inOp"},
            "TypeExpression": {"is": "isOp", "as": "asOp"}}
_QUOTES = re.compile(r'(^"|"$)')


def constant(body: Compiled) -> Items | None:
    return body.values if isinstance(body, Const) else None


def _children(ast: Ast, count: int | None = None) -> list[Ast]:
    children = ast.get("children")
    if not isinstance(children, list) or (count is not None and len(children) != count):
        raise Unsupported(f"{ast.get('type')} with unexpected children")
    return children


def _identifier(ast: Ast) -> str:
    if ast.get("type") != "Identifier" or not isinstance(ast.get("text"), str):
        raise Unsupported("expected an identifier")
    return _QUOTES.sub("", ast["text"]).replace("`", "")


_DEPTH = threading.local()  # .loops: how many criteria the node being compiled stands in; .repeated


def compile_node(ast: Ast) -> Compiled:
    """The closure for one syntax-tree node: hoisted when it reads only ``%`` variables and stands
    within a criterion, or appears more than once in the expression."""
    loops = getattr(_DEPTH, "loops", 0)
    repeated: frozenset[int] = getattr(_DEPTH, "repeated", frozenset())
    names = hoistable(ast) if loops or repeated else None
    if names is not None and (loops or key_of(ast) in repeated):
        _DEPTH.loops = 0  # evaluated once: what it holds is no longer repeated per item
        try:
            body = _compile_node(ast)
        finally:
            _DEPTH.loops = loops
        return body if isinstance(body, Const) else Hoisted(body, key_of(ast), names)
    return _compile_node(ast)


def _unwrapped(ast: Ast) -> Ast:
    while ast.get("type") in ("TermExpression", "InvocationTerm", "ParenthesizedTerm") and len(_children(ast)) == 1:
        ast = _children(ast)[0]
    return ast


def _one_step(ast: Ast) -> bool:
    """``%variable.member``: cheaper evaluated again than remembered."""
    ast = _unwrapped(ast)
    children = ast.get("children") or []
    return ast.get("type") == "InvocationExpression" and len(children) == 2 \
        and _unwrapped(children[0]).get("type") == "ExternalConstantTerm" and children[1].get("type") == "MemberInvocation"


def _repeated(ast: Ast, seen: Counter[int], shared: Counter[int] | None = None) -> Counter[int]:
    """How often each subexpression :func:`hoistable` names (but ``%variable.member``) stands in ``ast``;
    with ``shared`` (a first count), not counting within one that stands there more than once."""
    if hoistable(ast) is not None and not _one_step(ast):
        key = key_of(ast)
        seen[key] += 1
        if shared is not None and shared[key] > 1:
            return seen  # what it holds is evaluated with it, once
    for child in ast.get("children") or []:
        if isinstance(child, dict):
            _repeated(child, seen, shared)
    return seen


def repeated_counts(body: Ast) -> Counter[int]:
    """:func:`_repeated` of a whole expression's body, counted twice (the second time not within what
    stands more than once); within :func:`hoist.remembering` once per expression for the compiler
    and the direct form (the caller must not change it)."""
    counted: Counter[int] = remembered(("repeated", id(body)), body, lambda: _counted_twice(body))
    return counted


def _counted_twice(body: Ast) -> Counter[int]:
    first = _repeated(body, Counter())
    if all(n == 1 for n in first.values()):
        return first  # nothing stands twice: the second count would be the same
    return _repeated(body, Counter(), first)


def compile_criterion(ast: Ast) -> Compiled:
    """The closure for a parameter evaluated once per item of the function's input."""
    _DEPTH.loops = getattr(_DEPTH, "loops", 0) + 1
    try:
        return compile_node(ast)
    finally:
        _DEPTH.loops -= 1


def _compile_node(ast: Ast) -> Compiled:
    kind = ast.get("type")
    if kind in ("TermExpression", "InvocationTerm", "ParenthesizedTerm"):
        return compile_node(_children(ast, 1)[0])
    if kind == "LiteralTerm":
        literal = _children(ast, 1)[0]
        if literal.get("type") not in _LITERALS:
            raise Unsupported(f"literal {literal.get('type')}")
        return Const(EVALUATORS[literal["type"]](None, None, literal))
    if kind in _INFIX:
        return compile_operator(ast["terminalNodeText"][0], _children(ast, 2), compile_node, constant)
    if kind in _ALIASES:
        op = _ALIASES[kind].get(ast["terminalNodeText"][0])
        if op is None:
            raise Unsupported(f"{kind} {ast['terminalNodeText'][0]}")
        return compile_operator(op, _children(ast, 2), compile_node, constant)
    handler = _HANDLERS.get(str(kind))
    if handler is None:
        raise Unsupported(f"node {kind}")
    return handler(ast)


def _function_name(ast: Ast) -> tuple[str, list[Ast]] | None:
    """``(name, parameters)`` of a FunctionInvocation node, else ``None``."""
    if ast.get("type") != "FunctionInvocation":
        return None
    parts = ast["children"][0].get("children") or []
    if not parts or parts[0].get("type") != "Identifier":
        return None
    params = parts[1].get("children", []) if len(parts) > 1 else []
    return _identifier(parts[0]), params


class _MemberCount:
    """``key.exists()``, ``key.empty()``, ``key.count()``: the member step's items counted, not made."""

    __slots__ = ("member", "test")

    def __init__(self, key: str, test: str) -> None:
        self.member = Member(key)
        self.test = ("exists", "empty", "count").index(test)

    def __call__(self, env: Env, data: Items) -> Items:
        found = self.member.count(env, data)
        test = self.test
        return [found > 0] if test == 0 else [found == 0] if test == 1 else [found]


def _member_count(ast: Ast) -> tuple[Ast | None, Compiled] | None:
    """For ``X.key.f()`` (``None`` for X: ``key.f()``) with ``f`` one of ``exists``, ``empty``, ``count``
    without parameters: ``(X, the step that counts)``."""
    children = _children(ast)
    test = _function_name(children[1]) if len(children) == 2 else None
    if test is None or test[1] or test[0] not in ("exists", "empty", "count"):
        return None
    left, rest = children[0], None
    if left.get("type") == "InvocationExpression" and len(_children(left)) == 2:
        left, rest = _children(left)[1], _children(left)[0]
    elif left.get("type") == "TermExpression" and len(_children(left)) == 1 \
            and _children(left)[0].get("type") == "InvocationTerm" and len(_children(_children(left)[0])) == 1:
        left = _children(_children(left)[0])[0]
    else:
        return None
    if left.get("type") != "MemberInvocation" or len(_children(left)) != 1:
        return None
    return rest, _MemberCount(_identifier(_children(left)[0]), test[0])


def _invocation_expression(ast: Ast) -> Compiled:
    counted = _member_count(ast)
    if counted is not None:
        rest, count = counted
        if rest is None:
            return count
        before = compile_node(rest)
        return lambda env, data: count(env, before(env, data))
    children = _children(ast)
    fused = _descendants_of_type_member(children)
    if fused is not None:
        return fused
    inner = children[0] if children[0].get("type") == "InvocationExpression" else None
    if len(children) == 2 and inner is not None and len(_children(inner)) == 2 \
            and _function_name(children[1]) is not None and _function_name(_children(inner)[1]) == ("descendants", []):
        name, params = _function_name(children[1])  # type: ignore[misc]
        if name == "ofType" and len(params) == 1:
            # ``….descendants().ofType(T)``: one walk, nodes made only for the matches.
            children = [_children(inner)[0], {"fused": descendants_of_type(type_param(params[0])(Env([], {}), []))}]
    steps = [c["fused"] if "fused" in c else compile_node(c) for c in children]
    if len(steps) == 2:
        first, second = steps
        return lambda env, data: second(env, first(env, data))

    def chain(env: Env, data: Items) -> Items:
        for step in steps:
            data = step(env, data)
        return data

    return chain


def _descendants_of_type_member(children: list[Ast]) -> Compiled | None:
    """``X.descendants().ofType(T).key`` (``key`` a lower-case member, not ``length``): X, then
    one walk (:func:`adapter.fhirpath.navigation.descendants_of_type_member`); else ``None``."""
    if len(children) != 2 or children[1].get("type") != "MemberInvocation":
        return None
    key = _identifier(_children(children[1], 1)[0])
    of_type = children[0]
    if not key or key[0] != key[0].lower() or key[0] == key[0].upper() or key == "length" \
            or of_type.get("type") != "InvocationExpression" or len(_children(of_type)) != 2:
        return None
    descendants, call = _children(of_type)
    named = _function_name(call)
    if named is None or named[0] != "ofType" or len(named[1]) != 1 \
            or descendants.get("type") != "InvocationExpression" or len(_children(descendants)) != 2 \
            or _function_name(_children(descendants)[1]) != ("descendants", []):
        return None
    step = descendants_of_type_member(type_param(named[1][0])(Env([], {}), []), key)
    before = compile_node(_children(descendants)[0])
    return lambda env, data: step(env, before(env, data))


def _function(ast: Ast) -> Compiled:
    functn = _children(ast, 1)[0]
    parts = _children(functn)
    name = _identifier(parts[0])
    params = _children(parts[1]) if len(parts) > 1 and parts[1].get("children") else []
    if len(parts) > 2 or (len(parts) > 1 and parts[1].get("type") != "ParamList"):
        raise Unsupported(f"function {name} with unexpected syntax")
    return compile_function(name, params, compile_node, compile_criterion)


def _variable(ast: Ast) -> Compiled:
    name = _identifier(_children(_children(ast, 1)[0], 1)[0])

    def var(env: Env, data: Items) -> Items:
        if name not in env.vars:
            raise ValueError(f"Attempting to access an undefined environment variable: {name}")
        return arraify(env.vars[name])

    return var


def _special(attribute: str, name: str) -> Callable[[Ast], Compiled]:
    def make(ast: Ast) -> Compiled:
        def special(env: Env, data: Items) -> Items:
            value = getattr(env, attribute)
            if value is UNSET:
                raise KeyError(name)  # what fhirpathpy's ``ctx[name]`` raises before it is set
            return arraify(value)

        return special

    return make


def _indexer(ast: Ast) -> Compiled:
    coll, index = (compile_node(c) for c in _children(ast, 2))

    def indexer(env: Env, data: Items) -> Items:
        items, idx = coll(env, data), index(env, data)
        if not idx:
            return []
        n = int(idx[0])
        return [items[n]] if 0 <= n < len(items) else []

    return indexer


def _polarity(ast: Ast) -> Compiled:
    sign = ast["terminalNodeText"][0]
    body = compile_node(_children(ast, 1)[0])

    def polarity(env: Env, data: Items) -> Items:
        result = body(env, data)
        if len(result) != 1:
            raise Exception("Unary " + sign + " can only be applied to an individual number.")
        value = result[0]
        if not isinstance(value, (int, Decimal, complex)) or isinstance(value, bool):
            raise Exception("Unary " + sign + " can only be applied to a number.")
        return [-value if sign == "-" else value]

    return polarity


def _union(ast: Ast) -> Compiled:
    children = _children(ast, 2)
    done = {id(c): compile_node(c) for c in children}  # each operand compiled once
    left, right = done[id(children[0])], done[id(children[1])]
    body = compile_operator("|", children, lambda c: done.get(id(c)) or compile_node(c), constant)
    if isinstance(left, Const) and isinstance(right, Const):
        try:
            return Const(body(Env([], {}), []))  # both sides fixed: computed once
        except Exception:  # noqa: BLE001 - fhirpathpy raises it on evaluation: so does the body
            return body
    return body


_HANDLERS: dict[str, Callable[[Ast], Compiled]] = {
    "InvocationExpression": _invocation_expression,
    "MemberInvocation": lambda ast: Member(_identifier(_children(ast, 1)[0])),
    "FunctionInvocation": _function,
    "ExternalConstantTerm": _variable,
    "ThisInvocation": _special("this", "$this"),
    "IndexInvocation": _special("index", "$index"),
    "TotalInvocation": _special("total", "$total"),
    "IndexerExpression": _indexer,
    "PolarityExpression": _polarity,
    "UnionExpression": _union,
}


@contextmanager
def _detached() -> Iterator[None]:
    """Within the block, compiling as if outside any criterion and any repeat (no hoisting)."""
    loops: int = getattr(_DEPTH, "loops", 0)
    repeated: frozenset[int] = getattr(_DEPTH, "repeated", frozenset())
    _DEPTH.loops, _DEPTH.repeated = 0, frozenset()
    try:
        yield
    finally:
        _DEPTH.loops, _DEPTH.repeated = loops, repeated


def compile_detached(ast: Ast) -> Compiled:
    """The closure for one subtree on its own (no hoisting: as if it stood alone, outside any criterion)."""
    with _detached():
        return compile_node(ast)


def compile_operator_detached(op: str, operands: list[Ast], compile_operand: Callable[[Ast], Compiled]) -> Compiled:
    """:func:`compile_operator` on its own (no hoisting), with the operands compiled by ``compile_operand``."""
    with _detached():
        return compile_operator(op, operands, compile_operand, constant)


def compile_tree(tree: Ast) -> Compiled:
    """The closure for a whole parsed expression (fhirpathpy's ``parse`` result)."""
    body = _children(tree, 1)[0]
    loops: int = getattr(_DEPTH, "loops", 0)
    repeated: frozenset[int] = getattr(_DEPTH, "repeated", frozenset())
    _DEPTH.loops = 0
    counted = repeated_counts(body)
    _DEPTH.repeated = frozenset(key for key, n in counted.items() if n > 1)
    try:
        return compile_node(body)
    finally:
        _DEPTH.loops, _DEPTH.repeated = loops, repeated
