"""The direct form: a compiled expression evaluated on the parsed JSON, without fhirpathpy's nodes.

The node form (:mod:`adapter.fhirpath.compiler`) works on fhirpathpy's ``ResourceNode``s: every
member step makes one object per item, with its FHIR type path. Most invariants only count what
member steps find (``contained.meta.security.empty()``), combine Booleans and compare a string
with a literal: for those the nodes are pure overhead. Here such an expression is compiled once
more, into closures over *pairs* ``(value, type path)``: the JSON value as the parser gave it
(``dict``, ``list``, ``str``, ``bool``, numbers) and the type path fhirpathpy's node for it would
carry, computed the way :class:`adapter.fhirpath.navigation.Member` computes it (per parent type
path, once). A system value (a literal, a Boolean an ``exists()`` gave) has the path :data:`SYSTEM`.

Exactness is by construction rather than by imitation: wherever the node form's semantics depend
on more than the plain value (a ``date``/``Quantity``-typed operand of ``=``, a non-Boolean operand
of ``and``, the truth of a criterion's result, a function other than counting), the pairs are
turned back into the very nodes the node form would hold (:func:`nodes`: ``node(value, path)``)
and the node form's own code is called on them. The direct form's own code is the member step,
the counting functions, the criteria loops and the fast string/integer/Boolean equality. An R4
choice element (``value`` → ``valueString``…) is read by the node form's own code, per parent type.

The form is decided once per expression, when it is compiled (:func:`compile_direct` gives
``None`` for an expression outside the subset, and the node form is used). Outside the subset:
``%`` variables (``%resource``, ``%context``, ``%rootResource``: they may be nodes, or hold the
focus), ``$this``/``$index``/``$total`` (fhirpathpy leaves them behind between steps), member steps
on a type name (``Patient.x``) or on ``length``, ``is``/``as`` operators, ordering, arithmetic, the
indexer, unions but of literals, date/time and quantity literals, functions that read the clock,
other resources or the evaluation state (``resolve``, ``iif``, ``aggregate``, ``repeat``,
``select``, ``trace``, ``children``, ``descendants``), and any function parameter that is not a
literal (or a type, for ``ofType``/``is``/``as``). Primitive extensions (``_status``) are read as
the node form reads them: an item of their own, after the value, typed as the value.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from adapter.fhirpath import functions
from adapter.fhirpath.env import FP_CTX, RN, Env, arraify, flatten, is_capitalized, node
from adapter.fhirpath.navigation import Member
from adapter.fhirpath.operators import _DATE_PATHS, _QUANTITY_PATHS
from adapter.fhirpath.params import Const, Unsupported, boolean_operand
from adapter.fhirpath.upstream import REGISTRY, fp_equal, fp_unequal

Ast = dict[str, Any]
Pairs = list[tuple[Any, Any]]
Direct = Callable[[Pairs], Pairs]


class _System:
    """The type path of a system value (not a node): :func:`nodes` gives the value itself."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "SYSTEM"


SYSTEM = _System()
_PLAIN_TYPES = (str, int, bool)
_ODD_PATHS = _QUANTITY_PATHS | _DATE_PATHS
_SCALARS = (str, int, bool, float, type(None))
_WRAPPERS = ("TermExpression", "InvocationTerm", "ParenthesizedTerm")
# Functions the node form evaluates on nodes, called here on the nodes the pairs stand for; their
# parameters must be literals (or a type). None reads the clock, other resources or $this.
_ON_NODES = frozenset({"contains", "matches", "startsWith", "endsWith", "hasValue", "ofType", "is", "as",
                       "distinct", "isDistinct", "toString", "substring", "length", "lower", "upper",
                       "single", "last", "tail", "skip", "take", "trim", "indexOf", "replace", "replaceMatches",
                       "toInteger", "toDecimal", "convertsToInteger", "convertsToDecimal", "convertsToString",
                       "convertsToBoolean", "toBoolean", "allTrue", "anyTrue", "allFalse", "anyFalse", "supersetOf",
                       "subsetOf", "intersect", "exclude", "union", "combine", "abs", "ceiling", "floor"})


