"""Loop-invariant hoisting: a subexpression that reads only ``%`` variables, evaluated once.

Inside a criterion (``where``, ``select``, ``all``, ``exists``, ``aggregate``, ``repeat``), the
parameters of a criterion evaluated per item, an expression like
``%resource.entry.resource.ofType(MessageHeader).destination.receiver.reference.first()`` gives
the same collection for every item: it never reads the item, ``$this``, ``$index`` or ``$total``.
Such a subexpression (found on the syntax tree by :func:`free_variables`) is compiled into a
:class:`Hoisted` node: the first evaluation in an expression's evaluation computes it, the
others (for the next items, and wherever the same subexpression appears again in the same
expression) give the remembered result. The evaluation state is kept as it would have been:

* fhirpathpy's ``$this``/``$index``/``$total`` are left behind by the functions that set them
  (a ``where()`` inside the subexpression sets ``$this`` to its items, an operator sets ``$this``
  to its input), and later parameters read what was left. The first evaluation runs with
  markers in place of ``$this``, ``$index``, ``$total`` and the input (the subexpression does
  not read them), so afterwards it is known which of them it set, and to what: a later use sets
  the same (``$this`` to its own input where the subexpression's operators set it to theirs).
* Results: a node the subexpression made is a new node on every evaluation in fhirpathpy, and
  collections of nodes mixed with other values are deduplicated by node identity
  (:mod:`adapter.fhirpath.distinct`): a later use gives copies of the nodes, in its result and in
  the ``$this``/``$total`` it leaves (one copy per node, so what was one node stays one). A node that is not
  new each time (a ``%`` variable that is itself a node, ``%context`` on an element) would be
  copied wrongly: a subexpression reading such a variable is evaluated every time.
* fhirpathpy's type tests read a global the first ``is``/``as`` sets (``TypeInfo.model``): a
  result is reused only under the same value of it.
* An error is not remembered: the subexpression is evaluated again, as it was, and raises.

The clock (``now()``, ``today()``) and ``resolve()``'s scope are fixed for one evaluation, so
they are the same on every use.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from adapter.fhirpath.env import RN, UNSET, Compiled, Env, Items
from adapter.fhirpath.upstream import REGISTRY, TypeInfo

Ast = dict[str, Any]
Bound = frozenset[str]  # what is known to be set inside the subexpression: "data", "this", "index", "total"

_OPERATORS = frozenset({"InequalityExpression", "AdditiveExpression", "MultiplicativeExpression",
                        "EqualityExpression", "OrExpression", "ImpliesExpression", "AndExpression",
                        "XorExpression", "MembershipExpression", "TypeExpression", "UnionExpression"})
_WRAPPERS = frozenset({"TermExpression", "InvocationTerm", "ParenthesizedTerm"})
_NONTRIVIAL = _OPERATORS | {"InvocationExpression", "FunctionInvocation", "IndexerExpression", "PolarityExpression"}
# Functions whose Expr parameter is evaluated per item with $this set (and $index, $total as named)
_CRITERIA: dict[str, frozenset[str]] = {
    "where": frozenset({"data", "this", "index"}),
    "select": frozenset({"data", "this", "index"}),
    "all": frozenset({"data", "this", "index"}),
    "exists": frozenset({"data", "this", "index"}),
    "aggregate": frozenset({"data", "this", "index", "total"}),
    "repeat": frozenset({"data", "this"}),
}
_NATIVE = frozenset({"hasValue", "resolve"})  # adapter.fhirpath.fhir's, without parameters
_DATA = frozenset({"data"})
_THIS = frozenset({"this"})


def _identifier(ast: Ast) -> str | None:
    text = ast.get("text") if ast.get("type") == "Identifier" else None
    return text.strip('"').replace("`", "") if isinstance(text, str) else None


def _children(ast: Ast) -> list[Ast]:
    children = ast.get("children")
    return children if isinstance(children, list) else []


def _merge(a: set[str] | None, b: set[str] | None) -> set[str] | None:
    return None if a is None or b is None else a | b


def _value_bound(bound: Bound) -> Bound:
    """A value parameter is evaluated on ``$this``: its input is known where ``$this`` is."""
    return (bound - _DATA) | (_DATA if "this" in bound else frozenset())


def _function(ast: Ast, bound: Bound) -> set[str] | None:
    """The variables a function invocation's parameters read (its input: known by the caller)."""
    parts = _children(_children(ast)[0]) if len(_children(ast)) == 1 else []
    if not parts or _children(ast)[0].get("type") != "Functn":
        return None
    name = _identifier(parts[0])
    params = _children(parts[1]) if len(parts) > 1 else []
    if name is None or len(parts) > 2:
        return None
    if name in _NATIVE:
        return None if params else set()
    inv = REGISTRY.get(name)
    if inv is None:
        return None
    found: set[str] | None = set()
    for i, param in enumerate(params):
        if name == "iif":
            inner = bound | _DATA | _THIS  # the branches see the iif's input as $this
        elif name in _CRITERIA and i == 0:
            inner = bound | _CRITERIA[name]
        elif name in ("ofType", "is", "as"):
            inner = bound  # a type specifier: no evaluation
        else:
            inner = _value_bound(bound)
        found = _merge(found, free_variables(param, inner))
    return found


