"""The structure walk's common visits as generated Python: one function per shape of object.

:class:`adapter.validation.structure.StructureWalk` visits an object of a complex type or backbone
element in general terms (:meth:`~adapter.validation.structure.StructureWalk.complex`): it looks
each key up, asks each element's plan what its value needs, and so on. Most objects of an input
have one of a few shapes: the same keys in the same order (a ``Coding`` with ``system``, ``code``
and ``display``). For such a shape of one owner (a ``_Visit``) with no profile walk at the object,
:func:`generate` writes out what the general visit does, straight-line, with everything the shape
settles decided once:

* each key's element and plan (no look-up), in the input's order, as the general visit takes them;
* a value: the usual case tested first. A primitive's quick test is written inline
  (:func:`adapter.validation.primitives.quick_source`): a value it passes needs nothing more when
  the element is plain, else only its binding and constraints, unless it starts with what a local
  reference (``#``) or a uri rule (``oid:``, ``uuid:``) looks at, which goes to
  ``StructureWalk.primitive``. An object of a complex type is handed to its own type's generated
  function of its shape (looked up by its keys; a shape without one goes to
  ``StructureWalk.complex``). A single value that is null or an array goes to
  ``StructureWalk.element`` (which reports it), as ``StructureWalk.known`` sends it;
* an array without nulls: its values as ``StructureWalk.each`` visits them, its cardinality
  checked only where the element's bounds can fail; anything else to ``StructureWalk.element``;
* the required elements the shape lacks (reported, in the table's order), the reference, type
  rules and constraints as the general visit has them (the constraints' gate and the root's
  ``contained`` decided by the keys; ``ele-1`` left out where ``run_constraints`` passes it over;
  the type's rules called only when :func:`adapter.validation.core_rules.quiet_source`'s condition,
  under which they report nothing, fails: a Coding's system that starts with ``http://``, say);
  the constraints the shape's keys settle true left out (:func:`settle`, :data:`SETTLED`: qrs-1 on
  an item without ``item``), and a primitive's required binding called only for a code outside its
  ValueSet's codes (:data:`BINDINGS`).

``StructureWalk.complex`` takes a shape's function for an object with no profile walk, and for one
whose profile walks, once entered, have nothing below it. An object whose walks have values below
it (a profiled resource's root, a Bundle entry, ...) takes the shape's second function
(``generate(..., below=True)``, kept in ``visit.below_shapes`` and counted apart): each key the
walks have a value at (its name read from the locations ``below`` holds: ``path.key`` or
``path.key[i]``) goes to ``StructureWalk.element`` with them, as ``StructureWalk.properties_of``
sends it; every other key is visited as in the first function (``element`` with walks at none of
a key's values is the visit without walks), then the rest as there.

A shape is generated only when each of its keys names an element of its own (no unknown key, no
``_key``, no choice written twice: the general way reports those) and the object is not empty.
Generation is tiered as :mod:`adapter.fhirpath.codegen` is: a shape is visited :data:`AFTER`
times the general way (counted per owner, at most :data:`SHAPES` shapes counted per owner, so
that an input of endless key orders grows nothing) before its function is compiled, so that a
one-file ``adapter validate`` does not pay the compilation (issue 15, target 3). ``ENABLED =
False`` keeps the general way everywhere (tests/unit/validation/test_walkgen.py compares the two).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from adapter.fhir.definitions import Constraint
    from adapter.validation.structure import StructureWalk, _Plan, _Visit

Shape = Callable[["StructureWalk", dict[str, Any], str, dict[str, Any]], None]
#: The visit of a shape with profile walks below the object: (walk, object, path, resource, the
#: names of the keys the walks have values at, ``below`` as ``StructureWalk.complex`` made it).
Below = Callable[["StructureWalk", dict[str, Any], str, dict[str, Any], set[str], dict[str, Any]], None]

ENABLED = True
SETTLED = True
"""A shape's constraints that its keys settle true are left out of its function (:func:`settle`);
``False``: all run as the general visit runs them (tests/unit/validation/test_walk4_settled.py)."""
BINDINGS = True
"""A primitive's required binding is checked in its shape's function by its codes (``core_rules``'
expansion, a constant), ``check_binding`` called only for a code outside them (or a ValueSet of
MIME types); ``False``: called for every string, as the general visit does."""
AFTER = 32
"""Visits of a shape the general way before its function is generated (``0`` or less: at its first
visit). Compiling one shape's function costs some 0.2-0.5 ms (the example submission has about 50
shapes); the structure walk then costs about 30% fewer instructions (issue 15)."""
SHAPES = 24
"""Shapes counted (so generated, at most) per owner: an owner's objects come in a few shapes (an
answer's has one per value type), and an input cannot make more than this many functions of it."""
_REFUSED = -(1 << 62)  # the count of a shape that cannot be generated: never reaches AFTER