def nodes(pairs: Pairs) -> list[Any]:
    """The collection the node form holds where the direct form holds ``pairs``."""
    return [v if p is SYSTEM else node(v, p) for v, p in pairs]


def pairs_of(items: list[Any]) -> Pairs:
    """A node form collection as pairs (a node's data and type path; a system value as itself)."""
    return [(i.data, i.path) if type(i) is RN else (i, SYSTEM) for i in items]


class _Step:
    """``.key`` on pairs: what :class:`Member` gives, as pairs, without making nodes."""

    __slots__ = ("member", "key", "ext_key", "children")

    def __init__(self, key: str) -> None:
        self.member = Member(key)
        self.key, self.ext_key = key, "_" + key
        self.children: dict[Any, str] = {}  # parent type path -> child type path, where no choice type

    def __call__(self, pairs: Pairs) -> Pairs:
        out: Pairs = []
        key, ext_key, children = self.key, self.ext_key, self.children
        for d, path in pairs:
            if type(d) is not dict:
                if type(d) in _SCALARS:
                    continue  # a primitive has no members (``length`` is refused)
                acc: list[Any] = []  # anything else: the node form's own code decides
                self.member.other(acc, d, self.member.step(None if path is SYSTEM else path))
                out += pairs_of(acc)
                continue
            if path is SYSTEM:  # a raw value: the node form's ``as_node`` types it
                path = d.get("resourceType")
            child = children.get(path) if path is None or type(path) is str else None
            if child is None:
                step = self.member.step(path)
                if step.choices is not None:  # an R4 choice element here: the node form's own code
                    acc = []
                    self.member.other(acc, d, step)
                    out += pairs_of(acc)
                    continue
                child = step.extension_path if key == "extension" else step.path
                if path is None or type(path) is str:
                    children[path] = child
            value = d.get(key)
            if value is not None:
                _add(out, value, child)
            if ext_key in d:
                value = d[ext_key]
                if value is not None:
                    _add(out, value, child)
        return out


def _add(out: Pairs, value: Any, child: str) -> None:
    """What ``node(v, child)`` would type each item: a resource by its own ``resourceType``."""
    if type(value) is list:
        out += [(v, v["resourceType"] if type(v) is dict and "resourceType" in v else child) for v in value]
    elif type(value) is dict and "resourceType" in value:
        out.append((value, value["resourceType"]))
    else:
        out.append((value, child))


class _Refused(Exception):
    """Outside the direct subset (internal to compilation)."""


def _children(ast: Ast, count: int | None = None) -> list[Ast]:
    children = ast.get("children")
    if not isinstance(children, list) or (count is not None and len(children) != count):
        raise _Refused(f"{ast.get('type')} with unexpected children")
    return children


def _name(ast: Ast) -> str:
    if ast.get("type") != "Identifier" or not isinstance(ast.get("text"), str):
        raise _Refused("expected an identifier")
    text: str = ast["text"]
    return text.strip('"').replace("`", "")


def _literal(ast: Ast) -> list[Any] | None:
    """The values of a subexpression the node form folds to a constant (a literal, a union of
    literals), when they are all strings, integers or Booleans; else ``None``."""
    inner = ast
    while inner.get("type") in _WRAPPERS and len(inner.get("children") or []) == 1:
        inner = inner["children"][0]
    if inner.get("type") not in ("LiteralTerm", "UnionExpression"):
        return None
    from adapter.fhirpath import compiler

    try:
        body = compiler.compile_detached(ast)
    except Unsupported:
        return None
    if not isinstance(body, Const) or not all(type(v) in _PLAIN_TYPES for v in body.values):
        return None
    return list(body.values)


