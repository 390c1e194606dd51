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

from collections.abc import Callable
from typing import Any

from adapter.fhir import definitions as defs
from adapter.fhir.registry import Registry
from adapter.issues import Issues
from adapter.validation import core_rules, primitives, profiles, references
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

    def resource(self, res: Any, path: str, inherited: Active | None = None) -> None:
        if not isinstance(res, dict):
            self.issues.add("LISN_BASE_NOT_OBJECT", expression=path, code="structure", type="Resource")
            return
        rtype = res.get("resourceType")
        if not isinstance(rtype, str) or not rtype:
            self.issues.add("UNABLE_TO_FIND_RESOURCETYPE_PROPERTY", expression=path, code="structure")
            return
        tdef = defs.type_def(rtype)
        if tdef is None or tdef.kind != "resource" or tdef.abstract:
            self.issues.add("Validation_VAL_Profile_NoDefinition", expression=path, code="structure", type=rtype)
            return
        self.on_resource(res, path)
        active = list(inherited or []) + profiles.start_walks(res, self.registry, self.issues, path=path)
        self.local_refs[id(res)] = set()
        self.complex(res, path, rtype, None, active, res, root=True)
        core_rules.check_contained(res, path, self.local_refs, self.issues)

    def complex(self, obj: dict[str, Any], path: str, owner: str, el: defs.ElementDef | None,
                active: Active, res: Resource, *, root: bool = False) -> None:
        for walk, node in active:
            walk.enter(node, obj, path)
        if not obj:
            self.issues.add("Object_must_have_some_content", expression=path, code="structure")
            return
        below: dict[str, Active] = {}
        for walk, node in active:
            for _value, where, sub in walk.below(node, obj, path):
                below.setdefault(where, []).append((walk, sub))
        table = _owner_table(owner)
        found = self.known_keys(obj, path, table, root)
        elements = table.elements
        for name, keys in found.items():
            self.element(obj, path, elements[name], keys, below, res)
        for element in table.required:
            if element.name not in found:
                self.element(obj, path, element, [], below, res)
        type_name = table.type_name
        if type_name is not None:
            if type_name == "Reference" and el is not None and el.targets:
                references.check_reference(obj, path, el.targets, self.entries[-1] if self.entries else None,
                                           self.issues)
            if type_name in core_rules.TYPES_WITH_RULES:
                core_rules.check_type(type_name, obj, path, self.issues,
                                      nested=el is not None and el.path == "Extension.extension")
        constraints = _complex_constraints(el, type_name, root)
        if constraints:
            run_constraints(constraints, obj, path, res, self.issues, self.reported,
                            type_path=None if root else owner, root_resource=self.containers.get(id(res)))

    def known_keys(self, obj: dict[str, Any], path: str, table: _OwnerTable, root: bool) -> dict[str, list[str]]:
        """The JSON names in ``obj`` by element (``value`` -> ``["valueString"]``); unknown ones reported."""
        keys = table.keys
        found: dict[str, list[str]] = {}
        for key in obj:
            if root and key == "resourceType":
                continue
            hit = keys.get(key)
            if hit is None:
                hit = table.key(key)
                if hit is not None:  # only names the type has: an input's unknown names are not kept
                    keys[key] = hit
            if hit is None:
                self.issues.add("Unrecognised_property_", expression=f"{path}.{key}", code="structure", name=key)
                continue
            name, bare, underscore = hit
            if underscore and bare in obj:
                continue  # ``_x`` next to ``x``: counted with ``x``
            if name in found:
                found[name].append(bare)
            else:
                found[name] = [bare]
        return found

    def element(self, obj: dict[str, Any], path: str, el: defs.ElementDef, keys: list[str],
                below: dict[str, Active], res: Resource) -> None:
        count = 0
        info = _info(el)
        for key in keys:
            type_name = info.choice_types[key] if el.choice else info.type_name
            items = self.items(obj, key, el, type_name, path)
            count += len(items)
            for value, meta, where in items:
                self.value(value, meta, where, el, type_name, below.get(where, _NONE), res)
        if len(keys) > 1:
            self.issues.add("LISN_BASE_CHOICE_TWICE", expression=f"{path}.{keys[1]}", code="structure",
                            element=el.path, names=", ".join(keys))
        elif count < el.min:
            self.issues.add("Validation_VAL_Profile_Minimum", expression=f"{path}.{el.name}", code="structure",
                            element=el.path, min=el.min, found=count, profile=info.profile)
        elif count > el.max:
            self.issues.add("Validation_VAL_Profile_Maximum", expression=f"{path}.{keys[0]}", code="structure",
                            element=el.path, max=el.max, found=count, profile=info.profile)

    def items(self, obj: dict[str, Any], key: str, el: defs.ElementDef, type_name: str,
              path: str) -> list[tuple[Any, Any, str]]:
        """The values of ``key`` (with their ``_key`` parts for primitives) and their locations."""
        value, meta = obj.get(key), obj.get("_" + key)
        where = f"{path}.{key}"
        primitive = type_name in defs.PRIMITIVES
        if el.max <= 1:  # not el.repeats
            for v in (value, meta):
                if isinstance(v, list):
                    self.issues.add("This_property_must_be_an_simple_value_not_", expression=where,
                                    code="structure", name=key)
                    return []
            if value is None and meta is None:
                self.issues.add("ELEMENT_CANNOT_BE_NULL", expression=where, code="structure")
                return []
            return [(value, meta, where)]
        values = self.array(value, where, key) if key in obj else None
        metas = self.array(meta, where, "_" + key) if primitive and "_" + key in obj else None
        if values is None and metas is None:
            return []
        if values is not None and metas is not None and len(values) != len(metas):
            self.issues.add("LISN_BASE_PRIMITIVE_ALIGNMENT", expression=where, code="structure", name=key,
                            values=len(values), extensions=len(metas))
        size = max(len(values or []), len(metas or []))
        out = []
        for i in range(size):
            v = values[i] if values is not None and i < len(values) else None
            m = metas[i] if metas is not None and i < len(metas) else None
            if v is None and m is None:
                self.issues.add("ELEMENT_CANNOT_BE_NULL", expression=f"{where}[{i}]", code="structure")
                continue
            out.append((v, m, f"{where}[{i}]"))
        return out

    def array(self, value: Any, where: str, key: str) -> list[Any] | None:
        if not isinstance(value, list):
            self.issues.add("This_property_must_be_an_Array_not_", expression=where, code="structure", name=key)
            return [value]
        if not value:
            self.issues.add("ARRAY_CANNOT_BE_EMPTY", expression=where, code="structure")
        return value

    def value(self, value: Any, meta: Any, where: str, el: defs.ElementDef, type_name: str,
              active: Active, res: Resource) -> None:
        if type_name in defs.PRIMITIVES:
            self.primitive(value, meta, where, el, type_name, active, res)
        elif type_name == "Resource":
            if el.name == "contained" and isinstance(value, dict):
                self.containers[id(value)] = self.containers.get(id(res), res)
            if el.path == "Bundle.entry.resource" and isinstance(res.get("entry"), list):
                self.entries.append((res["entry"], self.entry_full_url(res["entry"], value)))
                self.resource(value, where, active)
                self.entries.pop()
                return
            self.resource(value, where, active)
        elif not isinstance(value, dict):
            self.issues.add("LISN_BASE_NOT_OBJECT", expression=where, code="structure", type=type_name)
        else:
            owner = el.owner or type_name
            if defs.type_def(owner) is None and "." not in owner:
                return  # a type R4 does not define cannot occur in the generated definitions
            self.complex(value, where, owner, el, active, res)
            if el.value_set:
                core_rules.check_binding(el.value_set, value, where, self.issues)

    def primitive(self, value: Any, meta: Any, where: str, el: defs.ElementDef, type_name: str,
                  active: Active, res: Resource) -> None:
        for walk, node in active:
            walk.instance(node, value if value is not None else meta, where)
        if value is not None:
            if isinstance(value, str) and (value.startswith("#") or type_name == "xhtml"):
                self.local_refs.setdefault(id(res), set()).update(core_rules.local_references(value, el, type_name))
            info = _info(el)
            root_id = info.root_id
            primitives.check_primitive(value, "id" if root_id else type_name, where, self.issues,
                                       resource_id=root_id)
            if el.value_set and isinstance(value, str):
                core_rules.check_binding(el.value_set, value, where, self.issues)
            if type_name == "uri":
                core_rules.check_primitive_rules(type_name, el, value, where, self.issues)
            if info.primitive_constraints:
                run_constraints(info.primitive_constraints, value, where, res, self.issues, self.reported,
                                type_path=type_name, root_resource=self.containers.get(id(res)))
        if meta is None:
            return
        if not isinstance(meta, dict):
            self.issues.add("LISN_BASE_NOT_OBJECT", expression=where, code="structure", type="Element")
            return
        self.complex(meta, where, "Element", None, _NONE, res)

    @staticmethod
    def entry_full_url(entries: list[Any], resource: Any) -> Any:
        return next((e.get("fullUrl") for e in entries if isinstance(e, dict) and e.get("resource") is resource), None)


