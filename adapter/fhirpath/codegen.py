"""The direct form as one generated Python function per expression (straight-line source, no closures).

:mod:`adapter.fhirpath.direct` compiles an expression into a tree of closures over pairs ``(value,
type path)``; each step of each item then costs a few Python calls. Here the same parse tree is
turned into the source of one function (nested loops, local variables; a subexpression that always
gives one Boolean held as a plain ``bool``), compiled once with :func:`compile`/``exec`` as the
outbound mapping compiles its bodies. The semantics are the direct form's, part by part:

* a member step: the fast path of ``_Step.__call__`` inlined (an object item whose parent type path
  the step has already resolved to one child type path); any other item is given to the step object
  itself, one item at a time (what it does per item), so choice elements, scalars, raw objects and
  unresolved type paths take the closure's own code;
* ``key.exists()``/``empty()``/``count()``: ``_Step.count`` inlined the same way;
* ``where(key = 'text')``: the plain-string shortcut of ``_where_equals`` inlined, its criterion
  (generated) for the other items; ``where``/``all``/``exists``/``select`` with a criterion: the
  closure's loops, the criterion generated inside them;
* a member step followed by ``where(key = 'text')`` (``item.where(linkId = 'x')``, some thirty in
  the LISN rules): one loop over each input object's list, keeping the items whose ``key`` is the
  text without a pair made for the others, where every item of the list takes the shortcut; the
  step and the ``where`` above for any other input item (:meth:`_Gen.step_where`). Measured
  (callgrind, the example submission): 13.60M -> 13.28M instructions per validation (-2.4 %);
* ``and``/``or``/``xor``/``implies`` on two Booleans: Python logic (both operands evaluated, left
  first); on anything else the closure's code (fhirpathpy's operator);
* ``=``/``!=``, ``in`` of literal strings, ``contains``/``matches`` of a literal: the closure's fast
  paths inlined, its slow paths called;
* ``exists()``/``empty()``/``count()``/``not()`` on a collection; ``$this``; literals;
* inside a criterion, or standing more than once in the expression, a subexpression reading only
  ``%`` variables (:func:`adapter.fhirpath.hoist.hoistable`): computed where it is first reached in
  an evaluation, then remembered for the other items and uses (the node form's hoisting, with its
  condition: reused only under the ``TypeInfo.model`` it was made under, which an ``is``/``as``
  sets; the direct form's closures compute it per item and per use: the same values, as it reads
  no item and no state);
* ``is``/``as``, ``&`` and ``+`` with a string literal: the operands generated, then the direct
  form's own functions on their values (``type_test``, ``string_operand``/``amp_values``,
  ``plus_values``);
* ``a + b`` of two counts: the integers added (``direct._plus_integers``);
* on plain values, with the closure for anything else: ``isDistinct()`` on strings of one kind (all
  nodes holding a string, or all system strings: no string repeated), and ``toString()``,
  ``length()``, ``substring()`` of integer literals on one string (what fhirpathpy's functions
  compute on it). Measured (callgrind, the example submission): 14.03M -> 13.79M instructions per
  validation (-1.7 %), these and the sum of counts together.

* ``= 'text'`` on one pair holding a string, ``=``/``!=`` of two pairs holding strings (under paths
  ``_plain`` reads as they are: no date, no Quantity), ``&`` of two strings: compared or joined here,
  ``_plain``/``string_operand``/``amp`` for anything else;
* a member step's list appended item by item in a loop (a list comprehension costs a frame of
  its own, dear on the short lists FHIR mostly has);
* the root entry (``source(root=True)``, ``def generated_one(items, d0, p0, v)``, kept as
  ``Form.one``): for a caller that knows its input to be one object ``d0`` of type path ``p0`` (a
  string: :func:`adapter.validation.invariants._quickly`), a member step,
  a count and a step and ``where()`` in one loop on the root read ``d0``/``p0`` without the loop
  and the per-item type dispatch; ``ROOT = False`` makes none. Measured (callgrind, the example
  submission), with the ``'text'`` equality: 12.81M -> 12.61M instructions per validation; the
  appending loop (with ``constraints.run_constraints`` following the quick plans itself) 12.61M ->
  12.39M; the string pairs and ``&`` (with lisn-sub-2's walk without trails) 12.39M -> 12.35M.

Any other node (ordering, ``matches``, functions on nodes, ``%`` variables…) is its direct-form
closure, compiled as :mod:`adapter.fhirpath.direct` compiles it and called from the generated code.
Nothing here is decided per evaluation: :func:`generate` gives ``None`` (the closure form is kept)
for an expression whose source could not be compiled (Python's nesting limit). ``ENABLED = False``
keeps the closures everywhere (the tests' negative controls of the closures use it). Measured
(CPU, the example submission's 82 evaluations): 705 -> 628 us per validation.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from adapter.fhirpath import direct, functions
from adapter.fhirpath.env import FP_CTX, flatten
from adapter.fhirpath.hoist import hoistable, key_of
from adapter.fhirpath.navigation import Member
from adapter.fhirpath.operators import _QUANTITY_PATHS
from adapter.fhirpath.upstream import REGISTRY, TypeInfo, fp_equal, fp_unequal

Ast = dict[str, Any]
_LOGIC = ("AndExpression", "OrExpression", "XorExpression", "ImpliesExpression")
_UNSET = object()
ENABLED = True  # (the benchmark and the tests turn it off to compare with the closure form)
AFTER = 64
"""Evaluations of a direct form by its closures before its function is generated (``0``: generated
when compiled). Compiling the generated source is the dear part, 1-3 ms per expression (its loops
are written out: some 350 lines on average for the profiles' expressions), which a one-file
``adapter validate`` evaluating most expressions a few times would pay ~75 ms for (issue 15,
target 3); a service or a corpus run reaches the count within its first submissions or cases."""


class PlainUnder:
    """``_where_equals``'s ``plain_under``: whether ``key`` is read as a plain string under a parent
    of type ``path`` (no choice, no Quantity, not ``extension``), remembered per type path in ``known``."""

    __slots__ = ("member", "key", "known")

    def __init__(self, key: str) -> None:
        self.member, self.key = Member(key), key
        self.known: dict[Any, bool] = {}

    def __call__(self, path: Any) -> bool:
        found = self.known.get(path) if path is None or type(path) is str else None
        if found is None:
            step = self.member.step(path)
            found = step.choices is None and step.path not in _QUANTITY_PATHS and self.key != "extension"
            if path is None or type(path) is str:
                self.known[path] = found
        return found


class Choices:
    """Per parent type path, a step's R4 choice types as ``Member.other`` reads them: ``((field,
    extension field, type path), ...), fallback type path)``, or ``False`` for a plain element."""

    __slots__ = ("member", "known")

    def __init__(self, step: direct._Step) -> None:
        self.member = step.member
        self.known: dict[str, Any] = {}

    def __call__(self, path: str) -> Any:
        found = self.member.step(path)
        if found.choices is None:
            known: Any = False
        else:
            known = (tuple((c.field, c.extension_field, c.path) for c in found.choices), found.fallback_path)
        self.known[path] = known
        return known


class _Refused(Exception):
    pass


class _Gen:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.consts: dict[str, Any] = {
            "_tuple": tuple, "_dict": dict, "_list": list, "_str": str, "_bool": bool,
            "_one": direct._one, "_all_true": direct._all_true, "_pairs_of": direct.pairs_of, "_flatten": flatten,
            "_nodes": direct.nodes, "_listed": direct._listed, "_operand": direct._operand, "_not": direct._not,
            "_plain": direct._plain, "_UNSET": _UNSET, "_FP_CTX": FP_CTX, "_fp_equal": fp_equal, "_fp_unequal": fp_unequal,
            "_TI": TypeInfo, "_plus_values": direct.plus_values, "_string_operand": direct.string_operand,
            "_amp_values": direct.amp_values, "_strings_of": direct.strings_of, "_set": set,
            "_int": int, "_ODD_PATHS": direct._ODD_PATHS,
        }
        self.n = 0
        self.loops = 0  # how many criterion loops enclose the code being generated
        self.preamble: list[str] = []
        self.repeated: frozenset[int] = frozenset()  # subexpressions standing more than once (compiler.repeated_counts)
        self.memos: dict[int, tuple[str, str]] = {}  # subexpression key -> (its memo, the model it was made under)
        self.root: tuple[str, str] | None = None  # the root entry's (object, type path) names (:func:`source`)

    def on_root(self, inp: str) -> tuple[str, str] | None:
        """``(object, type path)`` where ``inp`` is the root entry's one known item, else ``None``."""
        return self.root if inp == "items" else None

    def var(self, prefix: str = "r") -> str:
        self.n += 1
        return f"{prefix}{self.n}"

    def const(self, value: Any, prefix: str = "K") -> str:
        name = self.var(prefix)
        self.consts[name] = value
        return name

    def emit(self, depth: int, line: str) -> None:
        self.lines.append("    " * depth + line)

    def as_list(self, result: tuple[str, bool], depth: int) -> str:
        name, boolean = result
        if not boolean:
            return name
        out = self.var()
        self.emit(depth, f"{out} = [{name}]")
        return out

    # -- the parse tree ----------------------------------------------------------------------------

    def gen(self, ast: Ast, focus: bool, inp: str, depth: int) -> tuple[str, bool]:
        """Code computing ``ast`` on the collection ``inp``: ``(variable, boolean)``; a Boolean
        result is held as a plain ``bool``, any other as the direct form's list."""
        kind = ast.get("type")
        if (self.loops or self.repeated) and hoistable(ast):
            key = key_of(ast)
            if self.loops or key in self.repeated:
                return self.once(ast, key, focus, inp, depth)
        if kind in direct._WRAPPERS:
            return self.gen(direct._children(ast, 1)[0], focus, inp, depth)
        literal = direct._literal(ast)
        if literal is not None:
            out = self.var()
            self.emit(depth, f"{out} = {self.const(list(literal), 'L')}[:]")
            return out, False
        if kind == "MemberInvocation":
            return self.step(direct._member(ast), inp, depth), False
        if kind == "InvocationExpression":
            return self.invocation(ast, focus, inp, depth)
        if kind == "FunctionInvocation":
            found = self.function(ast, inp, depth)
            if found is not None:
                return found
        if kind == "ThisInvocation" and focus:
            return inp, False
        if kind in _LOGIC:
            return self.logic(ast, inp, depth)
        if kind == "EqualityExpression" and ast.get("terminalNodeText") in (["="], ["!="]):
            return self.equal(ast, inp, depth)
        if kind == "MembershipExpression" and ast.get("terminalNodeText") == ["in"]:
            left, right = direct._children(ast, 2)
            values = direct._literal(right)
            if values and all(type(v) is str for v in values):
                return self.in_strings(left, values, inp, depth)
        found = self.operator(ast, kind, inp, depth)
        if found is not None:
            return found
        return self.closure(ast, focus, inp, depth)

    def operator(self, ast: Ast, kind: Any, inp: str, depth: int) -> tuple[str, bool] | None:
        """``is``/``as`` of a type, ``&``, ``+`` with a string literal: the operands generated (so that
        a remembered subexpression in them is remembered here too), then the direct form's own
        computation on their values; ``None`` for any other node."""
        op = (ast.get("terminalNodeText") or [None])[0]
        if kind == "InequalityExpression" and op in direct._ORDER:
            return self.order(ast, op, inp, depth)
        if kind == "TypeExpression" and op in ("is", "as"):
            left, right = direct._children(ast, 2)
            test = self.const(direct.type_test(op + "Op", direct._type_info(right)), "T")
            a = self.as_list(self.gen(left, True, inp, depth), depth)
            out = self.var()
            self.emit(depth, f"{out} = {test}({a})")
            return out, False
        if kind != "AdditiveExpression" or op not in ("&", "+"):
            return None
        left, right = direct._children(ast, 2)
        if op == "+" and direct._counting(left) and direct._counting(right):
            return self.plus_counts(ast, left, right, inp, depth)
        if op == "+" and not any(direct._string_literal(a) or direct._quantity_literal(a) is not None
                                 for a in (left, right)):
            return None
        out = self.var()
        if op == "+":
            a = self.as_list(self.gen(left, True, inp, depth), depth)
            b = self.as_list(self.gen(right, True, inp, depth), depth)
            self.emit(depth, f"{out} = _plus_values({a}, {b})")
            return out, False
        x, y = self.var("x"), self.var("y")
        a = self.as_list(self.gen(left, True, inp, depth), depth)
        self.string_operand(x, a, depth)  # (checked before the right one is evaluated)
        b = self.as_list(self.gen(right, True, inp, depth), depth)
        self.string_operand(y, b, depth)
        self.emit(depth, f"if type({x}) is _str and type({y}) is _str:")
        self.emit(depth + 1, f"{out} = [{x} + {y}]")  # (fhirpathpy's amp on two strings, listed)
        self.emit(depth, "else:")
        self.emit(depth + 1, f"{out} = _amp_values({x}, {y})")
        return out, False

    def string_operand(self, x: str, a: str, depth: int) -> None:
        """``x = direct.string_operand(a)``, its usual case here: one string item (a pair holding
        one, or a system string) is that string; anything else (none too) ``string_operand`` itself."""
        z = self.var("z")
        e = self.emit
        e(depth, f"if len({a}) == 1 and type({z} := {a}[0][0] if type({a}[0]) is _tuple else {a}[0]) is _str:")
        e(depth + 1, f"{x} = {z}")
        e(depth, "else:")
        e(depth + 1, f"{x} = _string_operand({a})")

    def plus_counts(self, ast: Ast, left: Ast, right: Ast, inp: str, depth: int) -> tuple[str, bool]:
        """``direct._plus_integers``: both counts generated (left first), their integers added; on
        anything else (never, for counts) the node form's operator, which evaluates them again
        (they read no state)."""
        general = self.const(direct._Compiler().bridged(ast), "F")
        a = self.as_list(self.gen(left, True, inp, depth), depth)
        b = self.as_list(self.gen(right, True, inp, depth), depth)
        out = self.var()
        e = self.emit
        e(depth, f"if len({a}) == 1 and type({a}[0]) is _int and len({b}) == 1 and type({b}[0]) is _int:")
        e(depth + 1, f"{out} = [{a}[0] + {b}[0]]")
        e(depth, "else:")
        e(depth + 1, f"{out} = {general}({inp}, v)")
        return out, False

    def once(self, ast: Ast, key: int, focus: bool, inp: str, depth: int) -> tuple[str, bool]:
        """A subexpression reading only ``%`` variables, inside a criterion or standing more than
        once in the expression: computed where it is first reached in an evaluation, then
        remembered for its other uses (one memo per distinct subexpression), as the node form's
        hoisting does: reused only under the ``TypeInfo.model`` it was computed with, and not
        remembered when its own evaluation changed that global (an ``is``/``as`` inside). An
        error is raised where it is first reached, and ends the evaluation."""
        if key not in self.memos:
            self.memos[key] = (self.var("h"), self.var("hm"))
            self.preamble.append(f"    {self.memos[key][0]} = {self.memos[key][1]} = _UNSET")
        memo, model = self.memos[key]
        out, m0 = self.var(), self.var("m")
        self.emit(depth, f"if {memo} is not _UNSET and {model} is _TI.model:")
        loops, repeated = self.loops, self.repeated
        self.loops, self.repeated = 0, repeated - {key}  # (its own code, then: not remembered again)
        self.emit(depth + 1, "pass")  # (replaced below: the result's name is known once generated)
        at = len(self.lines) - 1
        self.emit(depth, "else:")
        self.emit(depth + 1, f"{m0} = _TI.model")
        found, boolean = self.gen(ast, focus, inp, depth + 1)
        self.loops, self.repeated = loops, repeated
        self.emit(depth + 1, f"{out} = {found}" if boolean else f"{out} = {found}[:]")
        self.emit(depth + 1, f"if _TI.model is {m0}:")
        self.emit(depth + 2, f"{memo}, {model} = {found}, {m0}")
        self.lines[at] = "    " * (depth + 1) + (f"{out} = {memo}" if boolean else f"{out} = {memo}[:]")
        return out, boolean

    def closure(self, ast: Ast, focus: bool, inp: str, depth: int) -> tuple[str, bool]:
        """The direct form's own closure for ``ast``, called."""
        try:
            fn = direct._Compiler().compile(ast, focus)
        except direct._Refused as exc:
            raise _Refused(str(exc)) from exc
        out = self.var()
        self.emit(depth, f"{out} = {self.const(fn, 'F')}({inp}, v)")
        return out, False

    def step(self, step: direct._Step, inp: str, depth: int) -> str:
        out, s, ch = self.var(), self.const(step, "S"), self.const(step.children, "C")
        choices = Choices(step)
        cc, cf = self.const(choices.known, "H"), self.const(choices, "G")
        it, d, p, c, x, h, f, fe, cp = (self.var(n) for n in ("it", "d", "p", "c", "x", "h", "f", "fe", "cp"))
        key, ext = step.key, step.ext_key
        e = self.emit
        e(depth, f"{out} = []")
        root = self.on_root(inp)
        if root is not None:  # the root entry's one item: no loop, no dispatch (its caller's checks)
            (d, p), one, depth = root, inp, depth - 1
        else:
            one = f"[{it}]"
            self.item(it, d, p, inp, depth)
            e(depth + 2, f"{out} += {s}([{it}], v)")
            e(depth + 2, "continue")
        e(depth + 1, f"{c} = {ch}.get({p})")
        e(depth + 1, f"if {c} is not None:")  # a plain element under a known parent type
        e(depth + 2, f"{x} = {d}.get({key!r})")
        self.add(out, x, c, depth + 2)
        e(depth + 2, f"if {ext!r} in {d}:")
        e(depth + 3, f"{x} = {d}[{ext!r}]")
        self.add(out, x, c, depth + 3)
        e(depth + 1, "else:")  # a choice element (``value`` → ``valueCoding``…): Member.other's loop
        e(depth + 2, f"{h} = {cc}.get({p})")
        e(depth + 2, f"if {h} is None:")
        e(depth + 3, f"{h} = {cf}({p})")
        e(depth + 2, f"if {h} is False:")
        e(depth + 3, f"{out} += {s}({one}, v)")
        e(depth + 2, "else:")
        e(depth + 3, f"{c} = {h}[1]")
        e(depth + 3, f"{x} = {fe} = None")
        e(depth + 3, f"for {f}, {cp}, {c}_ in {h}[0]:")
        e(depth + 4, f"{x} = {d}.get({f})")
        e(depth + 4, f"{fe} = {d}.get({cp})")
        e(depth + 4, f"if {x} is not None or {fe} is not None:")
        e(depth + 5, f"{c} = {c}_")
        e(depth + 5, "break")
        self.add(out, x, c, depth + 3)
        self.add(out, fe, c, depth + 3)
        return out

    def item(self, it: str, d: str, p: str, inp: str, depth: int) -> None:
        """The loop over ``inp`` and the per-item prologue of a member step (shared by :meth:`step` and
        :meth:`step_where`): ``d, p`` the object and its type path for a pair holding an object and a
        path, or for a raw object (a root given as JSON: the step types it by its resourceType, as a
        pair); the ``else:`` branch for any other item is left open for the caller (at ``depth + 2``)."""
        e = self.emit
        e(depth, f"for {it} in {inp}:")
        e(depth + 1, f"if type({it}) is _tuple and type({it}[0]) is _dict and type({it}[1]) is _str:")
        e(depth + 2, f"{d}, {p} = {it}")
        e(depth + 1, f"elif type({it}) is _dict and type({p} := {it}.get('resourceType')) is _str:")
        e(depth + 2, f"{d} = {it}")
        e(depth + 1, "else:")

    def add(self, out: str, x: str, c: str, depth: int) -> None:
        """``direct._add`` (``node(v, c)`` per item, as pairs) of ``x`` where it is not ``None``."""
        y = self.var("y")
        e = self.emit
        e(depth, f"if {x} is not None:")
        e(depth + 1, f"if type({x}) is _list:")  # (a loop: a list comprehension costs a frame, dear on short lists)
        e(depth + 2, f"for {y} in {x}:")
        e(depth + 3, f"{out}.append(({y}, {y}['resourceType'] if type({y}) is _dict and 'resourceType' in {y} "
                     f"else {c}))")
        e(depth + 1, f"elif type({x}) is _dict and 'resourceType' in {x}:")
        e(depth + 2, f"{out}.append(({x}, {x}['resourceType']))")
        e(depth + 1, "else:")
        e(depth + 2, f"{out}.append(({x}, {c}))")

    def count(self, step: direct._Step, test: str, inp: str, depth: int) -> tuple[str, bool]:
        n, s, ch = self.var("n"), self.const(step, "S"), self.const(step.children, "C")
        it, d, x, p = (self.var(v) for v in ("it", "d", "x", "p"))
        key, ext = step.key, step.ext_key
        e = self.emit
        e(depth, f"{n} = 0")
        root = self.on_root(inp)
        if root is not None:  # the root entry's one item: no loop, no dispatch (its caller's checks)
            d, p = root
            e(depth, f"if {p} not in {ch}:")
            e(depth + 1, f"{n} += {s}.count({inp})")
            e(depth, "else:")
        else:
            e(depth, f"for {it} in {inp}:")
            e(depth + 1, f"if type({it}) is _tuple and type({it}[0]) is _dict and type({it}[1]) is _str "
                         f"and {it}[1] in {ch}:")
            e(depth + 2, f"{d} = {it}[0]")
            e(depth + 1, f"elif type({it}) is _dict and type({p} := {it}.get('resourceType')) is _str and {p} in {ch}:")
            e(depth + 2, f"{d} = {it}")  # (a raw object: typed by its resourceType, as _Step.count types it)
            e(depth + 1, "else:")
            e(depth + 2, f"{n} += {s}.count([{it}])")
            e(depth + 2, "continue")
        e(depth + 1, f"{x} = {d}.get({key!r})")
        e(depth + 1, f"if {x} is not None:")
        e(depth + 2, f"{n} += len({x}) if type({x}) is _list else 1")
        e(depth + 1, f"if {ext!r} in {d}:")
        e(depth + 2, f"{x} = {d}[{ext!r}]")
        e(depth + 2, f"if {x} is not None:")
        e(depth + 3, f"{n} += len({x}) if type({x}) is _list else 1")
        out = self.var()
        if test == "count":
            e(depth, f"{out} = [{n}]")
            return out, False
        e(depth, f"{out} = {n} > 0" if test == "exists" else f"{out} = {n} == 0")
        return out, True

    def invocation(self, ast: Ast, focus: bool, inp: str, depth: int) -> tuple[str, bool]:
        left, right = direct._children(ast, 2)
        name = direct._function_name(right)
        if name is not None and name in direct._COUNTING:
            test = name[0]
            inner = direct._unwrapped(left)
            if inner.get("type") == "MemberInvocation":
                return self.count(direct._member(inner), test, inp, depth)
            if inner.get("type") == "InvocationExpression" and \
                    direct._children(inner, 2)[1].get("type") == "MemberInvocation":
                before = self.as_list(self.gen(direct._children(inner)[0], focus, inp, depth), depth)
                return self.count(direct._member(direct._children(inner)[1]), test, before, depth)
        fused = self.step_where(left, right, focus, inp, depth)
        if fused is not None:
            return fused
        first = self.gen(left, focus, inp, depth)
        if first[1] and direct._function_name(right) == ("not", 0):
            out = self.var()
            self.emit(depth, f"{out} = not {first[0]}")
            return out, True
        return self.gen(right, False, self.as_list(first, depth), depth)

    def step_where(self, left: Ast, right: Ast, focus: bool, inp: str, depth: int) -> tuple[str, bool] | None:
        """``….key.where(k = 'text')`` (``item.where(linkId = 'x')``), the step and the criterion in one
        loop: on an input item that is an object whose ``key`` is a plain element (no choice) holding
        a list (or nothing), no ``_key``, and whose items are all objects (no ``resourceType``) with
        ``k`` one string, no ``_k``, under a type path where ``k`` is read as a plain string
        (``PlainUnder``), the items kept are those whose ``k`` is ``text``, typed by the step's child
        type path, without making a pair for each of the others: what the step's pairs and
        ``criterion``'s plain-string shortcut give. On any other input item (anything odd among its
        items: what was kept for it is dropped again) the step and the ``where`` loop for that item
        alone, appended in its place (the ``where`` keeps its input's order; its flattening is per
        item). ``None`` where the expression is no such step and ``where``."""
        if direct._function_name(right) != ("where", 1):
            return None
        parts = direct._children(direct._children(right, 1)[0])
        if len(parts) != 2 or parts[1].get("type") != "ParamList":
            return None
        crit = direct._children(parts[1])[0]
        equals = functions._member_equals(crit)
        inner = direct._unwrapped(left)
        if equals is None or hoistable(left):
            return None
        if inner.get("type") == "MemberInvocation":
            step, before = direct._member(inner), inp
        elif inner.get("type") == "InvocationExpression" and direct._children(inner, 2)[1].get("type") == "MemberInvocation":
            step = direct._member(direct._children(inner)[1])
            before = self.as_list(self.gen(direct._children(inner)[0], focus, inp, depth), depth)
        else:
            return None
        wkey, literal = equals
        pu = PlainUnder(wkey)
        known, under, ch = self.const(pu.known, "P"), self.const(pu, "U"), self.const(step.children, "C")
        out, it, d, p, c, x, y, z, ok, mark = (self.var(n) for n in ("r", "it", "d", "p", "c", "x", "y", "z", "k", "m"))
        key, ext = step.key, step.ext_key
        e = self.emit
        e(depth, f"{out} = []")
        root = self.on_root(before)
        if root is not None:  # the root entry's one item: no loop, no dispatch (its caller's checks)
            (d, p), one, depth = root, before, depth - 1
            e(depth + 1, f"{ok} = False")
            e(depth + 1, f"if ({c} := {ch}.get({p})) is not None and {ext!r} not in {d}:")
        else:
            one = f"[{it}]"
            self.item(it, d, p, before, depth)
            e(depth + 2, f"{d} = None")
            e(depth + 1, f"{ok} = False")
            e(depth + 1, f"if {d} is not None and ({c} := {ch}.get({p})) is not None and {ext!r} not in {d}:")
        e(depth + 2, f"{x} = {d}.get({key!r})")
        e(depth + 2, f"if {x} is None:")
        e(depth + 3, f"{ok} = True")
        e(depth + 2, f"elif type({x}) is _list and ({known}.get({c}) or {under}({c})):")
        e(depth + 3, f"{ok} = True")
        e(depth + 3, f"{mark} = len({out})")
        e(depth + 3, f"for {y} in {x}:")
        e(depth + 4, f"if type({y}) is _dict and 'resourceType' not in {y} and type({z} := {y}.get({wkey!r})) is _str "
                     f"and {('_' + wkey)!r} not in {y}:")
        e(depth + 5, f"if {z} == {literal!r}:")
        e(depth + 6, f"{out}.append(({y}, {c}))")
        e(depth + 4, "else:")
        e(depth + 5, f"{ok} = False")
        e(depth + 5, f"del {out}[{mark}:]")
        e(depth + 5, "break")
        e(depth + 1, f"if not {ok}:")
        items = self.step(step, one, depth + 2)
        kept, _ = self.criterion("where", crit, equals, items, depth + 2)
        e(depth + 2, f"{out} += {kept}")
        return out, False

    def function(self, ast: Ast, inp: str, depth: int) -> tuple[str, bool] | None:
        """The functions generated here; ``None`` for the others (their closure)."""
        functn = direct._children(ast, 1)[0]
        parts = direct._children(functn)
        name = direct._name(parts[0])
        params = direct._children(parts[1]) if len(parts) > 1 and parts[1].get("children") else []
        if len(parts) > 2 or (len(parts) > 1 and parts[1].get("type") != "ParamList"):
            return None
        out = self.var()
        if not params and name in ("exists", "empty", "count", "not"):
            if name == "exists":
                self.emit(depth, f"{out} = len({inp}) > 0")
            elif name == "empty":
                self.emit(depth, f"{out} = not {inp}")
            elif name == "count":
                self.emit(depth, f"{out} = [len({inp})]")
            else:  # direct._not: a Boolean negated, anything else as the node form's not()
                self.emit(depth, f"if len({inp}) == 1 and ({inp}[0] is True or {inp}[0] is False):")
                self.emit(depth + 1, f"{out} = [not {inp}[0]]")
                self.emit(depth, "else:")
                self.emit(depth + 1, f"{out} = _not({inp}, v)")
            return out, name in ("exists", "empty")
        if name in ("contains", "matches") and len(params) == 1:
            value = direct._literal(params[0])
            if value and type(value[0]) is str and value[0]:
                return self.string_test(ast, name, value[0], inp, depth)
        if name in ("where", "all", "exists", "select") and len(params) == 1:
            equals = functions._member_equals(params[0]) if name == "where" else None
            return self.criterion(name, params[0], equals, inp, depth)
        if name in ("is", "as") and len(params) == 1:
            test = self.const(direct.type_test(name, direct._type_info(params[0])), "T")
            self.emit(depth, f"{out} = {test}({inp})")
            return out, False
        if name == "isDistinct" and not params:
            return self.is_distinct(ast, inp, depth)
        if name in ("toString", "length") and not params:
            return self.on_string(ast, name, (), inp, depth)
        if name == "substring" and 1 <= len(params) <= 2:
            bounds = [direct._literal(p) for p in params]
            if all(b is not None and len(b) == 1 and type(b[0]) is int for b in bounds):
                return self.on_string(ast, name, tuple(b[0] for b in bounds if b is not None), inp, depth)
        return None

    def is_distinct(self, ast: Ast, inp: str, depth: int) -> tuple[str, bool]:
        """``isDistinct()`` on strings of one kind (:func:`direct.strings_of`: all nodes holding a
        string, or all system strings): ``distinct.is_distinct`` keys such items by their strings,
        so they are distinct when no string repeats; on anything else its closure."""
        general = self.closure(ast, False, inp, depth + 1)  # (emitted below, in the else branch)
        call = self.lines.pop()
        out, x = self.var(), self.var("x")
        e = self.emit
        e(depth, f"{x} = _strings_of({inp})")
        e(depth, f"if {x} is not None:")
        e(depth + 1, f"{out} = [len(_set({x})) == len({x})]")
        e(depth, "else:")
        self.lines.append(call)
        e(depth + 1, f"{out} = {general[0]}")
        return out, False

    def on_string(self, ast: Ast, name: str, bounds: tuple[int, ...], inp: str, depth: int) -> tuple[str, bool]:
        """``toString()``, ``length()``, ``substring(i[, n])`` (integer literals) on one string (a node
        holding one, or a system string): fhirpathpy's ``to_string`` gives ``str`` of it (itself),
        ``length`` its ``len``, ``substring`` the slice ``s[i:]``/``s[i:i + n]``, empty where ``i``
        is out of range; on anything else (none, several, no string: its checks raise) its closure."""
        general = self.closure(ast, False, inp, depth + 1)  # (emitted below, in the else branch)
        call = self.lines.pop()
        out, x = self.var(), self.var("x")
        e = self.emit
        e(depth, f"{x} = None")
        e(depth, f"if len({inp}) == 1:")
        e(depth + 1, f"{x} = {inp}[0][0] if type({inp}[0]) is _tuple else {inp}[0]")
        e(depth, f"if type({x}) is _str:")
        if name == "toString":
            e(depth + 1, f"{out} = [{x}]")
        elif name == "length":
            e(depth + 1, f"{out} = [len({x})]")
        else:
            start = bounds[0]
            end = "" if len(bounds) == 1 else f"{start} + {bounds[1]}"
            e(depth + 1, f"{out} = [{x}[{start}:{end}]] if 0 <= {start} < len({x}) else []")
        e(depth, "else:")
        self.lines.append(call)
        e(depth + 1, f"{out} = {general[0]}")
        return out, False

    def string_test(self, ast: Ast, name: str, literal: str, inp: str, depth: int) -> tuple[str, bool]:
        """``direct._string_test``: on one string ``literal in s`` or ``re.search``; else its closure."""
        general = self.closure(ast, False, inp, depth + 1)  # (emitted below, in the else branch)
        call = self.lines.pop()
        out, x = self.var(), self.var("x")
        e = self.emit
        e(depth, f"{x} = None")
        e(depth, f"if len({inp}) == 1:")
        e(depth + 1, f"{x} = {inp}[0][0] if type({inp}[0]) is _tuple else {inp}[0]")
        e(depth, f"if type({x}) is _str:")
        if name == "matches":
            search = self.const(re.compile(literal, re.DOTALL).search, "M")
            e(depth + 1, f"{out} = [{search}({x}) is not None]")
        else:
            e(depth + 1, f"{out} = [{self.const(literal, 'L')} in {x}]")
        e(depth, "else:")
        self.lines.append(call)
        e(depth + 1, f"{out} = {general[0]}")
        return out, False

    def order(self, ast: Ast, op: str, inp: str, depth: int) -> tuple[str, bool]:
        """``direct._order``: two single plain strings or integers compared here, else ``order_general``."""
        left, right = direct._children(ast, 2)
        general, fast = self.const(direct.order_general(op), "B"), self.const(direct._ORDER[op], "Q")
        a = self.as_list(self.gen(left, True, inp, depth), depth)
        b = self.as_list(self.gen(right, True, inp, depth), depth)
        out, x, y = self.var(), self.var("x"), self.var("y")
        e = self.emit
        e(depth, f"if not {a} or not {b}:")
        e(depth + 1, f"{out} = []")
        e(depth, f"elif len({a}) == 1 and len({b}) == 1 and ({x} := _plain({a}[0])) is not None "
                 f"and ({y} := _plain({b}[0])) is not None and type({x}) is type({y}) and type({x}) is not _bool:")
        e(depth + 1, f"{out} = [{fast}({x}, {y})]")
        e(depth, "else:")
        e(depth + 1, f"{out} = {general}({a}, {b})")
        return out, False

    def criterion(self, name: str, crit: Ast, equals: tuple[str, str] | None, inp: str,
                  depth: int) -> tuple[str, bool]:
        e = self.emit
        out, it, j, flag = self.var(), self.var("it"), self.var("j"), self.var("f")
        if name == "all":
            e(depth, f"{out} = True")
        else:
            e(depth, f"{out} = []")
            e(depth, f"{flag} = False")
        e(depth, f"for {it} in {inp}:")
        body = depth + 1
        if equals is not None:
            key, literal = equals
            pu = PlainUnder(key)
            known, under = self.const(pu.known, "P"), self.const(pu, "U")
            d, x, plain = self.var("d"), self.var("x"), self.var("q")
            e(body, f"{plain} = False")
            e(body, f"if type({it}) is _tuple and type({it}[0]) is _dict:")
            e(body + 1, f"{d} = {it}[0]")
            e(body + 1, f"{x} = {d}.get({key!r})")
            e(body + 1, f"if type({x}) is _str and {('_' + key)!r} not in {d} and "
                        f"(({known}.get({it}[1]) if type({it}[1]) is _str else None) or {under}({it}[1])):")
            e(body + 2, f"{plain} = True")
            e(body + 2, f"if {x} == {literal!r}:")
            e(body + 3, f"{out}.append({it})")
            e(body, f"if not {plain}:")
            body += 1
        e(body, f"{j} = [{it}] if type({it}) is _tuple else _one({it})")
        self.loops += 1
        found, boolean = self.gen(crit, True, j, body)
        self.loops -= 1
        if name == "all":
            test = f"{found} is not True" if boolean else \
                f"not (len({found}) == 1 and ({found}[0] is True or ({found}[0] is not False and _all_true({found}))))"
            e(body, f"if {test}:")
            e(body + 1, f"{out} = False")
            e(body + 1, "break")
            return out, True
        if name == "select":
            e(body, f"{out}.append({found})" if boolean else f"{out} += {found}")
            return out, False
        truthy = found if boolean else \
            f"{found} and (type({found}[0]) is _tuple or {found}[0])"  # direct._truthy
        e(body, f"if {truthy}:")
        e(body + 1, f"{out}.append({it})")
        e(body + 1, f"if type({it}) is _list:")
        e(body + 2, f"{flag} = True")
        e(depth, f"if {flag}:")
        e(depth + 1, f"{out} = _pairs_of(_flatten({out}))")
        if name == "exists":
            result = self.var()
            e(depth, f"{result} = len({out}) > 0")
            return result, True
        return out, False

    def logic(self, ast: Ast, inp: str, depth: int) -> tuple[str, bool]:
        op = ast["terminalNodeText"][0]
        children = direct._children(ast, 2)
        left = self.gen(children[0], True, inp, depth)
        operands = [self.operand(left, depth)] if not left[1] else []  # (left's checked before right runs)
        right = self.gen(children[1], True, inp, depth)
        out = self.var()
        if left[1] and right[1]:
            self.emit(depth, f"{out} = {_on_booleans(op, left[0], right[0])}")
            return out, True
        if left[1]:
            operands.append(left[0])
        operands.append(right[0] if right[1] else self.operand(right, depth))
        fn = self.const(REGISTRY[op]["fn"], "O")
        res = self.var()
        # Two Booleans (the usual case: an operand that is not always one mostly is one): Python
        # logic, as above; anything else (empty, not a Boolean) fhirpathpy's operator.
        tests = [f"({name} is True or {name} is False)" for name, result in zip(operands, (left, right), strict=True)
                 if not result[1]]
        self.emit(depth, f"if {' and '.join(tests)}:")
        self.emit(depth + 1, f"{out} = [{_on_booleans(op, operands[0], operands[1])}]")
        self.emit(depth, "else:")
        self.emit(depth + 1, f"{res} = {fn}(_FP_CTX, {operands[0]}, {operands[1]})")
        self.emit(depth + 1, f"{out} = [True] if {res} is True else [False] if {res} is False else _listed({res})")
        return out, False

    def operand(self, result: tuple[str, bool], depth: int) -> str:
        """A collection as a Boolean operand (``_logic``'s check, ``_operand`` for the general case)."""
        name = result[0]
        value = self.var("a")
        self.emit(depth, f"{value} = {name}[0] if len({name}) == 1 and ({name}[0] is True or {name}[0] is False) "
                         f"else _operand({name})")
        return value

    def equal(self, ast: Ast, inp: str, depth: int) -> tuple[str, bool]:
        negate = ast["terminalNodeText"][0] == "!="
        left, right = direct._children(ast, 2)
        first, second = self.gen(left, True, inp, depth), self.gen(right, True, inp, depth)
        a, b = self.as_list(first, depth), self.as_list(second, depth)
        out, x, y = self.var(), self.var("x"), self.var("y")
        slow = "_fp_unequal" if negate else "_fp_equal"
        e = self.emit
        literal = direct._literal(right)
        if literal is not None and len(literal) == 1 and type(literal[0]) is str and not first[1]:
            # ``… = 'text'``: one pair holding a string under a path _plain reads as it is (what the
            # test below gives for it: ``_plain`` of the literal is the string itself)
            z, text = self.var("z"), literal[0]
            e(depth, f"if len({a}) == 1 and type({z} := {a}[0]) is _tuple and type({z}[0]) is _str "
                     f"and {z}[1] not in _ODD_PATHS:")
            e(depth + 1, f"{out} = [({z}[0] == {text!r}) is not {negate}]")
            e(depth, f"elif not {a} or not {b}:")
        elif not first[1] and not second[1]:
            # two pairs holding strings under paths _plain reads as they are (the usual case of the
            # test below, without its two calls)
            za, zb = self.var("z"), self.var("z")
            e(depth, f"if len({a}) == 1 and len({b}) == 1 and type({za} := {a}[0]) is _tuple "
                     f"and type({zb} := {b}[0]) is _tuple and type({za}[0]) is _str and type({zb}[0]) is _str "
                     f"and {za}[1] not in _ODD_PATHS and {zb}[1] not in _ODD_PATHS:")
            e(depth + 1, f"{out} = [({za}[0] == {zb}[0]) is not {negate}]")
            e(depth, f"elif not {a} or not {b}:")
        else:
            e(depth, f"if not {a} or not {b}:")
        e(depth + 1, f"{out} = []")
        if first[1] or second[1]:  # one side always one Boolean: the other one Boolean too is the usual case
            e(depth, f"elif len({a}) == 1 and len({b}) == 1 and ({a}[0] is True or {a}[0] is False) "
                     f"and ({b}[0] is True or {b}[0] is False):")
            e(depth + 1, f"{out} = [({a}[0] == {b}[0]) is not {negate}]")  # (what _plain gives for Booleans)
        e(depth, f"elif len({a}) == 1 and len({b}) == 1 and ({x} := _plain({a}[0])) is not None "
                 f"and ({y} := _plain({b}[0])) is not None and type({x}) is type({y}):")
        e(depth + 1, f"{out} = [({x} == {y}) is not {negate}]")
        e(depth, "else:")
        e(depth + 1, f"{out} = _listed({slow}(_FP_CTX, _nodes({a}), _nodes({b})))")
        return out, False

    def in_strings(self, left: Ast, values: list[str], inp: str, depth: int) -> tuple[str, bool]:
        a = self.as_list(self.gen(left, True, inp, depth), depth)
        strings, constant = self.const(frozenset(values), "T"), self.const(list(values), "L")
        slow = self.const(REGISTRY["inOp"]["fn"], "O")
        out, x = self.var(), self.var("x")
        e = self.emit
        e(depth, f"{x} = None")
        e(depth, f"if len({a}) == 1:")
        e(depth + 1, f"{x} = {a}[0][0] if type({a}[0]) is _tuple else {a}[0]")
        e(depth, f"if type({x}) is _str:")
        e(depth + 1, f"{out} = [{x} in {strings}]")
        e(depth, "else:")
        e(depth + 1, f"{out} = _listed({slow}(_FP_CTX, _nodes({a}), {constant}[:]))")
        return out, False