_MEMO = threading.local()


@contextmanager
def remembering() -> Iterator[None]:
    """Within the block, :func:`free_variables`, :func:`hoistable` and :func:`key_of` answer each subtree once:
    compiling one expression asks them of every subtree again for each enclosing one (the
    compiler, the count of repeated subexpressions, the direct form), quadratic in its depth. The
    answers are filed under the subtrees' ``id`` together with the subtree (so that no other object
    can take that id while the memo lives): the memo goes when the block ends."""
    outer = getattr(_MEMO, "table", None)
    _MEMO.table = {} if outer is None else outer
    try:
        yield
    finally:
        _MEMO.table = outer


def free_variables(ast: Ast, bound: Bound = frozenset()) -> set[str] | None:
    """The ``%`` variables ``ast`` reads, when that is all it reads of the evaluation state besides
    what ``bound`` names as set within it (nothing: the input, ``$this``, ``$index``, ``$total`` of
    the place it stands are not read); ``None`` when it may read any of those."""
    found: frozenset[str] | None = _remembered(("free", id(ast), bound), ast, lambda: _frozen(_free_variables(ast, bound)))
    return None if found is None else set(found)


def _frozen(found: set[str] | None) -> frozenset[str] | None:
    return None if found is None else frozenset(found)


def _remembered(key: tuple[Any, ...], ast: Ast, compute: Callable[[], Any]) -> Any:
    """``compute()``, or within :func:`remembering` its answer filed under ``key`` (which holds
    ``id(ast)``): the subtree is kept with the answer, so that while the memo lives its id is no other's."""
    table = getattr(_MEMO, "table", None)
    if table is None:
        return compute()
    entry = table.get(key)
    if entry is None:
        entry = table[key] = (ast, compute())
    return entry[1]


remembered = _remembered
"""For other analyses of one expression (:func:`adapter.fhirpath.compiler.repeated_counts`)."""


def _free_variables(ast: Ast, bound: Bound) -> set[str] | None:
    kind = ast.get("type")
    children = _children(ast)
    if kind in _WRAPPERS:
        return free_variables(children[0], bound) if len(children) == 1 else None
    if kind in ("LiteralTerm", "TypeSpecifier"):
        return set()
    if kind == "ExternalConstantTerm":
        inner = _children(children[0]) if len(children) == 1 else []
        name = _identifier(inner[0]) if len(inner) == 1 else None
        return None if name is None else {name}
    if kind == "ThisInvocation":
        return set() if "this" in bound else None
    if kind == "IndexInvocation":
        return set() if "index" in bound else None
    if kind == "TotalInvocation":
        return set() if "total" in bound else None
    if kind == "MemberInvocation":
        return set() if "data" in bound else None
    if kind == "FunctionInvocation":
        return _function(ast, bound) if "data" in bound else None
    if kind == "InvocationExpression" and len(children) == 2:
        # the step's input is what the left side gives: made within, never the outer input
        return _merge(free_variables(children[0], bound), free_variables(children[1], bound | _DATA))
    if kind in _OPERATORS:
        # both operands are evaluated on the operator's input, with $this set to it
        operand_bound = (bound - _THIS) | (_THIS if "data" in bound else frozenset())
        found: set[str] | None = set()
        for child in children:
            found = _merge(found, free_variables(child, operand_bound))
        return found
    if kind in ("IndexerExpression", "PolarityExpression"):
        found = set()
        for child in children:
            found = _merge(found, free_variables(child, bound))
        return found
    return None


def hoistable(ast: Ast) -> tuple[str, ...] | None:
    """The variables of a subexpression worth evaluating once (see the module's text), else ``None``."""
    inner = ast
    while inner.get("type") in _WRAPPERS and len(_children(inner)) == 1:
        inner = _children(inner)[0]
    if inner.get("type") not in _NONTRIVIAL:
        return None  # (most subtrees: settled without the memo)
    found: tuple[str, ...] | None = _remembered(("hoistable", id(ast)), ast, lambda: _hoistable(ast))
    return found