def _const(values: list[Any]) -> Direct:
    fixed = [(v, SYSTEM) for v in values]
    return lambda pairs: list(fixed)


def _compile(ast: Ast) -> Direct:
    kind = ast.get("type")
    if kind in _WRAPPERS:
        return _compile(_children(ast, 1)[0])
    literal = _literal(ast)
    if literal is not None:
        return _const(literal)
    if kind == "MemberInvocation":
        key = _name(_children(ast, 1)[0])
        if not key or is_capitalized(key) or key == "length":
            raise _Refused(f"member step {key}")
        return _Step(key)
    if kind == "InvocationExpression":
        first, second = (_compile(c) for c in _children(ast, 2))
        return lambda pairs: second(first(pairs))
    if kind == "FunctionInvocation":
        return _function(ast)
    if kind in ("AndExpression", "OrExpression", "XorExpression", "ImpliesExpression"):
        return _logic(ast["terminalNodeText"][0], *(_compile(c) for c in _children(ast, 2)))
    if kind == "EqualityExpression" and ast.get("terminalNodeText") in (["="], ["!="]):
        return _equal(ast["terminalNodeText"][0] == "!=", *(_compile(c) for c in _children(ast, 2)))
    if kind == "MembershipExpression" and ast.get("terminalNodeText") == ["in"]:
        left, right = _children(ast, 2)
        values = _literal(right)
        if values and all(type(v) is str for v in values):
            return _in_strings(_compile(left), values)
    raise _Refused(f"node {kind}")


def _logic(op: str, left: Direct, right: Direct) -> Direct:
    fn = REGISTRY[op]["fn"]

    def operand(pairs: Pairs) -> Any:
        if len(pairs) == 1 and pairs[0][1] is SYSTEM and type(pairs[0][0]) is bool:
            return pairs[0][0]
        return boolean_operand(nodes(pairs))  # the node form's checks, on its nodes

    def logic(pairs: Pairs) -> Pairs:
        a = operand(left(pairs))
        b = operand(right(pairs))
        result = fn(FP_CTX, a, b)
        if result is True or result is False:
            return [(result, SYSTEM)]
        return pairs_of(result if isinstance(result, list) else [] if result is None else [result])

    return logic


def _plain(pair: tuple[Any, Any]) -> Any:
    """The value the node form's fast equality compares (``operators._plain``), else ``None``."""
    value, path = pair
    if path is not SYSTEM and path in _ODD_PATHS:
        return None
    return value if type(value) in _PLAIN_TYPES else None


def _equal(negate: bool, left: Direct, right: Direct) -> Direct:
    slow = fp_unequal if negate else fp_equal

    def eq(pairs: Pairs) -> Pairs:
        a, b = left(pairs), right(pairs)
        if not a or not b:
            return []
        if len(a) == 1 and len(b) == 1:
            x, y = _plain(a[0]), _plain(b[0])
            if x is not None and y is not None and type(x) is type(y):
                return [((x == y) is not negate, SYSTEM)]
        result = slow(FP_CTX, nodes(a), nodes(b))
        return pairs_of(result if isinstance(result, list) else [] if result is None else [result])

    return eq


def _in_strings(left: Direct, values: list[str]) -> Direct:
    strings = frozenset(values)
    slow = REGISTRY["inOp"]["fn"]
    constant = list(values)

    def in_(pairs: Pairs) -> Pairs:
        a = left(pairs)
        if len(a) == 1 and type(a[0][0]) is str:
            return [(a[0][0] in strings, SYSTEM)]
        result = slow(FP_CTX, nodes(a), list(constant))
        return pairs_of(result if isinstance(result, list) else [] if result is None else [result])

    return in_


def _truthy(result: Pairs) -> bool:
    """The node form's ``r and r[0]`` on a criterion's result."""
    if not result:
        return False
    value, path = result[0]
    return bool(value) if path is SYSTEM else bool(node(value, path))


