"""Function invocations (FHIRPath N1 §5): the macros compiled natively, the rest delegated.

The macros (``where``, ``select``, ``exists(criterion)``, ``all``, ``aggregate``, ``iif``) and the
cheapest, most used functions are written here, following fhirpathpy's code line by line (its
``where`` evaluates each criterion twice; once gives the same result, since evaluation has no
side effect but on ``$this``/``$index``, which the second run sets to the same values). Every
other function of fhirpathpy's registry is called as fhirpathpy's ``doInvoke`` calls it: the same
parameter evaluation and checks, the same ``nullable`` rules, the same implementation (for
``distinct()``, ``isDistinct()`` and ``union()``: the same computation, cheaper,
:mod:`adapter.fhirpath.distinct`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from adapter.fhirpath import distinct, fhir, navigation
from adapter.fhirpath.env import FP_CTX, RN, UNSET, Compiled, Env, Items, arraify, flatten, get_data, is_true
from adapter.fhirpath.navigation import Member
from adapter.fhirpath.params import Maker, Unsupported, maker_for, type_param
from adapter.fhirpath.upstream import EVALUATORS, REGISTRY, TypeInfo

Ast = dict[str, Any]
CompileNode = Callable[[Ast], Compiled]


class _Criterion:
    """An ``Expr`` parameter evaluated on one item (``$this`` set to it)."""

    __slots__ = ("body",)

    def __init__(self, body: Compiled) -> None:
        self.body = body

    def __call__(self, env: Env, item: Any) -> Items:
        this = env.this = arraify(item)
        return self.body(env, this)


def _criterion(body: Compiled) -> Callable[[Env, Any], Items]:
    return _Criterion(body)


def _body(crit: Callable[[Env, Any], Items]) -> Compiled | None:
    """The criterion's body, for a loop to set ``$this`` itself (``None``: call the criterion)."""
    return crit.body if type(crit) is _Criterion else None


def _where(crit: Callable[[Env, Any], Items], member: Member | None = None, literal: str = "") -> Compiled:
    """``where(criterion)``; for ``where(key = 'text')`` (``member``, ``literal``) the string is read
    straight from an item whose ``key`` is one plain string (then ``=`` is string equality)."""

    body = _body(crit)

    def where(env: Env, data: Items) -> Items:
        kept = []
        for i, x in enumerate(data):
            env.index = i
            value = member.plain_string(x) if member is not None and type(x) is RN else None
            if value is not None:
                env.this = [x]  # as the criterion would have left it
                if value == literal:
                    kept.append(x)
                continue
            if body is None:
                r = crit(env, x)
            else:  # the criterion, inlined
                this = env.this = x if isinstance(x, list) else [x] if x is not None else []
                r = body(env, this)
            if r and r[0]:
                kept.append(x)
        return flatten(kept)

    return where


def _member_equals(ast: Ast) -> tuple[str, str] | None:
    """``key = 'text'`` (a lower-case member name, a string literal): ``(key, text)``, else ``None``."""
    if ast.get("type") != "EqualityExpression" or ast.get("terminalNodeText") != ["="]:
        return None
    left, right = ast.get("children") or [{}, {}]
    try:
        member = left["children"][0]["children"][0]
        literal = right["children"][0]["children"][0]
    except (KeyError, IndexError, TypeError):
        return None
    if left["type"] != "TermExpression" or left["children"][0]["type"] != "InvocationTerm" \
            or member["type"] != "MemberInvocation" or right["type"] != "TermExpression" \
            or right["children"][0]["type"] != "LiteralTerm" or literal["type"] != "StringLiteral":
        return None
    key = str(member["children"][0].get("text", "")).strip('"').replace("`", "")
    if not key or key[0] != key[0].lower() or key[0] == key[0].upper():
        return None  # a type name (``Patient``) or an odd one: the general code
    return key, EVALUATORS["StringLiteral"](None, None, literal)[0]


