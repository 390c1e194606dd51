"""The direct form: a compiled expression evaluated on the parsed JSON, without fhirpathpy's nodes.

The node form (:mod:`adapter.fhirpath.compiler`) works on fhirpathpy's ``ResourceNode``s: every
member step makes one object per item, with its FHIR type path. Most invariants only count what
member steps find (``contained.meta.security.empty()``), combine Booleans and compare a string
with a literal: for those the nodes are pure overhead. Here such an expression is compiled once
more, into closures over *pairs* ``(value, type path)``: the JSON value as the parser gave it
(``dict``, ``list``, ``str``, ``bool``, numbers) and the type path fhirpathpy's node for it would
carry, computed the way :class:`adapter.fhirpath.navigation.Member` computes it (per parent type
path, once). A system value (a literal, a Boolean an ``exists()`` gave, a root given as plain JSON)
stands as itself: a collection is a list of pairs (tuples: what JSON never holds) and such values.
``key.exists()``, ``key.empty()`` and ``key.count()`` count what the step would give, making nothing.

Exactness is by construction rather than by imitation: wherever the node form's semantics depend
on more than the plain value (a ``date``/``Quantity``-typed operand of ``=``, a non-Boolean operand
of ``and``, the truth of a criterion's result, a function other than counting), the pairs are
turned back into the very nodes the node form would hold (:func:`nodes`: ``node(value, path)``)
and the node form's own code is called on them. The direct form's own code is the member step,
the counting functions, the criteria loops and the fast string/integer/Boolean equality. An R4
choice element (``value`` → ``valueString``…) is read by the node form's own code, per parent type.

``where(key = 'text')``, ``contains``/``matches`` of a literal on one string, ``hasValue()`` and
``<``/``>``/``<=``/``>=`` on two plain strings or integers are computed here as the node form's fast
paths compute them (the node form's closure otherwise). ``a + b`` where both operands end in
``count()`` (``(identifier.count() + name.count()) > 0``) adds the two integers, as fhirpathpy's
``plus`` does (:func:`_plus_integers`); any other ``+`` is refused (through the node form's
operator it was measured no faster than the node form itself). ``ofType(T)`` tests each pair's
type as the node form's ``functions._of_type`` tests its node (:func:`_of_type`: remembered per type
path and ``TypeInfo.model``; a node made only when not yet remembered). ``is``/``as`` (operator or
function) call what the node form calls, fhirpathpy's ``is_fn``/``as_fn``, which first set the
global ``TypeInfo.model``: on one pair that is set, then the type test remembered per type path
(:func:`type_test`). ``a & b`` checks each operand as the node form's ``String`` parameter does
(one string: itself; else its own checks on the nodes), then calls ``amp``; ``a + b`` where one
operand is a string literal (``'urn:x:' + code``) calls fhirpathpy's ``plus`` on the nodes, empty
when an operand is (:func:`plus_values`).

The closures are then, by default, turned into one generated Python function with the same
semantics (:mod:`adapter.fhirpath.codegen`; ``Form.body`` is that function, ``Form.closure`` the
closures it is tested against). A criterion holding a subexpression that reads only ``%`` variables
has a form only where it is generated: the generated function computes that subexpression once per
evaluation (the closures, compiled with ``per_item``, would compute it per item).

The form is decided once per expression, when it is compiled (:func:`compile_direct` gives
``None`` for an expression outside the subset, and the node form is used). Outside the subset:
``%`` variables but ``%context``, ``%resource``, ``%rootResource``, ``%ucum`` (read as the node form
reads them: the same values, a node given as its data and path); ``$this`` where fhirpathpy may not
have set it to the term's input (it is read only in a criterion or an operator's operand: both
set it so); ``$index``/``$total``; member steps on a type name (``Patient.x``) or on ``length``;
operators but ``and``/``or``/``xor``/``implies``, ``=``/``!=``, ordering, ``in`` of literal
strings, ``is``/``as``, ``&``, ``+`` of two counts or with a string literal; the indexer, unary
signs, unions but of literals, date/time and quantity literals;
functions that read the clock, other resources or the evaluation state (``resolve``, ``iif``,
``aggregate``, ``repeat``, ``trace``, ``children``, ``descendants``); a function parameter that is
not a literal (or a type, for ``ofType``/``is``/``as``); and, since the node form evaluates them
once per evaluation (:mod:`adapter.fhirpath.hoist`) where the closures would repeat them, a
criterion holding a subexpression that reads only ``%`` variables, and such a subexpression used
twice, unless the form is generated (below): the generated function remembers them. Primitive
extensions (``_status``) are read as the node form reads them: an item of their own, after the
value, typed as the value.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from adapter.fhirpath import fhir, functions
from adapter.fhirpath.env import FP_CTX, RN, Env, arraify, flatten, get_data, is_capitalized, node
from adapter.fhirpath.hoist import _CRITERIA, free_variables, hoistable
from adapter.fhirpath.navigation import Member
from adapter.fhirpath.operators import _DATE_PATHS, _QUANTITY_PATHS, arithmetic_values, order_values
from adapter.fhirpath.operators import _ORDER as _NODE_ORDER
from adapter.fhirpath.params import Const, Unsupported, boolean_operand, type_param, value_param
from adapter.fhirpath.upstream import REGISTRY, FP_Quantity, TypeInfo, fp_equal, fp_unequal

Ast = dict[str, Any]
Pairs = list[Any]  # (value, type path) tuples for what the node form holds as nodes; system values as they are
Vars = dict[str, Any]  # the % variables, as the node form holds them (values, nodes)
Direct = Callable[[Pairs, Vars], Pairs]


_PLAIN_TYPES = (str, int, bool)
_SCALARS = (str, int, bool, float, type(None))
_ODD_PATHS = _QUANTITY_PATHS | _DATE_PATHS
_WRAPPERS = ("TermExpression", "InvocationTerm", "ParenthesizedTerm")
# Functions the node form evaluates on nodes, called here on the nodes the pairs stand for; their
# parameters must be literals (or a type). None reads the clock, other resources or $this.
_ON_NODES = frozenset({"contains", "matches", "startsWith", "endsWith", "hasValue", "ofType", "is", "as",
                       "distinct", "isDistinct", "toString", "substring", "length", "lower", "upper",
                       "single", "last", "tail", "skip", "take", "trim", "indexOf", "replace", "replaceMatches",
                       "toInteger", "toDecimal", "convertsToInteger", "convertsToDecimal", "convertsToString",
                       "convertsToBoolean", "toBoolean", "allTrue", "anyTrue", "allFalse", "anyFalse", "supersetOf",
                       "subsetOf", "intersect", "exclude", "union", "combine", "abs", "ceiling", "floor"})
_ORDER = dict(_NODE_ORDER)  # the node form's comparisons (its own copy: a test breaks one of them)


def nodes(items: Pairs) -> list[Any]:
    """The collection the node form holds where the direct form holds ``items``."""
    return [node(i[0], i[1]) if type(i) is tuple else i for i in items]


def pairs_of(items: list[Any]) -> Pairs:
    """A node form collection in the direct form (a node as its data and type path)."""
    return [(i.data, i.path) if type(i) is RN else i for i in items]


def _listed(result: Any) -> Pairs:
    return pairs_of(result if isinstance(result, list) else [] if result is None else [result])


class _Step:
    """``.key`` on a collection: what :class:`Member` gives, as pairs, without making nodes."""

    __slots__ = ("member", "key", "ext_key", "children")

    def __init__(self, key: str) -> None:
        self.member = Member(key)
        self.key, self.ext_key = key, "_" + key
        self.children: dict[Any, str] = {}  # parent type path -> child type path, where no choice type

    def child(self, path: Any) -> str | None:
        """The child's type path under a parent of type ``path``; ``None`` for a choice element."""
        step = self.member.step(path)
        if step.choices is not None:
            return None
        child = step.extension_path if self.key == "extension" else step.path
        if path is None or type(path) is str:
            self.children[path] = child
        return child

    def other(self, d: Any, path: Any) -> Pairs:
        """What the node form's own code gives (choice elements, values that are no object)."""
        acc: list[Any] = []
        self.member.other(acc, d, self.member.step(path))
        return pairs_of(acc)

    def __call__(self, items: Pairs, v: Vars) -> Pairs:
        out: Pairs = []
        key, ext_key, children = self.key, self.ext_key, self.children
        for item in items:
            kind = type(item)
            if kind is tuple:
                d, path = item
                if type(d) is not dict:
                    if type(d) not in _SCALARS:
                        out += self.other(d, path)
                    continue
            elif kind is dict:  # a raw object: the node form's ``as_node`` types it
                d, path = item, item.get("resourceType")
            else:
                if kind not in _SCALARS:
                    out += self.other(item, None)
                continue
            child = children.get(path) if path is None or type(path) is str else None
            if child is None:
                child = self.child(path)
                if child is None:
                    out += self.other(d, path)
                    continue
            value = d.get(key)
            if value is not None:
                _add(out, value, child)
            if ext_key in d:
                value = d[ext_key]
                if value is not None:
                    _add(out, value, child)
        return out

    def count(self, items: Pairs) -> int:
        """``len(self(items))``, making nothing."""
        found = 0
        key, ext_key, children = self.key, self.ext_key, self.children
        for item in items:
            kind = type(item)
            if kind is tuple:
                d, path = item
                if type(d) is not dict:
                    if type(d) not in _SCALARS:
                        found += len(self.other(d, path))
                    continue
            elif kind is dict:
                d, path = item, item.get("resourceType")
            else:
                if kind not in _SCALARS:
                    found += len(self.other(item, None))
                continue
            if (path is None or type(path) is str) and path in children:
                pass
            elif self.child(path) is None:
                found += len(self.other(d, path))
                continue
            value = d.get(key)
            if value is not None:
                found += len(value) if type(value) is list else 1
            if ext_key in d:
                value = d[ext_key]
                if value is not None:
                    found += len(value) if type(value) is list else 1
        return found


