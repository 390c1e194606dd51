"""Path navigation (FHIRPath N1 §5 "Navigation", §3 "Path selection") over the R4 model.

A member step (``item``, ``answer.value``) does what fhirpathpy's ``MemberInvocation`` does,
with the model look-ups made once per parent type instead of once per item: the child's type
path (``QuestionnaireResponse.item.answer.valueCoding`` → ``Coding``), R4 choice types (``value``
→ the first of ``valueBoolean``, ``valueDecimal``… present), elements defined elsewhere, and the
primitive's extension (``_status``) added as a node of its own after the value, as fhirpathpy
does. A capitalised first step (``Patient.name``) filters by ``resourceType``.
"""

from __future__ import annotations

from collections import abc
from typing import Any, NamedTuple

from adapter.fhirpath.env import FP_CTX, MODEL, RN, Env, Items, as_node, is_capitalized, node
from adapter.fhirpath.upstream import FP_Quantity, fp_children, fp_descendants

_ELSEWHERE: dict[str, str] = MODEL["pathsDefinedElsewhere"]
_CHOICES: dict[str, list[str]] = MODEL["choiceTypePaths"]
_TYPES: dict[str, str] = MODEL["path2Type"]


class _Choice(NamedTuple):
    field: str
    extension_field: str
    path: str


class _Step(NamedTuple):
    """What a member step needs to know about one parent type path."""

    path: str  # the child's type path for a plain element
    extension_path: str  # ... when the key is ``extension``
    choices: tuple[_Choice, ...] | None  # the R4 choice types, in the model's order
    fallback_path: str  # a choice element none of whose types is present


def _step_for(parent: Any, key: str) -> _Step:
    child = f"{parent}.{key}" if parent else f"_.{key}"
    child = _ELSEWHERE.get(child, child)
    types = _CHOICES.get(child)
    choices = None
    if types:
        choices = tuple(_Choice(f"{key}{t}", f"_{key}{t}", _TYPES.get(child + t, child + t)) for t in types)
    return _Step(_TYPES.get(child, child), _TYPES.get("Extension", "Extension"), choices, _TYPES.get(child, child))


def _add(acc: Items, value: Any, path: str) -> None:
    if isinstance(value, list):
        if value:
            acc.extend([node(v, path) for v in value])
    elif value is not None:
        acc.append(node(value, path))


class Member:
    """The compiled step ``.key``: a callable ``(env, items) -> items``."""

    __slots__ = ("key", "ext_key", "capital", "steps")

    def __init__(self, key: str) -> None:
        self.key = key
        self.ext_key = "_" + key
        self.capital = is_capitalized(key)
        self.steps: dict[str | None, _Step] = {}

    def __call__(self, env: Env, data: Items) -> Items:
        if self.capital:
            try:
                return [node(x, self.key) for x in [x for x in data if x["resourceType"] == self.key]]
            except TypeError:
                pass  # not raw resources (nodes, strings…): an ordinary member step, as fhirpathpy does
        acc: Items = []
        for res in data:
            self.one(acc, res if type(res) is RN else as_node(res))
        return acc

    def step(self, path: Any) -> _Step:
        """The child's typing under a parent of type ``path`` (cached per path)."""
        if path is None or type(path) is str:
            step = self.steps.get(path)
            if step is None:
                step = self.steps[path] = _step_for(path, self.key)
            return step
        return _step_for(path, self.key)  # a resourceType that is no string: fhirpathpy formats it in

    def plain_string(self, res: Any) -> str | None:
        """The value when ``.key`` of node ``res`` is exactly one string (no ``_key``, no choice, no Quantity)."""
        d = res.data
        if type(d) is not dict:
            return None
        value = d.get(self.key)
        if type(value) is not str or self.ext_key in d or self.key == "extension":
            return None
        step = self.step(res.path)
        return value if step.choices is None and step.path not in ("Quantity", "System.Quantity") else None

    def one(self, acc: Items, res: Any) -> None:
        step = self.step(res.path)
        d = res.data
        if type(d) is dict and step.choices is None:
            _add(acc, d.get(self.key), step.extension_path if self.key == "extension" else step.path)
            _add(acc, d.get(self.ext_key), step.extension_path if self.key == "extension" else step.path)
            return
        self.other(acc, d, step)

    def other(self, acc: Items, d: Any, step: _Step) -> None:
        """Choice elements, quantities and non-objects, in fhirpathpy's order of tests."""
        add = add_ = None
        path = step.path
        if isinstance(d, FP_Quantity):
            add = d.value
        if step.choices and isinstance(d, abc.Mapping):
            path = step.fallback_path
            for choice in step.choices:
                add, add_ = d.get(choice.field), d.get(choice.extension_field)
                if add is not None or add_ is not None:
                    path = choice.path
                    break
        elif isinstance(d, abc.Mapping):
            add, add_ = d.get(self.key), d.get(self.ext_key)
            if self.key == "extension":
                path = step.extension_path
        elif self.key == "length":
            add = len(d)
        _add(acc, add, path)
        _add(acc, add_, path)


_SCALARS = frozenset({str, int, float, bool, type(None)})


class _Odd(Exception):
    """A node fhirpathpy's child walk raises on (no type path, a list in a list): let it raise."""


_CHILD_PATHS: dict[tuple[str, str], str] = {}


def _child_path(parent: str, prop: str) -> str:
    found = _CHILD_PATHS.get((parent, prop))
    if found is None:
        child = "Extension" if prop == "extension" else f"{parent}.{prop}"
        child = _ELSEWHERE.get(child, child)
        found = _CHILD_PATHS[(parent, prop)] = _TYPES.get(child, child)
    return found


def _children_of(level: Items, skip_extensions: bool) -> Items:
    """fhirpathpy's ``create_reduce_children`` over a level: each object's members, in key order."""
    out: Items = []
    for res in level:
        res = res if type(res) is RN else as_node(res)
        data = res.data
        kind = type(data)
        if kind is not dict:
            if kind in _SCALARS:
                continue
            if isinstance(data, list):
                raise _Odd
            if not isinstance(data, abc.Mapping):
                continue
        if type(res.path) is not str:
            raise _Odd
        for prop, value in data.items():
            if skip_extensions and prop.startswith("_"):
                continue
            path = _child_path(res.path, prop)
            if isinstance(value, list):
                out.extend([v if type(v) is RN else node(v, path) for v in value])
            else:
                out.append(value if type(value) is RN else node(value, path))
    return out


def children(env: Env, data: Items) -> Items:
    """``children()``: the members of each item, typed from the item's path, extensions (``_x``) left out."""
    try:
        return _children_of(data, True)
    except _Odd:
        return list(fp_children(FP_CTX, data))  # raises as fhirpathpy raises


def descendants(env: Env, data: Items) -> Items:
    """``descendants()``: breadth-first, level by level, primitive extensions included, as fhirpathpy."""
    try:
        out: Items = []
        level = _children_of(data, False)
        while level:
            out.extend(level)
            level = _children_of(level, False)
        return out
    except _Odd:
        return list(fp_descendants(FP_CTX, data))