def met(visit: _Visit, keys: tuple[str, ...]) -> None:
    """One visit of an object of shape ``keys`` the general way: counted, and at :data:`AFTER`, its
    function generated for the next ones (or the shape marked as one that takes the general way)."""
    _count(visit, keys, visit.counts, visit.shapes, False)


def met_below(visit: _Visit, keys: tuple[str, ...]) -> None:
    """:func:`met` for an object with profile walks below it: its :data:`Below` function
    (``visit.below_shapes``), counted apart (``visit.below_counts``)."""
    _count(visit, keys, visit.below_counts, visit.below_shapes, True)


def _count(visit: _Visit, keys: tuple[str, ...], counts: dict[tuple[str, ...], int], shapes: dict[Any, Any],
           below: bool) -> None:
    n = counts.get(keys)
    if n is None:
        if len(counts) >= SHAPES:
            return
        n = 0
    n += 1
    if n < AFTER:
        counts[keys] = n
        return
    shape = generate(visit, keys, below=below)
    if shape is None:
        counts[keys] = _REFUSED
    else:
        shapes[keys] = shape


class _Source:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.names: dict[str, Any] = {}
        self.n = 0

    def name(self, value: Any, prefix: str) -> str:
        for known, held in self.names.items():
            if held is value and known.startswith(prefix):
                return known
        self.n += 1
        name = f"{prefix}{self.n}"
        self.names[name] = value
        return name

    def emit(self, depth: int, line: str) -> None:
        self.lines.append("    " * depth + line)


def generate(visit: _Visit, keys: tuple[str, ...], below: bool = False) -> Any:
    """The function visiting an object of shape ``keys`` of ``visit``'s owner with no profile walk
    at it, as ``StructureWalk.complex`` does; None for a shape the general way must take.

    ``below``: the function (a :data:`Below`) for such an object with profile walks below it, once
    they have entered it, as ``StructureWalk.properties_of`` visits it: each key the walks have
    values at (``touched``) by ``StructureWalk.element`` with them, every other key as without."""
    from adapter.validation import structure

    plans = structure.shape_plans(visit, keys)
    if plans is None:
        return None
    src = _Source()
    src.names.update(structure.generated_names())
    from adapter.validation import primitives

    src.names.update(primitives.quick_names())
    if below:
        src.emit(0, "def shape(self, obj, path, res, touched, below):")
        for plan in plans:
            src.emit(1, f"if {plan.key!r} in touched:")
            src.emit(2, f"self.element(obj, path, {src.name(plan, 'P')}, below, res)")
            src.emit(1, "else:")
            _key(src, plan, 2)
    else:
        src.emit(0, "def shape(self, obj, path, res):")
        for plan in plans:
            _key(src, plan, 1)
    table = visit.table
    present = {plan.name for plan in plans}
    for name, element, minimum, profile in table.required:
        if name not in present:
            src.emit(1, f"self.issues.add('Validation_VAL_Profile_Minimum', expression=path + {'.' + name!r}, "
                        f"code='structure', element={element!r}, min={minimum!r}, found=0, profile={profile!r})")
    if visit.targets:
        src.emit(1, f"_check_reference(obj, path, {src.name(visit.targets, 'T')}, "
                    "self.entries[-1] if self.entries else None, self.issues)")
    if visit.rules:
        from adapter.validation import core_rules

        quiet = core_rules.quiet_source(visit.type_name, keys, visit.nested)
        if quiet != "True":
            call = f"_check_type({visit.type_name!r}, obj, path, self.issues, nested={visit.nested!r})"
            if quiet is None:
                src.emit(1, call)
            else:
                src.emit(1, f"if not ({quiet}):")
                src.emit(2, call)
    constraints: tuple[Constraint, ...] = ()
    gate = visit.gate
    if gate == structure._ALWAYS or (gate == structure._ELE1 and keys == ("id",)):
        constraints = visit.uncontained if visit.root and "contained" not in keys and "_contained" not in keys \
            else visit.constraints
        if keys != ("id",):  # (run_constraints passes ele-1 over on an object with a key but "id")
            constraints = tuple(c for c in constraints if c.key != "ele-1")
    if constraints:
        type_path = None if visit.root else table.owner
        run = ("_run_constraints({}, obj, path, res, self.issues, self.reported, "
               f"type_path={type_path!r}, root_resource=self.containers.get(id(res)))")
        rest, guarded, guard = settle(constraints, keys, visit) if SETTLED else (constraints, (), "")
        if guarded:
            # (a guard that fails runs them all, in their order, as without it)
            others = tuple(c for c in rest if c not in guarded)
            if others:
                src.emit(1, f"if {guard}:")
                src.emit(2, run.format(src.name(others, "C")))
                src.emit(1, "else:")
                src.emit(2, run.format(src.name(rest, "C")))
            else:
                src.emit(1, f"if not ({guard}):")
                src.emit(2, run.format(src.name(rest, "C")))
        elif rest:
            src.emit(1, run.format(src.name(rest, "C")))
    src.emit(1, "return None")
    text = "\n".join(src.lines) + "\n"
    try:
        code = compile(text, f"<walkgen{' below' if below else ''} {table.owner} {'/'.join(keys)[:80]}>", "exec")
    except (RecursionError, SyntaxError, MemoryError):  # pragma: no cover - (shapes are flat)
        return None
    scope: dict[str, Any] = dict(src.names)
    exec(code, scope)  # (the text is made here from the definitions, no input's value is in it)
    made = scope["shape"]
    made.source = text  # (for the tests and for reading)
    return made