def _select(crit: Callable[[Env, Any], Items]) -> Compiled:
    def select(env: Env, data: Items) -> Items:
        out = []
        for i, x in enumerate(data):
            env.index = i
            out.append(crit(env, x))
        return flatten(out)

    return select


def _all(crit: Callable[[Env, Any], Items]) -> Compiled:
    body = _body(crit)

    def all_(env: Env, data: Items) -> Items:
        for i, x in enumerate(data):
            env.index = i
            if body is None:
                r = crit(env, x)
            else:  # the criterion, inlined
                this = env.this = x if isinstance(x, list) else [x] if x is not None else []
                r = body(env, this)
            if not (len(r) == 1 and r[0] == True):  # noqa: E712 - env.is_true, inlined: a node compares its data
                return [False]
        return [True]

    return all_


def _exists(crit: Callable[[Env, Any], Items] | None) -> Compiled:
    if crit is None:
        return lambda env, data: [bool(data)]
    where = _where(crit)
    return lambda env, data: [bool(where(env, data))]


def _aggregate(crit: Callable[[Env, Any], Items], init: Maker | None) -> Compiled:
    def aggregate(env: Env, data: Items) -> Items:
        env.total = None if init is None else init(env, env.this_or_root())
        for i, x in enumerate(data):
            env.index = i
            env.total = crit(env, x)
        return arraify(env.total)

    return aggregate


def _iif(cond: Compiled, ok: Compiled, fail: Compiled | None) -> Compiled:
    def iif(env: Env, data: Items) -> Items:
        # fhirpathpy hands the branches the whole input as ``$this`` (``arraify`` of the list).
        env.this = data
        if is_true(cond(env, data)):
            env.this = data
            return arraify(ok(env, data))
        if fail is None:
            return []
        env.this = data
        return arraify(fail(env, data))

    return iif


def _not(env: Env, data: Items) -> Items:
    if len(data) != 1:
        return []
    value = get_data(data[0])
    return [not value] if isinstance(value, bool) else [False]


def _first(env: Env, data: Items) -> Items:
    return arraify(data[0]) if data else []


def _last(env: Env, data: Items) -> Items:
    return arraify(data[-1]) if data else []


def _user(fn: Callable[[list[Any]], Any]) -> Compiled:
    return lambda env, data: arraify(fn([get_data(i) for i in data]))


# Functions without parameters, compiled natively.
_PLAIN: dict[str, Compiled] = {
    "empty": lambda env, data: [not data],
    "count": lambda env, data: [len(data)],
    "not": _not,
    "first": _first,
    "last": _last,
    "tail": lambda env, data: data[1:],
    "children": navigation.children,
    "descendants": navigation.descendants,
    "hasValue": _user(fhir.has_value),
    "resolve": _user(fhir.resolve),
}


def compile_function(name: str, params: list[Ast], compile_node: CompileNode,
                     compile_criterion: CompileNode | None = None) -> Compiled:
    """The closure for ``name(params…)`` applied to its input collection (``compile_criterion``
    compiles a parameter evaluated per item; default: ``compile_node``)."""
    per_item = compile_criterion or compile_node
    if name in _PLAIN:
        if params:
            raise Unsupported(f"{name}() with parameters")
        return _PLAIN[name]
    crit = [_criterion(per_item(p)) for p in params[:1]] if name in _CRITERIA else []
    if name == "where" and len(params) == 1 and _member_equals(params[0]) is not None:
        key, literal = _member_equals(params[0])  # type: ignore[misc]
        return _where(crit[0], Member(key), literal)
    if name in ("where", "select", "all") and len(params) == 1:
        return {"where": _where, "select": _select, "all": _all}[name](crit[0])
    if name == "exists" and len(params) <= 1:
        return _exists(crit[0] if params else None)
    if name == "aggregate" and len(params) in (1, 2):
        return _aggregate(crit[0], maker_for("Any", params[1], compile_node) if len(params) == 2 else None)
    if name == "iif" and len(params) in (2, 3):
        bodies = [compile_node(p) for p in params]
        return _iif(bodies[0], bodies[1], bodies[2] if len(params) == 3 else None)
    if name == "ofType" and len(params) == 1:
        return _of_type(type_param(params[0])(Env([], {}), []))
    if name == "trace" and len(params) in (1, 2):
        return _trace(maker_for("String", params[0], compile_node))
    if name in _MACROS or name not in REGISTRY:
        raise Unsupported(f"function {name}() with {len(params)} parameters")
    return _delegate(name, params, compile_node, per_item)