_NONE: Active = []  # no profile walks (never appended to)


class _ElementInfo:
    """What the walk needs of one element definition, worked out once (definitions are kept for good)."""

    __slots__ = ("type_name", "choice_types", "profile", "root_id", "primitive_constraints")

    def __init__(self, el: defs.ElementDef) -> None:
        owner = el.path.rsplit(".", 1)[0]
        self.type_name = (el.types or ("?",))[0]
        # a choice element: the type each of its JSON names stands for (valueString -> string)
        self.choice_types = {key: t for key, (e, t) in defs.json_names(owner).items() if e.name == el.name} \
            if el.choice else {}
        self.profile = f"{_CORE}{el.path.split('.')[0]}|4.0.1"
        self.root_id = el.path.count(".") == 1 and el.name == "id" and defs.is_resource_type(el.path.split(".")[0])
        self.primitive_constraints = applicable(tuple(c for c in el.constraints if c.key != "ele-1"))


_INFOS: dict[int, tuple[defs.ElementDef, _ElementInfo]] = {}


def _info(el: defs.ElementDef) -> _ElementInfo:
    hit = _INFOS.get(id(el))
    if hit is None or hit[0] is not el:
        hit = _INFOS[id(el)] = (el, _ElementInfo(el))  # the definition is kept alive: its id stays unique
    return hit[1]


