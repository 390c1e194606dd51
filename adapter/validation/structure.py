"""The one walk: every element of a resource against the R4 core definitions and the profiles.

FHIR R4 resource structure (https://hl7.org/fhir/R4/elementdefinition.html), JSON representation
(https://hl7.org/fhir/R4/json.html) and the core invariants. The walk visits each node of the
instance once, wherever the resource stands (top level, Bundle entries, contained, nested
resources such as ``Parameters.parameter.resource``): for each property it finds the core
element (unknown ones are errors), checks the JSON shape (array or single value, ``_element``
alignment, empty objects, arrays and strings, nulls), the cardinality, the primitive format,
required core bindings, the type's own rules (:mod:`adapter.validation.core_rules`) and the
constraints. The profiles that apply (``meta.profile``, the LISN rules) are walked along in the
same visit: at each node the walk hands the profile walks their element (see
:class:`adapter.validation.profiles.Walk`), so profile checks need no second pass of their own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from adapter.fhir import definitions as defs
from adapter.fhir.registry import Registry
from adapter.issues import Issues
from adapter.validation import core_rules, primitives, profiles, references, walkgen
from adapter.validation.constraints import applicable, run_constraints

Resource = dict[str, Any]
Active = list[tuple["profiles.Walk", "profiles.Node"]]
OnResource = Callable[[Resource, str], None]
_CORE = "http://hl7.org/fhir/StructureDefinition/"


class StructureWalk:
    """Validates one resource tree; ``on_resource`` runs the resource-level checks of each resource met."""

    def __init__(self, registry: Registry, issues: Issues, on_resource: OnResource) -> None:
        self.registry = registry
        self.issues = issues
        self.on_resource = on_resource
        self.reported: set[str] = set()
        # '#id' references found in each resource (by id()), outside its contained resources: dom-3
        self.local_refs: dict[int, set[str]] = {}
        # id(contained resource) -> its container, for %rootResource
        self.containers: dict[int, Resource] = {}
        # the Bundle entries and the fullUrl of the entry being walked, innermost last
        self.entries: list[tuple[list[Any], Any]] = []
        # id(a Bundle's entry list) -> id(resource) -> the fullUrl of its first entry (entry_full_url)
        self.full_urls: dict[int, dict[int, Any]] = {}

    def resource(self, res: Any, path: str, inherited: Active | None = None) -> None:
        if not isinstance(res, dict):
            self.issues.add("LISN_BASE_NOT_OBJECT", expression=path, code="structure", type="Resource")
            return
        rtype = res.get("resourceType")
        if not isinstance(rtype, str) or not rtype:
            self.issues.add("UNABLE_TO_FIND_RESOURCETYPE_PROPERTY", expression=path, code="structure")
            return
        visit = _root_visit(rtype)
        if visit is None:
            self.issues.add("Validation_VAL_Profile_NoDefinition", expression=path, code="structure", type=rtype)
            return
        self.on_resource(res, path)
        started = profiles.start_walks(res, self.registry, self.issues, path=path)
        active = inherited + started if inherited else started
        self.local_refs[id(res)] = set()
        self.complex(res, path, visit, active, res, root=True)
        if "contained" in res:
            core_rules.check_contained(res, path, self.local_refs, self.issues)

    def complex(self, obj: dict[str, Any], path: str, visit: _Visit, active: Active, res: Resource, *,
                root: bool = False) -> None:
        """One object of a complex type or backbone element: its properties, then its type's rules.
        The profile walks at it (``active``) enter it first and tell what they have below it; with
        nothing below, a shape of object met often has a generated visit (adapter.validation.walkgen)."""
        below = _NO_BELOW
        if active:
            for walk, node in active:
                walk.enter(node, obj, path)
            if not obj:
                self.issues.add("Object_must_have_some_content", expression=path, code="structure")
                return
            below = {}
            for walk, node in active:
                for _value, where, sub in walk.below(node, obj, path):
                    below.setdefault(where, []).append((walk, sub))
            if below and _SHORT_WAYS and walkgen.ENABLED:
                # the generated visit of the shape with walks below it: the keys they have values
                # at (each location is path.key or path.key[i]) visited by element with them
                keys = tuple(obj)
                mixed = visit.below_shapes.get(keys)
                if mixed is not None:
                    n = len(path) + 1
                    mixed(self, obj, path, res, {where[n:].partition("[")[0] for where in below}, below)
                    return
                walkgen.met_below(visit, keys)
        if not below and _SHORT_WAYS and walkgen.ENABLED:
            keys = tuple(obj)
            shape = visit.shapes.get(keys)
            if shape is not None:
                shape(self, obj, path, res)  # (an empty object has none)
                return
            walkgen.met(visit, keys)
        self.properties_of(obj, path, visit, below, res, root)

    def properties_of(self, obj: dict[str, Any], path: str, visit: _Visit, below: dict[str, Active], res: Resource,
                      root: bool) -> None:
        """:meth:`complex` the general way, once the profile walks have entered ``obj``."""
        issues = self.issues
        if not obj:
            issues.add("Object_must_have_some_content", expression=path, code="structure")
            return
        table = visit.table
        simple = table.simple
        if obj.keys() <= simple.keys():
            # Every key known, none a ``_key`` or a choice: each stands for an element of its own,
            # visited in the input's order (as below).
            if below or not _SHORT_WAYS:
                for key in obj:
                    self.element(obj, path, simple[key], below, res)
            else:
                self.known(obj, path, map(simple.__getitem__, obj), res)
            for name, element, minimum, profile in table.required:
                if name not in obj:
                    issues.add("Validation_VAL_Profile_Minimum", expression=f"{path}.{name}", code="structure",
                               element=element, min=minimum, found=0, profile=profile)
        else:
            self.properties(obj, path, table, below, res, root)
        if visit.targets:
            references.check_reference(obj, path, visit.targets, self.entries[-1] if self.entries else None, issues)
        if visit.rules:
            core_rules.check_type(visit.type_name, obj, path, issues, nested=visit.nested)
        gate = visit.gate
        if gate and (gate == _ALWAYS or (len(obj) == 1 and "id" in obj)):
            constraints = visit.uncontained if root and _SHORT_WAYS and "contained" not in obj \
                and "_contained" not in obj else visit.constraints
            run_constraints(constraints, obj, path, res, issues, self.reported,
                            type_path=None if root else table.owner, root_resource=self.containers.get(id(res)))

    def properties(self, obj: dict[str, Any], path: str, table: _OwnerTable, below: dict[str, Active], res: Resource,
                   root: bool) -> None:
        """The properties of an object, any keys: unknown ones reported first, then each element with
        all its keys (a choice written twice has two), then the required elements missing."""
        issues = self.issues
        plans = table.plans
        found: dict[str, list[_Plan]] = {}
        usual = not below and _SHORT_WAYS  # each element one key, none a ``_key``, no profile walk below
        for key in obj:
            plan = plans.get(key)
            if plan is None:
                if root and key == "resourceType":
                    continue
                plan = table.plan(key)
                if plan is None:
                    issues.add("Unrecognised_property_", expression=f"{path}.{key}", code="structure", name=key)
                    continue
            if plan.underscore:
                usual = False
                if plan.key in obj:
                    continue  # ``_x`` next to ``x``: counted with ``x``
            same = found.get(plan.name)
            if same is None:
                found[plan.name] = [plan]
            else:
                usual = False
                same.append(plan)
        if usual:
            self.known(obj, path, [keys[0] for keys in found.values()], res)
        else:
            self.grouped(obj, path, found, below, res)
        for name, element, minimum, profile in table.required:
            if name not in found:
                issues.add("Validation_VAL_Profile_Minimum", expression=f"{path}.{name}", code="structure",
                           element=element, min=minimum, found=0, profile=profile)

    def grouped(self, obj: dict[str, Any], path: str, found: dict[str, list[_Plan]], below: dict[str, Active],
                res: Resource) -> None:
        """Each element with all its keys (a choice written twice has two, reported)."""
        for keys in found.values():
            if len(keys) == 1:
                self.element(obj, path, keys[0], below, res)
            else:
                for plan in keys:
                    self.element(obj, path, plan, below, res, count=False)
                self.issues.add("LISN_BASE_CHOICE_TWICE", expression=f"{path}.{keys[1].key}", code="structure",
                                element=keys[0].el.path, names=", ".join(p.key for p in keys))

    def known(self, obj: dict[str, Any], path: str, plans: Iterable[_Plan], res: Resource) -> None:
        """The elements of an object, each one key of it (``plans``, in the input's order), none a
        ``_key`` part, with no profile walk below it (the common case): :meth:`element` for each,
        the usual values handled here (no ``_key`` part to look for; a single value, a non-empty
        array without nulls), anything else by :meth:`element` itself."""
        for plan in plans:
            value = obj[plan.key]
            if plan.single:
                if not plan.one_fits or value is None or isinstance(value, list):
                    self.element(obj, path, plan, _NO_BELOW, res)
                elif plan.primitive:
                    plain = plan.plain
                    if plain is None or not plain(value):
                        self.primitive(value, None, path + plan.dot, plan, _NONE, res)
                elif plan.direct is not None and isinstance(value, dict):
                    self.complex(value, path + plan.dot, plan.direct, _NONE, res)
                else:
                    self.value(value, None, path + plan.dot, plan, _NONE, res)
            elif isinstance(value, list) and value and None not in value:
                self.each(value, path + plan.dot, plan, res)
                found = len(value)
                if found < plan.min or found > plan.max:
                    self.cardinality(path, plan, found)
            else:
                self.element(obj, path, plan, _NO_BELOW, res)

    def element(self, obj: dict[str, Any], path: str, plan: _Plan, below: dict[str, Active], res: Resource,
                count: bool = True) -> int:
        """Visits the values of one key (with its ``_key`` part for primitives); returns how many there
        are, and with ``count`` checks that number against the element's cardinality."""
        key = plan.key
        where = path + plan.dot
        value, meta = obj.get(key), obj.get(plan.meta_key)
        if plan.single:
            if isinstance(value, list) or isinstance(meta, list):
                self.issues.add("This_property_must_be_an_simple_value_not_", expression=where,
                                code="structure", name=key)
                found = 0
            elif value is None and meta is None:
                self.issues.add("ELEMENT_CANNOT_BE_NULL", expression=where, code="structure")
                found = 0
            else:
                active = below.get(where, _NONE) if below else _NONE
                if plan.primitive:
                    plain = plan.plain
                    if plain is None or meta is not None or active or not plain(value):
                        self.primitive(value, meta, where, plan, active, res)
                elif plan.direct is not None and isinstance(value, dict):
                    self.complex(value, where, plan.direct, active, res)
                else:
                    self.value(value, meta, where, plan, active, res)
                found = 1
        else:
            found = self.values(obj, plan, where, value, meta, below, res)
        if count and (found < plan.min or found > plan.max):
            self.cardinality(path, plan, found)
        return found

    def cardinality(self, path: str, plan: _Plan, found: int) -> None:
        if found < plan.min:
            self.issues.add("Validation_VAL_Profile_Minimum", expression=f"{path}.{plan.name}", code="structure",
                            element=plan.el.path, min=plan.min, found=found, profile=plan.profile)
        else:
            self.issues.add("Validation_VAL_Profile_Maximum", expression=f"{path}.{plan.key}", code="structure",
                            element=plan.el.path, max=plan.max, found=found, profile=plan.profile)

    def values(self, obj: dict[str, Any], plan: _Plan, where: str, value: Any, meta: Any, below: dict[str, Active],
               res: Resource) -> int:
        """The values of a repeating element's key (an array, and its ``_key`` array for primitives)."""
        key = plan.key
        values = self.array(value, where, key) if key in obj else None
        metas = self.array(meta, where, plan.meta_key) if plan.primitive and plan.meta_key in obj else None
        if metas is None:
            if values is None:
                return 0
            size = len(values)
        elif values is None:
            size = len(metas)
        else:
            if len(values) != len(metas):
                self.issues.add("LISN_BASE_PRIMITIVE_ALIGNMENT", expression=where, code="structure", name=key,
                                values=len(values), extensions=len(metas))
            size = max(len(values), len(metas))
        direct = plan.direct
        plain = plan.plain
        if metas is None and values is not None and not below and _SHORT_WAYS and None not in values:
            self.each(values, where, plan, res)
            return len(values)
        out: list[tuple[Any, Any, str]] = []  # every null is reported before the values are visited
        if metas is None and values is not None:  # (no ``_key`` array)
            for i, v in enumerate(values):
                if v is None:
                    self.issues.add("ELEMENT_CANNOT_BE_NULL", expression=f"{where}[{i}]", code="structure")
                else:
                    out.append((v, None, f"{where}[{i}]"))
        else:
            for i in range(size):
                v = values[i] if values is not None and i < len(values) else None
                m = metas[i] if metas is not None and i < len(metas) else None
                at = f"{where}[{i}]"
                if v is None and m is None:
                    self.issues.add("ELEMENT_CANNOT_BE_NULL", expression=at, code="structure")
                    continue
                out.append((v, m, at))
        for v, m, at in out:
            active = below.get(at, _NONE) if below else _NONE
            if plain is not None and m is None and not active and plain(v):
                continue  # a plain primitive of the right form: nothing else to check (see _Plan.plain)
            if direct is not None and isinstance(v, dict):
                self.complex(v, at, direct, active, res)
            else:
                self.value(v, m, at, plan, active, res)
        return len(out)

    def each(self, values: list[Any], where: str, plan: _Plan, res: Resource) -> None:
        """The values of an array with no ``_key`` array, no null and no profile walk at them (the
        common case): each visited at once, as :meth:`values` would, a plain one that passes its
        quick test not even named."""
        direct, plain = plan.direct, plan.plain
        for i, v in enumerate(values):
            if plain is not None and plain(v):
                continue
            if direct is not None and isinstance(v, dict):
                self.complex(v, f"{where}[{i}]", direct, _NONE, res)
            else:
                self.value(v, None, f"{where}[{i}]", plan, _NONE, res)

    def array(self, value: Any, where: str, key: str) -> list[Any]:
        if not isinstance(value, list):
            self.issues.add("This_property_must_be_an_Array_not_", expression=where, code="structure", name=key)
            return [value]
        if not value:
            self.issues.add("ARRAY_CANNOT_BE_EMPTY", expression=where, code="structure")
        return value

    def value(self, value: Any, meta: Any, where: str, plan: _Plan, active: Active, res: Resource) -> None:
        kind = plan.kind
        if kind == _PRIMITIVE:
            self.primitive(value, meta, where, plan, active, res)
        elif kind == _RESOURCE:
            if plan.contained and isinstance(value, dict):
                self.containers[id(value)] = self.containers.get(id(res), res)
            if plan.entry_resource and isinstance(res.get("entry"), list):
                self.entries.append((res["entry"], self.entry_full_url(res["entry"], value)))
                self.resource(value, where, active)
                self.entries.pop()
                return
            self.resource(value, where, active)
        elif not isinstance(value, dict):
            self.issues.add("LISN_BASE_NOT_OBJECT", expression=where, code="structure", type=plan.type_name)
        elif plan.visit is not None:  # None: a type R4 does not define cannot occur in the generated definitions
            self.complex(value, where, plan.visit, active, res)
            if plan.value_set:
                core_rules.check_binding(plan.value_set, value, where, self.issues)

    def primitive(self, value: Any, meta: Any, where: str, plan: _Plan, active: Active, res: Resource) -> None:
        if active:
            for walk, node in active:
                walk.instance(node, value if value is not None else meta, where)
        if value is not None:
            if plan.local_refs and isinstance(value, str) and (plan.xhtml or value.startswith("#")):
                self.local_refs.setdefault(id(res), set()).update(
                    core_rules.local_references(value, plan.el, plan.type_name))
            quick = plan.quick
            if quick is None or not quick(value):
                primitives.check_primitive(value, plan.check_as, where, self.issues, resource_id=plan.root_id)
            if plan.value_set and isinstance(value, str):
                core_rules.check_binding(plan.value_set, value, where, self.issues)
            if plan.uri and isinstance(value, str) and value.startswith(("oid:", "uuid:")):  # the rules' faults
                core_rules.check_primitive_rules(plan.type_name, plan.el, value, where, self.issues)
            if plan.constraints:
                run_constraints(plan.constraints, value, where, res, self.issues, self.reported,
                                type_path=plan.type_name, root_resource=self.containers.get(id(res)))
        if meta is None:
            return
        if not isinstance(meta, dict):
            self.issues.add("LISN_BASE_NOT_OBJECT", expression=where, code="structure", type="Element")
            return
        self.complex(meta, where, _element_visit(), _NONE, res)

    def entry_full_url(self, entries: list[Any], resource: Any) -> Any:
        """The fullUrl of the first entry whose resource is ``resource`` (None: no such entry, or no
        fullUrl): from an index of the entries made at the first resource asked about."""
        index = self.full_urls.get(id(entries))
        if index is None:  # (the entries are the walked resource's own: their ids stay theirs meanwhile)
            index = self.full_urls[id(entries)] = {}
            for e in entries:
                if isinstance(e, dict):
                    index.setdefault(id(e.get("resource")), e.get("fullUrl"))
        return index.get(id(resource))


_NONE: Active = []  # no profile walks (never appended to)
# The walk's short ways for common shapes of input (StructureWalk.each, .known, the constraints of a
# resource without ``contained``: _HOLD_UNCONTAINED); off, it takes the general
# way everywhere: tests/unit/validation/test_walk_short_ways.py compares the two
_SHORT_WAYS = True
_NO_BELOW: dict[str, Active] = {}  # no profile walks below (never added to)

# What a value is: a primitive, a resource, or an object of a complex type or backbone element.
_PRIMITIVE, _RESOURCE, _COMPLEX = 0, 1, 2
# When a complex value's constraints run: never (none), always, or only ``ele-1`` (on an object
# with only an ``id``: on any other object it holds, see adapter.validation.constraints).
_NEVER, _ALWAYS, _ELE1 = 0, 1, 2


# Core constraints of DomainResource that hold on a resource without ``contained`` (nor ``_contained``):
# each of their paths starts at ``contained``, so each ``.empty()`` is true. They are not evaluated
# there (StructureWalk.complex); the texts are R4's, matched exactly.
_HOLD_UNCONTAINED = frozenset({
    ("dom-2", "contained.contained.empty()"),
    ("dom-4", "contained.meta.versionId.empty() and contained.meta.lastUpdated.empty()"),
    ("dom-5", "contained.meta.security.empty()"),
})


class _Visit:
    """What visiting an object of one owner takes, worked out once: its table of elements, the rules
    of its type, and the constraints on it (its element's and its type's)."""

    __slots__ = ("table", "type_name", "targets", "rules", "nested", "constraints", "gate", "uncontained", "root",
                 "shapes", "counts", "below_shapes", "below_counts")

    def __init__(self, table: _OwnerTable, el: defs.ElementDef | None, root: bool) -> None:
        self.table = table
        self.root = root  # a resource at its root (StructureWalk.resource): its visits are called with root=True
        self.type_name = table.type_name
        self.targets = el.targets if self.type_name == "Reference" and el is not None else ()
        self.rules = self.type_name in core_rules.TYPES_WITH_RULES
        self.nested = el is not None and el.path == "Extension.extension"
        self.constraints = applicable(_constraints(el, self.type_name, root))
        keys = {c.key for c in self.constraints}
        self.gate = _NEVER if not keys else _ELE1 if keys == {"ele-1"} else _ALWAYS
        # the constraints left to evaluate on a resource without ``contained`` (see _HOLD_UNCONTAINED)
        self.uncontained = tuple(c for c in self.constraints if (c.key, c.expression) not in _HOLD_UNCONTAINED) \
            if root else self.constraints
        # the generated visits of the shapes met often (keys in order -> function), and how often the
        # others were met (adapter.validation.walkgen)
        self.shapes: dict[tuple[str, ...], walkgen.Shape] = {}
        self.counts: dict[tuple[str, ...], int] = {}
        # the same for objects with profile walks below them (walkgen.Below)
        self.below_shapes: dict[tuple[str, ...], walkgen.Below] = {}
        self.below_counts: dict[tuple[str, ...], int] = {}


class _Plan:
    """One JSON name of one owner (``valueString`` of ``Observation``): its element and what checking
    a value under it takes, worked out once (definitions are kept for good)."""

    __slots__ = ("key", "underscore", "dot", "meta_key", "name", "el", "min", "max", "single", "one_fits", "type_name",
                 "kind", "primitive", "profile", "value_set", "visit", "contained", "entry_resource",
                 "local_refs", "xhtml", "uri", "quick", "check_as", "root_id", "constraints", "direct", "plain")

    def __init__(self, key: str, el: defs.ElementDef, type_name: str, underscore: bool = False) -> None:
        self.key = key  # the name without "_"
        self.underscore = underscore
        self.dot = "." + key
        self.meta_key = "_" + key
        self.name = el.name
        self.el = el
        self.min, self.max = el.min, el.max
        self.single = el.max <= 1
        self.one_fits = el.min <= 1 <= el.max  # one value meets the cardinality
        self.type_name = type_name
        self.primitive = type_name in defs.PRIMITIVES
        self.kind = _PRIMITIVE if self.primitive else _RESOURCE if type_name == "Resource" else _COMPLEX
        self.profile = _profile(el)
        self.value_set = el.value_set
        self.visit: _Visit | None = None
        if self.kind == _COMPLEX:
            owner = el.owner or type_name
            if defs.type_def(owner) is not None or "." in owner:
                self.visit = _Visit(_owner_table(owner), el, False)
        # the visit of an object value when nothing follows it (no binding): StructureWalk.element's short way
        self.direct = None if self.value_set else self.visit
        self.contained = el.name == "contained"
        self.entry_resource = el.path == "Bundle.entry.resource"
        # the values that may name an id of their resource (dom-3): core_rules.local_references
        self.xhtml = type_name == "xhtml"
        self.local_refs = self.xhtml or type_name in ("uri", "url", "canonical") or el.path == "Reference.reference"
        self.uri = type_name == "uri"
        self.root_id = el.path.count(".") == 1 and el.name == "id" and defs.is_resource_type(el.path.split(".")[0])
        self.check_as = "id" if self.root_id else type_name
        self.quick = primitives.quick_resource_id if self.root_id else \
            primitives.quick_check(type_name) if self.primitive else None
        self.constraints = applicable(tuple(c for c in el.constraints if c.key != "ele-1")) if self.primitive else ()
        # A plain primitive: its value's check is the quick test alone (no binding, no local reference,
        # no uri rule, no constraint). A value that passes it, with no ``_key`` part and no profile
        # walk at it, needs nothing more: StructureWalk.element and .values skip the visit.
        # (plain: its quick test, else None)
        self.plain = self.quick if (self.primitive and not self.value_set and not self.local_refs and not self.uri
                                    and not self.constraints) else None

    def with_underscore(self) -> _Plan:
        """The plan of ``_key`` (the primitive's id and extensions, alone or next to ``key``)."""
        return _Plan(self.key, self.el, self.type_name, underscore=True)


class _OwnerTable:
    """The elements of one type or backbone path, and each JSON key's plan, looked up once."""

    __slots__ = ("owner", "names", "type_name", "required", "plans", "simple")

    def __init__(self, owner: str) -> None:
        self.owner = owner
        self.names = defs.json_names(owner)
        self.type_name = owner if "." not in owner else None
        # key -> its plan, filled as keys are met (tables of types that contain themselves are made first)
        self.plans: dict[str, _Plan] = {}
        # the plans of the keys met that are neither ``_key`` nor a choice's: an object with only
        # such keys takes the short way (StructureWalk.complex)
        self.simple: dict[str, _Plan] = {}
        # the elements with a minimum above zero: (name, definition path, minimum, profile)
        self.required = tuple((el.name, el.path, el.min, _profile(el)) for el in defs.required(owner))

    def plan(self, key: str) -> _Plan | None:
        """The plan of a JSON name of this owner (remembered), or None for a name it does not have
        (not remembered: an input's unknown names do not grow the table)."""
        found = self.plans.get(key)
        if found is not None:
            return found
        underscore = key.startswith("_")
        bare = key[1:] if underscore else key
        hit = self.names.get(bare)
        if hit is None or (underscore and hit[1] not in defs.PRIMITIVES):
            return None
        if underscore:
            plain = self.plan(bare)
            assert plain is not None
            found = plain.with_underscore()
        else:
            found = _Plan(bare, hit[0], hit[1])
            if not found.el.choice:
                self.simple[key] = found
        self.plans[key] = found
        return found

    def key(self, key: str) -> tuple[str, str, bool] | None:
        """(element name, the key without "_", whether it had one) of a JSON name, None for an unknown one."""
        found = self.plan(key)
        return None if found is None else (found.name, found.key, found.underscore)


def _profile(el: defs.ElementDef) -> str:
    """The core profile an element's cardinality issues name."""
    return f"{_CORE}{el.path.split('.')[0]}|4.0.1"


_TABLES: dict[str, _OwnerTable] = {}


def _owner_table(owner: str) -> _OwnerTable:
    table = _TABLES.get(owner)
    if table is None:
        table = _TABLES[owner] = _OwnerTable(owner)
    return table


_ROOTS: dict[str, _Visit | None] = {}


def _root_visit(rtype: str) -> _Visit | None:
    """The visit of a resource of type ``rtype`` at its root; None when R4 defines no such resource."""
    if rtype in _ROOTS:
        return _ROOTS[rtype]
    tdef = defs.type_def(rtype)
    visit = None if tdef is None or tdef.kind != "resource" or tdef.abstract else _Visit(_owner_table(rtype), None, True)
    if tdef is not None:  # only names R4 has are remembered
        _ROOTS[rtype] = visit
    return visit


_ELEMENT: list[_Visit] = []


def _element_visit() -> _Visit:
    """The visit of a primitive's ``_key`` object (an Element)."""
    if not _ELEMENT:
        _ELEMENT.append(_Visit(_owner_table("Element"), None, False))
    return _ELEMENT[0]


def _constraints(el: defs.ElementDef | None, type_name: str | None, root: bool) -> tuple[defs.Constraint, ...]:
    """The constraints on a complex value: its element's and its type's (a resource's own at the root)."""
    own = el.constraints if el is not None else ()
    tdef = defs.type_def(type_name) if type_name else None
    if tdef is None or (not root and tdef.kind == "resource"):
        return own
    keys = {c.key for c in own}
    return own + tuple(c for c in tdef.constraints if c.key not in keys)


def shape_plans(visit: _Visit, keys: tuple[str, ...]) -> list[_Plan] | None:
    """The plans of an object of ``visit``'s owner with the keys ``keys`` (in order) when the general
    visit (:meth:`StructureWalk.complex` with no profile walk) takes them by :meth:`StructureWalk.known`
    (each key an element of its own, none a ``_key``; ``resourceType`` left out at a root), else None:
    what :mod:`adapter.validation.walkgen` generates a visit for."""
    if not keys:
        return None
    table = visit.table
    plans: list[_Plan] = []
    names: set[str] = set()
    for key in keys:
        if visit.root and key == "resourceType":
            continue
        plan = table.plan(key)
        if plan is None or plan.underscore or plan.name in names:
            return None
        names.add(plan.name)
        plans.append(plan)
    return plans


def generated_names() -> dict[str, Any]:
    """The names the generated visits read (adapter.validation.walkgen)."""
    return {"_NONE": _NONE, "_NO_BELOW": _NO_BELOW, "_check_reference": references.check_reference,
            "_check_type": core_rules.check_type, "_run_constraints": run_constraints,
            "_check_primitive": primitives.check_primitive, "_check_binding": core_rules.check_binding,
            "_check_primitive_rules": core_rules.check_primitive_rules,
            "_local_references": core_rules.local_references}


def validate_structure(resource: Resource, registry: Registry, issues: Issues, *, path: str,
                       on_resource: OnResource) -> None:
    """Walk ``resource`` (found at ``path``) once: base R4 rules, profiles, and ``on_resource`` per resource."""
    StructureWalk(registry, issues, on_resource).resource(resource, path)