def _add(out: Pairs, value: Any, child: str) -> None:
    """What ``node(v, child)`` would type each item: a resource by its own ``resourceType``."""
    if type(value) is list:
        out += [(v, v["resourceType"] if type(v) is dict and "resourceType" in v else child) for v in value]
    elif type(value) is dict and "resourceType" in value:
        out.append((value, value["resourceType"]))
    else:
        out.append((value, child))


class _Count:
    """``key.exists()``, ``key.empty()``, ``key.count()``: the step's items counted, not made."""

    __slots__ = ("step", "test", "boolean")

    def __init__(self, step: _Step, test: str) -> None:
        self.step, self.test = step, test
        self.boolean = test != "count"  # exists()/empty(): always one Boolean (see _boolean)

    def __call__(self, items: Pairs, v: Vars) -> Pairs:
        found = self.step.count(items)
        test = self.test
        return [found > 0] if test == "exists" else [found == 0] if test == "empty" else [found]


class _Refused(Exception):
    """Outside the direct subset (internal to compilation)."""


class _PerItem(_Refused):
    """A criterion holding a subexpression that reads only ``%`` variables (see ``_Compiler.per_item``)."""


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
    fixed = list(values)
    return lambda items, v: list(fixed)


def _unwrapped(ast: Ast) -> Ast:
    while ast.get("type") in _WRAPPERS and len(ast.get("children") or []) == 1:
        ast = ast["children"][0]
    return ast