def _on_booleans(op: str, a: str, b: str) -> str:
    """The source of ``a op b`` on two Booleans, as :data:`direct._ON_BOOLEANS` computes it."""
    return {"and": f"{a} and {b}", "or": f"{a} or {b}", "xor": f"{a} is not {b}",
            "implies": f"True if {a} is False else {b}"}[op]


def source(tree: Ast, *, root: bool = False) -> tuple[str, dict[str, Any]]:
    """The generated function's source (``def generated(items, v)``) and the names it reads.

    ``root``: the root entry instead, ``def generated_one(items, d0, p0, v)``, for a caller that
    knows ``items`` to hold one item, an object ``d0`` of type path ``p0`` (a string): the pair
    ``(d0, p0)``, or ``d0`` itself whose ``resourceType`` is ``p0``. A member step, ``exists()``/
    ``empty()``/``count()`` of one and a step and ``where()`` in one loop (:meth:`_Gen.step_where`)
    on the root then read ``d0`` and ``p0`` without the loop and the per-item type dispatch (what
    the loop gives on that item); everything else reads ``items`` as the other entry does."""
    from adapter.fhirpath.compiler import repeated_counts

    gen = _Gen()
    if root:
        gen.root = ("d0", "p0")
    top = direct._children(tree, 1)[0]
    gen.repeated = frozenset(key for key, n in repeated_counts(top).items() if n > 1)
    result, boolean = gen.gen(top, False, "items", 1)
    body = gen.preamble + gen.lines + [f"    return [{result}]" if boolean else f"    return {result}"]
    head = "def generated_one(items, d0, p0, v):\n" if root else "def generated(items, v):\n"
    return head + "\n".join(body) + "\n", gen.consts


