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
from adapter.fhirpath.upstream import FP_Quantity, TypeInfo, fp_children, fp_descendants

_ELSEWHERE: dict[str, str] = MODEL["pathsDefinedElsewhere"]
_new = object.__new__
_SCALARS = frozenset({str, int, float, bool, type(None)})  # env.node gives these the path it is given
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

    __slots__ = ("key", "ext_key", "capital", "steps", "children")

    def __init__(self, key: str) -> None:
        self.key = key
        self.ext_key = "_" + key
        self.capital = is_capitalized(key)
        self.steps: dict[str | None, _Step] = {}
        # parent type path -> the child's type path, for parents with no choice type here
        self.children: dict[str | None, str] = {}

    def __call__(self, env: Env, data: Items) -> Items:
        if self.capital:
            try:
                return [node(x, self.key) for x in [x for x in data if x["resourceType"] == self.key]]
            except TypeError:
                pass  # not raw resources (nodes, strings…): an ordinary member step, as fhirpathpy does
        acc: Items = []
        append = acc.append
        key, ext_key, children = self.key, self.ext_key, self.children
        for res in data:
            if type(res) is not RN:
                res = as_node(res)
            path = res.path
            d = res.data
            child = children.get(path) if type(d) is dict and (path is None or type(path) is str) else None
            if child is None:
                step = self.step(path)
                if type(d) is not dict or step.choices is not None:
                    self.other(acc, d, step)
                    continue
                child = step.extension_path if key == "extension" else step.path
                if path is None or type(path) is str:
                    children[path] = child
            # Member.one, inlined: the common case; nodes made as env.node makes them
            value = d.get(key)
            if value is not None:
                for v in (value if isinstance(value, list) else (value,)):
                    kind = type(v)
                    if kind is dict:
                        n = _new(RN)
                        n.path = v.get("resourceType", child)
                    elif kind in _SCALARS:
                        n = _new(RN)
                        n.path = child
                    else:
                        append(node(v, child))
                        continue
                    n.data = v
                    n._data = None
                    n.propName = None
                    n.index = None
                    append(n)
            if ext_key in d:
                _add(acc, d[ext_key], child)
        return acc

    def count(self, env: Env, data: Items) -> int:
        """How many items ``__call__`` gives (raising as it raises), without making them."""
        if self.capital:
            return len(self(env, data))
        found = 0
        key, ext_key, children = self.key, self.ext_key, self.children
        for res in data:
            if type(res) is RN:
                path, d = res.path, res.data
            elif type(res) is dict:
                path, d = res.get("resourceType"), res
            else:
                res = as_node(res)
                path, d = res.path, res.data
            if type(d) is not dict or not (path is None or type(path) is str) or path not in children:
                step = self.step(path)
                if type(d) is not dict or step.choices is not None:
                    acc: Items = []
                    self.other(acc, d, step)
                    found += len(acc)
                    continue
                if path is None or type(path) is str:
                    children[path] = step.extension_path if key == "extension" else step.path
            value = d.get(key)
            if value is not None:
                found += len(value) if isinstance(value, list) else 1
            if ext_key in d:
                value = d[ext_key]
                if value is not None:
                    found += len(value) if isinstance(value, list) else 1
        return found

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


class _Odd(Exception):
    """A node fhirpathpy's child walk raises on (no type path, a list in a list): let it raise."""


_CHILD_PATHS: dict[str, dict[str, str]] = {}  # parent type path -> member name -> child type path


def _child_table(parent: str) -> dict[str, str]:
    table = _CHILD_PATHS.get(parent)
    if table is None:
        table = _CHILD_PATHS[parent] = {}
    return table


def _child_path(parent: str, prop: str, table: dict[str, str]) -> str:
    child = "Extension" if prop == "extension" else f"{parent}.{prop}"
    child = _ELSEWHERE.get(child, child)
    found = table[prop] = _TYPES.get(child, child)
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
        table = _child_table(res.path)
        for prop, value in data.items():
            if skip_extensions and prop.startswith("_"):
                continue
            path = table.get(prop) or _child_path(res.path, prop, table)
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


def _effective(value: Any, path: Any) -> Any:
    """The type path fhirpathpy's node gets: a resource's own ``resourceType`` wins."""
    if type(value) is dict and "resourceType" in value:
        return value["resourceType"]
    return path


def _child_pairs(level: list[tuple[Any, Any]]) -> list[tuple[Any, Any]]:
    """``_children_of`` (extensions included) on ``(data, type path)`` pairs, making no nodes."""
    out: list[tuple[Any, Any]] = []
    for data, path in level:
        kind = type(data)
        if kind is not dict:
            if kind in _SCALARS:
                continue
            raise _Odd  # lists in lists, other mappings: the general code decides
        if type(path) is not str:
            raise _Odd
        table = _child_table(path)
        for prop, value in data.items():
            child = table.get(prop) or _child_path(path, prop, table)
            if type(value) is list:
                out.extend([(v, v["resourceType"] if type(v) is dict and "resourceType" in v else child)
                            for v in value])
            elif type(value) is dict and "resourceType" in value:
                out.append((value, value["resourceType"]))
            else:
                out.append((value, child))
    return out