def _function_name(ast: Ast) -> tuple[str, int] | None:
    """``(name, number of parameters)`` of a function invocation, else ``None``."""
    if ast.get("type") != "FunctionInvocation":
        return None
    parts = (ast.get("children") or [{}])[0].get("children") or []
    if not parts or parts[0].get("type") != "Identifier":
        return None
    params = (parts[1].get("children") or []) if len(parts) > 1 else []
    return str(parts[0].get("text")), len(params)


_COUNTING = frozenset({("exists", 0), ("empty", 0), ("count", 0)})
_VARIABLES = frozenset({"context", "resource", "rootResource", "ucum"})
_AGGREGATE = _CRITERIA["aggregate"]  # what aggregate() sets for its criterion: its item, $this, $index, $total


class _Compiler:
    """One expression's compilation: ``focus`` says whether ``$this`` is known where a term stands
    (set by the enclosing operator or criterion, as the node form sets it: see :func:`_this`)."""

    def __init__(self, per_item: bool = False) -> None:
        self.variables = False  # whether it reads a % variable
        # whether a criterion may hold a subexpression reading only % variables (evaluated per item
        # here: the same values, only slower; adapter.fhirpath.codegen evaluates it once)
        self.per_item = per_item

    def compile(self, ast: Ast, focus: bool) -> Direct:
        kind = ast.get("type")
        if kind in _WRAPPERS:
            return self.compile(_children(ast, 1)[0], focus)
        literal = _literal(ast)
        if literal is not None:
            return _const(literal)
        quantities = _quantity_literal(ast)
        if quantities is not None:  # (system values: every operator but + takes them by its general code)
            return _const(quantities)
        if kind == "MemberInvocation":
            return _member(ast)
        if kind == "InvocationExpression":
            return self.invocation(ast, focus)
        if kind == "FunctionInvocation":
            return self.function(ast)
        if kind == "ThisInvocation":
            if not focus:
                raise _Refused("$this where fhirpathpy may not have set it")
            return _this
        if kind == "ExternalConstantTerm":
            name = _name(_children(_children(ast, 1)[0], 1)[0])
            if name not in _VARIABLES:
                raise _Refused(f"variable %{name}")
            self.variables = True
            return _variable(name)
        if kind in ("AndExpression", "OrExpression", "XorExpression", "ImpliesExpression"):
            return _logic(ast["terminalNodeText"][0], *(self.compile(c, True) for c in _children(ast, 2)))
        if kind == "EqualityExpression" and ast.get("terminalNodeText") in (["="], ["!="]):
            return _equal(ast["terminalNodeText"][0] == "!=", *(self.compile(c, True) for c in _children(ast, 2)))
        if kind == "MembershipExpression" and ast.get("terminalNodeText") == ["in"]:
            left, right = _children(ast, 2)
            values = _literal(right)
            if values and all(type(v) is str for v in values):
                return _in_strings(self.compile(left, True), values)
        if kind == "InequalityExpression" and ast.get("terminalNodeText", [""])[0] in _ORDER:
            left, right = _children(ast, 2)
            return _order(ast["terminalNodeText"][0], self.compile(left, True), self.compile(right, True))
        if kind == "AdditiveExpression" and ast.get("terminalNodeText") == ["+"]:
            left, right = _children(ast, 2)
            if _counting(left) and _counting(right):  # ``(identifier.count() + name.count())``
                return _plus_integers(self.compile(left, True), self.compile(right, True), self.bridged(ast))
            if any(_string_literal(a) or _quantity_literal(a) is not None for a in (left, right)):
                return _plus(self.compile(left, True), self.compile(right, True))  # ``'urn:x:' + code``, ``+ 7 days``
        if kind == "AdditiveExpression" and ast.get("terminalNodeText") == ["&"]:
            left, right = _children(ast, 2)
            return _amp(self.compile(left, True), self.compile(right, True))
        if kind == "TypeExpression" and ast.get("terminalNodeText") in (["is"], ["as"]):
            left, right = _children(ast, 2)
            test = type_test(ast["terminalNodeText"][0] + "Op", _type_info(right))
            operand = self.compile(left, True)
            return lambda items, v: test(operand(items, v))
        raise _Refused(f"node {kind}")  # (other operators: converting to nodes and back costs more than it saves)

    def invocation(self, ast: Ast, focus: bool) -> Direct:
        left, right = _children(ast, 2)
        if _function_name(right) in _COUNTING:
            test = str(_function_name(right)[0])  # type: ignore[index]
            inner = _unwrapped(left)
            if inner.get("type") == "MemberInvocation":  # ``key.exists()``
                return _Count(_member(inner), test)
            if inner.get("type") == "InvocationExpression" and \
                    _children(inner, 2)[1].get("type") == "MemberInvocation":  # ``X.key.exists()``
                before, count = self.compile(_children(inner)[0], focus), _Count(_member(_children(inner)[1]), test)
                counted = lambda items, v: count(before(items, v), v)  # noqa: E731
                return _boolean(counted) if count.boolean else counted
        # (``a.$this`` reads what an operator or criterion set, not ``a``'s items: refused on the right)
        first, second = self.compile(left, focus), self.compile(right, False)
        if second is _not and _is_boolean(first):  # ``(a.exists() and b.exists()).not()``
            return _not_boolean(first)
        chained = lambda items, v: second(first(items, v), v)  # noqa: E731
        return _boolean(chained) if _is_boolean(second) else chained

    def bridged(self, ast: Ast) -> Direct:
        """An operator as the node form computes it (for ordering on anything but two plain values):
        its own closure, its operands in the direct form (given the nodes of its input)."""
        from adapter.fhirpath import compiler

        def operand(sub: Ast) -> Any:
            inner = _unwrapped(sub)
            if inner.get("type") == "LiteralTerm" or _literal(sub) is not None:
                return compiler.compile_detached(sub)  # the node form's constant
            return _Bridge(self.compile(sub, True))

        try:
            kind = ast["type"]
            op = ast["terminalNodeText"][0]
            op = {"MembershipExpression": {"contains": "containsOp", "in": "inOp"},
                  "TypeExpression": {"is": "isOp", "as": "asOp"}}.get(kind, {}).get(op, op)
            body = compiler.compile_operator_detached(op, _children(ast, 2), operand)
        except Unsupported as exc:
            raise _Refused(str(exc)) from exc
        return _on_node_form(body)

    def function(self, ast: Ast) -> Direct:
        functn = _children(ast, 1)[0]
        parts = _children(functn)
        name = _name(parts[0])
        params = _children(parts[1]) if len(parts) > 1 and parts[1].get("children") else []
        if len(parts) > 2 or (len(parts) > 1 and parts[1].get("type") != "ParamList"):
            raise _Refused(f"function {name} with unexpected syntax")
        if name == "hasValue" and not params:
            return _has_value
        if name in ("exists", "empty", "count", "first", "not") and not params:
            if name == "exists":
                return _boolean(lambda items, v: [bool(items)])
            if name == "empty":
                return _boolean(lambda items, v: [not items])
            if name == "count":
                return lambda items, v: [len(items)]
            return _first if name == "first" else _not
        if name in ("where", "all", "exists", "select") and len(params) == 1:
            if _reads_variables(params[0]) and not self.per_item:
                raise _PerItem("a criterion with a subexpression the node form evaluates once (hoist)")
            crit = self.compile(params[0], True)
            equals = functions._member_equals(params[0]) if name == "where" else None
            if equals is not None:
                return _where_equals(equals[0], equals[1], crit)
            return _criterion(name, crit)
        if name == "ofType" and len(params) == 1:
            try:
                info = type_param(params[0])(Env([], {}), [])
            except Unsupported as exc:
                raise _Refused(str(exc)) from exc
            return _of_type(info, _on_nodes(ast))
        if name in ("is", "as") and len(params) == 1:
            test = type_test(name, _type_info(params[0]))
            return lambda items, v: test(items)
        if name == "aggregate" and len(params) == 1 and free_variables(params[0], _AGGREGATE) == set():
            return _aggregate(ast)
        if name not in _ON_NODES:
            raise _Refused(f"function {name}")
        for param in params:
            if name in ("ofType", "is", "as"):
                if param.get("type") != "TypeSpecifier":
                    raise _Refused("type parameter")
            elif _literal(param) is None:
                raise _Refused(f"{name}() with a parameter that is no literal")
        if name in ("contains", "matches") and len(params) == 1:
            value = _literal(params[0])
            if value and type(value[0]) is str and value[0]:
                if name == "matches":
                    try:
                        re.compile(value[0], re.DOTALL)
                    except re.error as bad:  # fhirpathpy raises it on evaluation: so does the node form
                        raise _Refused("an invalid regular expression") from bad
                return _string_test(name, value[0], _on_nodes(ast))
        return _on_nodes(ast)