def _hoistable(ast: Ast) -> tuple[str, ...] | None:
    names = free_variables(ast)
    return None if names is None else tuple(sorted(names))


_KEYS: dict[tuple[Any, ...], int] = {}
_NUMBERS = itertools.count()


def key_of(ast: Ast) -> int:
    """One number per distinct subtree (its whole structure, not its text, which lacks spaces);
    safe with threads (``count`` and ``setdefault`` are atomic)."""
    number: int = _remembered(("key", id(ast)), ast, lambda: _key_of(ast))
    return number


def _key_of(ast: Ast) -> int:
    # The subtree's own fields (as JSON: exact for any value) and its children's numbers: equal
    # structures give equal tuples, and each level is described once, not again in every ancestor.
    parts: list[tuple[str, Any]] = []
    for name in sorted(ast):
        value = ast[name]
        if name == "children" and isinstance(value, list) and all(type(c) is dict for c in value):
            parts.append((name, tuple(key_of(child) for child in value)))
        else:
            parts.append((name, json.dumps(value, sort_keys=True)))
    shape = tuple(parts)
    key = _KEYS.get(shape)
    return _KEYS.setdefault(shape, next(_NUMBERS)) if key is None else key


class _Marker:
    __slots__ = ()


_KEEP = _Marker()  # the subexpression left the slot as it was
_INPUT = _Marker()  # ... set $this to its own input (an operator's operands)
_UNTOUCHED = _Marker()  # the value put in $index/$total while the subexpression first runs


def _plain_variable(value: Any) -> bool:
    if type(value) is RN:
        return False
    return not (isinstance(value, list) and any(type(v) is RN for v in value))


def _copy(item: Any) -> Any:
    if type(item) is not RN:
        return item
    twin = object.__new__(RN)
    twin.__dict__.update(item.__dict__)
    return twin


def _fresh(value: Any, copies: dict[int, Any]) -> Any:
    """``value`` as a new evaluation gives it: a new list, new nodes (the same copy for one node)."""
    if type(value) is RN:
        twin = copies.get(id(value))
        if twin is None:
            twin = copies[id(value)] = _copy(value)
        return twin
    if type(value) is not list:
        return value
    return [_fresh(item, copies) if type(item) is RN else item for item in value]


class Hoisted:
    """A subexpression reading only ``%`` variables: evaluated once per evaluation (module's text)."""

    __slots__ = ("body", "key", "names")

    def __init__(self, body: Compiled, key: int, names: tuple[str, ...]) -> None:
        self.body, self.key, self.names = body, key, names

    def __call__(self, env: Env, data: Items) -> Items:
        if env.this is UNSET:  # fhirpathpy's parameters would read the root: not the case hoisted
            return self.body(env, data)
        memo = env.memo
        if memo is None:
            memo = env.memo = {}
        known = memo.get(self.key)
        if known is not None and known[4] is TypeInfo.model:
            result, this, index, total, _ = known
            copies: dict[int, Any] = {}  # one new node per node, wherever it stands
            if this is not _KEEP:
                env.this = data if this is _INPUT else _fresh(this, copies)
            if index is not _KEEP:
                env.index = index
            if total is not _KEEP:
                env.total = _fresh(total, copies)
            fresh: Items = _fresh(result, copies)
            return fresh
        variables = env.vars
        if not all(_plain_variable(variables.get(name)) for name in self.names):
            return self.body(env, data)
        return self._first(env, data, memo)

    def _first(self, env: Env, data: Items, memo: dict[int, Any]) -> Items:
        saved = env.this, env.index, env.total
        model = TypeInfo.model
        this_marker: Items = []
        input_marker: Items = []
        env.this, env.index, env.total = this_marker, _UNTOUCHED, _UNTOUCHED
        try:
            result = self.body(env, input_marker)
        except Exception:  # noqa: BLE001 - not remembered: run again as it was, to raise as it raises
            env.this, env.index, env.total = saved
            return self.body(env, data)
        this: Any = env.this
        this = _KEEP if this is this_marker else _INPUT if this is input_marker else this
        index = _KEEP if env.index is _UNTOUCHED else env.index
        total = _KEEP if env.total is _UNTOUCHED else env.total
        env.this = saved[0] if this is _KEEP else data if this is _INPUT else this
        env.index = saved[1] if index is _KEEP else index
        env.total = saved[2] if total is _KEEP else total
        if TypeInfo.model is model:  # else an is/as inside set fhirpathpy's model: not the same next time
            memo[self.key] = (list(result), this, index, total, model)
        return result