def _all_true(result: Pairs) -> bool:
    """The node form's ``len(r) == 1 and r[0] == True``."""
    if len(result) != 1:
        return False
    value, path = result[0]
    item = value if path is SYSTEM else node(value, path)
    return bool(item == True)  # noqa: E712 - as the node form compares (a node compares its data)


def _function(ast: Ast) -> Direct:
    functn = _children(ast, 1)[0]
    parts = _children(functn)
    name = _name(parts[0])
    params = _children(parts[1]) if len(parts) > 1 and parts[1].get("children") else []
    if len(parts) > 2 or (len(parts) > 1 and parts[1].get("type") != "ParamList"):
        raise _Refused(f"function {name} with unexpected syntax")
    if name in ("exists", "empty", "count", "first", "not") and not params:
        if name == "exists":
            return lambda pairs: [(bool(pairs), SYSTEM)]
        if name == "empty":
            return lambda pairs: [(not pairs, SYSTEM)]
        if name == "count":
            return lambda pairs: [(len(pairs), SYSTEM)]
        if name == "first":
            return _first
        return _not
    if name in ("where", "all", "exists") and len(params) == 1:
        crit = _compile(params[0])
        if name == "all":
            def all_(pairs: Pairs) -> Pairs:
                for pair in pairs:
                    if not _all_true(crit(_one(pair))):
                        return [(False, SYSTEM)]
                return [(True, SYSTEM)]

            return all_

        def where(pairs: Pairs) -> Pairs:
            kept = [pair for pair in pairs if _truthy(crit(_one(pair)))]
            if any(path is SYSTEM and type(value) is list for value, path in kept):
                return pairs_of(flatten(nodes(kept)))  # the node form's ``flatten``
            return kept

        if name == "exists":
            return lambda pairs: [(bool(where(pairs)), SYSTEM)]
        return where
    if name not in _ON_NODES:
        raise _Refused(f"function {name}")
    for param in params:
        if name in ("ofType", "is", "as"):
            if param.get("type") != "TypeSpecifier":
                raise _Refused("type parameter")
        elif _literal(param) is None:
            raise _Refused(f"{name}() with a parameter that is no literal")
    return _on_nodes(ast)


def _first(pairs: Pairs) -> Pairs:
    if not pairs:
        return []
    value, path = pairs[0]
    return pairs_of(value) if path is SYSTEM and type(value) is list else [pairs[0]]  # ``arraify``


def _one(pair: tuple[Any, Any]) -> Pairs:
    """The ``$this`` a criterion gets for one item (the node form's ``arraify``)."""
    value, path = pair
    if path is SYSTEM:
        return pairs_of(arraify(value))
    return [pair]


def _not(pairs: Pairs) -> Pairs:
    if len(pairs) != 1:
        return []
    value, path = pairs[0]
    if path is SYSTEM:
        return [(not value if type(value) is bool else False, SYSTEM)]
    return pairs_of(functions._not(Env([], {}), nodes(pairs)))


def _on_nodes(ast: Ast) -> Direct:
    """The node form's closure for a function call (literal parameters), applied to the nodes."""
    from adapter.fhirpath import compiler

    try:
        body = compiler.compile_detached(ast)
    except Unsupported as exc:
        raise _Refused(str(exc)) from exc

    def call(pairs: Pairs) -> Pairs:
        items = nodes(pairs)
        return pairs_of(body(Env(items, {}), items))

    return call


def compile_direct(tree: Ast) -> Direct | None:
    """The direct form of a parsed expression (fhirpathpy's ``parse`` result), or ``None``."""
    try:
        return _compile(_children(tree, 1)[0])
    except _Refused:
        return None


def run(direct: Direct, root: Any) -> list[Any]:
    """``direct`` on ``root`` (a JSON value, or a node), as the node form's collection."""
    return nodes(direct(pairs_of(arraify(root))))