def _counting(ast: Ast) -> bool:
    """Whether ``ast`` is ``count()`` or ``X.count()``: it always gives one integer."""
    inner = _unwrapped(ast)
    if inner.get("type") == "InvocationExpression":
        inner = _children(inner, 2)[1]
    return _function_name(inner) == ("count", 0)


def _plus_integers(left: Direct, right: Direct, general: Direct) -> Direct:
    """``a + b`` where both operands are counts: the integers added, as fhirpathpy's ``plus`` adds
    two numbers (both operands evaluated, left first); on anything else (never, for counts) the
    node form's operator (``general``, its operands evaluated again: they read no state)."""

    def plus(items: Pairs, v: Vars) -> Pairs:
        a = left(items, v)
        if len(a) == 1 and type(a[0]) is int:
            b = right(items, v)
            if len(b) == 1 and type(b[0]) is int:
                return [a[0] + b[0]]
        return general(items, v)

    return plus


def _aggregate(ast: Ast) -> Direct:
    """``aggregate(criterion)`` whose criterion reads only its item, ``$this``, ``$index`` and
    ``$total`` (no ``%`` variable, nothing else of the state; aggregate sets ``$total`` before the
    criterion reads it, and each item sets ``$this``): the node form's closure on the items' nodes
    gives what it gives within the expression."""
    return _on_nodes(ast)


def _quantity_literal(ast: Ast) -> list[Any] | None:
    """The values of a literal the node form folds to Quantities (``7 days``), else ``None``."""
    inner = _unwrapped(ast)
    if inner.get("type") != "LiteralTerm" or (inner.get("children") or [{}])[0].get("type") != "QuantityLiteral":
        return None
    from adapter.fhirpath import compiler

    try:
        body = compiler.compile_detached(ast)
    except Unsupported:
        return None
    if not isinstance(body, Const) or not body.values or not all(type(v) is FP_Quantity for v in body.values):
        return None
    return list(body.values)


def _string_literal(ast: Ast) -> bool:
    """Whether ``ast`` is a string literal (the node form's constant of one string)."""
    values = _literal(ast)
    return values is not None and len(values) == 1 and type(values[0]) is str