class _OwnerTable:
    """The elements of one type or backbone path, and each JSON key's element, looked up once."""

    __slots__ = ("owner", "names", "elements", "required", "type_name", "keys")

    def __init__(self, owner: str) -> None:
        self.owner = owner
        self.names = defs.json_names(owner)
        self.elements = defs.children(owner)
        self.required = defs.required(owner)
        self.type_name = owner if "." not in owner else None
        # key -> (element name, the key without "_", whether it had one), filled as keys are met
        self.keys: dict[str, tuple[str, str, bool]] = {}

    def key(self, key: str) -> tuple[str, str, bool] | None:
        underscore = key.startswith("_")
        bare = key[1:] if underscore else key
        hit = self.names.get(bare)
        if hit is None or (underscore and hit[1] not in defs.PRIMITIVES):
            return None
        return hit[0].name, bare, underscore


_TABLES: dict[str, _OwnerTable] = {}


def _owner_table(owner: str) -> _OwnerTable:
    table = _TABLES.get(owner)
    if table is None:
        table = _TABLES[owner] = _OwnerTable(owner)
    return table


_COMPLEX: dict[tuple[int, str | None, bool], tuple[defs.ElementDef | None, tuple[defs.Constraint, ...]]] = {}


def _complex_constraints(el: defs.ElementDef | None, type_name: str | None,
                         root: bool) -> tuple[defs.Constraint, ...]:
    key = (id(el), type_name, root)
    hit = _COMPLEX.get(key)
    if hit is None or hit[0] is not el:
        hit = _COMPLEX[key] = (el, applicable(_constraints(el, type_name, root)))
    return hit[1]


def _constraints(el: defs.ElementDef | None, type_name: str | None, root: bool) -> tuple[defs.Constraint, ...]:
    """The constraints on a complex value: its element's and its type's (a resource's own at the root)."""
    own = el.constraints if el is not None else ()
    tdef = defs.type_def(type_name) if type_name else None
    if tdef is None or (not root and tdef.kind == "resource"):
        return own
    keys = {c.key for c in own}
    return own + tuple(c for c in tdef.constraints if c.key not in keys)


def validate_structure(resource: Resource, registry: Registry, issues: Issues, *, path: str,
                       on_resource: OnResource) -> None:
    """Walk ``resource`` (found at ``path``) once: base R4 rules, profiles, and ``on_resource`` per resource."""
    StructureWalk(registry, issues, on_resource).resource(resource, path)