def settle(constraints: tuple[Constraint, ...], keys: tuple[str, ...], visit: _Visit
           ) -> tuple[tuple[Constraint, ...], tuple[Constraint, ...], str]:
    """The constraints of a shape with the keys ``keys`` that its keys settle (:data:`SETTLED`).

    A constraint made only of ``name.exists()``, ``name.empty()``, ``not()``, ``and``, ``or`` and
    ``implies`` on plain (not choice) elements of the owner gives true on every object of the shape
    when its truth follows from the names the shape lacks (no key, no ``_key``: ``exists()`` false),
    and, for some, from the names of complex types it has: these hold when the value is a non-empty
    object or an array whose first item is one (``exists()`` true), which the returned guard tests.
    Returns (the constraints left but those true on every such object, the ones of those that
    hold under the guard, the guard: a Python test on ``obj``). A constraint that holds reports
    nothing (``run_constraints`` passes it over), so leaving it out changes no issue and no order."""
    from adapter.fhir.definitions import PRIMITIVES

    rest: list[Constraint] = []
    guarded: list[Constraint] = []
    tests: dict[str, str] = {}
    for c in constraints:
        names = _names(c.expression)
        if names is None or any(not _plain(visit, n) for n in names):
            rest.append(c)
            continue
        absent = {n: False for n in names if n not in keys and "_" + n not in keys}
        if _truth(c.expression, absent) is True:
            continue  # true on every object of the shape
        rest.append(c)
        # (a primitive's value is left unknown: only an object is taken to exist)
        present = {n: True for n in names if n not in absent and visit.table.names[n][1] not in PRIMITIVES}
        if any("_" + n in keys for n in names):
            continue
        if _truth(c.expression, {**absent, **present}) is True:
            guarded.append(c)
            for n in present:
                tests[n] = _there(n, visit)
    return tuple(rest), tuple(guarded), " and ".join(tests.values())


_TOKEN = re.compile(r"\s*(\(|\)|\.exists\(\)|\.empty\(\)|\.not\(\)|\b(?:and|or|implies)\b|[A-Za-z][A-Za-z0-9]*)")


def _tokens(expression: str) -> list[str] | None:
    out: list[str] = []
    at = 0
    while at < len(expression):
        m = _TOKEN.match(expression, at)
        if m is None:
            return None
        out.append(m.group(1))
        at = m.end()
        while at < len(expression) and expression[at].isspace():
            at += 1
    return out


def _names(expression: str) -> set[str] | None:
    """The element names of an expression of the small form :func:`settle` reads; None: another form."""
    tokens = _tokens(expression)
    if tokens is None or _parse(tokens, 0, {}) is None:
        return None
    return {t for t in tokens if t[0].isalpha() and t not in ("and", "or", "implies")}


def _truth(expression: str, facts: dict[str, bool]) -> bool | None:
    """The expression's truth given whether each name exists (``facts``); None: not settled by them."""
    tokens = _tokens(expression)
    assert tokens is not None
    parsed = _parse(tokens, 0, facts)
    assert parsed is not None
    return parsed[0]


_Truth = tuple[bool | None, int]