_PLUS = arithmetic_values(REGISTRY["+"]["fn"])


def plus_values(a: Pairs, b: Pairs) -> Pairs:
    """``+`` on its operands' values, as the node form's operator computes it (``operators.
    arithmetic_values`` on their nodes: empty if either is, else fhirpathpy's ``plus``, a date plus
    a Quantity remembered)."""
    if not a or not b:
        return []
    return pairs_of(_PLUS(nodes(a), nodes(b)))


def _plus(left: Direct, right: Direct) -> Direct:
    """``a + b`` where one operand is a string literal: both evaluated (left first), then
    :func:`plus_values`."""

    def plus(items: Pairs, v: Vars) -> Pairs:
        a = left(items, v)
        return plus_values(a, right(items, v))

    return plus


_AMP = REGISTRY["&"]["fn"]
_STRING_PARAM = value_param(lambda env, focus: env.root, "String")


def string_operand(a: Pairs) -> Any:
    """An operand of ``&`` as the node form's ``String`` parameter gives it to fhirpathpy's
    ``amp``: ``[]`` when empty, the string of one string item; anything else through the
    parameter's own checks (on the nodes), which raise as they raise there."""
    if not a:
        return []
    if len(a) == 1:
        item = a[0]
        value = item[0] if type(item) is tuple else item
        if type(value) is str:
            return value
    made = nodes(a)
    return _STRING_PARAM(Env(made, {}), made)


def amp_values(x: Any, y: Any) -> Pairs:
    """fhirpathpy's ``amp`` on two checked operands (:func:`string_operand`), as a collection."""
    return _listed(_AMP(FP_CTX, x, y))


def _amp(left: Direct, right: Direct) -> Direct:
    """``a & b``: as the node form's operator, each operand evaluated then checked (the left one
    checked before the right one is evaluated), then ``amp``."""

    def amp(items: Pairs, v: Vars) -> Pairs:
        x = string_operand(left(items, v))
        return amp_values(x, string_operand(right(items, v)))

    return amp


def _type_info(ast: Ast) -> Any:
    try:
        return type_param(ast)(Env([], {}), [])
    except Unsupported as exc:
        raise _Refused(str(exc)) from exc


def type_test(name: str, info: Any) -> Callable[[Pairs], Pairs]:
    """``is``/``as`` (operator ``isOp``/``asOp`` or function ``is``/``as``) of type ``info`` on the
    left operand's (or input's) values: fhirpathpy's ``is_fn``/``as_fn`` as the node form calls
    them (always: neither is ``nullable``), which first set the global ``TypeInfo.model`` to the
    context's model; on one pair (a node whose type path is a string) the type test itself,
    remembered per type path (with the model just set, fhirpathpy's ``get_type_info`` reads only
    the node's path, ``is_`` that and the model); anything else by ``is_fn``/``as_fn`` on the nodes."""
    fn = REGISTRY[name]["fn"]
    model = FP_CTX.get("model")
    as_ = name in ("as", "asOp")
    seen: dict[str, Any] = {}

    def test(a: Pairs) -> Pairs:
        if len(a) == 1 and type(a[0]) is tuple and model:
            made = node(*a[0])
            path = made.path
            if type(path) is str:
                TypeInfo.model = model  # (what is_fn/as_fn do first)
                hit = seen.get(path)
                if hit is None:
                    hit = seen[path] = TypeInfo.from_value(made).is_(info)
                if as_:
                    return [(made.data, path)] if hit else []
                return [hit]
        return _listed(fn(FP_CTX, nodes(a), info))

    return test


def _of_type(info: Any, general: Direct) -> Direct:
    """``ofType(T)`` on pairs: the node form's ``functions._of_type`` (fhirpathpy's type test of the
    node a pair stands for, remembered per type path and ``TypeInfo.model``, the global fhirpathpy's
    ``is``/``as`` set), a node made only where the test is not yet remembered. An item that is no
    pair (a system value, a raw object) is given to the node form's closure (``general``)."""
    seen: dict[tuple[str, int], bool] = {}

    def of_type(items: Pairs, v: Vars) -> Pairs:
        model = TypeInfo.model
        key = id(model)
        out: Pairs = []
        for item in items:
            if type(item) is not tuple:
                out += general([item], v)
                continue
            path = item[1]
            if type(path) is str and ("." not in path or model is not None):
                hit = seen.get((path, key))
                if hit is None:
                    hit = seen[(path, key)] = bool(TypeInfo.from_value(node(*item)).is_(info))
            else:
                hit = bool(TypeInfo.from_value(node(*item)).is_(info))
            if hit:
                out.append(item)
        return out

    return of_type


def _reads_variables(ast: Ast) -> bool:
    """Whether ``ast`` holds a subexpression reading only ``%`` variables (at least one): the node
    form evaluates it once per evaluation (:mod:`adapter.fhirpath.hoist`), here it would be per item
    (measured: even ``%resource.type = 'batch'`` costs more evaluated per item than remembered)."""
    if hoistable(ast):
        return True
    return any(_reads_variables(c) for c in ast.get("children") or [] if isinstance(c, dict))


def _this(items: Pairs, v: Vars) -> Pairs:
    """``$this``: the node form reads what the innermost operator (each sets ``$this`` to its input
    before evaluating an operand) or criterion (to its item) set: here, the input of the term."""
    return items


def _variable(name: str) -> Direct:
    def variable(items: Pairs, v: Vars) -> Pairs:
        if name not in v:
            raise ValueError(f"Attempting to access an undefined environment variable: {name}")
        return pairs_of(arraify(v[name]))

    return variable