def descendants_of_type(info: Any) -> Any:
    """``descendants().ofType(T)`` in one walk: nodes are made only for the descendants that are a T.

    Same nodes, same (breadth-first) order as the two steps; on anything unusual (and on any
    error) the two steps are run as they are, so that the same result or error comes out.
    """
    from adapter.fhirpath.functions import _of_type

    separate = _of_type(info)
    # Whether a node is a T depends on its type path and the model fhirpathpy's is/as last set;
    # without a model, a dotted path is typed by the Python type of its value.
    seen: dict[tuple[str, int, type | None], bool] = {}

    def run(env: Env, data: Items) -> Items:
        try:
            level = [(_effective(x, None), x) if type(x) is not RN else (x.path, x.data) for x in data]
            pairs = _child_pairs([(d, p) for p, d in level])
            model = id(TypeInfo.model)
            by_value = TypeInfo.model is None
            out: Items = []
            while pairs:
                for value, path in pairs:
                    if type(path) is not str:
                        raise _Odd
                    key = (path, model, type(value) if by_value and "." in path else None)
                    hit = seen.get(key)
                    if hit is None:
                        hit = seen[key] = bool(TypeInfo.from_value(node(value, path)).is_(info))
                    if hit:
                        out.append(node(value, path))
                pairs = _child_pairs(pairs)
            return out
        except Exception:  # noqa: BLE001 - the two steps as they are give the exact result or error
            return separate(env, descendants(env, data))

    return run


def descendants_of_type_member(info: Any, key: str) -> Any:
    """``descendants().ofType(T).key`` in one walk that makes no node, and types nothing, for a primitive.

    Same items, same order as the three steps (:func:`descendants_of_type`, then :class:`Member`).
    A primitive descendant that is a T gives nothing to ``.key`` (a member step on a string, a
    number, a Boolean or null gives nothing; ``length`` is left to the three steps), so only the
    objects and array items are typed and walked into. Typing a primitive cannot fail without a
    model or with the R4 model (fhirpathpy's ``TypeInfo.from_value(...).is_(T)``: a name from the
    path or the value's Python type, compared, or looked up in the model's two tables); with any
    other model set, primitives are typed too, so that a failing type test fails here as well.
    Whether a node is a T is remembered as :func:`descendants_of_type` remembers it (per type path
    and model; without a model, a dotted path per the Python type of the value). The member step is
    :class:`Member`'s own code on the objects that are a T. On anything unusual (a list in a list,
    a ``resourceType`` that is no string, data that is no JSON) and on any error, the three steps
    run as they are: the same result or error.
    """
    general = descendants_of_type(info)
    member = Member(key)
    by_model: dict[int, dict[tuple[str, type | None], bool]] = {}
    objects_by_model: dict[int, dict[str, bool]] = {}  # (the same, for objects: keyed by path alone)

    def three_steps(env: Env, data: Items) -> Items:
        return member(env, general(env, data))

    def is_t(seen: dict[tuple[str, type | None], bool], v: Any, path: str, by_value: bool) -> bool:
        typed = (path, type(v) if by_value and "." in path else None)
        hit = seen.get(typed)
        if hit is None:
            hit = seen[typed] = bool(TypeInfo.from_value(node(v, path)).is_(info))
        return hit

    def run(env: Env, data: Items) -> Items:
        if key == "length":
            return three_steps(env, data)
        try:
            model = TypeInfo.model
            seen = by_model.get(id(model))
            if seen is None:
                seen = by_model[id(model)] = {}
                objects_by_model[id(model)] = {}
            objects = objects_by_model[id(model)]
            by_value = model is None
            primitives = not (model is None or model is MODEL)  # (see above: else typing one cannot fail)
            level = [(x.data, x.path) if type(x) is RN else (x, _effective(x, None)) for x in data]
            hits: Items = []
            while level:
                following: list[tuple[Any, Any]] = []
                for d, path in level:
                    if type(d) is not dict:
                        if type(d) in _SCALARS:
                            continue
                        raise _Odd  # (lists in lists, other mappings: the three steps decide)
                    if type(path) is not str:
                        raise _Odd
                    table = _CHILD_PATHS.get(path)
                    if table is None:
                        table = _CHILD_PATHS[path] = {}
                    for prop, value in d.items():
                        kind = type(value)
                        if kind is dict:
                            values: Any = (value,)
                        elif kind is list:
                            values = value
                        elif kind in _SCALARS:
                            if primitives:
                                is_t(seen, value, table.get(prop) or _child_path(path, prop, table), by_value)
                            continue
                        else:
                            raise _Odd
                        child = table.get(prop) or _child_path(path, prop, table)
                        for v in values:
                            kind = type(v)
                            if kind is dict:
                                p = v.get("resourceType", child)
                                if type(p) is not str:
                                    raise _Odd
                                hit = objects.get(p)
                                if hit is None:
                                    hit = objects[p] = is_t(seen, v, p, by_value)
                                if hit:
                                    hits.append(node(v, p))
                                following.append((v, p))
                            elif kind in _SCALARS:
                                if primitives:
                                    is_t(seen, v, child, by_value)
                            else:
                                raise _Odd
                level = following
            return member(env, hits)
        except Exception:  # noqa: BLE001 - the three steps as they are give the exact result or error
            return three_steps(env, data)

    return run