_CRITERIA = frozenset({"where", "select", "all", "exists", "aggregate"})
_MACROS = _CRITERIA | {"iif", "trace", "ofType"}


def _trace(label: Maker) -> Compiled:
    def trace(env: Env, data: Items) -> Items:
        label(env, env.this_or_root())  # fhirpathpy evaluates the label (and sets $this) first
        return data

    return trace


def _of_type(info: Any) -> Compiled:
    """``ofType(T)``: fhirpathpy's type test, remembered per node type path (and model state)."""
    seen: dict[tuple[str, int], bool] = {}

    def of_type(env: Env, data: Items) -> Items:
        model = id(TypeInfo.model)  # fhirpathpy's type tests read this global (set by is/as)
        out = []
        for v in data:
            path = v.path if type(v) is RN else None
            if isinstance(path, str) and ("." not in path or TypeInfo.model is not None):
                hit = seen.get((path, model))
                if hit is None:
                    hit = seen[(path, model)] = bool(TypeInfo.from_value(v).is_(info))
            else:
                hit = bool(TypeInfo.from_value(v).is_(info))
            if hit:
                out.append(v)
        return out

    return of_type


# Registry functions whose implementation is replaced by the same computation, made cheaper
# (called the same way: fhirpathpy's ``ctx``, the input, the parameters' values).
_NATIVE: dict[str, Callable[..., Any]] = {
    "distinct": lambda ctx, data: distinct.distinct(data),
    "isDistinct": lambda ctx, data: [distinct.is_distinct(data)],
    "union": lambda ctx, data, other: distinct.union(data, other),
}


def _delegate(name: str, params: list[Ast], compile_node: CompileNode, per_item: CompileNode) -> Compiled:
    """fhirpathpy's ``doInvoke`` for one registry entry, with its parameters compiled."""
    inv = REGISTRY[name]
    fn = _NATIVE.get(name, inv["fn"])
    nullable_input = "nullable_input" in inv
    if "variadic" in inv:
        makers = [maker_for(inv["variadic"], p, compile_node) for p in params]
    elif "arity" not in inv:
        if params:
            raise Unsupported(f"{name}() takes no parameters")
        return lambda env, data: [] if nullable_input and not data else arraify(fn(FP_CTX, arraify(data)))
    elif len(params) in inv["arity"]:
        makers = [maker_for(kind, p, per_item if kind == "Expr" else compile_node)
                  for kind, p in zip(inv["arity"][len(params)], params)]
    else:
        raise Unsupported(f"{name}() with {len(params)} parameters")
    nullable = "nullable" in inv
    if len(makers) == 1:
        return _delegate_one(fn, makers[0], nullable_input, nullable)

    def call(env: Env, data: Items) -> Items:
        if nullable_input and not data:
            return []
        focus = env.this_or_root()
        values = [m(env, focus) for m in makers]
        if nullable and (not data or any(v is None or (isinstance(v, list) and not v) for v in values)):
            return []
        return arraify(fn(FP_CTX, data, *values))

    return call


def _delegate_one(fn: Callable[..., Any], maker: Maker, nullable_input: bool, nullable: bool) -> Compiled:
    """``_delegate``'s call for a function of one parameter (the same steps, unrolled)."""

    def call(env: Env, data: Items) -> Items:
        if nullable_input and not data:
            return []
        this = env.this
        value = maker(env, env.root if this is UNSET else this)
        if nullable and (not data or value is None or (isinstance(value, list) and not value)):
            return []
        return arraify(fn(FP_CTX, data, value))

    return call