class _Bridge:
    """A direct-form operand as a node-form closure: ``(env, nodes) -> nodes``."""

    __slots__ = ("direct",)

    def __init__(self, direct: Direct) -> None:
        self.direct = direct

    def __call__(self, env: Env, data: list[Any]) -> list[Any]:
        return nodes(self.direct(pairs_of(data), env.vars))


def _on_node_form(body: Any) -> Direct:
    def call(items: Pairs, v: Vars) -> Pairs:
        made = nodes(items)
        return pairs_of(body(Env(made, v), made))

    return call


def _member(ast: Ast) -> _Step:
    key = _name(_children(ast, 1)[0])
    if not key or is_capitalized(key) or key == "length":
        raise _Refused(f"member step {key}")
    return _Step(key)


def _operand(items: Pairs) -> Any:
    """A Boolean operand as the node form checks it (``boolean_operand``, on its nodes)."""
    if len(items) == 1:
        value = items[0]
        if value is True or value is False:
            return value
    return boolean_operand(nodes(items))


def _boolean(fn: Direct) -> Direct:
    """Mark ``fn`` as always giving exactly ``[True]`` or ``[False]`` (a count's ``exists()``/
    ``empty()``, ``all()``, ``exists(criterion)``, and the logic of such): then ``and``/``or``/
    ``xor``/``implies``/``not()`` on it are plain Python logic (:func:`_logic`), as fhirpathpy's
    operators compute them on two Booleans."""
    fn.boolean = True  # type: ignore[attr-defined]
    return fn


def _is_boolean(fn: Any) -> bool:
    return getattr(fn, "boolean", False) is True


# fhirpathpy's ``and_op``/``or_op``/``xor_op``/``implies_op`` on two Booleans (neither an empty
# collection): ``a and b``, ``a or b``, ``(a and not b) or (not a and b)``, ``True if a is False
# else a and b``. Both operands are still evaluated, left first, as the general closure does.
_ON_BOOLEANS: dict[str, Callable[[bool, bool], bool]] = {
    "and": lambda a, b: a and b,  # (and_/or_ below inline these two)
    "or": lambda a, b: a or b,
    "xor": lambda a, b: a is not b,
    "implies": lambda a, b: True if a is False else b,
}


def _logic(op: str, left: Direct, right: Direct) -> Direct:
    fn = REGISTRY[op]["fn"]
    if _is_boolean(left) and _is_boolean(right):
        return _logic_on_booleans(op, left, right)

    def logic(items: Pairs, v: Vars) -> Pairs:
        x = left(items, v)
        a = x[0] if len(x) == 1 and (x[0] is True or x[0] is False) else _operand(x)
        y = right(items, v)
        b = y[0] if len(y) == 1 and (y[0] is True or y[0] is False) else _operand(y)
        result = fn(FP_CTX, a, b)
        if result is True:
            return [True]
        if result is False:
            return [False]
        return _listed(result)

    return logic


def _logic_on_booleans(op: str, left: Direct, right: Direct) -> Direct:
    """:func:`_logic` where both operands always give one Boolean: no list checks, no fhirpathpy call."""
    if op == "and":
        def and_(items: Pairs, v: Vars) -> Pairs:
            a = left(items, v)[0]
            b = right(items, v)[0]
            return [a and b]
        return _boolean(and_)
    if op == "or":
        def or_(items: Pairs, v: Vars) -> Pairs:
            a = left(items, v)[0]
            b = right(items, v)[0]
            return [a or b]
        return _boolean(or_)
    combine = _ON_BOOLEANS[op]

    def logic(items: Pairs, v: Vars) -> Pairs:
        a = left(items, v)[0]
        return [combine(a, right(items, v)[0])]

    return _boolean(logic)


def _not_boolean(body: Direct) -> Direct:
    """``body.not()`` where ``body`` always gives one Boolean: its negation (:func:`_not` on it)."""
    return _boolean(lambda items, v: [not body(items, v)[0]])


def _plain(item: Any) -> Any:
    """The value the node form's fast equality compares (``operators._plain``), else ``None``."""
    if type(item) is tuple:
        value, path = item
        if path in _ODD_PATHS:
            return None
        item = value
    return item if type(item) in _PLAIN_TYPES else None


def _equal(negate: bool, left: Direct, right: Direct) -> Direct:
    slow = fp_unequal if negate else fp_equal

    def eq(items: Pairs, v: Vars) -> Pairs:
        a, b = left(items, v), right(items, v)
        if not a or not b:
            return []
        if len(a) == 1 and len(b) == 1:
            x, y = _plain(a[0]), _plain(b[0])
            if x is not None and y is not None and type(x) is type(y):
                return [(x == y) is not negate]
        return _listed(slow(FP_CTX, nodes(a), nodes(b)))

    return eq


def _in_strings(left: Direct, values: list[str]) -> Direct:
    strings = frozenset(values)
    slow = REGISTRY["inOp"]["fn"]
    constant = list(values)

    def in_(items: Pairs, v: Vars) -> Pairs:
        a = left(items, v)
        if len(a) == 1:
            x = a[0][0] if type(a[0]) is tuple else a[0]
            if type(x) is str:
                return [x in strings]
        return _listed(slow(FP_CTX, nodes(a), list(constant)))

    return in_


def order_general(op: str) -> Callable[[Pairs, Pairs], Pairs]:
    """The node form's comparison (``operators.order_values``) on the nodes of two operands' values."""
    values = order_values(op)
    return lambda a, b: pairs_of(values(nodes(a), nodes(b)))