def _parse(t: list[str], i: int, facts: dict[str, bool]) -> _Truth | None:
    """``implies`` over ``or`` over ``and`` over a term (three-valued: None unknown), to the end."""
    got = _implies(t, i, facts)
    if got is None or got[1] != len(t):
        return None
    return got


def _implies(t: list[str], i: int, facts: dict[str, bool]) -> _Truth | None:
    left = _or(t, i, facts)
    if left is None or left[1] >= len(t) or t[left[1]] != "implies":
        return left
    right = _or(t, left[1] + 1, facts)
    if right is None:
        return None
    a, b = left[0], right[0]
    # (FHIRPath: false implies anything is true; anything implies true is true)
    value = True if a is False or b is True else False if a is True and b is False else None
    return value, right[1]


def _or(t: list[str], i: int, facts: dict[str, bool]) -> _Truth | None:
    got = _and(t, i, facts)
    while got is not None and got[1] < len(t) and t[got[1]] == "or":
        right = _and(t, got[1] + 1, facts)
        if right is None:
            return None
        a, b = got[0], right[0]
        got = (True if a is True or b is True else False if a is False and b is False else None), right[1]
    return got


def _and(t: list[str], i: int, facts: dict[str, bool]) -> _Truth | None:
    got = _term(t, i, facts)
    while got is not None and got[1] < len(t) and t[got[1]] == "and":
        right = _term(t, got[1] + 1, facts)
        if right is None:
            return None
        a, b = got[0], right[0]
        got = (False if a is False or b is False else True if a is True and b is True else None), right[1]
    return got


def _term(t: list[str], i: int, facts: dict[str, bool]) -> _Truth | None:
    """``( expression )`` or ``name.exists()`` / ``name.empty()``, each followed by any ``.not()``."""
    if i >= len(t):
        return None
    value: bool | None
    if t[i] == "(":
        inner = _implies(t, i + 1, facts)
        if inner is None or inner[1] >= len(t) or t[inner[1]] != ")":
            return None
        value, i = inner[0], inner[1] + 1
    elif t[i][0].isalpha() and t[i] not in ("and", "or", "implies") and i + 1 < len(t) \
            and t[i + 1] in (".exists()", ".empty()"):
        known = facts.get(t[i])
        value = None if known is None else known if t[i + 1] == ".exists()" else not known
        i += 2
    else:
        return None
    while i < len(t) and t[i] == ".not()":
        value = None if value is None else not value
        i += 1
    return value, i


def _plain(visit: _Visit, name: str) -> bool:
    """Whether ``name`` is a JSON name of an element of ``visit``'s owner that is not a choice."""
    hit = visit.table.names.get(name)
    return hit is not None and not hit[0].choice


def _there(name: str, visit: _Visit) -> str:
    """A test on ``obj`` (which has the key ``name``) under which ``name.exists()`` is true: its
    value (or its array's first item) a non-empty object."""
    v = f"obj[{name!r}]"
    one = "type({x}) is dict and len({x}) > 0"
    plan = visit.table.plan(name)
    if plan is not None and plan.single:
        return "(" + one.format(x=v) + ")"
    return f"(type({v}) is list and len({v}) > 0 and " + one.format(x=f"{v}[0]") + ")"


def _key(src: _Source, plan: _Plan, d: int) -> None:
    """The code of one key of the shape (at depth ``d``): its value ``v`` as ``StructureWalk.known`` visits it."""
    from adapter.fhir.definitions import UNBOUNDED

    p = src.name(plan, "P")
    src.emit(d, f"v = obj[{plan.key!r}]")
    element = f"self.element(obj, path, {p}, _NO_BELOW, res)"
    if plan.single:
        if not plan.one_fits:
            src.emit(d, element)
            return
        # (the usual test comes first: a value it passes is neither null nor an array)
        _one(src, plan, p, "v", f"path + {plan.dot!r}", d,
             unusual=("v is None or isinstance(v, list)", element))
        return
    src.emit(d, "if isinstance(v, list) and v and None not in v:")
    src.emit(d + 1, f"w = path + {plan.dot!r}")
    src.emit(d + 1, "for i, x in enumerate(v):")
    _one(src, plan, p, "x", "f'{w}[{i}]'", d + 2)
    checks = []
    if plan.min > 1:
        checks.append(f"len(v) < {plan.min}")
    if plan.max < UNBOUNDED:
        checks.append(f"len(v) > {plan.max}")
    if checks:
        src.emit(d + 1, f"if {' or '.join(checks)}:")
        src.emit(d + 2, f"self.cardinality(path, {p}, len(v))")
    src.emit(d, "else:")
    src.emit(d + 1, element)