ROOT = True
"""Whether :func:`generate` gives the root entry too (``fn.make_one``; ``False``: ``None``, every
caller takes ``fn`` itself; the tests compare the two)."""


def generate(tree: Ast) -> Callable[[list[Any], dict[str, Any]], list[Any]] | None:
    """The direct form of ``tree`` (which must have one) as one generated function, or ``None``.
    Its ``make_one`` (``None`` where ``ROOT`` is off) makes its root entry (``source(root=True)``;
    ``None`` where none can be made): called where the entry is first used (``direct.Form.one``),
    as generating it costs as much again."""
    try:
        text, names = source(tree)
        namespace = dict(names)
        exec(compile(text, "<fhirpath>", "exec"), namespace)  # noqa: S102 - our own generated source
    except (_Refused, direct._Refused, SyntaxError, RecursionError):
        return None
    fn: Callable[[list[Any], dict[str, Any]], list[Any]] = namespace["generated"]
    fn.source = text  # type: ignore[attr-defined]
    fn.make_one = (lambda: _root_entry(tree)) if ROOT else None  # type: ignore[attr-defined]
    return fn


def _root_entry(tree: Ast) -> Callable[..., list[Any]] | None:
    """The root entry of ``tree``'s generated function (:func:`source` with ``root=True``), or ``None``."""
    try:
        text, names = source(tree, root=True)
        namespace = dict(names)
        exec(compile(text, "<fhirpath>", "exec"), namespace)  # noqa: S102 - our own generated source
    except (_Refused, direct._Refused, SyntaxError, RecursionError):
        return None
    one: Callable[..., list[Any]] = namespace["generated_one"]
    one.source = text  # type: ignore[attr-defined]
    return one