def _order(op: str, left: Direct, right: Direct) -> Direct:
    """``<``, ``>``, ``<=``, ``>=``: on two single strings or integers (as the node form's fast path
    takes them: no date/time, no Quantity), compared here; else the node form's comparison on the
    operands' nodes (:func:`order_general`)."""
    fast = _ORDER[op]
    general = order_general(op)

    def compare(items: Pairs, v: Vars) -> Pairs:
        a, b = left(items, v), right(items, v)
        if not a or not b:
            return []
        if len(a) == 1 and len(b) == 1:
            x, y = _plain(a[0]), _plain(b[0])
            if x is not None and y is not None and type(x) is type(y) and type(x) is not bool:
                return [fast(x, y)]
        return general(a, b)

    return compare


def _string_test(name: str, literal: str, general: Direct) -> Direct:
    """``contains('x')``/``matches('x')`` on one string: fhirpathpy's ``contains_fn``/``matches``
    (``substr in string``; ``re.search(re.compile(regex, re.DOTALL), string) is not None``); on
    anything else the node form's call. (A node's data is read as it is: ``util.get_data``.)"""
    search = re.compile(literal, re.DOTALL).search if name == "matches" else None

    def test(items: Pairs, v: Vars) -> Pairs:
        if len(items) == 1:
            item = items[0]
            value = item[0] if type(item) is tuple else item
            if type(value) is str:
                return [literal in value] if search is None else [search(value) is not None]
        return general(items, v)

    return test


def _truthy(result: Pairs) -> bool:
    """The node form's ``r and r[0]`` on a criterion's result (a node is always true)."""
    if not result:
        return False
    first = result[0]
    return True if type(first) is tuple else bool(first)


def _all_true(result: Pairs) -> bool:
    """The node form's ``len(r) == 1 and r[0] == True``."""
    if len(result) != 1:
        return False
    item = result[0]
    if type(item) is tuple:
        item = node(item[0], item[1])
    return bool(item == True)  # noqa: E712 - as the node form compares (a node compares its data)


def _one(item: Any) -> Pairs:
    """The ``$this`` a criterion gets for one item (the node form's ``arraify``)."""
    if type(item) is tuple:
        return [item]
    return pairs_of(arraify(item))


def _criterion(name: str, crit: Direct) -> Direct:
    if name == "all":
        def all_(items: Pairs, v: Vars) -> Pairs:
            for item in items:
                if not _all_true(crit(_one(item), v)):
                    return [False]
            return [True]

        return _boolean(all_)
    if name == "select":
        def select(items: Pairs, v: Vars) -> Pairs:
            out: Pairs = []
            for item in items:
                out += crit(_one(item), v)  # (the node form's ``flatten`` of the results: lists)
            return out

        return select

    def where(items: Pairs, v: Vars) -> Pairs:
        kept = [item for item in items if _truthy(crit(_one(item), v))]
        if any(type(item) is list for item in kept):
            return pairs_of(flatten(kept))  # the node form's ``flatten``
        return kept

    if name == "exists":
        return _boolean(lambda items, v: [bool(where(items, v))])
    return where


def _where_equals(key: str, literal: str, crit: Direct) -> Direct:
    """``where(key = 'text')``: as the node form's ``_where`` with its ``plain_string`` shortcut (an
    item whose ``key`` is one string, no ``_key``, no choice, no Quantity: string equality)."""
    member = Member(key)
    ext_key = "_" + key
    plain: dict[Any, bool] = {}  # parent type path -> whether ``key`` is read as a plain string there

    def plain_under(path: Any) -> bool:
        found = plain.get(path) if path is None or type(path) is str else None
        if found is None:
            step = member.step(path)
            found = step.choices is None and step.path not in _QUANTITY_PATHS and key != "extension"
            if path is None or type(path) is str:
                plain[path] = found
        return found

    def where(items: Pairs, v: Vars) -> Pairs:
        kept: Pairs = []
        for item in items:
            if type(item) is tuple:
                d = item[0]
                if type(d) is dict:
                    value = d.get(key)
                    if type(value) is str and ext_key not in d and plain_under(item[1]):
                        if value == literal:
                            kept.append(item)
                        continue
            if _truthy(crit(_one(item), v)):
                kept.append(item)
        if any(type(item) is list for item in kept):
            return pairs_of(flatten(kept))
        return kept

    return where


def _has_value(items: Pairs, v: Vars) -> Pairs:
    """``hasValue()``: the node form's ``fhir.has_value`` on the items' data (``util.get_data``)."""
    return arraify(fhir.has_value([get_data(i[0] if type(i) is tuple else i) for i in items]))


def strings_of(items: Pairs) -> list[str] | None:
    """The strings of a collection whose items are all pairs holding a string (nodes whose data is
    one) or all system strings, as ``distinct.is_distinct`` reads them (a node by its data, a system
    value as itself); ``None`` for any other collection (mixed, or holding anything but strings)."""
    if not items:
        return []
    if type(items[0]) is tuple:
        found = [i[0] for i in items if type(i) is tuple and type(i[0]) is str]
    else:
        found = [i for i in items if type(i) is str]
    return found if len(found) == len(items) else None


def _first(items: Pairs, v: Vars) -> Pairs:
    if not items:
        return []
    item = items[0]
    return [item] if type(item) is tuple else pairs_of(arraify(item))  # ``arraify(data[0])``


def _not(items: Pairs, v: Vars) -> Pairs:
    if len(items) != 1:
        return []
    item = items[0]
    if item is True:
        return [False]
    if item is False:
        return [True]
    return pairs_of(functions._not(Env([], {}), nodes(items)))


def _on_nodes(ast: Ast) -> Direct:
    """The node form's closure for a function call (literal parameters), applied to the nodes."""
    from adapter.fhirpath import compiler

    try:
        body = compiler.compile_detached(ast)
    except Unsupported as exc:
        raise _Refused(str(exc)) from exc
    return _on_node_form(body)


