"""Resources against StructureDefinitions: the differential, evaluated generically.

FHIR R4 profiling (https://hl7.org/fhir/R4/profiling.html) and ElementDefinition
(https://hl7.org/fhir/R4/elementdefinition.html). The engine reads these features of a
differential and nothing else: ``min``/``max`` (per parent instance), ``fixed[x]`` (exact)
and ``pattern[x]`` (subset), ``binding`` (required strength is enforced), ``type``
(``profile`` applied to the value, ``targetProfile`` checked against the referenced
resource inside a Bundle), slicing (discriminators ``type``, ``profile``, ``value``,
``pattern``, ``exists``) and ``constraint`` (FHIRPath, see ``invariants``). Base-resource
elements the differential does not mention are not checked here.

Each StructureDefinition is compiled once into a tree of ``Node``s (the per-profile
element index) and cached; validation walks that tree over the plain JSON.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from adapter import errors, messages
from adapter.fhir.identifiers import CANONICAL_BASE
from adapter.fhir.registry import Registry, split_canonical
from adapter.fhir.submission import LISN_QR_PROFILE, LISN_QR_PROFILE_1_1, LISN_QR_PROFILES, lisn_qr_profile
from adapter.issues import Issues
from adapter.validation import business, identifiers, invariants, terminology

Resource = dict[str, Any]
Resolver = Callable[[Any], "Resource | None"]

_LISN_QR_URLS = frozenset(split_canonical(c)[0] for c in LISN_QR_PROFILES.values())
#: The rules (lisn-N) of every template's QR profile share one key space: a key means one rule in all
#: versions, so its message id names the first profile's URL (docs/profiles.md, "The rules of 1.1").
RULE_ID_URL = {LISN_QR_PROFILE_1_1: LISN_QR_PROFILE}
LOCATION_EXT = f"{CANONICAL_BASE}/StructureDefinition/constraint-location"
TRANSLATION_EXT = "http://hl7.org/fhir/StructureDefinition/translation"
FHIR_SD_BASE = "http://hl7.org/fhir/StructureDefinition/"
_UNBOUNDED = 1 << 30


# -- the compiled profile ---------------------------------------------------------------

@dataclass(frozen=True)
class Constraint:
    key: str
    severity: str
    human: str
    human_en: str
    expression: str
    location: str | None


@dataclass(eq=False)
class Node:
    """One element of a profile, its children by JSON name, and its slices."""

    name: str
    slice_name: str | None = None
    element: dict[str, Any] | None = None
    children: dict[str, Node] = field(default_factory=dict)
    slices: list[Node] = field(default_factory=list)
    min: int | None = None
    max: int | None = None
    fixed: Any = None
    pattern: Any = None
    required_vs: str | None = None
    target_types: tuple[str, ...] = ()
    type_codes: tuple[str, ...] = ()
    type_profiles: tuple[str, ...] = ()
    constraints: tuple[Constraint, ...] = ()
    slicing: dict[str, Any] | None = None
    # what a walk does at this node and below it, worked out on first use (see _shape): a compiled
    # profile does not change once compile_profile has built it
    shape: _Shape | None = field(default=None, repr=False)

    @property
    def label(self) -> str:
        return str((self.element or {}).get("id") or (self.element or {}).get("path") or self.name)


class _Shape:
    """What a walk does with a node's values, worked out once per node.

    ``rules``: the node has rules of its own for :meth:`Walk.own_rules` (``fixed``, ``pattern``, a
    required binding, constraints, a type's profiles); ``targets``: a ``targetProfile`` check;
    ``walked``: the children that can report anything (a cardinality that can fail, slices, or
    rules at or below them): :meth:`Walk.below` looks only at these; ``passes``: a value at this
    node has anything to check, at it or below it (else :meth:`Walk.children` does not hand it on).
    A child left out counts nothing, matches nothing and checks nothing: leaving it out changes no
    issue and no order (tests/unit/validation_profiles/test_profile_shapes.py).

    ``plan``: :meth:`Walk.below` at an object, made once so that a walk does no look-up per call
    (:meth:`Walk.planned_below`): a step per walked child (its node, its JSON names, its bounds,
    and whether its values are listed, only counted, or left to :meth:`Walk.children`);
    ``refs_plan``: the steps a walk taking only targetProfile checks needs (those with a
    ``targetProfile`` at or below them). Compared with the general way in
    tests/unit/validation/test_profwalk_plan.py.

    ``local`` and ``local_plan``: the same for a walk with no resolver (a resource's own profiles
    outside a Bundle's walk: :meth:`Walk.reference_target` checks nothing there). ``local``: a
    value at this node has anything to check but targetProfiles (``rules``, or a child that
    counts so); ``local_plan``: the steps of the children that count so, each listed only when it
    is ``local`` (else only counted). A node that is not ``local`` is not handed on by such a walk,
    and the structure walk visits its values as those of no profile (its generated visits).
    """

    __slots__ = ("rules", "targets", "walked", "passes", "plan", "refs_plan", "local", "local_plan")

    def __init__(self, node: Node) -> None:
        self.rules = node.element is not None and (
            node.fixed is not None or node.pattern is not None or node.required_vs is not None
            or bool(node.constraints) or (bool(node.type_profiles) and "Extension" not in node.type_codes))
        self.targets = node.element is not None and bool(node.target_types)
        self.walked = tuple(child for child in node.children.values() if _counts(child))
        self.passes = self.rules or self.targets or bool(self.walked)
        self.plan = tuple(_step(child) for child in self.walked)
        self.refs_plan = tuple(step for step in self.plan if _targets_below(step[0]))
        local = tuple(child for child in self.walked if _counts_locally(child))
        self.local = self.rules or bool(local)
        self.local_plan = tuple(_local_step(child) for child in local)


# What :meth:`Walk.planned_below` does with a child's values (the last field of a _Step): hand them
# to :meth:`Walk.children` (slices, a choice [x], a name starting with "_" that _child_keys reads
# otherwise); check only their number (nothing to check at or below them); or list them with their
# locations, as child_values does, and check their number.
_GENERAL, _COUNTED, _LISTED = 0, 1, 2
#: One child in a node's plan: its node, its JSON name and ``_name``, its bounds (0 and _UNBOUNDED
#: for none: a count beyond 2**30 cannot occur in JSON) and what the walk does with it.
_Step = tuple[Node, str, str, int, int, int]
#: The planned walk is taken (False: Walk.below goes through Walk.children for every child, the
#: general way the tests compare it with, tests/unit/validation/test_profwalk_plan.py).
PLANNED = True


def _step(child: Node) -> _Step:
    name = child.name
    if child.slices or name.endswith("[x]") or name.startswith("_"):
        kind = _GENERAL
    else:
        kind = _LISTED if _shape(child).passes else _COUNTED
    high = _UNBOUNDED if child.max is None else child.max
    return child, name, "_" + name, child.min or 0, high, kind


def _local_step(child: Node) -> _Step:
    """A child's step in a walk with no resolver: only counted when nothing but targetProfiles is
    checked at or below its values (see ``_Shape.local``)."""
    step = _step(child)
    if step[5] == _LISTED and not getattr(_shape(child), "local", True):  # (as in _counts_locally)
        return step[0], step[1], step[2], step[3], step[4], _COUNTED
    return step


def _counts_locally(node: Node) -> bool:
    """:func:`_counts` for a walk with no resolver (targetProfiles left out)."""
    return bool(node.min) or (node.max is not None and node.max < _UNBOUNDED) or bool(node.slices) \
        or getattr(_shape(node), "local", True)  # (a stand-in for _shape's shapes, in the tests, has none)


def _shape(node: Node) -> _Shape:
    shape = node.shape
    if shape is None:
        shape = node.shape = _Shape(node)
    return shape


def _counts(node: Node) -> bool:
    """Whether the values of ``node`` (as a child) can give any issue: a minimum, a maximum that can
    be passed, slices, or anything to check at or below them."""
    return bool(node.min) or (node.max is not None and node.max < _UNBOUNDED) or bool(node.slices) \
        or _shape(node).passes


@dataclass(frozen=True)
class Profile:
    url: str
    canonical: str
    type: str
    root: Node


_COMPILED: dict[int, tuple[Resource, Profile]] = {}


def compile_profile(sd: Resource) -> Profile:
    """The element index of a StructureDefinition, built once per definition object."""
    hit = _COMPILED.get(id(sd))
    if hit is not None and hit[0] is sd:
        return hit[1]
    root = Node(name=str(sd.get("type")))
    for ed in (sd.get("differential") or {}).get("element") or []:
        if isinstance(ed, dict):
            _place(root, ed)
    url = str(sd.get("url"))
    canonical = f"{url}|{sd['version']}" if sd.get("version") else url
    profile = Profile(url, canonical, str(sd.get("type")), root)
    _COMPILED[id(sd)] = (sd, profile)  # the definition is kept alive, so its id stays unique
    return profile


def _place(root: Node, ed: dict[str, Any]) -> None:
    segments = str(ed.get("id") or ed.get("path") or "").split(".")
    if not ed.get("id") and ed.get("sliceName") and len(segments) > 1:
        segments[-1] += f":{ed['sliceName']}"  # an R4 differential may leave out ids
    node = root
    for seg in segments[1:]:
        name, _, slice_name = seg.partition(":")
        child = node.children.setdefault(name, Node(name=name))
        if slice_name:
            found = next((s for s in child.slices if s.slice_name == slice_name), None)
            if found is None:
                found = Node(name=name, slice_name=slice_name)
                child.slices.append(found)
            node = found
        else:
            node = child
    _load_element(node, ed)


def _load_element(node: Node, ed: dict[str, Any]) -> None:
    node.element = ed
    node.min = ed.get("min") if isinstance(ed.get("min"), int) else None
    mx = ed.get("max")
    node.max = None if mx is None else (_UNBOUNDED if mx == "*" else int(mx))
    for key, value in ed.items():
        if key.startswith("fixed"):
            node.fixed = value
        elif key.startswith("pattern"):
            node.pattern = value
    binding = ed.get("binding") or {}
    if binding.get("strength") == "required" and binding.get("valueSet"):
        node.required_vs = str(binding["valueSet"])
    types = [t for t in ed.get("type") or [] if isinstance(t, dict)]
    node.type_codes = tuple(str(t.get("code")) for t in types)
    node.type_profiles = tuple(p for t in types for p in t.get("profile") or [])
    node.target_types = tuple(p for t in types for p in t.get("targetProfile") or [])
    node.slicing = ed.get("slicing")
    node.constraints = tuple(_constraint(c) for c in ed.get("constraint") or []
                             if isinstance(c, dict) and c.get("expression"))


def _constraint(c: dict[str, Any]) -> Constraint:
    location = next((e.get("valueString") for e in c.get("extension") or []
                     if e.get("url") == LOCATION_EXT), None)
    human = str(c.get("human") or "")
    human_en = human
    for ext in (c.get("_human") or {}).get("extension") or []:
        if ext.get("url") == TRANSLATION_EXT:
            parts = {p.get("url"): p for p in ext.get("extension") or []}
            if (parts.get("lang") or {}).get("valueCode") == "en":
                human_en = str((parts.get("content") or {}).get("valueString") or human)
    return Constraint(str(c.get("key")), str(c.get("severity") or "error"), human, human_en,
                      str(c["expression"]), location)


# -- values ---------------------------------------------------------------------------------

def child_values(parent: Any, name: str, parent_path: str) -> list[tuple[Any, str]]:
    """The values of element ``name`` in ``parent`` with their FHIRPath locations."""
    if not isinstance(parent, dict):
        return []
    out: list[tuple[Any, str]] = []
    for key in _child_keys(parent, name):
        value = parent[key]
        shown = key.lstrip("_")
        if isinstance(value, list):
            out.extend((v, f"{parent_path}.{shown}[{i}]") for i, v in enumerate(value) if v is not None)
        elif value is not None:
            out.append((value, f"{parent_path}.{shown}"))
    return out


def _count(parent: Any, name: str) -> int:
    """How many values :func:`child_values` finds, without their locations."""
    if not isinstance(parent, dict):
        return 0
    found = 0
    for key in _child_keys(parent, name):
        value = parent[key]
        if isinstance(value, list):
            found += len(value) - value.count(None)  # (no JSON value but null equals None)
        elif value is not None:
            found += 1
    return found


def _child_keys(parent: dict[str, Any], name: str) -> list[str]:
    if name.endswith("[x]"):
        base = name[:-3]
        return [k for k in parent if k.startswith(base) and len(k) > len(base) and k[len(base)].isupper()]
    return [name] if name in parent else ([f"_{name}"] if f"_{name}" in parent else [])


def _values_at(value: Any, steps: tuple[str, ...]) -> list[Any]:
    """The values at ``steps`` (element names) below ``value``, as :func:`child_values` finds them, step by step."""
    found = [value]
    for name in steps:
        below: list[Any] = []
        for parent in found:
            if not isinstance(parent, dict):
                continue
            for key in _child_keys(parent, name):
                child = parent[key]
                if isinstance(child, list):
                    below.extend(v for v in child if v is not None)
                elif child is not None:
                    below.append(child)
        found = below
    return found


def type_of_profile(canonical: str, registry: Registry) -> str | None:
    """The resource or data type a profile (or a base type URL) constrains."""
    if canonical.startswith(FHIR_SD_BASE):
        return canonical[len(FHIR_SD_BASE):].split("|")[0]
    sd = registry.resolve(canonical, "StructureDefinition")
    return str(sd.get("type")) if sd else None


# -- the walk -------------------------------------------------------------------------------

class Walk:
    """One validation of one resource against one profile; collects into ``issues``."""

    def __init__(self, profile: Profile, registry: Registry, issues: Issues, resource: Resource, *,
                 resolver: Resolver | None = None, refs_only: bool = False) -> None:
        self.profile = profile
        self.registry = registry
        self.issues = issues
        self.resource = resource
        self.resolver = resolver
        self.refs_only = refs_only
        self.reported: set[tuple[str, str]] = set()

    def run(self, path: str) -> None:
        self.instance(self.profile.root, self.resource, path)

    # One instance of an element: its own rules (``enter``), then its children (``below``). The
    # structure walk (adapter.validation.structure) calls the two halves itself as it visits each
    # node, so a profile adds no pass of its own; ``instance`` is the standalone form.
    def instance(self, node: Node, value: Any, path: str) -> None:
        self.enter(node, value, path)
        for v, p, sub in self.below(node, value, path):
            self.instance(sub, v, p)

    def enter(self, node: Node, value: Any, path: str) -> None:
        shape = _shape(node)  # (own_rules and reference_target do nothing where it says no)
        if shape.rules and not self.refs_only:
            self.own_rules(node, value, path)
        if shape.targets and self.resolver is not None:
            self.reference_target(node, value, path)

    def below(self, node: Node, value: Any, path: str) -> list[tuple[Any, str, Node]]:
        """The child values of ``value`` this profile has rules for, each with its node (slices first)."""
        shape = _shape(node)
        whole = isinstance(value, dict)
        if whole and PLANNED and isinstance(shape, _Shape):  # (a stand-in for _shape's shapes has no plan)
            return self.planned_below(shape.refs_plan if self.refs_only else shape.plan if self.resolver is not None
                                      else shape.local_plan, value, path)
        out: list[tuple[Any, str, Node]] = []
        for child in shape.walked:  # (the others can report nothing: see _Shape)
            if self.refs_only and not _targets_below(child):
                continue  # only targetProfile checks are wanted, and none stands in this part of the profile
            name = child.name
            if whole and not name.endswith("[x]"):
                # the values' number (as _count finds it): a child with nothing to report at this value
                # is passed over here, as children() would return nothing for it
                got = value[name] if name in value else value.get("_" + name)
                found = 0 if got is None else len(got) - got.count(None) if isinstance(got, list) else 1
                if not child.slices and not _shape(child).passes:  # (only its number of values matters)
                    if (child.min is None or found >= child.min) and (child.max is None or found <= child.max):
                        continue
                elif not found and not child.min and not child.slices:
                    continue
            out.extend(self.children(child, value, path))
        return out

    def planned_below(self, plan: tuple[_Step, ...], value: dict[str, Any], path: str) -> list[tuple[Any, str, Node]]:
        """:meth:`below` at an object by its node's plan: what :meth:`children` does for a child
        without slices done here, with no look-up but the child's values; a child whose number of
        values is out of bounds, and any other child, handed to :meth:`children` itself."""
        out: list[tuple[Any, str, Node]] = []
        for child, name, meta, low, high, kind in plan:
            if kind != _GENERAL:
                got = value[name] if name in value else value.get(meta)
                if kind == _COUNTED:
                    found = 0 if got is None else len(got) - got.count(None) if isinstance(got, list) else 1
                    if low <= found <= high:
                        continue
                elif isinstance(got, list):
                    at = f"{path}.{name}"
                    values = [(v, f"{at}[{i}]", child) for i, v in enumerate(got) if v is not None]
                    if low <= len(values) <= high:
                        out += values
                        continue
                elif got is not None:
                    if low <= 1 <= high:
                        out.append((got, f"{path}.{name}", child))
                        continue
                elif not low:
                    continue
            out.extend(self.children(child, value, path))  # a count out of bounds (reported there), or slices
        return out

    def children(self, node: Node, parent: Any, parent_path: str) -> list[tuple[Any, str, Node]]:
        passes = _shape(node).passes
        if not node.slices and not passes:
            # only the number of values matters (nothing to match or check at them): counted without
            # their locations, which only a count out of bounds needs (as cardinality reports it)
            found = _count(parent, node.name)
            if (node.min is None or found >= node.min) and (node.max is None or found <= node.max):
                return []
        values = child_values(parent, node.name, parent_path)
        if not values and not node.min and not node.slices:
            return []  # nothing to count, nothing to match
        if not self.refs_only and ((node.min is not None and len(values) < node.min)
                                   or (node.max is not None and len(values) > node.max)):
            self.cardinality(node, values, parent_path, "Validation_VAL_Profile_Minimum",
                             "Validation_VAL_Profile_Maximum")
        out: list[tuple[Any, str, Node]] = []
        if node.slices:
            for sl, matched in self.slice(node, values).items():
                if not self.refs_only:
                    self.cardinality(sl, matched, parent_path, "Validation_VAL_Profile_Minimum_SLICE",
                                     "Validation_VAL_Profile_Maximum_SLICE")
                if _shape(sl).passes:  # else nothing to check at or below the slice's values
                    out.extend((v, p, sl) for v, p in matched)
        if passes:
            out.extend((v, p, node) for v, p in values)
        return out

    def cardinality(self, node: Node, values: list[tuple[Any, str]], parent_path: str,
                    min_id: str, max_id: str) -> None:
        found = len(values)
        too_few = node.min is not None and found < node.min
        too_many = node.max is not None and found > node.max
        if not (too_few or too_many):
            return
        args: dict[str, Any] = {"element": node.label, "found": found, "profile": self.profile.canonical}
        if too_few:
            self.issues.add(min_id, expression=f"{parent_path}.{node.name.replace('[x]', '')}",
                            code="structure", min=node.min, **args)
        if too_many:
            self.issues.add(max_id, expression=values[node.max][1], code="structure",  # type: ignore[index]
                            max=node.max, **args)

    def own_rules(self, node: Node, value: Any, path: str) -> None:
        if node.fixed is not None:
            self.compare(node.fixed, value, path, exact=True)
        if node.pattern is not None:
            self.compare(node.pattern, value, path, exact=False)
        if node.required_vs is not None:
            self.binding(node.required_vs, value, path)
        for constraint in node.constraints:
            self.constraint(node, constraint, value, path)
        if node.type_profiles and isinstance(value, dict) and "Extension" not in node.type_codes:
            self.type_profiles(node, value, path)

    # fixed[x] and pattern[x]
    def compare(self, expected: Any, actual: Any, path: str, *, exact: bool) -> None:
        for message_id, where, args in mismatches(expected, actual, path, exact=exact):
            self.issues.add(message_id, expression=where, code="value", profile=self.profile.canonical, **args)

    def binding(self, vs_url: str, value: Any, path: str) -> None:
        exp = terminology.expand(self.registry, vs_url)
        if exp is None:
            self.issues.add("Terminology_TX_ValueSet_NotFound", expression=path, severity="warning",
                            code="not-found", valueSet=vs_url)
            return
        if isinstance(value, str):
            known = bool(exp.whole_systems) or any(code == value for _, code in exp.codes)
            self.issues.check(known, "Terminology_TX_NoValid_16", expression=path,
                              code="code-invalid", value=value, valueSet=vs_url)
        elif isinstance(value, dict) and isinstance(value.get("coding"), list):
            codings = [c for c in value["coding"] if isinstance(c, dict)]
            shown = ", ".join(f"{c.get('system')}#{c.get('code')}" for c in codings)
            self.issues.check(any(_member(exp, c) for c in codings), "Terminology_TX_NoValid_1_CC",
                              expression=path, code="code-invalid", valueSet=vs_url, codes=shown)
        elif isinstance(value, dict) and ("code" in value or "system" in value) and "value" not in value:
            self.issues.check(_member(exp, value), "Terminology_TX_NoValid_12", expression=path,
                              code="code-invalid", valueSet=vs_url,
                              coding=f"{value.get('system')}#{value.get('code')}")

    def constraint(self, node: Node, c: Constraint, value: Any, path: str) -> None:
        result = invariants.holds(c.expression, value, resource=self.resource)
        if isinstance(result, invariants.FhirPathProblem):
            self.problem(c, result, path)
            return
        if result:
            return
        where = [path]
        if c.location:
            located = invariants.locate(c.location, value, resource=self.resource)
            if isinstance(located, invariants.FhirPathProblem):
                self.problem(c, located, path)
            elif located:
                index = invariants.paths_by_identity(value, path)
                where = [index[id(n)] for n in located if id(n) in index] or [path]
        for expression in where:
            self.issues.extend([errors.issue(
                "warning" if c.severity == "warning" else "error", "invariant",
                messages.bilingual("LISN_INVARIANT", key=c.key, human=c.human, human_en=c.human_en),
                expression=expression, message_id=f"{RULE_ID_URL.get(self.profile.url, self.profile.url)}#{c.key}",
                coded_as="LISN_INVARIANT",
                diagnostics=f"{c.key}: {c.expression} (from {self.profile.canonical})")])

    def problem(self, c: Constraint, problem: invariants.FhirPathProblem, path: str) -> None:
        if (c.key, problem.expression) in self.reported:
            return
        self.reported.add((c.key, problem.expression))
        self.issues.add("Problem_processing_expression__in_profile__path__", expression=path,
                        severity="warning", code="processing", key=c.key, fhirpath=problem.expression,
                        profile=self.profile.canonical, detail=problem.detail)

    def type_profiles(self, node: Node, value: dict[str, Any], path: str) -> None:
        declared = _declarations(value, self.registry) if DECLARED_KEPT and "resourceType" in value else None
        if declared is not None:
            if not declared[2].isdisjoint(_profile_urls(node)):
                return  # (as below)
        else:
            own = {split_canonical(p)[0] for p in applicable_profiles(value)} if "resourceType" in value else set()
            if own & {split_canonical(p)[0] for p in node.type_profiles}:
                return  # the dispatcher validates each entry against the profiles it declares
        if len(node.type_profiles) > 1:
            # Several profiles on one type are alternatives: the value must meet one of them.
            self.issues.check(self.conforms(value, node.type_profiles), "Validation_VAL_Profile_NoMatch",
                              expression=path, code="structure", profiles=", ".join(node.type_profiles))
            return
        canonical = node.type_profiles[0]
        sd = self.registry.resolve(canonical, "StructureDefinition")
        if sd is None:
            self.issues.add("Validation_VAL_Profile_Unknown", expression=path, severity="warning",
                            code="structure", profile=canonical)
        elif "resourceType" in value or sd.get("kind") != "resource":
            validate_profile(value, sd, self.registry, self.issues, path=path, resolver=self.resolver)

    def reference_target(self, node: Node, value: Any, path: str) -> None:
        if not isinstance(value, dict) or not isinstance(value.get("reference"), str) or self.resolver is None:
            return
        target = self.resolver(value)
        if target is None:
            return  # an unresolvable reference is reported by the Bundle checks
        allowed = _allowed_targets(node, self.registry) if DECLARED_KEPT else \
            [t for t in (type_of_profile(p, self.registry) for p in node.target_types) if t]
        if allowed and "Resource" not in allowed:
            self.issues.check(target.get("resourceType") in allowed, "Reference_REF_BadTargetType",
                              expression=path, code="structure", found=target.get("resourceType"),
                              allowed=", ".join(allowed))

    # slicing
    def slice(self, node: Node, values: list[tuple[Any, str]]) -> dict[Node, list[tuple[Any, str]]]:
        slicing = node.slicing or {}
        discriminators = [d for d in slicing.get("discriminator") or [] if isinstance(d, dict)]
        matched: dict[Node, list[tuple[Any, str]]] = {sl: [] for sl in node.slices}
        choice = node.name.endswith("[x]")
        step: str | None = None
        by_resource: dict[str, tuple[Node, ...]] = {}
        if not choice and values:  # what matching takes, read once for all the values (see below)
            paths = [_discriminator(node.slices[0], d)[0] for d in discriminators] if node.slices else []
            by_type = _type_slices(node, discriminators)
            one_type = _one_type_index(node, by_type) if by_type is not None else None
            # with one type discriminator one step deep (Bundle.entry by resource), a value with one
            # resource there has its slices looked up at once: what the lines below come to for it
            if PLANNED and one_type is not None and len(paths[0]) == 1 and not paths[0][0].endswith("[x]"):
                step, by_resource = paths[0][0], one_type
        for v, p in values:
            typed = _typed_slices(by_resource, step, v) if step is not None else None
            if typed is not None:
                candidates = list(typed)
            elif choice:  # type slices of a choice: valueQuantity, valueString, ...
                candidates = [sl for sl in node.slices if p.rsplit(".", 1)[-1].split("[")[0] == sl.slice_name]
            else:  # the values at each discriminator's path are the same for every slice: found once
                subs = [_values_at(v, steps) for steps in paths]
                if by_type is not None:  # only type discriminators: each slice's types against the values'
                    found = [{x["resourceType"] for x in sub if isinstance(x, dict) and isinstance(x.get("resourceType"), str)}
                             for sub in subs]  # (only a text can be one of the codes)
                    index = one_type if len(found) == 1 and len(found[0]) == 1 else None
                    if index is not None:  # one discriminator, one type found: its slices, looked up
                        candidates = list(index.get(next(iter(found[0])), ()))
                    else:
                        candidates = [sl for sl, codes in by_type
                                      if all(not types.isdisjoint(c) for types, c in zip(found, codes))]
                else:
                    candidates = [sl for sl in node.slices
                                  if all(self.discriminates(sl, d, v, sub) for d, sub in zip(discriminators, subs))]
            chosen = self.choose(candidates, matched, v)
            if chosen is not None:
                matched[chosen].append((v, p))
            elif slicing.get("rules") == "closed" and not self.refs_only:
                self.issues.add("Validation_VAL_Profile_NotSlice", expression=p, code="structure",
                                element=node.label, profile=self.profile.canonical)
        return matched

    def choose(self, candidates: list[Node], matched: dict[Node, list[Any]], value: Any) -> Node | None:
        if len(candidates) <= 1:
            return candidates[0] if candidates else None
        # Several slices fit the discriminator: prefer one whose profile the value meets, then one with room.
        conforming = [sl for sl in candidates if self.conforms_to_slice(sl, value)] or candidates
        roomy = [sl for sl in conforming if sl.max is None or len(matched[sl]) < sl.max]
        return (roomy or conforming)[0]

    def discriminates(self, sl: Node, d: dict[str, Any], value: Any, sub: list[Any] | None = None) -> bool:
        """Whether ``value`` fits slice ``sl`` by discriminator ``d`` (``sub``: the values at the
        discriminator's path, when already found)."""
        steps, target, kind, dpath = _discriminator(sl, d)
        if sub is None:
            sub = _values_at(value, steps)
        if kind == "type":
            return any(isinstance(v, dict) and v.get("resourceType") in target.type_codes for v in sub)
        if kind == "profile":
            return any(isinstance(v, dict) and self.conforms(v, target.type_profiles) for v in sub)
        if kind in ("value", "pattern"):
            expected = target.fixed if target.fixed is not None else target.pattern
            if expected is None and dpath == "url" and sl.type_profiles:
                expected = sl.type_profiles[0]  # an extension slice: matched by the extension's url
            return expected is not None and any(not mismatches(expected, v, "", exact=False) for v in sub)
        if kind == "exists":
            return bool(sub) == bool((target.min or 0) >= 1)
        return False

    def conforms_to_slice(self, sl: Node, value: Any) -> bool:
        inner = sl.children.get("resource")
        profiles = (inner.type_profiles if inner else ()) or sl.type_profiles
        target = value.get("resource") if inner and isinstance(value, dict) else value
        return isinstance(target, dict) and bool(profiles) and self.conforms(target, profiles)

    def conforms(self, resource: Resource, profiles: Iterable[str]) -> bool:
        for canonical in profiles:
            sd = self.registry.resolve(canonical, "StructureDefinition")
            if sd is None or sd.get("type") != resource.get("resourceType"):
                continue
            scratch = Issues()
            validate_profile(resource, sd, self.registry, scratch, path=str(resource.get("resourceType")),
                             resolver=self.resolver)
            if not scratch.has_errors:
                return True
        return False


_DISCRIMINATORS: dict[tuple[int, int], tuple[Node, dict[str, Any], tuple[tuple[str, ...], Node, Any, str]]] = {}


def _discriminator(sl: Node, d: dict[str, Any]) -> tuple[tuple[str, ...], Node, Any, str]:
    """A discriminator of slice ``sl``, read once: its path's steps, the slice's node at that path (an
    empty one when the slice says nothing there), its type and its path."""
    hit = _DISCRIMINATORS.get((id(sl), id(d)))
    if hit is None or hit[0] is not sl or hit[1] is not d:
        dpath = str(d.get("path") or "$this")
        steps = () if dpath == "$this" else tuple(dpath.split("."))
        target = sl
        for part in steps:
            target = target.children.get(part, Node(name=part))
        # compiled profiles and their definitions are kept: the ids stay unique
        hit = _DISCRIMINATORS[(id(sl), id(d))] = (sl, d, (steps, target, d.get("type"), dpath))
    return hit[2]


_TYPE_SLICES: dict[int, tuple[Node, list[tuple[Node, list[frozenset[Any]]]] | None]] = {}


def _type_slices(node: Node, discriminators: list[dict[str, Any]]) -> list[tuple[Node, list[frozenset[Any]]]] | None:
    """When every discriminator of ``node``'s slicing is of type ``type``: each slice with the type codes
    it names at each discriminator's path (as :meth:`Walk.discriminates` reads them); else None."""
    hit = _TYPE_SLICES.get(id(node))
    if hit is None or hit[0] is not node:
        table = [(sl, [frozenset(_discriminator(sl, d)[1].type_codes) for d in discriminators]) for sl in node.slices] \
            if discriminators and all(d.get("type") == "type" for d in discriminators) else None
        hit = _TYPE_SLICES[id(node)] = (node, table)  # compiled profiles are kept: the id stays unique
    return hit[1]


_ONE_TYPE: dict[int, tuple[Node, dict[str, tuple[Node, ...]] | None]] = {}


def _one_type_index(node: Node, by_type: list[tuple[Node, list[frozenset[Any]]]]) -> dict[str, tuple[Node, ...]] | None:
    """With one ``type`` discriminator (``by_type`` from :func:`_type_slices`): each type code named
    with the slices that name it, in the slices' order (the candidates :meth:`Walk.slice` finds for
    a value of that one type); None with several discriminators."""
    hit = _ONE_TYPE.get(id(node))
    if hit is None or hit[0] is not node:
        index: dict[str, tuple[Node, ...]] | None = None
        if all(len(codes) == 1 for _, codes in by_type):
            index = {}
            for sl, (codes,) in by_type:
                for code in codes:
                    index[code] = (*index.get(code, ()), sl)
        hit = _ONE_TYPE[id(node)] = (node, index)  # compiled profiles are kept: the id stays unique
    return hit[1]


def _typed_slices(index: dict[str, tuple[Node, ...]], step: str, value: Any) -> tuple[Node, ...] | None:
    """The slices ``value`` may be by one ``type`` discriminator one step deep (``index`` from
    :func:`_one_type_index`, ``step`` its path): those of the one resource found there, read as
    :func:`_values_at` reads it; None for anything else (no object there, an array, a ``_step``),
    left to the general lines of :meth:`Walk.slice`."""
    found = value.get(step) if type(value) is dict else None
    rtype = found.get("resourceType") if type(found) is dict else None
    return index.get(rtype, ()) if type(rtype) is str else None


_TARGETS_BELOW: dict[int, tuple[Node, bool]] = {}


def _targets_below(node: Node) -> bool:
    """Whether ``node``, its children or its slices (at any depth) have a ``targetProfile``: with
    ``refs_only`` a walk adds issues only there (every other rule, and the slice and cardinality
    reports, are left out; slices are matched into scratch issues)."""
    hit = _TARGETS_BELOW.get(id(node))
    if hit is None or hit[0] is not node:
        found = bool(node.target_types) or any(_targets_below(c) for c in node.children.values()) \
            or any(_targets_below(sl) for sl in node.slices)
        hit = _TARGETS_BELOW[id(node)] = (node, found)  # compiled profiles are kept: the id stays unique
    return hit[1]


def mismatches(expected: Any, actual: Any, path: str, *, exact: bool) -> list[tuple[str, str, dict[str, Any]]]:
    """Where ``actual`` differs from a fixed (``exact``) or pattern value: (message id, path, args)."""
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [("_DT_Fixed_Wrong", path, {"value": _shown(actual), "expected": _shown(expected)})]
        out: list[tuple[str, str, dict[str, Any]]] = []
        for key, sub in expected.items():
            if key not in actual:
                out.append(("Profile_VAL_MissingElement", f"{path}.{key}", {"element": key}))
            else:
                out.extend(mismatches(sub, actual[key], f"{path}.{key}", exact=exact))
        if exact:
            out.extend(("LISN_PROFILE_FIXED_EXTRA", f"{path}.{key}", {"element": key})
                       for key in actual if key not in expected)
        return out
    if isinstance(expected, list):
        items = actual if isinstance(actual, list) else [actual]
        if exact and len(items) != len(expected):
            return [("_DT_Fixed_Wrong", path, {"value": _shown(actual), "expected": _shown(expected)})]
        out = []
        for i, sub in enumerate(expected):
            if exact:
                out.extend(mismatches(sub, items[i], f"{path}[{i}]", exact=True))
            elif not any(not mismatches(sub, item, "", exact=False) for item in items):
                out.append(("LISN_PROFILE_PATTERN_NOT_FOUND", path, {"pattern": _shown(sub)}))
        return out
    if actual != expected or type(actual) is bool and type(expected) is not bool:
        return [("_DT_Fixed_Wrong", path, {"value": _shown(actual), "expected": _shown(expected)})]
    return []


def _member(exp: terminology.Expansion, coding: dict[str, Any]) -> bool:
    system, code = coding.get("system"), coding.get("code")
    return isinstance(system, str) and isinstance(code, str) and exp.contains(system, code)


def _shown(value: Any) -> str:
    """A value as JSON text for messages (``true``, ``{"system": …}``), strings as they are."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True)


# -- public API ---------------------------------------------------------------------------

def declared_profiles(resource: Resource) -> list[str]:
    """``meta.profile`` as written (non-text entries, which the structure checks report, are skipped)."""
    meta = resource.get("meta")
    declared = meta.get("profile") if isinstance(meta, dict) else None
    return [p for p in declared if isinstance(p, str)] if isinstance(declared, list) else []


def _same_profile(declared: str, expected: str) -> bool:
    """``declared`` names ``expected``: the same URL, and no version or the same (major.minor matches major.minor.patch)."""
    (url, version), (want_url, want) = split_canonical(declared), split_canonical(expected)
    return url == want_url and (version is None or want is None or version == want
                                or want.startswith(version + ".") or version.startswith(want + "."))


def wrong_qr_profiles(resource: Resource) -> list[tuple[int, str, str]]:
    """``(index, declared, expected)`` for each LISN QR profile in ``meta.profile`` that is not the template's.

    A LISN response declares the QR profile of its template version or none: a response to
    ``lisn|1.1`` that declares ``lisn-questionnaireresponse`` (the 1.0 profile, also the retired
    ``lisn-questionnaireresponse|1.1.0`` of the first 1.1 drafts) is told the right canonical.
    """
    q = resource.get("questionnaire")
    if resource.get("resourceType") != "QuestionnaireResponse" or not isinstance(q, str):
        return []
    expected = lisn_qr_profile(q)
    if expected is None:
        return []
    meta = resource.get("meta")
    declared = meta.get("profile") if isinstance(meta, dict) else None
    return [(i, p, expected) for i, p in enumerate(declared if isinstance(declared, list) else [])
            if isinstance(p, str) and split_canonical(p)[0] in _LISN_QR_URLS and not _same_profile(p, expected)]


def applicable_profiles(resource: Resource) -> list[str]:
    """The profiles ``resource`` must meet: its ``meta.profile``s, and the LISN QR profile for LISN responses.

    Each LISN template version has its own QR profile (``LISN_QR_PROFILES``): a response to
    ``lisn|<major.minor>`` gets that one, whatever LISN QR profile ``meta.profile`` names; a
    declaration of another template's profile is not applied (``start_walks`` reports it, see
    ``wrong_qr_profiles``), since its rules do not fit the answers.
    """
    found = declared_profiles(resource)
    q = resource.get("questionnaire")
    if resource.get("resourceType") == "QuestionnaireResponse" and isinstance(q, str):
        wanted = lisn_qr_profile(q)
        if wanted is not None:
            found = [p for p in found if split_canonical(p)[0] not in _LISN_QR_URLS]
            found.append(wanted)
    return found


def validate_profile(resource: Resource, sd: Resource, registry: Registry, issues: Issues, *, path: str,
                     resolver: Resolver | None = None, refs_only: bool = False) -> None:
    """Validate ``resource`` (or a data-type value) against one StructureDefinition."""
    profile = compile_profile(sd)
    rtype = resource.get("resourceType")
    if rtype is not None and rtype != profile.type and not refs_only:
        issues.add("Validation_VAL_Profile_WrongType", expression=path, code="structure",
                   expected=profile.type, found=rtype, profile=profile.canonical)
        return
    Walk(profile, registry, issues, resource, resolver=resolver, refs_only=refs_only).run(path)


def start_walks(resource: Resource, registry: Registry, issues: Issues, *, path: str) -> list[tuple[Walk, Node]]:
    """The profile walks of ``resource``, each at its root node, for the structure walk to carry along.

    Profiles: ``meta.profile`` (an unknown one is a warning) and, for a response to the
    LISN Questionnaire, ``lisn-questionnaireresponse``; a profile of another type is reported
    here and not walked. Entry resources reached through a Bundle profile's slices are not
    validated again against profiles they declare themselves: their own walks cover them.
    """
    found = _declarations(resource, registry) if DECLARED_KEPT else None
    if found is None:
        return _start_walks(resource, registry, issues, path=path)
    wrong, applicable, _urls = found
    resolver = bundle_resolver(resource) if resource["resourceType"] == "Bundle" else None
    walks: list[tuple[Walk, Node]] = []
    for index, claimed, expected in wrong:
        issues.add("LISN_QR_PROFILE_WRONG_TEMPLATE", expression=f"{path}.meta.profile[{index}]", code="structure",
                   profile=claimed, questionnaire=resource["questionnaire"], expected=expected)
    for canonical, at, sd in applicable:
        if sd is None:
            issues.add("Validation_VAL_Profile_Unknown", expression=path if at is None
                       else f"{path}.meta.profile[{at}]", severity="warning", code="structure", profile=canonical)
            continue
        profile = compile_profile(sd)  # (its own memory: the compiled profile of this very definition)
        if resource["resourceType"] != profile.type:
            issues.add("Validation_VAL_Profile_WrongType", expression=path, code="structure",
                       expected=profile.type, found=resource["resourceType"], profile=profile.canonical)
            continue
        walks.append((Walk(profile, registry, issues, resource, resolver=resolver), profile.root))
    return walks


def _start_walks(resource: Resource, registry: Registry, issues: Issues, *, path: str) -> list[tuple[Walk, Node]]:
    """:func:`start_walks` the general way (declarations read from the resource each time)."""
    declared = declared_profiles(resource)
    resolver = bundle_resolver(resource) if resource.get("resourceType") == "Bundle" else None
    walks: list[tuple[Walk, Node]] = []
    for index, claimed, expected in wrong_qr_profiles(resource):
        issues.add("LISN_QR_PROFILE_WRONG_TEMPLATE", expression=f"{path}.meta.profile[{index}]", code="structure",
                   profile=claimed, questionnaire=resource["questionnaire"], expected=expected)
    for canonical in applicable_profiles(resource):
        sd = registry.resolve(canonical, "StructureDefinition")
        if sd is None:
            where = f"{path}.meta.profile[{resource['meta']['profile'].index(canonical)}]" \
                if canonical in declared else path
            issues.add("Validation_VAL_Profile_Unknown", expression=where, severity="warning",
                       code="structure", profile=canonical)
            continue
        profile = compile_profile(sd)
        if resource.get("resourceType") != profile.type:
            issues.add("Validation_VAL_Profile_WrongType", expression=path, code="structure",
                       expected=profile.type, found=resource.get("resourceType"), profile=profile.canonical)
            continue
        walk = Walk(profile, registry, issues, resource, resolver=resolver)
        walks.append((walk, profile.root))
    return walks


#: The profiles a resource's declarations come to are kept per registry (:func:`_declarations`);
#: False: read from the resource each time (the general way, tests/unit/validation/test_walk_fast_declared.py).
DECLARED_KEPT = True
_DECLARED_KEPT_MAX = 1024  # declarations kept per registry (an input's made-up ones do not grow it without end)
_Declared = tuple[tuple[tuple[int, str, str], ...], tuple[tuple[str, "int | None", "Resource | None"], ...],
                  frozenset[str]]


def _declarations(resource: Resource, registry: Registry) -> _Declared | None:
    """What :func:`start_walks`, :func:`check_reference_targets` and :meth:`Walk.type_profiles`
    make of ``resource``'s type, ``questionnaire`` and ``meta.profile``: the wrong LISN QR profiles
    (:func:`wrong_qr_profiles`), each applicable profile (:func:`applicable_profiles`) with its
    index in ``meta.profile`` (None: not declared) and its StructureDefinition (None: unknown;
    compiled by the caller, :func:`compile_profile` keeping its own), and the applicable profiles'
    URLs without version. Worked out once per such declaration and registry (``Registry.derived``, forgotten when the registry gains a
    definition); None for a resource whose type or declarations are not all texts (the general
    way takes it)."""
    rtype = resource.get("resourceType")
    meta = resource.get("meta")
    declared = meta.get("profile") if type(meta) is dict else None
    if declared is None:
        listed: tuple[Any, ...] = ()
    elif type(declared) is list:
        listed = tuple(declared)
    else:
        return None
    q = resource.get("questionnaire")
    key = ("profiles.declared", rtype, q if type(q) is str else None, listed)
    derived = registry.derived
    try:
        found: _Declared | None = derived.get(key)
    except TypeError:  # (a value that is no text, unhashable: never kept)
        return None
    if found is None:
        # only a type and declarations all texts are kept (so a key found is one of them: no other
        # value equals a text)
        if type(rtype) is not str or not all(type(p) is str for p in listed):
            return None
        wrong = tuple(wrong_qr_profiles(resource))
        applicable = []
        for canonical in applicable_profiles(resource):
            sd = registry.resolve(canonical, "StructureDefinition")
            applicable.append((canonical, listed.index(canonical) if canonical in listed else None, sd))
        found = (wrong, tuple(applicable), frozenset(split_canonical(c)[0] for c, _, _ in applicable))
        if len(derived) < _DECLARED_KEPT_MAX:
            derived[key] = found
    return found


def _allowed_targets(node: Node, registry: Registry) -> list[str]:
    """The resource types ``node``'s targetProfiles name (as :meth:`Walk.reference_target` reads
    them), kept per registry as :func:`_declarations` is."""
    key = ("profiles.targets", id(node))
    hit = registry.derived.get(key)
    if hit is None or hit[0] is not node:
        hit = (node, [t for t in (type_of_profile(p, registry) for p in node.target_types) if t])
        if len(registry.derived) < _DECLARED_KEPT_MAX:
            registry.derived[key] = hit  # (compiled profiles are kept: the id stays the node's)
    allowed: list[str] = hit[1]
    return allowed


_PROFILE_URLS: dict[int, tuple[Node, frozenset[str]]] = {}


def _profile_urls(node: Node) -> frozenset[str]:
    """The URLs (without version) of ``node``'s type profiles."""
    hit = _PROFILE_URLS.get(id(node))
    if hit is None or hit[0] is not node:
        hit = _PROFILE_URLS[id(node)] = (node, frozenset(split_canonical(p)[0] for p in node.type_profiles))
    return hit[1]


def check_resource_rules(resource: Resource, registry: Registry, issues: Issues, *, path: str,
                         test_environment: bool = False) -> None:
    """The identifier and template rules of one resource (not of the resources inside it).

    ``test_environment`` (the setting ``validation.test_environment``) admits Inera's test HSA-ids.
    """
    identifiers.validate_identifiers(resource, issues, path=path, test_environment=test_environment)
    business.check_template_active(resource, registry, issues, path=path)


def validate_against_profiles(resource: Resource, registry: Registry, issues: Issues, *, path: str,
                              test_environment: bool = False) -> None:
    """Validate ``resource`` alone against every profile that applies, plus the identifier and template rules."""
    for walk, root in start_walks(resource, registry, issues, path=path):
        walk.instance(root, resource, path)
    check_resource_rules(resource, registry, issues, path=path, test_environment=test_environment)


#: :func:`check_reference_targets` walks a profile only when a reference it is handed could fail
#: one of the profile's targetProfiles (False: always walks, the general way compared in
#: tests/unit/validation/test_refs_fast_targets.py).
REFS_LISTED = True
_Limits = tuple[dict[str, frozenset[str]], tuple[tuple[str, frozenset[str]], ...]] | None


def _target_limits(root: Node, registry: Registry) -> _Limits:
    """The types a reference under each JSON name may resolve to without failing any targetProfile of
    the profile rooted at ``root`` (at any depth, in any slice): name -> the types every node of that
    name allows (a node allowing any type, or naming none, left out), and the same for each choice
    ``name[x]`` by its base. None when the root itself has targetProfiles. Kept per registry, as
    :func:`_allowed_targets` is."""
    key = ("profiles.limits", id(root))
    hit = registry.derived.get(key)
    if hit is None or hit[0] is not root:
        limits: dict[str, frozenset[str]] | None = {} if not root.target_types else None
        choices: dict[str, frozenset[str]] = {}
        stack = [root]
        while stack and limits is not None:
            node = stack.pop()
            stack.extend(node.children.values())
            stack.extend(node.slices)
            if node is root or not node.target_types:
                continue
            allowed = _allowed_targets(node, registry)
            if not allowed or "Resource" in allowed:
                continue  # (reference_target checks nothing there)
            into = choices if node.name.endswith("[x]") else limits
            name = node.name[:-3] if node.name.endswith("[x]") else node.name
            into[name] = into[name] & frozenset(allowed) if name in into else frozenset(allowed)
        hit = (root, None if limits is None else (limits, tuple(choices.items())))
        if len(registry.derived) < _DECLARED_KEPT_MAX:
            registry.derived[key] = hit
    found: _Limits = hit[1]
    return found


def _may_fail(limits: _Limits, refs: list[tuple[str, Any]], resolver: Resolver) -> bool:
    """Whether any of ``refs`` (every reference string below a resource with its scan location,
    ``(parent, key or index)``) could fail a targetProfile by ``limits`` (:func:`_target_limits`):
    one that resolves to a resource whose type a node of its name (the key holding it, or that key
    without ``_``, or a choice whose base begins it) does not allow."""
    if limits is None:
        return True
    names, choices = limits
    if not names and not choices:
        return False
    for ref, node in refs:
        target = resolver(ref)
        if target is None:
            continue  # (reference_target checks nothing at a reference not resolved)
        rtype = target.get("resourceType")
        while node is not None and type(node[1]) is not str:
            node = node[0]
        if node is None:
            return True
        name = node[1]
        bare = name[1:] if name.startswith("_") else name
        for n in (name, bare):
            allowed = names.get(n)
            if allowed is not None and (type(rtype) is not str or rtype not in allowed):
                return True
        for base, allowed in choices:
            if (name.startswith(base) or bare.startswith(base)) and (type(rtype) is not str or rtype not in allowed):
                return True
    return False


def check_reference_targets(resource: Resource, registry: Registry, issues: Issues, *, path: str,
                            resolver: Resolver, refs: list[tuple[str, Any]] | None = None) -> None:
    """Only the ``targetProfile`` checks of the applicable profiles, with references resolved in a Bundle.

    ``refs``: when given, every object with a ``reference`` string below ``resource``, each as its
    string and its :mod:`adapter.validation.scan` location (``scan.references_marks_and_skipped``
    with nothing skipped): a profile is walked only when one of them could fail its targetProfiles
    (:func:`_may_fail`); the walk, and so every issue, is the same."""
    found = _declarations(resource, registry) if DECLARED_KEPT else None
    if found is not None:
        for _canonical, _index, sd in found[1]:
            profile = compile_profile(sd) if sd is not None else None
            if profile is not None and _targets_below(profile.root):
                if refs is not None and REFS_LISTED and not _may_fail(_target_limits(profile.root, registry),
                                                                      refs, resolver):
                    continue  # no reference it is handed can fail a targetProfile: the walk would add nothing
                Walk(profile, registry, issues, resource, resolver=resolver, refs_only=True).run(path)
        return
    for canonical in applicable_profiles(resource):
        sd = registry.resolve(canonical, "StructureDefinition")
        profile = compile_profile(sd) if sd is not None else None
        if profile is not None and _targets_below(profile.root):  # else the walk would check nothing
            # (validate_profile with refs_only: no type check, only the walk)
            Walk(profile, registry, issues, resource, resolver=resolver, refs_only=True).run(path)


def bundle_resolver(bundle: Resource) -> Resolver:
    """Resolve a Reference (or reference string) to an entry resource by fullUrl or ``Type/id``.

    The index of the entries is made at the first reference resolved: a Bundle profile's walk
    carries a resolver that most often resolves nothing (no targetProfile in the profile).
    """
    index: dict[str, Resource] | None = None

    def resolve(reference: Any) -> Resource | None:
        nonlocal index
        ref = reference.get("reference") if isinstance(reference, dict) else reference
        if not isinstance(ref, str):
            return None
        if index is None:
            index = _entry_index(bundle)
        found = index.get(ref)
        if found is None and "/" in ref and not ref.startswith("urn:"):
            found = index.get("/".join(ref.rstrip("/").split("/")[-2:]))
        return found

    return resolve


def _entry_index(bundle: Resource) -> dict[str, Resource]:
    """The entry resources of ``bundle`` by fullUrl and by ``Type/id``, the first of each kept."""
    index: dict[str, Resource] = {}
    entries = bundle.get("entry")
    for entry in entries if isinstance(entries, list) else []:
        res = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(res, dict):
            continue
        if isinstance(entry.get("fullUrl"), str):
            index.setdefault(entry["fullUrl"], res)
        if res.get("resourceType") and res.get("id"):
            index.setdefault(f"{res['resourceType']}/{res['id']}", res)
    return index