def _one(src: _Source, plan: _Plan, p: str, v: str, where: str, depth: int,
         unusual: tuple[str, str] | None = None) -> None:
    """One value ``v`` (with no ``_key`` part, no profile walk) at ``where`` (an expression), as
    ``StructureWalk.known`` (or ``.each``) visits it: the usual case tested first (a primitive its
    quick test passes, an object of a complex type), then ``unusual`` (a test and its code: the
    values ``StructureWalk.element`` takes), then what the general visit does with the others."""
    usual, body = _usual(src, plan, p, v, where)
    if usual is not None:
        src.emit(depth, f"if {usual}:")
        for line in body or ["pass"]:
            src.emit(depth + 1, line)
        lead = "elif"
    else:
        lead = "if"
    if unusual is not None:
        src.emit(depth, f"{lead} {unusual[0]}:")
        src.emit(depth + 1, unusual[1])
        lead = "elif"
    if lead == "if":
        src.emit(depth, _other(plan, p, v, where))
    else:
        src.emit(depth, "else:")
        src.emit(depth + 1, _other(plan, p, v, where))


def _binding(src: _Source, value_set: str, v: str) -> str | None:
    """The test under which ``core_rules.check_binding`` can report a string ``v`` of a required
    binding (:data:`BINDINGS`: a code outside the ValueSet's expansion, named as a constant; no
    test for a ValueSet it does not check); None: it never can."""
    from adapter.validation import core_rules

    if not BINDINGS or value_set == core_rules.MIME_TYPES:
        return f"isinstance({v}, str)"
    found = core_rules._expansion(value_set)
    if found is None:
        return None  # (one that needs a terminology server: check_binding checks nothing)
    return f"isinstance({v}, str) and {v} not in {src.name(found[1], 'B')}"


def _other(plan: _Plan, p: str, v: str, where: str) -> str:
    """The general visit of a value that is not None (no ``_key`` part, no profile walk)."""
    if plan.primitive:
        return f"self.primitive({v}, None, {where}, {p}, _NONE, res)"
    return f"self.value({v}, None, {where}, {p}, _NONE, res)"


def _usual(src: _Source, plan: _Plan, p: str, v: str, where: str) -> tuple[str | None, list[str]]:
    """The test of the usual values of ``plan`` and what they take (as ``StructureWalk.primitive``,
    or ``.complex`` by the generated visit of the object's shape); ``(None, [])``: none."""
    if plan.primitive:
        quick = _quick(plan, v)
        if quick is None:
            return None, []
        # A value its quick test passes: nothing more for a plain one; for the others, the checks
        # left that it can fail (a local reference, a uri rule: left to the general visit, by prefix)
        prefixes: tuple[str, ...] = ()
        if plan.local_refs and not plan.xhtml:
            prefixes += ("#",)
        if plan.uri:
            prefixes += ("oid:", "uuid:")
        if prefixes:
            quick = f"{quick} and not {v}.startswith({prefixes!r})"
        body = []
        if plan.local_refs and plan.xhtml:
            body.append(f"self.local_refs.setdefault(id(res), set()).update(_local_references({v}, "
                        f"{p}.el, {plan.type_name!r}))")
        binding = _binding(src, plan.value_set, v) if plan.value_set else None
        if binding is not None:
            body.append(f"if {binding}:")
            body.append(f"    _check_binding({plan.value_set!r}, {v}, {'W' if plan.constraints else where}, "
                        "self.issues)")
        if plan.constraints:
            body.insert(0, f"W = {where}")
            body.append(f"_run_constraints({p}.constraints, {v}, W, res, self.issues, self.reported, "
                        f"type_path={plan.type_name!r}, root_resource=self.containers.get(id(res)))")
        return quick, body
    direct = plan.direct
    if direct is None:
        return None, []
    get = src.name(direct.shapes.get, "S")
    d = src.name(direct, "V")
    return f"isinstance({v}, dict)", [
        f"f = {get}(tuple({v}))",
        "if f is None:",
        f"    self.complex({v}, {where}, {d}, _NONE, res)",
        "else:",
        f"    f(self, {v}, {where}, res)",
    ]


def _quick(plan: _Plan, v: str) -> str | None:
    """The quick test of ``plan``'s values (``_Plan.quick``) as an expression on ``v``; None: none."""
    from adapter.validation import primitives

    if plan.quick is None:
        return None
    if plan.root_id:
        return primitives.quick_resource_id_source(v)
    source = primitives.quick_source(plan.type_name, v)
    assert source is not None  # (plan.quick is quick_check's function of this source)
    return source