class Form:
    """A compiled direct form: ``form(items, variables)``; ``variables``: whether it reads any;
    ``boolean``: whether the body always gives one Boolean (:func:`_boolean`), what :func:`nodes`
    gives back as it is."""

    __slots__ = ("body", "variables", "boolean", "closure", "one")

    def __init__(self, body: Direct, variables: bool) -> None:
        self.body, self.variables = body, variables
        self.boolean = _is_boolean(body)
        self.closure = body  # the closures (``body`` may be their generated equivalent: adapter.fhirpath.codegen)
        self.one: Callable[..., Pairs] | None = None
        """The generated root entry, where ``body`` is generated (``codegen.source(root=True)``):
        ``one(items, d, p, v)`` gives ``body(items, v)`` where ``items`` holds one object ``d`` of
        type path ``p`` (a string), as the pair ``(d, p)`` or as ``d`` with ``p`` its resourceType."""


def _generated(form: Form, generated: Any) -> None:
    """``generated`` (:func:`codegen.generate`) as ``form``'s body; its root entry as ``form.one``,
    made at its first call (where none can be made, that call and the later ones take the body)."""
    form.body = generated
    make = generated.make_one
    if make is None:
        form.one = None
        return

    def first(items: Pairs, d: Any, p: str, v: Vars) -> Pairs:
        one = make()  # (two threads may both make it: the same function, set twice)
        form.one = one
        found: Pairs = generated(items, v) if one is None else one(items, d, p, v)
        return found

    form.one = first


def _tiered(form: Form, tree: Ast) -> Direct:
    """The body a form starts with when :data:`codegen.AFTER` > 0: its closures, counted; at the
    count, the generated function (:func:`codegen.generate`) becomes the body (or, where none can
    be made, the closures themselves, uncounted). Two threads may both generate: each sets a
    function of the same semantics."""
    from adapter.fhirpath import codegen

    closure = form.closure
    calls = 0

    def counted(items: Pairs, v: Vars) -> Pairs:
        nonlocal calls
        calls += 1
        if calls >= codegen.AFTER:
            generated = codegen.generate(tree)
            if generated is not None:
                _generated(form, generated)
            else:
                form.body = closure
        return closure(items, v)

    return counted


def generated_now(form: Form, tree: Ast) -> None:
    """Generate ``form``'s function at once (``codegen.AFTER`` <= 0); none made: the closures stay."""
    from adapter.fhirpath import codegen

    generated = codegen.generate(tree)
    if generated is not None:
        _generated(form, generated)


def compile_direct(tree: Ast) -> Form | None:
    """The direct form of a parsed expression (fhirpathpy's ``parse`` result), or ``None``."""
    from adapter.fhirpath import codegen
    from adapter.fhirpath.compiler import repeated_counts

    compiler = _Compiler()
    try:
        top = _children(tree, 1)[0]
        try:
            if any(n > 1 for n in repeated_counts(top).values()):
                # The node form evaluates it once for its uses (hoist), the closures once per use:
                # as for a criterion below, the form is kept only where the generated function
                # remembers it (adapter.fhirpath.codegen).
                raise _PerItem("a subexpression that stands more than once")
            body = compiler.compile(top, False)
        except _PerItem:
            if not codegen.ENABLED:
                return None
            # The closures would evaluate such a subexpression per item (slower than the node
            # form): the form is kept only where the generated function evaluates it once.
            # (Until its function is generated, tiered below, such a form runs its per-item closures:
            # the same result, slower.)
            compiler = _Compiler(per_item=True)
            body = compiler.compile(top, False)
            if codegen.AFTER <= 0:
                generated = codegen.generate(tree)
                if generated is None:
                    return None
                form = Form(body, compiler.variables)
                _generated(form, generated)
                return form
    except _Refused:
        return None
    form = Form(body, compiler.variables)
    if codegen.ENABLED:
        if codegen.AFTER <= 0:
            generated_now(form, tree)  # (none made: the closures stay the body)
        else:
            form.body = _tiered(form, tree)
    return form


def run(form: Form, root: Any, variables: Vars | None = None) -> list[Any]:
    """``form`` on ``root`` (a JSON value, or a node), as the node form's collection; ``variables``
    as the node form has them (``%context`` included)."""
    return nodes(form.body(pairs_of(arraify(root)), variables or {}))


def test_on_object(form: Form, data: dict[str, Any], type_path: Any) -> list[Any]:
    """:func:`run_typed` for a form that reads no variable, on a JSON object, without its
    ``nodes``: the body on the one item :func:`run_typed` would give it. For a form that gives one
    Boolean that is :func:`run_typed`'s very result (``nodes`` of one Boolean is itself); for any
    other, ``nodes`` of it is."""
    return form.body([data if type_path is None else (data, data.get("resourceType", type_path))], {})


def run_typed(form: Form, data: Any, type_path: Any, variables: Vars | None = None) -> list[Any]:
    """``run(form, node(data, type_path))`` without making the node (``type_path=None``: as given).
    ``variables`` without ``context``: the root is ``%context``."""
    if type_path is None:
        root: Any = data
    elif type(data) is dict:
        root = (data, data.get("resourceType", type_path))
    else:
        root = pairs_of([node(data, type_path)])[0]
    items = [root] if type(root) is tuple else pairs_of(arraify(root))
    v: Vars = {}
    if form.variables:
        context = node(*root) if type(root) is tuple else root  # (made only when read)
        v = {"context": context, "ucum": "http://unitsofmeasure.org", **(variables or {})}
    return nodes(form.body(items, v))
